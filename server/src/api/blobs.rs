//! Blob and upload endpoints.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::range::{RangeRequest, parse_content_range, parse_range};
use super::{
    ApiError, ApiResult, AppState, DIGEST_HEADER, ErrorCode, RepoRequest, UPLOAD_UUID_HEADER,
    body_stream, header_str, parse_digest, query,
};
use crate::auth::Action;
use crate::registry::{BlobContent, ChunkRange, Digest, RepoName, UploadStatus};

pub async fn get(r: RepoRequest<'_>, digest: &Digest, req: Request) -> ApiResult {
    let RepoRequest { state, cx, name } = r;
    let size = state.service.blob_size(cx, name, digest).await?;
    let head = req.method() == axum::http::Method::HEAD;
    let range = parse_range(header_str(req.headers(), &header::RANGE), size);
    let builder = Response::builder()
        .header(DIGEST_HEADER, digest.to_string())
        .header(header::ETAG, format!("\"{digest}\""))
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::CACHE_CONTROL, "max-age=31536000")
        .header(header::CONTENT_TYPE, "application/octet-stream");
    let (status, builder, start, len) = match range {
        RangeRequest::Full => (StatusCode::OK, builder, 0, size),
        RangeRequest::Partial(r) => (
            StatusCode::PARTIAL_CONTENT,
            builder.header(
                header::CONTENT_RANGE,
                format!("bytes {}-{}/{size}", r.start, r.start + r.len - 1),
            ),
            r.start,
            r.len,
        ),
        RangeRequest::Unsatisfiable => {
            return Err(ApiError::new(
                ErrorCode::RangeInvalid,
                format!("requested range not satisfiable: the blob has {size} bytes"),
            )
            .header(header::CONTENT_RANGE, &format!("bytes */{size}")));
        }
    };
    let builder = builder.status(status).header(header::CONTENT_LENGTH, len);
    if head {
        return Ok(builder.body(Body::empty()).expect("valid response"));
    }
    match state
        .service
        .open_blob(cx, name, digest, start, len)
        .await?
    {
        BlobContent::Redirect(url) => Ok(Response::builder()
            .status(StatusCode::TEMPORARY_REDIRECT)
            .header(header::LOCATION, url)
            .header(DIGEST_HEADER, digest.to_string())
            .body(Body::empty())
            .expect("valid response")),
        BlobContent::Bytes(stream) => Ok(builder
            .body(Body::from_stream(stream))
            .expect("valid response")),
    }
}

pub async fn delete(r: RepoRequest<'_>, digest: &Digest) -> ApiResult {
    let RepoRequest { state, cx, name } = r;
    state.service.delete_blob(cx, name, digest).await?;
    Ok(accepted_empty())
}

fn accepted_empty() -> Response {
    (StatusCode::ACCEPTED, [(header::CONTENT_LENGTH, "0")]).into_response()
}

fn blob_created(state: &AppState, name: &RepoName, digest: &Digest) -> Response {
    (
        StatusCode::CREATED,
        [
            (
                header::LOCATION,
                state.location(&format!("/v2/{name}/blobs/{digest}")),
            ),
            (
                header::HeaderName::from_static(DIGEST_HEADER),
                digest.to_string(),
            ),
            (header::CONTENT_LENGTH, "0".to_string()),
        ],
    )
        .into_response()
}

/// The answer that tells a client where an upload stands.
fn upload_progress(
    state: &AppState,
    name: &RepoName,
    status: StatusCode,
    u: &UploadStatus,
) -> Response {
    (
        status,
        [
            (
                header::LOCATION,
                state.location(&format!(
                    "/v2/{name}/blobs/uploads/{}{}",
                    u.id,
                    state.upload_signer.query(name, &u.id)
                )),
            ),
            (header::RANGE, format!("0-{}", u.offset.saturating_sub(1))),
            (
                header::HeaderName::from_static(UPLOAD_UUID_HEADER),
                u.id.clone(),
            ),
            (header::CONTENT_LENGTH, "0".to_string()),
        ],
    )
        .into_response()
}

pub async fn start_upload(r: RepoRequest<'_>, req: Request) -> ApiResult {
    let RepoRequest { state, cx, name } = r;
    let q = query(&req);
    if let Some(mount) = q.get("mount") {
        let digest = parse_digest(mount)?;
        if let Some(from) = q.get("from") {
            let from = RepoName::parse(from)?;
            // Mounting from a repository the client may not read would leak
            // its content: fall back to an upload, as if it were not there.
            if state.access.allowed(&cx.actor, &from, Action::Pull)
                && state
                    .service
                    .mount_blob(cx, name, &from, &digest)
                    .await?
                    .is_some()
            {
                return Ok(blob_created(state, name, &digest));
            }
        }
        // Not mountable: the client is told to upload, as the spec says.
    } else if let Some(d) = q.get("digest") {
        let digest = parse_digest(d)?;
        state
            .service
            .put_blob(cx, name, &digest, body_stream(req.into_body()))
            .await?;
        return Ok(blob_created(state, name, &digest));
    }
    let upload = state.service.start_upload(cx, name).await?;
    Ok(upload_progress(state, name, StatusCode::ACCEPTED, &upload))
}

/// Checks the upload URL's `_state` signature (see `upload_state`).
pub fn verify_upload(
    state: &AppState,
    name: &RepoName,
    id: &str,
    req: &Request,
) -> Result<(), ApiError> {
    let q = query(req);
    state.upload_signer.verify(
        name,
        id,
        q.get(super::upload_state::STATE_PARAM).map(String::as_str),
    )
}

pub async fn upload_status(r: RepoRequest<'_>, id: &str) -> ApiResult {
    let RepoRequest { state, cx, name } = r;
    let upload = state.service.upload_status(cx, name, id).await?;
    Ok(upload_progress(
        state,
        name,
        StatusCode::NO_CONTENT,
        &upload,
    ))
}

/// The chunk range a request announces, checked against its Content-Length.
fn chunk_range(req: &Request) -> Result<Option<ChunkRange>, ApiError> {
    let Some(raw) = header_str(req.headers(), &header::CONTENT_RANGE) else {
        return Ok(None);
    };
    let r = parse_content_range(raw).ok_or_else(|| {
        ApiError::new(
            ErrorCode::BlobUploadInvalid,
            format!("malformed Content-Range {raw:?}: expected <start>-<end>"),
        )
    })?;
    if let Some(len) =
        header_str(req.headers(), &header::CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok())
        && r.end_inclusive >= r.start
        && len != r.end_inclusive - r.start + 1
    {
        return Err(ApiError::new(
            ErrorCode::BlobUploadInvalid,
            format!("Content-Range {raw:?} does not match Content-Length {len}"),
        ));
    }
    Ok(Some(r))
}

pub async fn patch_upload(r: RepoRequest<'_>, id: &str, req: Request) -> ApiResult {
    let RepoRequest { state, cx, name } = r;
    let range = chunk_range(&req)?;
    let upload = state
        .service
        .append_upload(cx, name, id, range, body_stream(req.into_body()))
        .await?;
    Ok(upload_progress(state, name, StatusCode::ACCEPTED, &upload))
}

pub async fn finish_upload(r: RepoRequest<'_>, id: &str, req: Request) -> ApiResult {
    let RepoRequest { state, cx, name } = r;
    let q = query(&req);
    let digest = match q.get("digest") {
        Some(d) => parse_digest(d)?,
        None => {
            return Err(ApiError::new(
                ErrorCode::DigestInvalid,
                "the digest query parameter is required to complete an upload",
            ));
        }
    };
    let range = chunk_range(&req)?;
    let has_body = header_str(req.headers(), &header::CONTENT_LENGTH).is_none_or(|l| l != "0");
    let body = has_body.then(|| body_stream(req.into_body()));
    state
        .service
        .finish_upload(cx, name, id, &digest, range, body)
        .await?;
    Ok(blob_created(state, name, &digest))
}

pub async fn cancel_upload(r: RepoRequest<'_>, id: &str) -> ApiResult {
    let RepoRequest { state, cx, name } = r;
    state.service.cancel_upload(cx, name, id).await?;
    Ok((StatusCode::NO_CONTENT, [(header::CONTENT_LENGTH, "0")]).into_response())
}
