//! `GET /labreg/v1/usage`: the usage report as JSON, behind the same
//! authentication as the API (an administrator when access rules are on).
//! `?rebuild=true` walks the store again first.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::api::{ApiError, AppState, ErrorCode, denied};
use crate::auth::Scope;

pub const PATH: &str = "/labreg/v1/usage";

pub async fn usage(
    State(state): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let authorization = headers.get(header::AUTHORIZATION).map(|v| v.as_bytes());
    let who = match state.access.admit(authorization, Scope::Admin).await {
        Ok(who) => who,
        Err(denial) => return denied(&state, denial),
    };
    let unavailable = |why: String| {
        ApiError::new(ErrorCode::Unavailable, why)
            .with_status(StatusCode::SERVICE_UNAVAILABLE)
            .into_response()
    };
    let Some(index) = &state.usage else {
        return unavailable("no usage index in this server".into());
    };
    if q.get("rebuild").is_some_and(|v| v == "true" || v == "1")
        && let Err(e) = index.rebuild().await
    {
        return unavailable(format!("the store cannot be read: {e}"));
    }
    let mut resp = match index.report().await {
        Some(s) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            s.json(),
        )
            .into_response(),
        None => unavailable("the usage index is not running".into()),
    };
    resp.extensions_mut().insert(who);
    resp
}
