//! `--tls`: every registry serves HTTPS with the same certificate, made
//! with openssl as a user's blog post makes one (an RSA CA, a server
//! certificate it signs for 127.0.0.1), and every client of the bench
//! trusts that CA. Set once at start, read by `peers` (the server side) and
//! `work` (the clients).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use anyhow::Context;

/// The files of the registries' TLS.
pub struct ServerFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    ca: reqwest::Certificate,
}

static FILES: OnceLock<ServerFiles> = OnceLock::new();

fn openssl(args: &[&str], dir: &Path) -> anyhow::Result<()> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .context("openssl: run scripts/setup.sh")?;
    anyhow::ensure!(
        out.status.success(),
        "openssl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// Makes the CA and the server certificate in `dir` and turns TLS on for
/// the rest of the run.
pub fn enable(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-subj",
            "/CN=labbench CA",
            "-days",
            "2",
        ],
        dir,
    )?;
    openssl(
        &[
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
        dir,
    )?;
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
    )?;
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-extfile",
            "san.ext",
            "-days",
            "2",
        ],
        dir,
    )?;
    let ca = reqwest::Certificate::from_pem(&std::fs::read(dir.join("ca.crt"))?)?;
    let files = ServerFiles {
        cert: dir.join("server.crt"),
        key: dir.join("server.key"),
        ca,
    };
    anyhow::ensure!(FILES.set(files).is_ok(), "TLS was already set up");
    Ok(())
}

/// The registries' certificate and key, when the run is over TLS.
pub fn server() -> Option<&'static ServerFiles> {
    FILES.get()
}

/// `http` or `https`, for the registries' base URLs.
pub fn scheme() -> &'static str {
    if FILES.get().is_some() {
        "https"
    } else {
        "http"
    }
}

/// A client builder that trusts the run's CA when TLS is on (and only the
/// system's roots otherwise).
pub fn client_builder() -> reqwest::ClientBuilder {
    let b = reqwest::Client::builder();
    match FILES.get() {
        Some(f) => b.add_root_certificate(f.ca.clone()),
        None => b,
    }
}
