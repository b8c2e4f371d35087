//! A Bearer-token front for a registry, for tests: no token-serving
//! registry runs here, so this speaks the Docker token protocol exactly as
//! Docker Hub does. `/v2/...` without a valid token answers 401 with
//! `WWW-Authenticate: Bearer realm="<front>/token",service="front",scope=
//! "repository:NAME:pull"`; `GET /token?service=front&scope=...` with Basic
//! credentials answers `{"token", "access_token", "expires_in", "issued_at"}`;
//! with a token for the repository's scope, requests are forwarded to the
//! registry behind. It counts token requests and blob GETs, and can corrupt
//! the bytes of one blob (a tampering upstream).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use futures_util::StreamExt;

#[derive(Default)]
pub struct Counters {
    pub token_requests: usize,
    /// Blob GETs forwarded, by digest.
    pub blob_gets: HashMap<String, usize>,
}

struct Front {
    url: String,
    behind: String,
    basic: String,
    http: reqwest::Client,
    tokens: Mutex<HashMap<String, String>>,
    counters: Arc<Mutex<Counters>>,
    tamper: Arc<Mutex<Option<String>>>,
}

pub struct TokenFront {
    pub url: String,
    pub counters: Arc<Mutex<Counters>>,
    /// A digest whose blob bytes the front corrupts.
    pub tamper: Arc<Mutex<Option<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl TokenFront {
    /// A front for the registry at `behind`, accepting `user:password`.
    pub async fn start(behind: &str, user: &str, password: &str) -> TokenFront {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let counters = Arc::new(Mutex::new(Counters::default()));
        let tamper = Arc::new(Mutex::new(None));
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let front = Arc::new(Front {
            url: url.clone(),
            behind: behind.to_string(),
            basic: format!("Basic {basic}"),
            http: reqwest::Client::new(),
            tokens: Mutex::new(HashMap::new()),
            counters: counters.clone(),
            tamper: tamper.clone(),
        });
        let app = axum::Router::new().fallback(handle).with_state(front);
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        TokenFront {
            url,
            counters,
            tamper,
            task,
        }
    }

    pub fn host(&self) -> &str {
        self.url.trim_start_matches("http://")
    }

    pub fn stop(self) {
        self.task.abort();
    }
}

async fn handle(State(f): State<Arc<Front>>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let query: HashMap<String, String> = axum::extract::Query::try_from_uri(req.uri())
        .map(|q| q.0)
        .unwrap_or_default();
    if path == "/token" {
        return token(&f, req.headers(), &query);
    }
    // /v2/NAME/(manifests|blobs|tags)/... → the repository's pull scope.
    let repo = ["/manifests/", "/blobs/", "/tags/"].iter().find_map(|k| {
        path.strip_prefix("/v2/")?
            .split_once(k)
            .map(|(n, _)| n.to_string())
    });
    let scope = repo.as_ref().map(|r| format!("repository:{r}:pull"));
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let granted = bearer.and_then(|t| f.tokens.lock().unwrap().get(&t).cloned());
    let ok = match (&scope, &granted) {
        (_, None) => false,
        (None, Some(_)) => true,
        (Some(want), Some(have)) => have == want,
    };
    if !ok {
        let mut challenge = format!("Bearer realm=\"{}/token\",service=\"front\"", f.url);
        if let Some(s) = &scope {
            challenge.push_str(&format!(",scope=\"{s}\""));
        }
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, challenge)],
            r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
        )
            .into_response();
    }
    forward(&f, req, &path).await
}

fn token(f: &Front, headers: &HeaderMap, query: &HashMap<String, String>) -> Response {
    f.counters.lock().unwrap().token_requests += 1;
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if auth != Some(f.basic.as_str()) || query.get("service").map(String::as_str) != Some("front") {
        return (
            StatusCode::UNAUTHORIZED,
            r#"{"details":"incorrect username or password"}"#,
        )
            .into_response();
    }
    let scope = query.get("scope").cloned().unwrap_or_default();
    let token = format!("tok-{}", rand::random::<u64>());
    f.tokens.lock().unwrap().insert(token.clone(), scope);
    axum::Json(serde_json::json!({
        "token": token, "access_token": token, "expires_in": 300,
        "issued_at": "2026-01-01T00:00:00Z",
    }))
    .into_response()
}

async fn forward(f: &Front, req: Request, path: &str) -> Response {
    let url = format!(
        "{}{}",
        f.behind,
        req.uri().path_and_query().unwrap().as_str()
    );
    let mut out = f.http.request(req.method().clone(), url);
    if let Some(a) = req.headers().get(header::ACCEPT) {
        out = out.header(header::ACCEPT, a);
    }
    let resp = out.send().await.unwrap();
    let blob = path.split_once("/blobs/").map(|(_, d)| d.to_string());
    let tampered = match &blob {
        Some(d) if req.method() == Method::GET => {
            *f.counters
                .lock()
                .unwrap()
                .blob_gets
                .entry(d.clone())
                .or_default() += 1;
            f.tamper.lock().unwrap().as_deref() == Some(d.as_str())
        }
        _ => false,
    };
    let mut builder = Response::builder().status(resp.status().as_u16());
    for (k, v) in resp.headers() {
        builder = builder.header(k.as_str(), v.as_bytes());
    }
    let mut first = tampered;
    let stream = resp.bytes_stream().map(move |chunk| {
        let mut chunk = chunk.map(|b| b.to_vec())?;
        if first && !chunk.is_empty() {
            chunk[0] ^= 0xff;
            first = false;
        }
        Ok::<_, reqwest::Error>(bytes::Bytes::from(chunk))
    });
    builder.body(Body::from_stream(stream)).unwrap()
}
