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

use crate::auth::{Access, Action, Principal, Unauthenticated};
use crate::registry::Registry;
use crate::registry::names::validate_name;
use crate::storage::ByteStream;
pub use error::{ApiError, ApiResult, ErrorCode};
use routes::Route;
pub use upload_state::UploadSigner;

pub const API_VERSION_HEADER: &str = "docker-distribution-api-version";
pub const DIGEST_HEADER: &str = "docker-content-digest";
pub const UPLOAD_UUID_HEADER: &str = "docker-upload-uuid";

/// What the handlers share.
pub struct AppState {
    pub registry: Registry,
    /// Who may do what; open when no `auth` is configured.
    pub access: Access,
    /// `http.headers`: added to every response.
    pub extra_headers: HeaderMap,
    /// `catalog.maxentries`: the largest catalog page.
    pub catalog_max: usize,
    /// `http.host`: when set, Location headers are absolute URLs on it.
    pub base_url: Option<String>,
    /// Signs upload URLs with `http.secret`.
    pub upload_signer: UploadSigner,
}

impl AppState {
    /// A Location header value for a path on this registry.
    fn location(&self, path: &str) -> String {
        match &self.base_url {
            Some(base) => format!("{}{path}", base.trim_end_matches('/')),
            None => path.to_string(),
        }
    }
}

/// The registry's router: every request goes through `dispatch`, and every
/// response carries the API version header and the configured headers.
pub fn app(state: Arc<AppState>) -> Router {
    Router::new()
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
    for (k, v) in &state.extra_headers {
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

fn checked_name(name: &str) -> Result<&str, ApiError> {
    validate_name(name)?;
    Ok(name)
}

fn method_not_allowed(allowed: &str) -> ApiResult {
    Err(ApiError::new(
        ErrorCode::Unsupported,
        format!("method not allowed here; allowed: {allowed}"),
    )
    .header(header::ALLOW, allowed))
}

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
    if let Some(Err(e)) = route.name().map(validate_name) {
        return ApiError::from(e).into_response();
    }
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    let who = match state.access.authenticate(authorization).await {
        Ok(who) => who,
        Err(Unauthenticated(why)) => return unauthorized(&state, why).into_response(),
    };
    let result = match authorize(&state, &who, route, req.method()) {
        Ok(()) => route_request(&state, &who, route, req).await,
        Err(e) => Err(e),
    };
    let mut resp = result.unwrap_or_else(IntoResponse::into_response);
    resp.extensions_mut().insert(who);
    resp
}

fn unauthorized(state: &AppState, why: &str) -> ApiError {
    ApiError::new(
        ErrorCode::Unauthorized,
        format!("authentication required: {why}"),
    )
    .header(header::WWW_AUTHENTICATE, &state.access.challenge())
}

/// Checks the request against the access rules before any handler runs.
/// Anonymous requests that need more are asked for credentials (401); signed-in
/// users without the right are refused (403).
fn authorize(
    state: &AppState,
    who: &Principal,
    route: Route<'_>,
    method: &Method,
) -> Result<(), ApiError> {
    if !state.access.enabled() {
        return Ok(());
    }
    let anonymous = *who == Principal::Anonymous;
    let read = matches!(*method, Method::GET | Method::HEAD);
    let (name, action) = match route {
        Route::Base if anonymous => return Err(unauthorized(state, "no credentials")),
        Route::Base => return Ok(()),
        Route::Catalog if state.access.may_list(who) => return Ok(()),
        Route::Catalog => return Err(unauthorized(state, "no credentials")),
        Route::Tags { name } | Route::Referrers { name, .. } => (name, Action::Pull),
        Route::Manifest { name, .. } | Route::Blob { name, .. } if read => (name, Action::Pull),
        Route::Manifest { name, .. } | Route::Blob { name, .. } if *method == Method::DELETE => {
            (name, Action::Delete)
        }
        Route::Manifest { name, .. } => (name, Action::Push),
        Route::Blob { .. } => return Ok(()),
        Route::UploadStart { name } | Route::Upload { name, .. } => (name, Action::Push),
    };
    if state.access.allowed(who, name, action) {
        return Ok(());
    }
    match who {
        Principal::Anonymous => Err(unauthorized(state, "no credentials")),
        Principal::User(user) => Err(ApiError::new(
            ErrorCode::Denied,
            format!(
                "user {user:?} may not {} repository {name:?}",
                format!("{action:?}").to_lowercase()
            ),
        )),
    }
}

async fn route_request(
    state: &AppState,
    who: &Principal,
    route: Route<'_>,
    req: Request,
) -> ApiResult {
    let m = req.method().clone();
    match route {
        Route::Base => match m {
            Method::GET | Method::HEAD => {
                Ok((StatusCode::OK, axum::Json(serde_json::json!({}))).into_response())
            }
            _ => method_not_allowed("GET, HEAD"),
        },
        Route::Catalog => match m {
            Method::GET => discovery::catalog(state, who, &query(&req)).await,
            _ => method_not_allowed("GET"),
        },
        Route::Tags { name } => match m {
            Method::GET => discovery::tags(state, name, &query(&req)).await,
            _ => method_not_allowed("GET"),
        },
        Route::Referrers { name, digest } => match m {
            Method::GET => discovery::referrers(state, name, digest, &query(&req)).await,
            _ => method_not_allowed("GET"),
        },
        Route::Manifest { name, reference } => match m {
            Method::GET | Method::HEAD => manifests::get(state, name, reference, req).await,
            Method::PUT => manifests::put(state, name, reference, req).await,
            Method::DELETE => manifests::delete(state, name, reference).await,
            _ => method_not_allowed("GET, HEAD, PUT, DELETE"),
        },
        Route::Blob { name, digest } => match m {
            Method::GET | Method::HEAD => blobs::get(state, name, digest, req).await,
            Method::DELETE => blobs::delete(state, name, digest).await,
            _ => method_not_allowed("GET, HEAD, DELETE"),
        },
        Route::UploadStart { name } => match m {
            Method::POST => blobs::start_upload(state, who, name, req).await,
            _ => method_not_allowed("POST"),
        },
        Route::Upload { name, id } => {
            blobs::verify_upload(state, name, id, &req)?;
            match m {
                Method::GET => blobs::upload_status(state, name, id).await,
                Method::PATCH => blobs::patch_upload(state, name, id, req).await,
                Method::PUT => blobs::finish_upload(state, name, id, req).await,
                Method::DELETE => blobs::cancel_upload(state, name, id).await,
                _ => method_not_allowed("GET, PATCH, PUT, DELETE"),
            }
        }
    }
}
