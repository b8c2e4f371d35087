//! The push side: blob uploads (monolithic, chunked, streamed), cross-repo
//! mounts and manifest PUTs. An upload is a session the registry opens with
//! a POST and names by its `Location`; each PATCH answers the next
//! `Location`, and the PUT with `?digest=` closes it. Every answer of the
//! registry is followed exactly (absolute or relative `Location`s, the
//! `Docker-Content-Digest` it stored), so the same calls work against
//! labreg, distribution and any other registry.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures_util::{Stream, TryStreamExt};
use reqwest::header::{LOCATION, RANGE};
use reqwest::{Method, Response, StatusCode};
use sha2::{Digest as _, Sha256};
use url::Url;

use crate::client::{Client, DIGEST_HEADER, Payload, Request};
use crate::error::{OciError, Problem};

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

/// What a manifest PUT stored.
#[derive(Debug, Clone)]
pub struct ManifestPut {
    pub digest: String,
    pub location: Option<String>,
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

    /// [`upload_stream`](Self::upload_stream) of a byte stream, counting
    /// what it hands over: when the connection breaks, the error's
    /// [`sent`](OciError::sent) says how far the body got (a proxy that
    /// gives up on large bodies cuts it after its limit).
    pub async fn upload_counted<S>(
        &self,
        up: &mut Upload,
        stream: S,
        len: Option<u64>,
    ) -> Result<(), OciError>
    where
        S: Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
    {
        let sent = Arc::new(AtomicU64::new(0));
        let counter = sent.clone();
        let counted = stream.inspect_ok(move |b| {
            counter.fetch_add(b.len() as u64, Ordering::Relaxed);
        });
        let body = reqwest::Body::wrap_stream(counted);
        match self.upload_stream(up, body, len).await {
            Err(OciError::Transport {
                url,
                message,
                cause,
                ..
            }) => Err(OciError::Transport {
                url,
                message,
                cause,
                sent: Some(sent.load(Ordering::Relaxed)),
            }),
            other => other,
        }
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
        // 202 with the next Location, as the spec says; a registry that
        // answers another success, or no Location, keeps the session where
        // it was (distribution's clients do the same).
        if let Some(next) = self.next_location(&resp) {
            up.location = next?;
        }
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

    /// Abandons the session (DELETE on its location); the status the
    /// registry answered (204 from labreg and distribution).
    pub async fn cancel_upload(&self, up: Upload) -> Result<StatusCode, OciError> {
        let scope = push(&up.repo);
        let req = Request::new(Method::DELETE, up.location, &scope);
        self.execute(req).await.map(|r| r.status())
    }

    /// Pushes a blob whole: POST, then one PUT with the bytes. Returns the
    /// digest the registry stored (checked against `digest_of(data)`).
    pub async fn push_blob(&self, repo: &str, data: Bytes) -> Result<String, OciError> {
        self.put_blob(repo, &digest_of(&data), data).await
    }

    /// [`push_blob`](Self::push_blob) of bytes whose digest the caller
    /// already has (no second hash of a large blob).
    pub async fn put_blob(
        &self,
        repo: &str,
        digest: &str,
        data: Bytes,
    ) -> Result<String, OciError> {
        let up = self.start_upload(repo).await?;
        self.finish_upload(up, digest, Some(data)).await
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
        self.put_blob_chunked(repo, &digest_of(&data), data, chunk)
            .await
    }

    /// [`push_blob_chunked`](Self::push_blob_chunked) with a known digest.
    pub async fn put_blob_chunked(
        &self,
        repo: &str,
        digest: &str,
        data: Bytes,
        chunk: usize,
    ) -> Result<String, OciError> {
        let mut up = self.start_upload(repo).await?;
        for start in (0..data.len()).step_by(chunk.max(1)) {
            let end = (start + chunk).min(data.len());
            self.upload_chunk(&mut up, data.slice(start..end)).await?;
        }
        self.finish_upload(up, digest, None).await
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
        let put = self
            .put_manifest_full(repo, reference, media_type, body)
            .await?;
        Ok(put.digest)
    }

    /// [`put_manifest`](Self::put_manifest), with the `Location` the
    /// registry answered (the spec says it must send one).
    pub async fn put_manifest_full(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: Bytes,
    ) -> Result<ManifestPut, OciError> {
        let d = digest_of(&body);
        let scope = push(repo);
        let url = self.url(&format!("/v2/{repo}/manifests/{reference}"))?;
        let mut req = Request::new(Method::PUT, url, &scope);
        req.content_type = Some(media_type.to_string());
        req.body = Payload::Bytes(body);
        let resp = self.execute(req).await?;
        let location = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        Ok(ManifestPut {
            digest: stored(&resp, StatusCode::CREATED, &d)?,
            location,
        })
    }

    /// The `Location` of an answer, resolved against its URL.
    fn next_location(&self, resp: &Response) -> Option<Result<Url, OciError>> {
        let loc = resp.headers().get(LOCATION)?.to_str().ok()?;
        Some(resp.url().join(loc).or_else(|_| self.url(loc)))
    }

    /// The session a POST or PATCH answered (its `Location`).
    fn session(&self, repo: &str, resp: &Response, want: StatusCode) -> Result<Upload, OciError> {
        let url = expect(resp, want)?;
        let loc = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                OciError::protocol(
                    &url,
                    Problem::NoLocation {
                        status: resp.status(),
                    },
                )
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
        Some(d) if d != sent => Err(OciError::protocol(
            &url,
            Problem::DigestMismatch {
                stored: d.to_string(),
                sent: sent.to_string(),
            },
        )),
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
        Err(OciError::protocol(
            &url,
            Problem::Status {
                got: resp.status(),
                want,
            },
        ))
    }
}
