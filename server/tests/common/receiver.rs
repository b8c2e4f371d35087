//! A webhook receiver for notification tests: a real HTTP server on
//! loopback that records every body and header it is posted, and can go
//! away (its port closed, its connections cut), come back on the same port,
//! or hang (read the request, never answer).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use serde_json::Value;

/// One POST as received.
#[derive(Clone, Debug)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Value,
}

#[derive(Default)]
struct Shared {
    posts: Mutex<Vec<Received>>,
    hang: AtomicBool,
}

pub struct Receiver {
    pub port: u16,
    shared: Arc<Shared>,
    task: Option<tokio::task::JoinHandle<()>>,
}

async fn record(State(s): State<Arc<Shared>>, headers: HeaderMap, body: String) -> &'static str {
    if s.hang.load(Ordering::SeqCst) {
        std::future::pending::<()>().await;
    }
    let body = serde_json::from_str(&body).unwrap_or(Value::String(body));
    s.posts.lock().unwrap().push(Received { headers, body });
    "ok"
}

impl Receiver {
    pub async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut r = Receiver {
            port: listener.local_addr().unwrap().port(),
            shared: Arc::default(),
            task: None,
        };
        r.serve(listener);
        r
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/events", self.port)
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let app = axum::Router::new()
            .route("/events", post(record))
            .with_state(self.shared.clone());
        self.task = Some(tokio::spawn(async move {
            // Connections live in this set, so stopping the task cuts them.
            let mut conns = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let svc = TowerToHyperService::new(app.clone());
                conns.spawn(async move {
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        }));
    }

    /// Closes the port and every open connection.
    pub async fn down(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
            let _ = t.await;
        }
    }

    /// Listens again on the same port.
    pub async fn up(&mut self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("the receiver's port is free again");
        self.serve(listener);
    }

    /// Reads requests and never answers them (true), or answers again.
    pub fn hang(&self, on: bool) {
        self.shared.hang.store(on, Ordering::SeqCst);
    }

    pub fn posts(&self) -> Vec<Received> {
        self.shared.posts.lock().unwrap().clone()
    }

    /// Every event received, in order of arrival.
    pub fn events(&self) -> Vec<Value> {
        self.posts()
            .iter()
            .flat_map(|p| p.body["events"].as_array().cloned().unwrap_or_default())
            .collect()
    }

    /// Waits until `n` events arrived and no more come for a moment.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Value> {
        let end = Instant::now() + within;
        while self.events().len() < n && Instant::now() < end {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        self.events()
    }
}
