//! `labctl sealing init|bootstrap|fetch-cert|seal`: the sealed-secrets
//! controller's certificate that render seals to, and the key pair labctl
//! can own for the lab.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::lab::LabPath;
use crate::render::seal::{Scope, seal_value};
use crate::sealing::{self, CERT_FILE, KEY_SECRET};
use crate::store::Store;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Make the controller's key pair, owned by the lab (key age-encrypted in secrets/)
    Init(InitArgs),
    /// Print the Secret that gives the controller the lab's key pair (for kubectl apply)
    Bootstrap,
    /// Get the running controller's certificate into certs/sealing.crt (with kubectl)
    FetchCert,
    /// Seal one value read from stdin and print it, like `kubeseal --raw`
    Seal(SealArgs),
}

#[derive(clap::Args)]
pub struct InitArgs {
    /// Replace an existing key pair (everything must be sealed again).
    #[arg(long)]
    pub renew: bool,
    /// RSA key size.
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u16).range(2048..=8192))]
    pub bits: u16,
    /// Validity of the certificate, in days.
    #[arg(long, default_value_t = 3650, value_parser = clap::value_parser!(i64).range(1..=36500))]
    pub days: i64,
}

#[derive(clap::Args)]
pub struct SealArgs {
    #[arg(long)]
    pub namespace: String,
    #[arg(long)]
    pub name: String,
    #[arg(long, value_enum, default_value = "strict")]
    pub scope: Scope,
    /// The controller's certificate (default certs/sealing.crt).
    #[arg(long, value_name = "FILE")]
    pub cert: Option<PathBuf>,
}

pub fn run(cmd: Command, lab: &LabPath) -> anyhow::Result<ExitCode> {
    let cert_path = lab.root.join(CERT_FILE);
    match cmd {
        Command::Init(args) => {
            let secrets = lab.load_secrets()?;
            let store = Store::new(&lab.root, &secrets.recipients)?;
            if !args.renew && cert_path.is_file() && store.exists(KEY_SECRET)? {
                eprintln!(
                    "{} and secrets/{KEY_SECRET}.age exist; nothing to do (use --renew for a new key pair)",
                    cert_path.display()
                );
                return Ok(ExitCode::SUCCESS);
            }
            let (cert, key) = sealing::generate(args.bits.into(), args.days)?;
            store.set(KEY_SECRET, key.as_bytes())?;
            crate::atomic::write(&cert_path, cert.as_bytes(), 0o644)
                .with_context(|| format!("cannot write {}", cert_path.display()))?;
            eprintln!(
                "made a {}-bit key pair: certificate {}, private key secrets/{KEY_SECRET}.age\nnext: `labctl sealing bootstrap | kubectl apply -f -` before installing the controller (or restart it), then `labctl render`",
                args.bits,
                cert_path.display()
            );
        }
        Command::Bootstrap => {
            let parsed = lab.load_secrets()?;
            let store = Store::new(&lab.root, &parsed.recipients)?;
            let ids = store.identities()?;
            let key = store.get_text(KEY_SECRET, &ids).context(
                "this lab does not own a sealing key pair\n  help: run `labctl sealing init` first",
            )?;
            let cert = sealing::load(&cert_path)?;
            let c = &parsed.sealing.controller;
            let name = format!("sealed-secrets-key-{}", lab_name(lab));
            print!(
                "{}",
                sealing::bootstrap_secret(&c.namespace, &name, &cert.pem, &key)
            );
        }
        Command::FetchCert => {
            let parsed = lab.load_secrets()?;
            let c = &parsed.sealing.controller;
            let pem = crate::kube::fetch_cert(&c.namespace, &c.name)?;
            let cert = sealing::parse(&cert_path, pem)?;
            crate::atomic::write(&cert_path, cert.pem.as_bytes(), 0o644)
                .with_context(|| format!("cannot write {}", cert_path.display()))?;
            eprintln!(
                "wrote {} (valid until {})",
                cert_path.display(),
                cert.not_after.date()
            );
        }
        Command::Seal(args) => {
            let cert = sealing::load(&args.cert.unwrap_or(cert_path))?;
            let value = super::read_secret("Value: ", false, "pipe the value to seal on stdin")?;
            let label = args.scope.label(&args.namespace, &args.name);
            println!("{}", seal_value(&cert.key, value.as_bytes(), &label)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn lab_name(lab: &LabPath) -> String {
    lab.load()
        .map_or_else(|_| "lab".to_string(), |l| l.metadata.name)
}
