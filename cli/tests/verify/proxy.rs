//! A small HTTP proxy in front of a registry, misbehaving on purpose the
//! way the seeds' ingresses and storage did: a body size limit (413), blob
//! GETs redirected to an address nobody listens on, or an upload that
//! stalls (to interrupt it).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use tokio::sync::Notify;

#[derive(Clone)]
pub enum Mode {
    /// Answer 413 (as nginx does) to bodies above this many bytes.
    Limit(usize),
    /// Answer blob GETs with a 307 to this port on 127.0.0.1.
    RedirectBlobs(u16),
    /// Hold PATCH requests forever, after notifying.
    StallPatch(Arc<Notify>),
}

struct Proxy {
    upstream: SocketAddr,
    mode: Mode,
    http: reqwest::Client,
}

/// Starts the proxy; returns its address.
pub async fn start(upstream: SocketAddr, mode: Mode) -> SocketAddr {
    let state = Arc::new(Proxy {
        upstream,
        mode,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
    });
    let app = axum::Router::new().fallback(handle).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

const NGINX_413: &str = "<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n<center><h1>413 Request Entity Too Large</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";

async fn handle(State(p): State<Arc<Proxy>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let upstream_body = match &p.mode {
        Mode::Limit(max) => {
            // nginx reads the body up to client_max_body_size, then refuses.
            let bytes = axum::body::to_bytes(body, usize::MAX)
                .await
                .unwrap_or_default();
            if bytes.len() > *max {
                let mut r = Response::new(Body::from(NGINX_413));
                *r.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
                r.headers_mut()
                    .insert("server", HeaderValue::from_static("nginx"));
                return r;
            }
            reqwest::Body::from(bytes)
        }
        Mode::RedirectBlobs(port) if parts.method == "GET" && path.contains("/blobs/sha256:") => {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::TEMPORARY_REDIRECT;
            let to = format!("http://127.0.0.1:{port}/container-repo{path}?X-Amz-Signature=abc");
            r.headers_mut()
                .insert("location", HeaderValue::from_str(&to).unwrap());
            return r;
        }
        Mode::StallPatch(n) if parts.method == "PATCH" => {
            n.notify_one();
            // Keep the body open and never answer.
            let _hold = body;
            std::future::pending::<()>().await;
            unreachable!()
        }
        _ => reqwest::Body::wrap_stream(body.into_data_stream()),
    };
    let url = format!("http://{}{path}", p.upstream);
    let mut fwd = p
        .http
        .request(parts.method.clone(), url)
        .body(upstream_body);
    for (k, v) in &parts.headers {
        if k != "transfer-encoding" {
            fwd = fwd.header(k, v);
        }
    }
    let resp = match fwd.send().await {
        Ok(r) => r,
        Err(e) => {
            let mut r = Response::new(Body::from(e.to_string()));
            *r.status_mut() = StatusCode::BAD_GATEWAY;
            return r;
        }
    };
    let mut out = Response::builder().status(resp.status().as_u16());
    for (k, v) in resp.headers() {
        if k != "transfer-encoding" {
            out = out.header(k, v);
        }
    }
    out.body(Body::from_stream(resp.bytes_stream())).unwrap()
}
