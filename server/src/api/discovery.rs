//! Content discovery: catalog, tags list and referrers.

use std::collections::HashMap;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::auth::Action;

use super::{ApiError, ApiResult, AppState, ErrorCode, RepoRequest};
use crate::registry::manifest::OCI_INDEX;
use crate::registry::{Context, Digest, Page};

/// `n` and `last` of a paginated listing.
fn page_params(q: &HashMap<String, String>) -> Result<(Option<usize>, Option<String>), ApiError> {
    let n = match q.get("n") {
        Some(v) => Some(v.parse::<usize>().map_err(|_| {
            ApiError::new(
                ErrorCode::PaginationNumberInvalid,
                format!("n={v:?} is not a valid page size: use a whole number"),
            )
        })?),
        None => None,
    };
    Ok((n, q.get("last").cloned().filter(|l| !l.is_empty())))
}

/// A JSON listing with the RFC 5988 Link to the next page when there is one.
fn listing(body: serde_json::Value, page: &Page, path: &str, n: Option<usize>) -> Response {
    let mut resp = (StatusCode::OK, axum::Json(body)).into_response();
    if let (true, Some(last), Some(n)) = (page.more, page.items.last(), n.filter(|n| *n > 0)) {
        let link = format!("<{path}?last={last}&n={n}>; rel=\"next\"");
        if let Ok(v) = HeaderValue::from_str(&link) {
            resp.headers_mut().insert(header::LINK, v);
        }
    }
    resp
}

pub async fn catalog(state: &AppState, cx: &Context, q: &HashMap<String, String>) -> ApiResult {
    let (n, last) = page_params(q)?;
    let max = state.settings.catalog_max;
    let n = Some(n.unwrap_or(max).min(max));
    let visible = |repo: &str| state.access.allowed(&cx.actor, repo, Action::Pull);
    // The usage index knows every repository this process wrote to: it
    // answers only where the operator says labreg is the store's one writer
    // (another replica or registry:2 on the same storage would be missed),
    // and content the mirror caches bypasses it, so a mirror lists from the
    // store.
    let indexed = state
        .usage
        .as_ref()
        .filter(|_| state.catalog_index && state.upstreams.is_empty());
    let page = match indexed.and_then(|u| u.catalog(last.as_deref(), n, &visible)) {
        Some(page) => page,
        None => {
            state
                .service
                .catalog(cx, last.as_deref(), n, &visible)
                .await?
        }
    };
    let body = json!({ "repositories": page.items });
    Ok(listing(body, &page, "/v2/_catalog", n))
}

pub async fn tags(r: RepoRequest<'_>, q: &HashMap<String, String>) -> ApiResult {
    let RepoRequest { state, cx, name } = r;
    let (n, last) = page_params(q)?;
    let page = state.service.tags(cx, name, last.as_deref(), n).await?;
    let body = json!({ "name": name, "tags": page.items });
    Ok(listing(body, &page, &format!("/v2/{name}/tags/list"), n))
}

pub async fn referrers(
    r: RepoRequest<'_>,
    subject: &Digest,
    q: &HashMap<String, String>,
) -> ApiResult {
    let RepoRequest { state, cx, name } = r;
    let artifact_type = q.get("artifactType").cloned();
    let found = state
        .service
        .referrers(cx, name, subject, artifact_type.as_deref())
        .await?;
    let body = json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": found,
    });
    let mut resp = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, OCI_INDEX)],
        serde_json::to_vec(&body).expect("serializable"),
    )
        .into_response();
    if artifact_type.is_some() {
        resp.headers_mut().insert(
            "oci-filters-applied",
            HeaderValue::from_static("artifactType"),
        );
    }
    Ok(resp)
}
