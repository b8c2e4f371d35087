//! Manifest endpoints, with content negotiation on Accept.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{ApiError, ApiResult, AppState, DIGEST_HEADER, ErrorCode, RepoRequest, header_str};
use crate::registry::manifest::{self, Kind, MAX_MANIFEST_SIZE};
use crate::registry::{Context, Digest, Reference, RegistryError, RepoName, StoredManifest};

/// The media types a request accepts; empty means anything (a client that
/// sends no Accept, like curl, gets the manifest as stored).
fn accepted(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.split(';').next().unwrap_or("").trim().to_string())
        .filter(|t| !t.is_empty())
        .collect()
}

fn accepts(list: &[String], media_type: &str) -> bool {
    list.is_empty()
        || list
            .iter()
            .any(|a| a == media_type || a == "*/*" || a == "application/*")
}

/// For a client that does not accept an index, distribution serves the
/// linux/amd64 image of a Docker manifest list; labreg does the same for
/// both kinds of index, and otherwise answers that nothing acceptable exists.
async fn negotiate(
    state: &AppState,
    cx: &Context,
    name: &RepoName,
    stored: StoredManifest,
    accept: &[String],
) -> Result<StoredManifest, ApiError> {
    if accepts(accept, &stored.media_type) {
        return Ok(stored);
    }
    let not_acceptable = |mt: &str| {
        ApiError::new(
            ErrorCode::ManifestUnknown,
            format!("the manifest is {mt}, which the request's Accept header does not list"),
        )
    };
    if manifest::kind_of(&stored.media_type) == Some(Kind::Index)
        && let Ok(parsed) = manifest::parse(&stored.content, None)
    {
        let amd64 = parsed.children.iter().find(|c| {
            let p = c.platform.as_ref();
            let field = |k: &str| p.and_then(|p| p.get(k)).and_then(|v| v.as_str());
            field("os") == Some("linux")
                && field("architecture") == Some("amd64")
                && accepts(accept, &c.media_type)
        });
        if let Some(child) = amd64 {
            let d: Digest = child.digest.parse().map_err(RegistryError::from)?;
            return Ok(state
                .service
                .get_manifest(cx, name, &Reference::Digest(d))
                .await?);
        }
    }
    Err(not_acceptable(&stored.media_type))
}

/// The reference of a manifest read: one that is neither a tag nor a
/// digest names nothing that can exist, so a read answers "unknown" (as the
/// OCI conformance suite and every other registry do); only a PUT says
/// TAG_INVALID.
pub fn read_reference(reference: &str) -> Result<Reference, ApiError> {
    Reference::parse(reference).map_err(|_| {
        ApiError::new(
            ErrorCode::ManifestUnknown,
            "no such manifest: the reference is neither a valid tag nor a digest",
        )
        .detail(serde_json::json!({ "reference": reference }))
    })
}

pub async fn get(r: RepoRequest<'_>, reference: &Reference, req: Request) -> ApiResult {
    let RepoRequest { state, cx, name } = r;
    let stored = state.service.get_manifest(cx, name, reference).await?;
    let stored = negotiate(state, cx, name, stored, &accepted(req.headers())).await?;
    let builder = Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, &stored.media_type)
        .header(header::CONTENT_LENGTH, stored.content.len())
        .header(DIGEST_HEADER, stored.digest.to_string())
        .header(header::ETAG, format!("\"{}\"", stored.digest));
    let body = if req.method() == Method::HEAD {
        Body::empty()
    } else {
        Body::from(stored.content)
    };
    Ok(builder.body(body).expect("valid response"))
}

pub async fn put(r: RepoRequest<'_>, reference: &Reference, req: Request) -> ApiResult {
    let RepoRequest { state, cx, name } = r;
    let too_large = || {
        ApiError::from(RegistryError::ManifestTooLarge {
            size: MAX_MANIFEST_SIZE + 1,
            limit: MAX_MANIFEST_SIZE,
        })
    };
    if let Some(len) =
        header_str(req.headers(), &header::CONTENT_LENGTH).and_then(|l| l.parse::<u64>().ok())
        && len > MAX_MANIFEST_SIZE as u64
    {
        return Err(too_large());
    }
    let content_type = header_str(req.headers(), &header::CONTENT_TYPE).map(str::to_string);
    let content = axum::body::to_bytes(req.into_body(), MAX_MANIFEST_SIZE)
        .await
        .map_err(|_| too_large())?;
    let put = state
        .service
        .put_manifest(cx, name, reference, content_type.as_deref(), content)
        .await?;
    let digest = &put.change.digest;
    let mut resp = (
        StatusCode::CREATED,
        [
            (
                header::LOCATION,
                state.location(&format!("/v2/{name}/manifests/{digest}")),
            ),
            (
                header::HeaderName::from_static(DIGEST_HEADER),
                digest.to_string(),
            ),
            (header::CONTENT_LENGTH, "0".to_string()),
        ],
    )
        .into_response();
    if let Some(s) = put.subject {
        resp.headers_mut().insert(
            "oci-subject",
            s.to_string().parse().expect("digest is a header value"),
        );
    }
    Ok(resp)
}

pub async fn delete(r: RepoRequest<'_>, reference: &Reference) -> ApiResult {
    let RepoRequest { state, cx, name } = r;
    state.service.delete_manifest(cx, name, reference).await?;
    Ok((StatusCode::ACCEPTED, [(header::CONTENT_LENGTH, "0")]).into_response())
}
