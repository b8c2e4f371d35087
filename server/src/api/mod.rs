//! HTTP: routing of `/v2/...`, request parsing, headers, and the spec's error
//! JSON. Handlers turn requests into calls on the registry layer and its
//! results into responses; they hold no content logic of their own.

mod blobs;
mod discovery;
pub mod error;
mod manifests;
pub mod range;
pub mod routes;
pub mod upload_state;

use std::collections::HashMap;
use std::io;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;

use crate::auth::{Access, Action, Denial, Scope};
use crate::config::settings::ApiSettings;
use crate::registry::{
    Context, Digest, Reference, Registry, RepoName, RepositoryService, RequestInfo,
};
use crate::storage::ByteStream;
pub use error::{ApiError, ApiResult, ErrorCode};
use routes::Route;
pub use upload_state::UploadSigner;

pub const API_VERSION_HEADER: &str = "docker-distribution-api-version";
pub const DIGEST_HEADER: &str = "docker-content-digest";
pub const UPLOAD_UUID_HEADER: &str = "docker-upload-uuid";

/// What the handlers share.
pub struct AppState {
    /// What every handler calls: the registry, or decorators wrapping it.
    pub service: Arc<dyn RepositoryService>,
    /// The registry itself, for the server's own upkeep (health, upload
    /// purging, the start-up storage check); handlers never use it.
    pub registry: Arc<Registry>,
    /// Who may do what; open when no `auth` is configured.
    pub access: Access,
    /// Headers, `http.host` and the catalog's page size, resolved at start.
    pub settings: ApiSettings,
    /// Signs upload URLs with `http.secret`.
    pub upload_signer: UploadSigner,
    /// The mirrored upstreams (their metrics are served with the others).
    pub upstreams: Vec<Arc<crate::mirror::Upstream>>,
    /// The webhooks of `notifications.endpoints`, when any is enabled.
    pub notifier: Option<Arc<crate::notify::Notifier>>,
    /// The web UI's own state, when `labreg.ui.enabled`.
    pub ui: Option<Arc<crate::ui::Ui>>,
    /// The storage usage index (`/labreg/v1/usage`, the catalog).
    pub usage: Option<Arc<crate::usage::UsageIndex>>,
    /// Whether `_catalog` may answer from `usage` (`labreg.catalog_index`).
    pub catalog_index: bool,
}

impl AppState {
    /// A Location header value for a path on this registry.
    fn location(&self, path: &str) -> String {
        match &self.settings.base_url {
            Some(base) => format!("{base}{path}"),
            None => path.to_string(),
        }
    }
}

/// The connection a request came on, put in its extensions by the server.
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    pub addr: std::net::SocketAddr,
    pub tls: bool,
}

/// What a request says about itself, for events: registry:2's `request`
/// (the client's address honours `X-Forwarded-For`, then `X-Real-Ip`).
fn request_info(state: &AppState, req: &Request) -> RequestInfo {
    let h = req.headers();
    let text = |name: &str| {
        h.get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .unwrap_or("")
            .to_string()
    };
    let peer = req.extensions().get::<Peer>();
    let forwarded = text("x-forwarded-for");
    let addr = match forwarded.split(',').next().map(str::trim) {
        Some(first) if !first.is_empty() => first.to_string(),
        _ => match text("x-real-ip") {
            real if !real.is_empty() => real,
            _ => peer.map(|p| p.addr.to_string()).unwrap_or_default(),
        },
    };
    let host = match text("host") {
        host if !host.is_empty() => host,
        _ => req
            .uri()
            .authority()
            .map(|a| a.to_string())
            .unwrap_or_default(),
    };
    let base_url = match &state.settings.base_url {
        Some(base) => base.clone(),
        None => {
            let proto = text("x-forwarded-proto");
            let scheme = match (proto.as_str(), peer.is_some_and(|p| p.tls)) {
                ("http" | "https", _) => proto.as_str(),
                (_, true) => "https",
                _ => "http",
            };
            format!("{scheme}://{host}")
        }
    };
    RequestInfo {
        method: req.method().to_string(),
        addr,
        host,
        useragent: text("user-agent"),
        base_url,
    }
}

/// The registry's router: every request goes through `dispatch`, and every
/// response carries the API version header and the configured headers.
pub fn app(state: Arc<AppState>) -> Router {
    Router::new()
        .route(
            crate::usage::http::PATH,
            axum::routing::get(crate::usage::http::usage),
        )
        .fallback(dispatch)
        .layer(axum::middleware::map_response_with_state(
            state.clone(),
            common_headers,
        ))
        .with_state(state)
}

async fn common_headers(State(state): State<Arc<AppState>>, mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(API_VERSION_HEADER, HeaderValue::from_static("registry/2.0"));
    for (k, v) in &state.settings.headers {
        if !h.contains_key(k) {
            h.insert(k.clone(), v.clone());
        }
    }
    resp
}

/// The request's query parameters; a malformed query reads as empty.
fn query(req: &Request) -> HashMap<String, String> {
    Query::<HashMap<String, String>>::try_from_uri(req.uri())
        .map(|q| q.0)
        .unwrap_or_default()
}

fn header_str<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The request body as the byte stream the registry layer takes.
fn body_stream(body: Body) -> ByteStream {
    Box::pin(body.into_data_stream().map_err(io::Error::other))
}

/// One request on one repository, as its handler receives it: the shared
/// state, who asks, and the name checked at the edge.
#[derive(Clone, Copy)]
pub struct RepoRequest<'a> {
    pub state: &'a AppState,
    pub cx: &'a Context,
    pub name: &'a RepoName,
}

/// A digest from a path or query, checked at the edge.
fn parse_digest(s: &str) -> Result<Digest, ApiError> {
    s.parse::<Digest>()
        .map_err(|e| ApiError::from(crate::registry::names::NameError::from(e)))
}

fn parse_reference(s: &str) -> Result<Reference, ApiError> {
    Ok(Reference::parse(s)?)
}

fn method_not_allowed(allowed: &str) -> ApiResult {
    Err(ApiError::new(
        ErrorCode::Unsupported,
        format!("method not allowed here; allowed: {allowed}"),
    )
    .header(header::ALLOW, allowed))
}

/// Routing, then the shared authentication and authorization step, then the
/// handler. The repository name is checked once, here.
async fn dispatch(State(state): State<Arc<AppState>>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let Some(route) = routes::parse(&path) else {
        return ApiError::new(
            ErrorCode::Unsupported,
            format!("no registry API endpoint at {path}"),
        )
        .with_status(StatusCode::NOT_FOUND)
        .into_response();
    };
    // An invalid name is refused before anything else looks at it.
    let repo = match route.name().map(RepoName::parse).transpose() {
        Ok(repo) => repo,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    let who = match state
        .access
        .admit(authorization, scope(route, req.method()))
        .await
    {
        Ok(who) => who,
        Err(denial) => return denied(&state, denial),
    };
    let cx = Context::new(who)
        .namespace(query(&req).remove("ns"))
        .request(request_info(&state, &req));
    let result = route_request(&state, &cx, route, repo.as_ref(), req).await;
    let mut resp = result.unwrap_or_else(IntoResponse::into_response);
    resp.extensions_mut().insert(cx.request_id);
    resp.extensions_mut().insert(cx.actor);
    resp
}

/// A refused request's answer: 401 with the challenge, or 403 naming who.
pub(crate) fn denied(state: &AppState, denial: Denial) -> Response {
    match denial {
        Denial::Unauthenticated(why) => unauthorized(state, why).into_response(),
        Denial::Forbidden { who, message } => {
            let mut resp = ApiError::new(ErrorCode::Denied, message).into_response();
            resp.extensions_mut().insert(who);
            resp
        }
    }
}

fn unauthorized(state: &AppState, why: &str) -> ApiError {
    ApiError::new(
        ErrorCode::Unauthorized,
        format!("authentication required: {why}"),
    )
    .header(header::WWW_AUTHENTICATE, &state.access.challenge())
}

/// What a request asks to do, for the access rules: reads pull, deletes
/// delete, other writes push.
fn scope<'a>(route: Route<'a>, method: &Method) -> Scope<'a> {
    let read = matches!(*method, Method::GET | Method::HEAD);
    match route {
        Route::Base => Scope::Root,
        Route::Catalog => Scope::Catalog,
        Route::Tags { name } | Route::Referrers { name, .. } => {
            Scope::Repository(name, Action::Pull)
        }
        Route::Manifest { name, .. } | Route::Blob { name, .. } if read => {
            Scope::Repository(name, Action::Pull)
        }
        Route::Manifest { name, .. } | Route::Blob { name, .. } if *method == Method::DELETE => {
            Scope::Repository(name, Action::Delete)
        }
        Route::Manifest { name, .. } => Scope::Repository(name, Action::Push),
        Route::Blob { .. } => Scope::Any,
        Route::UploadStart { name } | Route::Upload { name, .. } => {
            Scope::Repository(name, Action::Push)
        }
    }
}

async fn route_request(
    state: &AppState,
    cx: &Context,
    route: Route<'_>,
    repo: Option<&RepoName>,
    req: Request,
) -> ApiResult {
    let m = req.method().clone();
    let r = match (route, repo) {
        (Route::Base, _) => {
            return match m {
                Method::GET | Method::HEAD => {
                    Ok((StatusCode::OK, axum::Json(serde_json::json!({}))).into_response())
                }
                _ => method_not_allowed("GET, HEAD"),
            };
        }
        (Route::Catalog, _) => {
            return match m {
                Method::GET => discovery::catalog(state, cx, &query(&req)).await,
                _ => method_not_allowed("GET"),
            };
        }
        (_, Some(name)) => RepoRequest { state, cx, name },
        (_, None) => unreachable!("every other route names a repository"),
    };
    match route {
        Route::Base | Route::Catalog => unreachable!("answered above"),
        Route::Tags { .. } => match m {
            Method::GET => discovery::tags(r, &query(&req)).await,
            _ => method_not_allowed("GET"),
        },
        Route::Referrers { digest, .. } => match m {
            Method::GET => {
                let subject = parse_digest(digest)?;
                discovery::referrers(r, &subject, &query(&req)).await
            }
            _ => method_not_allowed("GET"),
        },
        Route::Manifest { reference, .. } => match m {
            Method::GET | Method::HEAD => {
                let reference = manifests::read_reference(reference)?;
                manifests::get(r, &reference, req).await
            }
            Method::PUT => manifests::put(r, &parse_reference(reference)?, req).await,
            Method::DELETE => manifests::delete(r, &parse_reference(reference)?).await,
            _ => method_not_allowed("GET, HEAD, PUT, DELETE"),
        },
        Route::Blob { digest, .. } => match m {
            Method::GET | Method::HEAD => blobs::get(r, &parse_digest(digest)?, req).await,
            Method::DELETE => blobs::delete(r, &parse_digest(digest)?).await,
            _ => method_not_allowed("GET, HEAD, DELETE"),
        },
        Route::UploadStart { .. } => match m {
            Method::POST => blobs::start_upload(r, req).await,
            _ => method_not_allowed("POST"),
        },
        Route::Upload { id, .. } => {
            blobs::verify_upload(state, r.name, id, &req)?;
            match m {
                Method::GET => blobs::upload_status(r, id).await,
                Method::PATCH => blobs::patch_upload(r, id, req).await,
                Method::PUT => blobs::finish_upload(r, id, req).await,
                Method::DELETE => blobs::cancel_upload(r, id).await,
                _ => method_not_allowed("GET, PATCH, PUT, DELETE"),
            }
        }
    }
}
