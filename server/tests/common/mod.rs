//! A labreg booted in-process on a listener bound to port 0, for tests.

#![allow(dead_code)]

pub mod images;
pub mod oci;
pub mod pki;
pub mod process;
pub mod receiver;
pub mod s3;
pub mod store;
pub mod suite;
pub mod token_front;
pub mod tools;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use labreg::config::Config;
use labreg::events::EventSink;
use labreg::registry::Digest;
use labreg::server;

pub struct TestRegistry {
    pub url: String,
    pub addr: std::net::SocketAddr,
    pub root: PathBuf,
    _dir: Option<tempfile::TempDir>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestRegistry {
    /// Starts labreg with `extra` YAML merged under a filesystem config.
    pub async fn start(extra: &str) -> TestRegistry {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let mut reg = Self::start_on(&root, extra).await;
        reg._dir = Some(dir);
        reg
    }

    /// Starts labreg on an existing storage folder.
    pub async fn start_on(root: &Path, extra: &str) -> TestRegistry {
        let yaml = format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\n{extra}",
            root.display()
        );
        Self::start_yaml(&yaml, root).await
    }

    /// Starts labreg on the S3 test server under `root` (a key prefix),
    /// with `extra` YAML merged under the storage section.
    pub async fn start_s3(root: &str, extra: &str) -> TestRegistry {
        let yaml = format!("version: 0.1\nstorage:\n{}{extra}", s3::s3().yaml(root));
        Self::start_yaml(&yaml, Path::new(root)).await
    }

    /// Starts labreg with a whole config; `root` is only recorded.
    pub async fn start_yaml(yaml: &str, root: &Path) -> TestRegistry {
        Self::start_yaml_with(yaml, root, None).await
    }

    /// Like `start_yaml`, with every change handed to `sink`.
    pub async fn start_yaml_with(
        yaml: &str,
        root: &Path,
        sink: Option<Arc<dyn EventSink>>,
    ) -> TestRegistry {
        let loaded = Config::from_yaml(yaml, Vec::new()).expect("test config");
        let state = server::build_state_with(&loaded.config, sink).expect("state");
        let tls = server::tls_config(&loaded.config).expect("tls");
        let scheme = if tls.is_some() { "https" } else { "http" };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let app = server::router(state, Default::default(), false);
        let task = tokio::spawn(async move {
            server::serve(listener, app, tls, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        TestRegistry {
            url: format!("{scheme}://{addr}"),
            addr,
            root: root.to_path_buf(),
            _dir: None,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap();
        }
    }

    /// Every file under the storage root, relative to it.
    pub fn files(&self) -> Vec<String> {
        let mut out = Vec::new();
        walk(&self.root, &self.root, &mut out);
        out.sort();
        out
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(root, &p, out);
        } else {
            out.push(p.strip_prefix(root).unwrap().display().to_string());
        }
    }
}

pub fn digest(data: &[u8]) -> String {
    Digest::sha256_of(data).to_string()
}

/// A client that does not follow redirects. Every request is bounded in
/// time, so a hang fails the test instead of stalling the suite.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(120))
        .build()
        .unwrap()
}

/// Shares one test registry type across test files.
pub type Shared = Arc<TestRegistry>;

/// Sends raw bytes as one HTTP/1.1 request (paths no client library would
/// send as written) and returns the status and body of the answer.
pub async fn raw_request(addr: std::net::SocketAddr, head: impl AsRef<[u8]>) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(head.as_ref()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

/// Checks an error answer: its status, its spec code, and that its message
/// names `cause`.
pub async fn assert_error(resp: reqwest::Response, status: u16, code: &str, cause: &str) {
    assert_eq!(resp.status().as_u16(), status);
    let body: serde_json::Value = resp.json().await.expect("error body is JSON");
    assert_eq!(body["errors"][0]["code"], code, "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains(cause), "{cause:?} not in {body}");
}
