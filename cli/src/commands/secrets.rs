//! `labctl secrets set|get|list|rm|rekey`: the age-encrypted values under
//! secrets/, one armored file per secret.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use rand::Rng;

use crate::lab::LabPath;
use crate::store::Store;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Store a value: from stdin when piped, a hidden prompt otherwise, or --generate
    Set(SetArgs),
    /// Print a value
    Get(NameArgs),
    /// List the secrets
    List,
    /// Delete a secret
    Rm(NameArgs),
    /// Re-encrypt every secret to the recipients now in lab.yaml
    Rekey,
}

#[derive(clap::Args)]
pub struct SetArgs {
    /// The secret's name, e.g. registry/admin (file secrets/registry/admin.age).
    pub name: String,
    /// Generate a random value (letters and digits) instead of reading one.
    #[arg(long)]
    pub generate: bool,
    /// Length of a generated value.
    #[arg(long, default_value_t = 32, requires = "generate", value_parser = clap::value_parser!(u16).range(8..=4096))]
    pub length: u16,
}

#[derive(clap::Args)]
pub struct NameArgs {
    /// The secret's name, e.g. registry/admin.
    pub name: String,
}

fn store(lab: &LabPath) -> anyhow::Result<Store> {
    let secrets = lab.load_secrets()?;
    Ok(Store::new(&lab.root, &secrets.recipients)?)
}

/// A random value of `len` letters and digits.
pub fn generate(len: usize) -> String {
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

pub fn run(cmd: Command, lab: &LabPath) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Set(args) => {
            let store = store(lab)?;
            store.path(&args.name)?;
            let value = if args.generate {
                generate(args.length.into())
            } else {
                super::read_secret(
                    &format!("Value of {}: ", args.name),
                    true,
                    "pipe the value on stdin, type it at the prompt, or use --generate",
                )?
            };
            let existed = store.exists(&args.name)?;
            let path = store.set(&args.name, value.as_bytes())?;
            let verb = if existed { "updated" } else { "created" };
            eprintln!(
                "{verb} {} ({} recipient{})",
                path.display(),
                store.recipients.len(),
                if store.recipients.len() == 1 { "" } else { "s" }
            );
        }
        Command::Get(args) => {
            let store = store(lab)?;
            let ids = store.identities()?;
            let value = store.get(&args.name, &ids)?;
            let mut out = std::io::stdout().lock();
            out.write_all(&value)?;
            if out.is_terminal() {
                out.write_all(b"\n")?;
            }
            out.flush()?;
        }
        Command::List => {
            let store = store(lab)?;
            let mut out = std::io::stdout().lock();
            for name in store.list()? {
                writeln!(out, "{name}")?;
            }
        }
        Command::Rm(args) => {
            let store = store(lab)?;
            let path = store.remove(&args.name)?;
            eprintln!("removed {}", path.display());
            if let Ok(parsed) = lab.load()
                && let Some(r) = parsed
                    .secret_refs()
                    .into_iter()
                    .find(|r| r.name == args.name)
            {
                eprintln!(
                    "warning: {}:{} still refers to secret:{}\n  help: set it again or change lab.yaml",
                    lab.file.display(),
                    r.pos,
                    args.name
                );
            }
        }
        Command::Rekey => {
            let store = store(lab)?;
            let ids = store.identities()?;
            let names = store.rekey(&ids)?;
            eprintln!(
                "re-encrypted {} secret{} to {} recipient{}",
                names.len(),
                if names.len() == 1 { "" } else { "s" },
                store.recipients.len(),
                if store.recipients.len() == 1 { "" } else { "s" }
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
