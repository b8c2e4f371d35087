//! `labctl verify push`: the seeds' manual test (`docker login`, `docker
//! push`, `curl /v2/_catalog`, `docker pull`) done by the workspace's OCI
//! client (labreg-oci) against the lab's registry or any other, with each step timed
//! and each failure explained (cause and fix, see `diagnose.rs`).
//!
//! - `target`: which registry, which credentials, which CA;
//! - `net`, `tls`: resolve, connect, handshake, done by hand to name failures;
//! - `client`, `upload`, `listing`, `pull`: the OCI distribution protocol,
//!   spoken by labreg-oci, and what its errors mean;
//! - `session`: the steps in order; `report`: what is printed.

pub(crate) mod access;
pub(crate) mod client;
pub(crate) mod diagnose;
mod image;
mod listing;
mod net;
mod pull;
pub(crate) mod report;
pub(crate) mod session;
mod size;
pub(crate) mod target;
pub(crate) mod tls;
pub(crate) mod upload;

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::lab::LabPath;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Push a generated image to the registry, pull it back, delete it, and explain any failure
    Push(PushArgs),
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Text,
    Json,
}

/// How to log in to a registry and trust it (`verify push`, `image push`).
#[derive(clap::Args)]
pub struct Login {
    /// Log in as this user (the password is asked for, or read from stdin
    /// with --password-stdin). Default: a lab user allowed to push.
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// Read the password from stdin.
    #[arg(long, requires = "user")]
    pub password_stdin: bool,
    /// Trust this CA certificate (PEM) besides the system store. Default:
    /// the lab's certs/ca.crt when its TLS is self-signed.
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Speak plain HTTP.
    #[arg(long)]
    pub insecure: bool,
}

#[derive(clap::Args)]
pub struct PushArgs {
    /// The registry: HOST[:PORT] or https://HOST[:PORT]. Default: the lab's
    /// registry host, with its users and CA.
    #[arg(long, value_name = "URL")]
    pub registry: Option<String>,
    #[command(flatten)]
    pub login: Login,
    /// Size of the generated layer, like 8MiB, 512KiB or 1GiB. The default
    /// is above nginx's default body limit (1 MiB), so an ingress that would
    /// refuse `docker push` refuses this too.
    #[arg(long, value_name = "SIZE", default_value = "4MiB", value_parser = size::parse)]
    pub size: u64,
    /// Leave the pushed image in the registry.
    #[arg(long)]
    pub keep: bool,
    /// `text` for people, `json` for programs.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

/// The credentials of `--user` (and `--password-stdin`), if given.
pub(crate) fn password(login: &Login) -> anyhow::Result<Option<target::Credentials>> {
    let Some(user) = &login.user else {
        return Ok(None);
    };
    let help = format!(
        "pipe {user}'s password on stdin, e.g. `labctl secrets get registry/{user} | labctl verify push --user {user} --password-stdin`, or leave out --user to log in as the lab's user"
    );
    let password = if login.password_stdin {
        let mut v = String::new();
        std::io::stdin()
            .read_to_string(&mut v)
            .context("cannot read the password from stdin")?;
        let v = v.strip_suffix('\n').unwrap_or(&v);
        v.strip_suffix('\r').unwrap_or(v).to_string()
    } else {
        super::read_secret(&format!("Password of {user}: "), false, &help)?
    };
    anyhow::ensure!(
        !password.is_empty(),
        "the password read from stdin is empty\n  help: {help}"
    );
    Ok(Some(target::Credentials {
        user: user.clone(),
        password,
    }))
}

/// The URL of the labreg `labctl up` runs for this lab, if it runs.
fn local_up(lab: &LabPath) -> Option<String> {
    let state = super::up::process::read_state(&super::up::state_file(lab))?;
    super::up::process::is_labreg(state.pid).then_some(state.url)
}

/// No lab.yaml here and no --registry: what to run instead.
fn no_lab(lab: &LabPath) -> anyhow::Error {
    let runs = super::up::record::running();
    let ups: String = runs
        .iter()
        .map(|r| {
            format!(
                "\n    labctl -f {} verify push      # lab {}, `labctl up` at {}",
                r.file.display(),
                r.lab,
                r.url
            )
        })
        .collect();
    anyhow::anyhow!(
        "{} not found, so there is no lab registry to verify\n  help: run it in the lab's folder, name the lab with -f PATH/lab.yaml, or give the address with --registry HOST[:PORT]{}",
        lab.file.display(),
        if ups.is_empty() {
            String::new()
        } else {
            format!("; running now:{ups}")
        }
    )
}

/// `--registry`: in a lab that loads, with the lab's CA and users.
fn registry_target(
    r: &str,
    args: &PushArgs,
    creds: Option<target::Credentials>,
    lab: &LabPath,
) -> anyhow::Result<target::Target> {
    if lab.file.is_file() {
        match lab.load() {
            Ok(_) => {
                return target::from_args_in_lab(
                    r,
                    args.login.insecure,
                    creds,
                    args.login.ca.clone(),
                    lab,
                );
            }
            Err(e) => eprintln!(
                "note: verifying {r} without the lab's CA and users, since {} does not load:\n{e:#}",
                lab.file.display()
            ),
        }
    }
    target::from_args(r, args.login.insecure, creds, args.login.ca.clone())
}

pub fn run(cmd: Command, lab: &LabPath) -> anyhow::Result<ExitCode> {
    let Command::Push(args) = cmd;
    if let Some(ca) = &args.login.ca {
        anyhow::ensure!(
            ca.is_file(),
            "--ca {}: no such file\n  help: pass the CA certificate in PEM, e.g. the lab's certs/ca.crt",
            ca.display()
        );
    }
    if let Some(r) = &args.registry {
        // Check the address before asking for a password.
        target::parse_registry(r, args.login.insecure).map_err(anyhow::Error::msg)?;
    }
    let creds = password(&args.login)?;
    let target = match &args.registry {
        Some(r) => registry_target(r, &args, creds, lab)?,
        None if lab.file.is_file() => match local_up(lab) {
            Some(url) => {
                let host = lab.load()?.registry.host;
                eprintln!(
                    "note: verifying the registry `labctl up` runs for this lab, {url}; the cluster's: `labctl verify push --registry {host}`"
                );
                let addr = url.trim_start_matches("https://");
                target::from_args_in_lab(addr, false, creds, args.login.ca.clone(), lab)?
            }
            None => target::from_lab(lab, args.login.insecure, creds, args.login.ca.clone())
                .context("cannot find the lab's registry (or pass --registry)")?,
        },
        None => return Err(no_lab(lab)),
    };
    let opts = session::Options {
        size: args.size,
        keep: args.keep,
        json: args.output == Output::Json,
        print_json: true,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    Ok(rt.block_on(session::run(target, opts))?.exit_code())
}
