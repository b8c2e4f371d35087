//! Certificates made by `openssl req`, as the seeds make theirs.

use std::path::Path;

use super::{run_ok, tool};

/// A CA and a server certificate for 127.0.0.1 and localhost, made by
/// `openssl req` as the seeds make theirs.
pub fn ca_and_leaf(d: &Path, ca: &Path, crt: &Path, key: &Path) {
    let ca_key = d.join("ca.key");
    run_ok(
        tool("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=image test CA",
            ])
            .arg("-keyout")
            .arg(&ca_key)
            .arg("-out")
            .arg(ca),
    );
    let csr = d.join("tls.csr");
    key_and_csr("/CN=localhost", key, &csr);
    let ext = d.join("san.ext");
    std::fs::write(&ext, "subjectAltName=IP:127.0.0.1,DNS:localhost\n").unwrap();
    run_ok(
        tool("openssl")
            .args(["x509", "-req", "-days", "2"])
            .arg("-in")
            .arg(&csr)
            .arg("-CA")
            .arg(ca)
            .arg("-CAkey")
            .arg(&ca_key)
            .arg("-CAcreateserial")
            .arg("-extfile")
            .arg(&ext)
            .arg("-out")
            .arg(crt),
    );
}

/// A P-256 key and a certificate request for `subject` (`/CN=...`), made
/// by `openssl req -new`.
pub fn key_and_csr(subject: &str, key: &Path, csr: &Path) {
    run_ok(
        tool("openssl")
            .args([
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-subj",
                subject,
            ])
            .arg("-keyout")
            .arg(key)
            .arg("-out")
            .arg(csr),
    );
}
