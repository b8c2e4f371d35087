//! TLS failures, each named: unknown authority, no SAN (seed 002), a SAN
//! for another name, expired, and the wrong protocol either way.

use crate::support::{BOTH, Ca, DistOptions, Labreg, Reg, Run, Which, verify, verify_json};

/// Runs verify against both registries serving `cert`; both runs must
/// fail alike, and the docker-registry run is returned.
async fn against(cert: (String, String), ca: Option<&Ca>) -> Run {
    let ca_pem = ca.map(|c| c.cert_pem.as_str());
    let mut runs = Vec::new();
    for which in BOTH {
        runs.push(against_one(which, serving(cert.clone()), ca_pem, &[], None).await);
    }
    let (a, b) = (runs[0].failure(), runs[1].failure());
    assert_eq!(
        (&a.0, &a.1),
        (&b.0, &b.1),
        "labreg and docker-registry differ:\n{}\n{}",
        a.2,
        b.2
    );
    runs.pop().unwrap()
}

/// Options for a registry serving `cert` (PEM cert, PEM key).
pub fn serving(cert: (String, String)) -> DistOptions {
    DistOptions {
        tls: Some(cert),
        ..Default::default()
    }
}

/// `verify push --output json` against one registry started with `o`,
/// trusting `ca_pem` (written to a file for --ca) when given.
pub async fn against_one(
    which: Which,
    o: DistOptions,
    ca_pem: Option<&str>,
    extra: &[&str],
    stdin: Option<&str>,
) -> Run {
    let reg = Reg::start(which, o).await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("https://127.0.0.1:{}", reg.port());
    let mut args = vec!["verify", "push", "--registry", &url, "--output", "json"];
    let ca_file = dir.path().join("ca.crt");
    if let Some(pem) = ca_pem {
        std::fs::write(&ca_file, pem).unwrap();
        args.extend(["--ca", ca_file.to_str().unwrap()]);
    }
    args.extend(extra);
    verify(&args, stdin).await
}

#[tokio::test]
async fn a_ca_nobody_trusts() {
    let ca = Ca::new("homelab CA");
    let r = against(ca.issue("127.0.0.1", &["127.0.0.1"], -1, 30), None).await;
    assert_eq!(r.code, 1);
    let msg = r.failed_with("tls", "unknown-authority");
    assert!(
        msg.contains("signed by an authority this machine does not trust"),
        "{msg}"
    );
    assert!(msg.contains("issued by CN=homelab CA"), "{msg}");
    assert!(
        msg.contains("--ca FILE") && msg.contains("labctl certs"),
        "{msg}"
    );
}

#[tokio::test]
async fn the_wrong_ca() {
    let ca = Ca::new("homelab CA");
    let other = Ca::new("another CA");
    let r = against(ca.issue("127.0.0.1", &["127.0.0.1"], -1, 30), Some(&other)).await;
    let msg = r.failed_with("tls", "unknown-authority");
    assert!(
        msg.contains("that neither") && msg.contains("ca.crt nor the system store signed"),
        "{msg}"
    );
    assert!(msg.contains("re-issue"), "{msg}");
}

#[tokio::test]
async fn a_certificate_without_san_seed_002() {
    let ca = Ca::new("homelab CA");
    let r = against(ca.issue("docker.registry.com", &[], -1, 30), Some(&ca)).await;
    let msg = r.failed_with("tls", "no-san");
    assert!(
        msg.contains("has no subjectAltName, only the common name"),
        "{msg}"
    );
    assert!(msg.contains("labctl certs --san 127.0.0.1"), "{msg}");
    assert!(msg.contains("subjectAltName=IP:127.0.0.1"), "{msg}");
}

#[tokio::test]
async fn a_certificate_for_another_name() {
    let ca = Ca::new("homelab CA");
    let r = against(
        ca.issue("docker.registry.com", &["docker.registry.com"], -1, 30),
        Some(&ca),
    )
    .await;
    let msg = r.failed_with("tls", "name-mismatch");
    assert!(
        msg.contains("is not valid for 127.0.0.1: it names docker.registry.com"),
        "{msg}"
    );
}

#[tokio::test]
async fn an_expired_certificate() {
    let ca = Ca::new("homelab CA");
    let r = against(ca.issue("127.0.0.1", &["127.0.0.1"], -60, -3), Some(&ca)).await;
    let msg = r.failed_with("tls", "expired");
    assert!(
        msg.contains("expired on") && msg.contains("(3 days ago)"),
        "{msg}"
    );
    assert!(msg.contains("labctl certs --renew"), "{msg}");
}

#[tokio::test]
async fn plain_http_spoken_to_tls() {
    let ca = Ca::new("homelab CA");
    for which in BOTH {
        let reg = Reg::start(
            which,
            DistOptions {
                tls: Some(ca.issue("127.0.0.1", &["127.0.0.1"], -1, 30)),
                ..Default::default()
            },
        )
        .await;
        let url = format!("127.0.0.1:{}", reg.port());
        let r = verify_json(&url, &["--insecure"], None).await;
        let (step, kind, msg) = r.failure();
        let got = (step.as_str(), kind.as_str());
        assert_eq!(got, ("auth challenge", "http-to-https"), "{which:?}: {msg}");
        assert!(
            msg.contains("speaks HTTPS, but verify spoke plain HTTP"),
            "{msg}"
        );
        assert!(msg.contains("drop --insecure"), "{msg}");
    }
}

#[tokio::test]
async fn tls_spoken_to_plain_http() {
    let reg = Labreg::start("").await;
    let url = format!("https://{}", reg.addr);
    let r = verify_json(&url, &[], None).await;
    let msg = r.failed_with("tls", "https-to-http");
    assert!(
        msg.contains("answers plain HTTP, but verify spoke HTTPS"),
        "{msg}"
    );
    assert!(msg.contains("--insecure"), "{msg}");
    // The human output says the same.
    let r = verify(&["verify", "push", "--registry", &url], None).await;
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains("FAIL  tls") && r.stdout.contains("cause: "),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("FAILED at tls"), "{}", r.stdout);
}
