//! TLS: real clients over a self-signed CA with htpasswd, certificates
//! rotated on disk without restart, and the errors people actually hit.

mod common;

use std::time::Duration;

use common::TestRegistry;
use common::oci::{layout_digest, make_layout};
use common::pki::{Ca, client_trusting};
use common::tools::{run, skopeo_copy_with, try_run, try_skopeo_copy_with};
use reqwest::StatusCode;

async fn tls_registry(dir: &std::path::Path, ca: &Ca, extra: &str) -> TestRegistry {
    let (cert, key) = ca.server(&["localhost", "127.0.0.1"]).write(dir);
    TestRegistry::start(&format!(
        "http:\n  tls:\n    certificate: {}\n    key: {}\n{extra}",
        cert.display(),
        key.display()
    ))
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn skopeo_logs_in_and_pushes_over_tls_with_a_private_ca() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("lab CA");
    let htpasswd = dir.path().join("htpasswd");
    std::fs::write(
        &htpasswd,
        run("htpasswd", &["-Bbn", "admin", "2secret"]).await,
    )
    .unwrap();
    let reg = tls_registry(
        dir.path(),
        &ca,
        &format!(
            "auth:\n  htpasswd:\n    realm: Registry Realm\n    path: {}\n",
            htpasswd.display()
        ),
    )
    .await;
    let certs = ca.write_cert_dir(&dir.path().join("certs.d"));
    let certs = certs.to_str().unwrap();
    let src = dir.path().join("src");
    let pushed = make_layout(&src, "v1", &[("linux", "amd64")], "over tls");
    let dest = format!("docker://{}/secure/app:v1", reg.host());
    let src_ref = format!("oci:{}:v1", src.display());

    // Missing and wrong credentials are refused; the right ones push.
    let err = try_run(
        "skopeo",
        &["copy", "--dest-cert-dir", certs, &src_ref, &dest],
    )
    .await
    .unwrap_err();
    assert!(
        err.contains("unauthorized") || err.contains("authentication required"),
        "{err}"
    );
    let err = try_skopeo_copy_with(
        &["--dest-cert-dir", certs, "--dest-creds", "admin:nope"],
        &src_ref,
        &dest,
    )
    .await
    .unwrap_err();
    assert!(
        err.contains("unauthorized") || err.contains("authentication required"),
        "{err}"
    );
    skopeo_copy_with(
        &["--dest-cert-dir", certs, "--dest-creds", "admin:2secret"],
        &src_ref,
        &dest,
    )
    .await;

    // Pull back with verification against the CA (no --tls-verify=false).
    let back = dir.path().join("back");
    skopeo_copy_with(
        &["--src-cert-dir", certs, "--src-creds", "admin:2secret"],
        &dest,
        &format!("oci:{}:v1", back.display()),
    )
    .await;
    assert_eq!(layout_digest(&back, "v1"), pushed);

    // A client that does not trust the CA fails verification.
    let err = try_run("skopeo", &["inspect", "--creds", "admin:2secret", &dest])
        .await
        .unwrap_err();
    assert!(err.contains("certificate") || err.contains("x509"), "{err}");

    // HTTP/2 is offered by ALPN.
    let resp = client_trusting(&ca.pem())
        .get(format!("{}/v2/", reg.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
}

/// A GET of `url` by a client that trusts `ca` only.
async fn get_trusting(ca: &Ca, url: &str) -> reqwest::Result<reqwest::Response> {
    client_trusting(&ca.pem()).get(url).send().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_certificate_replaced_on_disk_is_served_without_restart() {
    let dir = tempfile::tempdir().unwrap();
    let old_ca = Ca::new("old CA");
    let reg = tls_registry(dir.path(), &old_ca, "").await;
    let url = format!("{}/v2/", reg.url);
    assert_eq!(
        get_trusting(&old_ca, &url).await.unwrap().status(),
        StatusCode::OK
    );

    // cert-manager style rotation: a new key and certificate from a new CA.
    let new_ca = Ca::new("new CA");
    new_ca.server(&["localhost", "127.0.0.1"]).write(dir.path());
    let mut served = false;
    for _ in 0..50 {
        if get_trusting(&new_ca, &url).await.is_ok() {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(served, "the new certificate is served to new connections");
    assert!(
        get_trusting(&old_ca, &url).await.is_err(),
        "the old one is gone"
    );

    // A broken rotation (garbage written) keeps serving the last good pair.
    std::fs::write(dir.path().join("registry.crt"), "not a certificate").unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        get_trusting(&new_ca, &url).await.unwrap().status(),
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn plain_http_to_the_tls_port_gets_a_readable_answer() {
    let dir = tempfile::tempdir().unwrap();
    let reg = tls_registry(dir.path(), &Ca::new("ca"), "").await;
    let (status, body) =
        common::raw_request(reg.addr, "GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(status, 400);
    assert!(body.contains("HTTP request to an HTTPS server"), "{body}");
    // Still serving TLS afterwards.
    let resp = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap()
        .get(format!("{}/v2/", reg.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[test]
fn a_key_that_does_not_match_the_certificate_fails_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("ca");
    let (cert, _) = ca.server(&["localhost"]).write(dir.path());
    let other_key = dir.path().join("other.key");
    std::fs::write(&other_key, ca.server(&["localhost"]).key_pem).unwrap();
    let err = labreg::tls::load(&cert, &other_key)
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not match the certificate"), "{err}");
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    assert!(
        labreg::tls::load(&empty, &other_key)
            .unwrap_err()
            .to_string()
            .contains("no PEM certificate")
    );
    assert!(
        labreg::tls::load(&cert, &empty)
            .unwrap_err()
            .to_string()
            .contains("no PEM private key")
    );
    let missing = dir.path().join("missing.pem");
    assert!(
        labreg::tls::load(&missing, &other_key)
            .unwrap_err()
            .to_string()
            .contains("http.tls.certificate")
    );
}
