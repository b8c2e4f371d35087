//! Certificates as our users make them: Debian's `openssl req -x509`, run
//! the way seeds 001 and 002 run it (a self-signed certificate, which
//! openssl's default config marks CA:TRUE, then given to clients as the
//! CA), with and without the SAN the seeds forget, back-dated with
//! faketime. Each registry (labreg and docker-registry) serves it with an
//! htpasswd file made by Apache's `htpasswd -Bbn`; verify push must pass
//! where docker, skopeo and curl pass, and name the real cause where they
//! fail.

use std::path::Path;

use crate::common::{run_ok, tool};
use crate::support::{BOTH, DistOptions, Run, Which};
use crate::tls::{against_one, serving};

/// `openssl req -newkey rsa:BITS -nodes -sha256 -x509 -days DAYS` with
/// `extra` arguments, under `faketime` when `at` is given; (cert, key) PEM.
fn openssl_req(
    dir: &Path,
    bits: u32,
    days: u32,
    extra: &[&str],
    at: Option<&str>,
) -> (String, String) {
    let (cert, key) = (dir.join("registry-cert.crt"), dir.join("registry-cert.key"));
    let newkey = format!("rsa:{bits}");
    let days = days.to_string();
    let mut args = vec![
        "req",
        "-newkey",
        &newkey,
        "-nodes",
        "-sha256",
        "-x509",
        "-days",
        &days,
        "-keyout",
        key.to_str().unwrap(),
        "-out",
        cert.to_str().unwrap(),
    ];
    args.extend(extra);
    let mut cmd = match at {
        Some(t) => {
            let mut c = tool("faketime");
            c.arg(t).arg("openssl");
            c
        }
        None => tool("openssl"),
    };
    run_ok(cmd.args(&args).stdin(std::process::Stdio::null()));
    (
        std::fs::read_to_string(cert).unwrap(),
        std::fs::read_to_string(key).unwrap(),
    )
}

/// A self-signed certificate as the seeds make it, for CN=`cn`, with the
/// SAN a user adds (`-addext subjectAltName=...`) when given.
fn seed_cert(
    bits: u32,
    days: u32,
    cn: &str,
    san: Option<&str>,
    at: Option<&str>,
) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let subj = format!("/CN={cn}");
    let san = san.map(|s| format!("subjectAltName={s}"));
    let mut extra = vec!["-subj", subj.as_str()];
    if let Some(s) = &san {
        extra.extend(["-addext", s.as_str()]);
    }
    openssl_req(dir.path(), bits, days, &extra, at)
}

/// Seed 001's subject.
const SEED_001_SUBJ: &str = "/C=US/ST=Massachusetts/L=Boston/O=Continuul LLC/CN=continuul.io";

/// Verify with the certificate itself as --ca, logging in with the
/// htpasswd user, on one registry.
async fn with_itself_as_ca(which: Which, cert: &(String, String)) -> Run {
    let o = DistOptions {
        user: Some(("admin", "docker123")),
        ..serving(cert.clone())
    };
    against_one(
        which,
        o,
        Some(&cert.0),
        &["--user", "admin", "--password-stdin"],
        Some("docker123"),
    )
    .await
}

#[tokio::test]
async fn seed_certificates_with_a_san_pass_given_as_their_own_ca() {
    let dir = tempfile::tempdir().unwrap();
    // Seed 001 (RSA 4096, 356 days) and seed 002 (RSA 2048, 365 days),
    // each with the SAN a user adds once Go clients refuse the CN.
    let certs = [
        seed_cert(
            4096,
            356,
            "localhost",
            Some("IP:127.0.0.1,DNS:localhost"),
            None,
        ),
        seed_cert(2048, 365, "localhost", Some("IP:127.0.0.1"), None),
    ];
    for cert in &certs {
        let file = dir.path().join("check.crt");
        std::fs::write(&file, &cert.0).unwrap();
        let text = run_ok(
            tool("openssl")
                .args(["x509", "-noout", "-text", "-in"])
                .arg(&file),
        );
        assert!(
            text.contains("CA:TRUE"),
            "openssl's default is a CA: {text}"
        );
        for which in BOTH {
            let r = with_itself_as_ca(which, cert).await;
            assert_eq!(r.code, 0, "{which:?}:\n{}\n{}", r.stdout, r.stderr);
            assert_eq!(r.status("tls"), "ok", "{which:?}: {}", r.stdout);
            assert_eq!(r.status("login"), "ok", "{which:?}: {}", r.stdout);
        }
    }
}

#[tokio::test]
async fn seed_001_exactly_has_no_san() {
    let dir = tempfile::tempdir().unwrap();
    let cert = openssl_req(dir.path(), 4096, 356, &["-subj", SEED_001_SUBJ], None);
    for which in BOTH {
        let r = with_itself_as_ca(which, &cert).await;
        let msg = r.failed_with("tls", "no-san");
        assert!(msg.contains("CN=continuul.io"), "{msg}");
        assert!(msg.contains("subjectAltName=IP:127.0.0.1"), "{msg}");
    }
}

#[tokio::test]
async fn a_self_signed_certificate_nobody_was_given() {
    let cert = seed_cert(2048, 365, "localhost", Some("IP:127.0.0.1"), None);
    let other = seed_cert(2048, 365, "other", Some("IP:127.0.0.1"), None);
    for which in BOTH {
        // No --ca: the system store does not have it.
        let r = against_one(which, serving(cert.clone()), None, &[], None).await;
        let msg = r.failed_with("tls", "unknown-authority");
        assert!(msg.contains("self-signed"), "{msg}");
        assert!(
            msg.contains("it is its own CA, so pass that certificate file itself with --ca"),
            "{msg}"
        );
        // The wrong --ca: still an unknown authority, not "CA used as leaf".
        let r = against_one(which, serving(cert.clone()), Some(&other.0), &[], None).await;
        let msg = r.failed_with("tls", "unknown-authority");
        assert!(msg.contains("is not") && msg.contains("ca.crt"), "{msg}");
    }
}

#[tokio::test]
async fn an_expired_self_signed_certificate() {
    let cert = seed_cert(
        2048,
        30,
        "localhost",
        Some("IP:127.0.0.1"),
        Some("2020-01-01 00:00:00"),
    );
    for which in BOTH {
        let r = against_one(which, serving(cert.clone()), Some(&cert.0), &[], None).await;
        let msg = r.failed_with("tls", "expired");
        assert!(msg.contains("expired on 2020-01-31"), "{msg}");
    }
}

#[tokio::test]
async fn a_self_signed_certificate_for_another_name() {
    let cert = seed_cert(
        2048,
        365,
        "docker.registry.com",
        Some("DNS:docker.registry.com"),
        None,
    );
    for which in BOTH {
        let r = against_one(which, serving(cert.clone()), Some(&cert.0), &[], None).await;
        let msg = r.failed_with("tls", "name-mismatch");
        assert!(msg.contains("it names docker.registry.com"), "{msg}");
    }
}

#[tokio::test]
async fn a_ca_certificate_served_as_the_registrys_own() {
    // An openssl CA, and a certificate it signs that is itself a CA
    // (basicConstraints CA:TRUE), trusted only through its issuer.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = openssl_req(d, 2048, 365, &["-subj", "/CN=home CA"], None);
    std::fs::write(d.join("ca.crt"), &ca.0).unwrap();
    std::fs::write(d.join("ca.key"), &ca.1).unwrap();
    let p = |n: &str| d.join(n).to_str().unwrap().to_string();
    run_ok(tool("openssl").args([
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        &p("leaf.key"),
        "-out",
        &p("leaf.csr"),
    ]));
    std::fs::write(
        d.join("ext.cnf"),
        "basicConstraints=critical,CA:TRUE\nsubjectAltName=IP:127.0.0.1\n",
    )
    .unwrap();
    run_ok(tool("openssl").args([
        "x509",
        "-req",
        "-in",
        &p("leaf.csr"),
        "-CA",
        &p("ca.crt"),
        "-CAkey",
        &p("ca.key"),
        "-CAcreateserial",
        "-days",
        "30",
        "-extfile",
        &p("ext.cnf"),
        "-out",
        &p("leaf.crt"),
    ]));
    let leaf = (
        std::fs::read_to_string(d.join("leaf.crt")).unwrap(),
        std::fs::read_to_string(d.join("leaf.key")).unwrap(),
    );
    let r = against_one(Which::Labreg, serving(leaf.clone()), Some(&ca.0), &[], None).await;
    let msg = r.failed_with("tls", "ca-as-leaf");
    assert!(
        msg.contains("CA:TRUE") && msg.contains("issued by CN=home CA"),
        "{msg}"
    );
    assert!(msg.contains("CA:FALSE"), "{msg}");
    // Given itself as the CA, it is trusted, as Go and OpenSSL trust it.
    let r = against_one(
        Which::Labreg,
        serving(leaf.clone()),
        Some(&leaf.0),
        &[],
        None,
    )
    .await;
    assert_eq!(r.status("tls"), "ok", "{}", r.stdout);
}
