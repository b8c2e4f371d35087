//! S3 over HTTPS with a self-signed certificate, as a homelab's MinIO or
//! Garage behind a TLS proxy serves it: the certificate made by `openssl
//! req -x509` (CA:TRUE, as openssl makes it) is given to labreg as
//! `AWS_CA_BUNDLE`, the variable registry:2's AWS SDK reads. The S3 server
//! is the real Garage, behind a TLS front written here.

mod common;

use std::sync::Arc;

use bytes::Bytes;
use common::s3::{fresh_root, s3};
use labreg::config::s3::S3;
use labreg::storage::StorageDriver;
use labreg::storage::s3::S3Driver;

/// A self-signed certificate for 127.0.0.1 made by openssl; (cert, key) files.
fn openssl_cert(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (dir.join("s3.crt"), dir.join("s3.key"));
    let out = std::process::Command::new("openssl")
        .args([
            "req", "-newkey", "rsa:2048", "-nodes", "-sha256", "-x509", "-days", "30",
        ])
        .args([
            "-subj",
            "/CN=s3.local",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is installed (scripts/setup.sh)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

/// TLS on a loopback port, each connection relayed to `backend`.
async fn tls_front(cert: &std::path::Path, key: &std::path::Path, backend: String) -> u16 {
    let reloading = Arc::new(labreg::tls::ReloadingCert::open(cert, key).expect("cert and key"));
    let acceptor = tokio_rustls::TlsAcceptor::from(labreg::tls::server_config(
        reloading,
        labreg::config::sections::MinTls::Tls12,
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, backend) = (acceptor.clone(), backend.clone());
            tokio::spawn(async move {
                let Ok(mut client) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut server) = tokio::net::TcpStream::connect(&backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_over_https_with_a_self_signed_certificate_as_aws_ca_bundle() {
    let env = s3();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = openssl_cert(dir.path());
    let backend = env.endpoint.trim_start_matches("http://").to_string();
    let port = tls_front(&cert, &key, backend).await;
    let root = fresh_root();
    let yaml = format!(
        "accesskey: {}\nsecretkey: {}\nregion: {}\nregionendpoint: https://127.0.0.1:{port}\nbucket: {}\nrootdirectory: {root}\n",
        env.access_key, env.secret_key, env.region, env.bucket
    );
    let section: S3 = serde_saphyr::from_str(&yaml).unwrap();
    let bundle = cert.to_str().unwrap().to_string();
    let with_bundle = section
        .settings_with(&|k| (k == "AWS_CA_BUNDLE").then(|| bundle.clone()))
        .unwrap();
    assert_eq!(with_bundle.ca_bundle.as_deref(), Some(cert.as_path()));

    // Trusted through AWS_CA_BUNDLE: a write and a read go through.
    let driver = S3Driver::new(&with_bundle).unwrap();
    let path = "/docker/registry/v2/probe";
    driver
        .put_content(path, Bytes::from_static(b"over TLS"))
        .await
        .unwrap();
    assert_eq!(driver.get_content(path).await.unwrap(), "over TLS");

    // Without it, the same server is refused, and the error says why.
    let without = section.settings_with(&|_| None).unwrap();
    let err = S3Driver::new(&without)
        .unwrap()
        .get_content(path)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("certificate") || err.contains("UnknownIssuer"),
        "{err}"
    );

    // A bundle that is not PEM stops the driver's construction, named.
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate").unwrap();
    let junk = junk.to_str().unwrap().to_string();
    let bad = section
        .settings_with(&|k| (k == "AWS_CA_BUNDLE").then(|| junk.clone()))
        .unwrap();
    let err = S3Driver::new(&bad).err().expect("refused");
    assert!(
        err.contains("AWS_CA_BUNDLE") && err.contains("no PEM certificate"),
        "{err}"
    );
}
