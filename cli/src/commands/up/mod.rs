//! `labctl up`: the lab's registry on this machine. Renders the registry's
//! config.yml, htpasswd and TLS in memory with render's own code (apps/ is
//! not written), starts labreg from them with storage in `.lab/registry`
//! and TLS from the lab's CA, runs `verify push` against it, prints how to
//! use it, and serves until Ctrl-C (or, with `--detach`, until `labctl
//! down`). No cluster, no Docker daemon, no network beyond 127.0.0.1.

pub mod process;
pub mod record;
pub mod runtime;
mod start;

use std::path::PathBuf;
use std::process::ExitCode;

use serde::Serialize;

use super::verify::Output;
use crate::lab::LabPath;

#[derive(clap::Args)]
pub struct Args {
    /// Listen on 127.0.0.1:PORT.
    #[arg(long, default_value_t = 5000)]
    pub port: u16,
    /// Verify, then leave labreg running in the background (`labctl down` stops it).
    #[arg(long)]
    pub detach: bool,
    /// `text` for people, `json` for programs (one document once labreg is verified).
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

/// What `labctl up` prints once labreg serves and passed verify.
#[derive(Serialize)]
pub struct Report {
    pub lab: String,
    pub url: String,
    /// What image names start with: `127.0.0.1:PORT`.
    pub address: String,
    /// The lab's CA certificate.
    pub ca: PathBuf,
    /// A folder holding only ca.crt, for `--cert-dir` (skopeo, podman).
    pub cert_dir: PathBuf,
    pub user: Option<String>,
    /// The command that prints the user's password.
    pub password_command: Option<String>,
    /// skopeo login with that password.
    pub login: Option<String>,
    pub storage: PathBuf,
    pub log: PathBuf,
    pub runtime_dir: PathBuf,
    pub pid: u32,
    pub detached: bool,
    /// What differs from the config.yml rendered for the cluster.
    pub config_changes: Vec<String>,
    pub verify: Option<super::verify::report::Report>,
}

/// How the user ran labctl, for commands to copy: the path when it was run
/// by one (scripts/run.sh runs target/release/labctl), else `labctl`.
pub fn me() -> String {
    std::env::args()
        .next()
        .filter(|a| a.contains('/'))
        .unwrap_or_else(|| "labctl".into())
}

/// `.lab/` under the lab's root: storage, log, up.json, certs.d.
pub fn state_dir(lab: &LabPath) -> PathBuf {
    lab.root.join(".lab")
}

pub fn state_file(lab: &LabPath) -> PathBuf {
    state_dir(lab).join("up.json")
}

pub fn run(args: Args, lab: &LabPath) -> anyhow::Result<ExitCode> {
    start::run(args, lab)
}

impl Report {
    pub fn print_text(&self) {
        let a = &self.address;
        let dir = self.cert_dir.display();
        let ca = self.ca.display();
        println!();
        println!(
            "labreg is serving {} (lab {}): the config.yml, htpasswd and CA rendered for the cluster, changed for this machine:",
            self.url, self.lab
        );
        for c in &self.config_changes {
            println!("  - {c}");
        }
        println!("  CA:        {ca}");
        println!("  cert dir:  {dir}   (ca.crt only, for --cert-dir)");
        match (&self.user, &self.password_command, &self.login) {
            (Some(u), Some(p), Some(l)) => {
                println!("  user:      {u} (password: {p})");
                println!("  login:     {l}");
            }
            _ => println!("  login:     none needed (the lab has no registry.users)"),
        }
        let user = self.user.as_deref().unwrap_or("USER");
        println!(
            "  skopeo:    skopeo copy --dest-cert-dir {dir} oci:DIR:TAG docker://{a}/NAME:TAG"
        );
        println!(
            "  podman:    podman login --cert-dir {dir} -u {user} {a}; podman push --cert-dir {dir} IMAGE {a}/NAME:TAG"
        );
        println!(
            "  docker:    sudo mkdir -p /etc/docker/certs.d/{a} && sudo cp {ca} /etc/docker/certs.d/{a}/ca.crt; docker login -u {user} {a}"
        );
        println!("  storage:   {}", self.storage.display());
        println!("  log:       {}", self.log.display());
        if self.detached {
            println!(
                "labreg keeps running in the background (pid {}); stop it with `{} down`",
                self.pid,
                me()
            );
        } else {
            println!(
                "Ctrl-C stops it; the storage stays for the next `labctl up` (`{} down` from another terminal works too)",
                me()
            );
        }
    }
}
