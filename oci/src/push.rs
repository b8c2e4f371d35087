//! The push side: blob uploads (monolithic, chunked, streamed), cross-repo
//! mounts and manifest PUTs. An upload is a session the registry opens with
//! a POST and names by its `Location`; each PATCH answers the next
//! `Location`, and the PUT with `?digest=` closes it. Every answer of the
//! registry is followed exactly (absolute or relative `Location`s, the
//! `Docker-Content-Digest` it stored), so the same calls work against
//! labreg, distribution and any other registry.

use bytes::Bytes;
use reqwest::header::{LOCATION, RANGE};
use reqwest::{Method, Response, StatusCode};
use sha2::{Digest as _, Sha256};
use url::Url;

use crate::client::{Client, DIGEST_HEADER, Payload, Request};
use crate::error::OciError;

/// `sha256:<hex>` of `data`, the digest every registry accepts.
pub fn digest_of(data: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(data))
}

/// An open upload session: where to send the next request and how many
/// bytes were sent into it so far.
#[derive(Debug, Clone)]
pub struct Upload {
    pub repo: String,
    pub location: Url,
    pub offset: u64,
}

/// What a mount request did: the blob is linked, or the registry opened an
/// upload instead (it may refuse to mount, as the spec allows).
#[derive(Debug)]
pub enum Mount {
    Mounted(String),
    Upload(Upload),
}

pub(crate) fn push(repo: &str) -> String {
    format!("repository:{repo}:pull,push")
}

impl Client {
    /// Opens an upload session in `repo` (POST).
    pub async fn start_upload(&self, repo: &str) -> Result<Upload, OciError> {
        let scope = push(repo);
        let url = self.url(&format!("/v2/{repo}/blobs/uploads/"))?;
        let resp = self
            .execute(Request::new(Method::POST, url, &scope))
            .await?;
        self.session(repo, &resp, StatusCode::ACCEPTED)
    }

    /// Sends one chunk (PATCH with `Content-Range`) and moves the session on.
    pub async fn upload_chunk(&self, up: &mut Upload, chunk: Bytes) -> Result<(), OciError> {
        let end = up.offset + chunk.len() as u64;
        let range = if chunk.is_empty() {
            None
        } else {
            Some(format!("{}-{}", up.offset, end - 1))
        };
        self.patch(up, Payload::Bytes(chunk), range).await?;
        up.offset = end;
        Ok(())
    }

    /// Streams a body of `len` bytes (when known) in one PATCH without
    /// `Content-Range`, as `docker push` does. The session must be open
    /// (its POST learned the auth), since a stream cannot be sent twice.
    pub async fn upload_stream(
        &self,
        up: &mut Upload,
        body: reqwest::Body,
        len: Option<u64>,
    ) -> Result<(), OciError> {
        let held = self.patch(up, Payload::Stream(Some(body)), None).await?;
        up.offset = match len {
            Some(n) => up.offset + n,
            None => held.unwrap_or(up.offset),
        };
        Ok(())
    }

    async fn patch(
        &self,
        up: &mut Upload,
        body: Payload,
        range: Option<String>,
    ) -> Result<Option<u64>, OciError> {
        let scope = push(&up.repo);
        let mut req = Request::new(Method::PATCH, up.location.clone(), &scope);
        req.content_type = Some("application/octet-stream".into());
        if let Some(r) = range {
            req.headers.push(("content-range", r));
        }
        req.body = body;
        let resp = self.execute(req).await?;
        let next = self.session(&up.repo, &resp, StatusCode::ACCEPTED)?;
        up.location = next.location;
        Ok(range_end(&resp))
    }

    /// Closes the session with `digest` (PUT `?digest=`), sending `last`
    /// as the final bytes (the whole blob, for a monolithic upload).
    /// Returns the digest the registry stored.
    pub async fn finish_upload(
        &self,
        up: Upload,
        digest: &str,
        last: Option<Bytes>,
    ) -> Result<String, OciError> {
        let scope = push(&up.repo);
        let mut url = up.location;
        url.query_pairs_mut().append_pair("digest", digest);
        let mut req = Request::new(Method::PUT, url, &scope);
        if let Some(b) = last {
            req.content_type = Some("application/octet-stream".into());
            req.body = Payload::Bytes(b);
        }
        let resp = self.execute(req).await?;
        stored(&resp, StatusCode::CREATED, digest)
    }

    /// Abandons the session (DELETE on its location).
    pub async fn cancel_upload(&self, up: Upload) -> Result<(), OciError> {
        let scope = push(&up.repo);
        let req = Request::new(Method::DELETE, up.location, &scope);
        self.execute(req).await.map(drop)
    }

    /// Pushes a blob whole: POST, then one PUT with the bytes. Returns the
    /// digest the registry stored (checked against `digest_of(data)`).
    pub async fn push_blob(&self, repo: &str, data: Bytes) -> Result<String, OciError> {
        let d = digest_of(&data);
        let up = self.start_upload(repo).await?;
        self.finish_upload(up, &d, Some(data)).await
    }

    /// Pushes a blob in one request (POST `?digest=` with the bytes), the
    /// spec's single-POST monolithic upload. A registry that does not do
    /// it (distribution 2.8) opens a session instead (202), which the bytes
    /// then close, as the spec tells clients to.
    pub async fn push_blob_single(&self, repo: &str, data: Bytes) -> Result<String, OciError> {
        let d = digest_of(&data);
        let scope = push(repo);
        let mut url = self.url(&format!("/v2/{repo}/blobs/uploads/"))?;
        url.query_pairs_mut().append_pair("digest", &d);
        let mut req = Request::new(Method::POST, url, &scope);
        req.content_type = Some("application/octet-stream".into());
        req.body = Payload::Bytes(data.clone());
        let resp = self.execute(req).await?;
        if resp.status() == StatusCode::ACCEPTED {
            let up = self.session(repo, &resp, StatusCode::ACCEPTED)?;
            return self.finish_upload(up, &d, Some(data)).await;
        }
        stored(&resp, StatusCode::CREATED, &d)
    }

    /// Pushes a blob in PATCHes of `chunk` bytes, then the closing PUT.
    pub async fn push_blob_chunked(
        &self,
        repo: &str,
        data: Bytes,
        chunk: usize,
    ) -> Result<String, OciError> {
        let d = digest_of(&data);
        let mut up = self.start_upload(repo).await?;
        for start in (0..data.len()).step_by(chunk.max(1)) {
            let end = (start + chunk).min(data.len());
            self.upload_chunk(&mut up, data.slice(start..end)).await?;
        }
        self.finish_upload(up, &d, None).await
    }

    /// Mounts `digest` from `from` into `repo` (POST `?mount=&from=`).
    pub async fn mount_blob(
        &self,
        repo: &str,
        from: &str,
        digest: &str,
    ) -> Result<Mount, OciError> {
        let scope = format!("{} repository:{from}:pull", push(repo));
        let mut url = self.url(&format!("/v2/{repo}/blobs/uploads/"))?;
        url.query_pairs_mut()
            .append_pair("mount", digest)
            .append_pair("from", from);
        let resp = self
            .execute(Request::new(Method::POST, url, &scope))
            .await?;
        if resp.status() == StatusCode::CREATED {
            return stored(&resp, StatusCode::CREATED, digest).map(Mount::Mounted);
        }
        self.session(repo, &resp, StatusCode::ACCEPTED)
            .map(Mount::Upload)
    }

    /// PUTs a manifest of `media_type` under a tag or digest; returns the
    /// digest the registry stored.
    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: Bytes,
    ) -> Result<String, OciError> {
        let d = digest_of(&body);
        let scope = push(repo);
        let url = self.url(&format!("/v2/{repo}/manifests/{reference}"))?;
        let mut req = Request::new(Method::PUT, url, &scope);
        req.content_type = Some(media_type.to_string());
        req.body = Payload::Bytes(body);
        let resp = self.execute(req).await?;
        stored(&resp, StatusCode::CREATED, &d)
    }

    /// The session a POST or PATCH answered (its `Location`).
    fn session(&self, repo: &str, resp: &Response, want: StatusCode) -> Result<Upload, OciError> {
        let url = expect(resp, want)?;
        let loc = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| OciError::Protocol {
                url: url.clone(),
                message: "an upload answer without Location".into(),
            })?;
        Ok(Upload {
            repo: repo.to_string(),
            location: resp.url().join(loc).or_else(|_| self.url(loc))?,
            offset: 0,
        })
    }
}

/// The byte count a `Range: 0-N` answer says the registry holds (after
/// a PATCH only: an empty session answers `0-0` too).
fn range_end(resp: &Response) -> Option<u64> {
    let r = resp.headers().get(RANGE)?.to_str().ok()?;
    let (_, end) = r.trim_start_matches("bytes=").split_once('-')?;
    end.parse::<u64>().ok().map(|e| e + 1)
}

/// The digest a success answer stored: its `Docker-Content-Digest`, which
/// must be the one sent when present.
fn stored(resp: &Response, want: StatusCode, sent: &str) -> Result<String, OciError> {
    let url = expect(resp, want)?;
    let header = resp
        .headers()
        .get(DIGEST_HEADER)
        .and_then(|v| v.to_str().ok());
    match header {
        Some(d) if d != sent => Err(OciError::Protocol {
            url,
            message: format!("the registry stored {d}, but {sent} was sent"),
        }),
        _ => Ok(sent.to_string()),
    }
}

/// The answer's URL when its status is `want` (another success status is
/// not what the protocol says).
fn expect(resp: &Response, want: StatusCode) -> Result<String, OciError> {
    let url = resp.url().to_string();
    if resp.status() == want {
        Ok(url)
    } else {
        Err(OciError::Protocol {
            url,
            message: format!("answered {}, not {want}", resp.status()),
        })
    }
}
