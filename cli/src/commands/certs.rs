//! `labctl certs`: the lab's CA and the registry's server certificate.
//! Private keys are kept only as age secrets (secrets/certs/*.key.age);
//! public certificates go to certs/ in the lab's root. Re-running renews
//! the server certificate when it expires within 30 days (or with
//! `--renew`), keeping the CA.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use time::{Duration, OffsetDateTime};

use crate::identity;
use crate::lab::LabPath;
use crate::manifest::model::Tls;
use crate::pki;
use crate::store::Store;
use crate::trust;

pub const CA_KEY: &str = "certs/ca.key";
const RENEW_BEFORE_DAYS: i64 = 30;

#[derive(clap::Args)]
pub struct Args {
    /// Extra subjectAltName: a DNS name or an IP address (repeatable).
    #[arg(long = "san", value_name = "NAME|IP")]
    pub sans: Vec<String>,
    /// Renew the server certificate even if it is not about to expire.
    #[arg(long)]
    pub renew: bool,
    /// Make a new CA (every client must then trust the new one).
    #[arg(long)]
    pub new_ca: bool,
    /// Validity of a new server certificate, in days.
    #[arg(long, default_value_t = 397, value_parser = clap::value_parser!(i64).range(31..=3650))]
    pub days: i64,
    /// Write the client trust files under this root (`/` for this machine)
    /// instead of printing the commands.
    #[arg(long, value_name = "ROOT")]
    pub write_trust: Option<PathBuf>,
}

pub fn server_key_name(host: &str) -> String {
    format!("certs/{}.key", host.replace(':', "-"))
}

fn write_public(path: &Path, pem: &str) -> anyhow::Result<()> {
    crate::atomic::write(path, pem.as_bytes(), 0o644)
        .with_context(|| format!("cannot write {}", path.display()))
}

fn check_san(s: &str) -> anyhow::Result<()> {
    if s.parse::<std::net::IpAddr>().is_ok() {
        return Ok(());
    }
    crate::manifest::checks::host(s).map_err(|(_, help)| {
        anyhow::anyhow!("--san {s} is not a DNS name or an IP address\n  help: {help}")
    })
}

/// The lab's CA: certs/ca.crt and its key from secrets/ (decrypted with
/// `ids`, or the identity found the usual way), or a new one when neither
/// exists or `new_ca` asks for it.
pub struct LabCa {
    pub cert_pem: String,
    pub key_pem: String,
    pub new: bool,
}

pub fn lab_ca(
    lab_name: &str,
    root: &Path,
    store: &Store,
    new_ca: bool,
    ids: Option<&identity::Identities>,
) -> anyhow::Result<LabCa> {
    let ca_crt = root.join("certs").join("ca.crt");
    let has_crt = ca_crt.is_file();
    let has_key = store.exists(CA_KEY)?;
    if has_crt && has_key && !new_ca {
        let found;
        let ids = match ids {
            Some(i) => i,
            None => {
                found = store.identities()?;
                &found
            }
        };
        let cert_pem = std::fs::read_to_string(&ca_crt)
            .with_context(|| format!("cannot read {}", ca_crt.display()))?;
        let key_pem = store
            .get_text(CA_KEY, ids)
            .context("cannot open the CA's private key")?;
        Ok(LabCa {
            cert_pem,
            key_pem,
            new: false,
        })
    } else if new_ca || (!has_crt && !has_key) {
        let ca = pki::new_ca(lab_name, 3650)?;
        store.set(CA_KEY, ca.key_pem.as_bytes())?;
        write_public(&ca_crt, &ca.cert_pem)?;
        eprintln!(
            "created a new CA: {} (key in secrets/{CA_KEY}.age)",
            ca_crt.display()
        );
        Ok(LabCa {
            cert_pem: ca.cert_pem,
            key_pem: ca.key_pem,
            new: true,
        })
    } else {
        anyhow::bail!(
            "the CA is incomplete: {} {} but secrets/{CA_KEY}.age {}\n  help: restore the missing file from git, or run `labctl certs --new-ca` (clients must then trust the new CA)",
            ca_crt.display(),
            if has_crt { "exists" } else { "is missing" },
            if has_crt { "is missing" } else { "exists" }
        )
    }
}

pub fn run(args: Args, lab: &LabPath) -> anyhow::Result<ExitCode> {
    let parsed = lab.load()?;
    let reg = &parsed.registry;
    for s in &args.sans {
        check_san(s)?;
    }
    if reg.expose.tls != Tls::SelfSigned {
        eprintln!(
            "note: registry.expose.tls is not self-signed, so the registry will not use these certificates"
        );
    }
    let store = Store::new(&lab.root, &parsed.secrets.recipients)?;
    let certs_dir = lab.root.join("certs");
    let ca_crt = certs_dir.join("ca.crt");
    let server_crt = certs_dir.join(format!("{}.crt", reg.host.replace(':', "-")));
    let server_key = server_key_name(&reg.host);
    let now = OffsetDateTime::now_utc();

    // The CA: reuse it unless asked for a new one.
    let ca = lab_ca(&parsed.metadata.name, &lab.root, &store, args.new_ca, None)?;
    let (ca_cert_pem, ca_key_pem, ca_new) = (ca.cert_pem, ca.key_pem, ca.new);
    let ca_info = pki::inspect(&ca_crt.display().to_string(), &ca_cert_pem)?;
    if ca_info.not_after - now < Duration::days(RENEW_BEFORE_DAYS) {
        eprintln!(
            "warning: the CA expires on {}\n  help: run `labctl certs --new-ca` and hand the new ca.crt to the clients",
            ca_info.not_after.date()
        );
    }

    // The server certificate.
    let mut sans = vec![reg.host.clone()];
    let existing = match std::fs::read_to_string(&server_crt) {
        Ok(pem) => Some(pki::inspect(&server_crt.display().to_string(), &pem)?),
        Err(_) => None,
    };
    if args.sans.is_empty() {
        if let Some(info) = &existing {
            sans.extend(info.sans.iter().filter(|s| **s != reg.host).cloned());
        }
    } else {
        sans.extend(args.sans.iter().filter(|s| **s != reg.host).cloned());
    }
    sans.dedup();
    let reason = match &existing {
        _ if ca_new => Some("the CA is new"),
        None => Some("there is none yet"),
        Some(_) if !store.exists(&server_key)? => Some("its key is missing"),
        Some(_) if args.renew => Some("--renew was given"),
        Some(info) if info.issuer_der != ca_info.subject_der => {
            Some("it was not issued by the current CA")
        }
        Some(info) if info.not_after - now < Duration::days(RENEW_BEFORE_DAYS) => {
            Some("it expires within 30 days")
        }
        Some(info) if info.sans != sans => Some("its names changed"),
        Some(_) => None,
    };
    match reason {
        Some(why) => {
            let srv = pki::issue_server(&ca_cert_pem, &ca_key_pem, &sans, args.days)?;
            store.set(&server_key, srv.key_pem.as_bytes())?;
            write_public(&server_crt, &srv.cert_pem)?;
            eprintln!(
                "issued {} for {} ({why}), valid until {}; key in secrets/{server_key}.age",
                server_crt.display(),
                sans.join(", "),
                (now + Duration::days(args.days)).date()
            );
        }
        None => {
            let info = existing.as_ref().expect("checked above");
            eprintln!(
                "{} for {} is valid until {}; nothing to renew (use --renew to force)",
                server_crt.display(),
                info.sans.join(", "),
                info.not_after.date()
            );
        }
    }

    let port = reg.expose.node_port.unwrap_or(443);
    let addr = trust::address(&reg.host, port);
    match &args.write_trust {
        Some(root) => {
            let written = trust::write(root, &addr, &parsed.metadata.name, &ca_cert_pem)
                .with_context(|| {
                    format!("cannot write the trust files under {}", root.display())
                })?;
            for p in written {
                eprintln!("wrote {}", p.display());
            }
            eprintln!(
                "next: run update-ca-certificates for the system store; restart nothing else"
            );
        }
        None => print!(
            "{}",
            trust::instructions(&addr, &parsed.metadata.name, &ca_crt)
        ),
    }
    Ok(ExitCode::SUCCESS)
}
