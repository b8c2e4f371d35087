//! Requests refused before labreg reads them: the client sends the whole
//! request as a client does (head and body, without waiting), then reads.
//! Each must read the status line of the refusal, not a reset; plain HTTP
//! and TLS.

mod common;

use std::sync::Arc;

use common::TestRegistry;
use common::pki::Ca;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Writes all of `request`, then reads the whole answer; both must work.
async fn send_then_read<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, request: &[u8]) -> String {
    s.write_all(request)
        .await
        .expect("the request is taken whole, not cut by a reset");
    let mut out = Vec::new();
    match s.read_to_end(&mut out).await {
        Ok(_) => {}
        // A TLS peer closing without close_notify: the answer was read.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !out.is_empty() => {}
        Err(e) => panic!("the answer is cut ({e}) after {} bytes", out.len()),
    }
    String::from_utf8_lossy(&out).to_string()
}

fn status_of(answer: &str) -> u16 {
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// A manifest PUT with a body over the 4 MiB limit.
fn oversized_manifest() -> Vec<u8> {
    let body = vec![b' '; 6 << 20];
    let mut req = format!(
        "PUT /v2/big/app/manifests/v1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    req
}

/// A request head of 2 MiB (one enormous header).
fn oversized_head() -> Vec<u8> {
    format!(
        "GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Padding: {}\r\n\r\n",
        "a".repeat(2 << 20)
    )
    .into_bytes()
}

/// A monolithic blob upload of 16 MiB without credentials.
fn unauthenticated_upload() -> Vec<u8> {
    let body = vec![7u8; 16 << 20];
    let mut req = format!(
        "POST /v2/team/app/blobs/uploads/?digest={} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        common::digest(&body),
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    req
}

#[tokio::test]
async fn early_refusals_are_read_by_the_client_over_plain_http() {
    let reg = TestRegistry::start("").await;
    for (what, request, status, code) in [
        (
            "manifest over 4 MiB",
            oversized_manifest(),
            413,
            "SIZE_INVALID",
        ),
        ("2 MiB request head", oversized_head(), 431, ""),
    ] {
        let s = tokio::net::TcpStream::connect(reg.addr).await.unwrap();
        let answer = send_then_read(s, &request).await;
        assert_eq!(status_of(&answer), status, "{what}: {answer:.300}");
        assert!(answer.contains(code), "{what}: {answer:.300}");
    }
    reg.stop().await;
}

#[tokio::test]
async fn an_upload_without_credentials_gets_its_401() {
    let dir = tempfile::tempdir().unwrap();
    let line = bcrypt::hash("pw", 4).unwrap();
    let file = dir.path().join("htpasswd");
    std::fs::write(&file, format!("admin:{line}\n")).unwrap();
    let reg = TestRegistry::start(&format!(
        "auth:\n  htpasswd:\n    realm: r\n    path: {}\n",
        file.display()
    ))
    .await;
    let s = tokio::net::TcpStream::connect(reg.addr).await.unwrap();
    let answer = send_then_read(s, &unauthenticated_upload()).await;
    assert_eq!(status_of(&answer), 401, "{answer:.300}");
    assert!(answer.contains("UNAUTHORIZED"), "{answer:.300}");
    reg.stop().await;
}

#[tokio::test]
async fn early_refusals_are_read_by_the_client_over_tls() {
    let ca = Ca::new("refusals CA");
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = ca.server(&["127.0.0.1"]).write(dir.path());
    let reg = TestRegistry::start(&format!(
        "http:\n  tls:\n    certificate: {}\n    key: {}\n",
        cert.display(),
        key.display()
    ))
    .await;
    let mut anchors = labreg::trust::Anchors::default();
    assert_eq!(anchors.add_pem(ca.pem().as_bytes()), 1);
    let config = Arc::new(anchors.client_config().unwrap());
    for (what, request, status) in [
        ("manifest over 4 MiB", oversized_manifest(), 413),
        ("2 MiB request head", oversized_head(), 431),
    ] {
        let tcp = tokio::net::TcpStream::connect(reg.addr).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
        let tls = tokio_rustls::TlsConnector::from(config.clone())
            .connect(name, tcp)
            .await
            .unwrap();
        let answer = send_then_read(tls, &request).await;
        assert_eq!(status_of(&answer), status, "{what}: {answer:.300}");
    }
    reg.stop().await;
}
