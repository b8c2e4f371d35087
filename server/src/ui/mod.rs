//! The web UI (`labreg.ui.enabled`): server-rendered HTML at `/` and
//! `/ui/...`, one stylesheet and one script built into the binary.
//!
//! It is a second front end on the same seams as the `/v2/` API: every page
//! asks [`Access::admit`](crate::auth::Access::admit) (the API's HTTP Basic
//! credentials, so a browser's login prompt works) and reads or changes
//! content only through the [`RepositoryService`](crate::registry::RepositoryService).
//! Every response carries a strict Content-Security-Policy (no inline
//! script or style); the one change it offers, delete, is a POST with a
//! token bound to the user and the target and a same-origin check.

mod assets;
mod delete;
mod health;
mod html;
mod image;
mod pages;
mod summary;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{Path, Query, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::get;

use crate::api::{ApiError, AppState};
use crate::auth::{Action, Denial, Principal, Scope};
use crate::registry::{Context, RegistryError, RepoName};

/// What the UI keeps beside the API's state.
pub struct Ui {
    /// Signs the delete forms' tokens; new on every start.
    key: [u8; 32],
    started: Instant,
    /// `http.tls.certificate`, read when the health page shows its expiry.
    tls_certificate: Option<PathBuf>,
}

impl Ui {
    pub fn new(tls_certificate: Option<PathBuf>) -> Ui {
        Ui {
            key: rand::random(),
            started: Instant::now(),
            tls_certificate,
        }
    }
}

/// The policy of every UI response: only this origin's files, no inline
/// code, no framing, forms post only here.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                       connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The UI's routes; the caller merges them in front of the API's router.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(pages::repositories))
        .route("/ui", get(pages::repositories))
        .route("/ui/", get(pages::repositories))
        .route("/ui/repo", get(pages::tags))
        .route("/ui/image", get(image::image))
        .route("/ui/health", get(health::health))
        .route("/ui/delete", get(delete::confirm).post(delete::delete))
        .route("/ui/assets/{file}", get(asset))
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(state)
}

async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    assets::serve(&file, &headers)
}

async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Not no-referrer: under it Chromium sends `Origin: null` on the UI's
    // own form posts, and the same-origin check needs the real one.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// A page's query parameters; a malformed query reads as empty.
type Params = Query<HashMap<String, String>>;

fn param<'a>(params: &'a Params, key: &str) -> Option<&'a str> {
    params
        .get(key)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

/// The UI's own state, present whenever its routes are mounted.
fn ui(state: &AppState) -> &Ui {
    state
        .ui
        .as_deref()
        .expect("UI routes are mounted only with labreg.ui.enabled")
}

/// The shared authentication and authorization step, answered as a page:
/// 401 with the Basic challenge (the browser's login prompt), or 403.
async fn admit(
    state: &AppState,
    headers: &HeaderMap,
    scope: Scope<'_>,
) -> Result<Context, Response> {
    let authorization = headers.get(header::AUTHORIZATION).map(|v| v.as_bytes());
    match state.access.admit(authorization, scope).await {
        Ok(who) => Ok(Context::new(who)),
        Err(Denial::Unauthenticated(why)) => {
            let mut resp = html::message(
                StatusCode::UNAUTHORIZED,
                &Principal::Anonymous,
                "Sign in",
                &format!(
                    "This registry needs a user name and password ({why}): reload the page and sign in with your registry credentials."
                ),
            );
            if let Ok(v) = HeaderValue::from_str(&state.access.challenge()) {
                resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
            }
            Err(resp)
        }
        Err(Denial::Forbidden { who, message }) => Err(html::message(
            StatusCode::FORBIDDEN,
            &who,
            "Not allowed",
            &format!("{message}; ask the registry's administrator for access."),
        )),
    }
}

/// The shared step for a page about one repository: may the caller do
/// `action` there, and is the name valid.
async fn open_repo(
    state: &AppState,
    headers: &HeaderMap,
    name: &str,
    action: Action,
) -> Result<(Context, RepoName), Response> {
    let cx = admit(state, headers, Scope::Repository(name, action)).await?;
    let repo = RepoName::parse(name).map_err(|e| failure(&cx, e.into()))?;
    Ok((cx, repo))
}

/// A registry error as a page, with the API's status for it.
fn failure(cx: &Context, e: RegistryError) -> Response {
    let api = ApiError::from(e);
    let status = api.status.unwrap_or(api.code.status());
    let text = if status.is_server_error() {
        tracing::error!(error = %api.message, "UI page failed");
        "the registry could not read its storage; see labreg's log".to_string()
    } else {
        api.message
    };
    html::message(status, &cx.actor, "Cannot show this", &text)
}

/// The host clients pull from: `http.host` when set, else the Host header.
fn registry_host(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(base) = &state.settings.base_url {
        let host = base.split("://").nth(1).unwrap_or(base);
        return host.trim_end_matches('/').to_string();
    }
    headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost")
        .to_string()
}
