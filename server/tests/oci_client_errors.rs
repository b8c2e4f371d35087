//! What `labreg-oci` tells about a failure, against a registry front that
//! misbehaves on purpose (raw HTTP/1.1 on loopback): a 401's challenge
//! seen by a probe client, a 413 from a proxy with its `Server` header,
//! a streamed PATCH cut by a reset with the bytes sent so far, a blob
//! redirect followed (and told) by a client that does not follow
//! redirects itself, and one to an address nobody listens on.

use std::time::Duration;

use bytes::Bytes;
use futures_util::{StreamExt, stream};
use labreg_oci::{Client, OciError};
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const CHALLENGE: &str = "Bearer realm=\"http://127.0.0.1:1/token\",service=\"front\"";

/// Reads one request head, byte by byte, up to the blank line.
async fn read_head(s: &mut TcpStream) -> String {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        if s.read(&mut b).await.unwrap_or(0) == 0 {
            break;
        }
        head.push(b[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

fn content_length(head: &str) -> usize {
    head.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0)
}

/// One connection: one request and its answer (or a reset).
async fn answer(mut s: TcpStream, closed: u16) {
    let head = read_head(&mut s).await;
    let mut words = head.split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let reply = match (method, path) {
        ("GET", "/v2/") => {
            let body = r#"{"errors":[{"code":"UNAUTHORIZED","message":"log in"}]}"#;
            format!(
                "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: {CHALLENGE}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
        }
        ("POST", p) => {
            format!("HTTP/1.1 202 Accepted\r\nLocation: {p}session\r\nContent-Length: 0\r\n\r\n")
        }
        ("PATCH", p) if p.starts_with("/v2/cut/") => {
            // Take 1 MiB of the body, then close with the rest unread: a
            // reset, as a proxy that gives up on a body sends.
            let mut buf = vec![0u8; 1 << 20];
            let _ = s.read_exact(&mut buf).await;
            return;
        }
        ("PATCH", _) => {
            let mut body = vec![0u8; content_length(&head)];
            let _ = s.read_exact(&mut body).await;
            let body = "<html>413 Request Entity Too Large</html>";
            format!(
                "HTTP/1.1 413 Request Entity Too Large\r\nServer: nginx\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
        }
        ("GET", "/v2/r/blobs/sha256:away") => format!(
            "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.1:{closed}/bucket/blob?X-Amz-Signature=s\r\nContent-Length: 0\r\n\r\n"
        ),
        ("GET", "/v2/r/blobs/sha256:here") => {
            "HTTP/1.1 307 Temporary Redirect\r\nLocation: /storage/blob\r\nContent-Length: 0\r\n\r\n"
                .to_string()
        }
        ("GET", "/storage/blob") => {
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello".to_string()
        }
        _ => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_string(),
    };
    let _ = s.write_all(reply.as_bytes()).await;
    let _ = s.shutdown().await;
}

/// The front on a port of its own; `closed` is a port nobody listens on.
async fn front() -> (String, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let closed = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(answer(s, closed));
        }
    });
    (format!("http://{addr}"), closed)
}

/// A client like verify's: no redirects followed by reqwest, no pooling
/// (the front answers one request per connection).
fn client(base: &str) -> Client {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    Client::new(base.parse().unwrap(), http, None)
}

#[tokio::test]
async fn a_probe_sees_the_challenge_and_the_spec_code() {
    let (base, _) = front().await;
    let err = client(&base).probe().ping().await.unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::UNAUTHORIZED), "{err}");
    let answer = err.answer().expect("an answer");
    assert_eq!(answer.challenge.as_deref(), Some(CHALLENGE));
    assert!(answer.body.contains("\"UNAUTHORIZED\""), "{answer:?}");
    assert!(err.to_string().contains("UNAUTHORIZED: log in"), "{err}");
}

#[tokio::test]
async fn a_413_names_the_proxy_that_answered() {
    let (base, _) = front().await;
    let c = client(&base);
    let mut up = c.start_upload("limited/app").await.unwrap();
    let err = c
        .upload_chunk(&mut up, Bytes::from_static(b"0123456789"))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::PAYLOAD_TOO_LARGE), "{err}");
    let answer = err.answer().unwrap();
    assert_eq!(answer.server.as_deref(), Some("nginx"));
    assert!(answer.body.starts_with("<html>"), "{answer:?}");
}

#[tokio::test]
async fn a_reset_during_a_streamed_patch_tells_the_bytes_sent() {
    let (base, _) = front().await;
    let c = client(&base);
    let mut up = c.start_upload("cut/app").await.unwrap();
    // 256 MiB in 64 KiB pieces: more than any socket buffer holds.
    let piece = Bytes::from(vec![7u8; 64 << 10]);
    let body = stream::repeat(piece)
        .take(4096)
        .map(Ok::<_, std::io::Error>);
    let err = c.upload_counted(&mut up, body, None).await.unwrap_err();
    assert!(matches!(err, OciError::Transport { .. }), "{err}");
    assert!(err.cause().is_some(), "{err}");
    let sent = err.sent().expect("bytes sent are counted");
    assert!((1 << 20..256 << 20).contains(&sent), "{sent} bytes: {err}");
}

#[tokio::test]
async fn blob_redirects_are_followed_and_told() {
    let (base, closed) = front().await;
    let c = client(&base);
    let blob = c.get_blob("r", "sha256:here").await.unwrap();
    let to = blob.redirected.clone().expect("the redirect is told");
    assert_eq!(to.path(), "/storage/blob");
    let bytes: Vec<Bytes> = blob.stream.map(|b| b.unwrap()).collect().await;
    assert_eq!(bytes.concat(), b"hello");

    // Redirected to an address nobody listens on: the error is the
    // storage's, at its URL, a transport error with its cause.
    let err = match c.get_blob("r", "sha256:away").await {
        Ok(_) => panic!("a blob from a closed port"),
        Err(e) => e,
    };
    assert!(
        err.url()
            .starts_with(&format!("http://127.0.0.1:{closed}/bucket/blob")),
        "{err}"
    );
    assert!(err.is_unavailable() && err.cause().is_some(), "{err}");
    assert!(!c.same_origin(&err.url().parse().unwrap()));
}
