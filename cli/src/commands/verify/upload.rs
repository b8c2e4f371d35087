//! A blob upload the way `docker push` does it: POST to open a session, one
//! streamed PATCH without Content-Range, then PUT ?digest= to close it. The
//! open session is shared with the Ctrl-C handler, which cancels it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use futures_util::StreamExt as _;
use indicatif::ProgressBar;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION, SERVER};
use reqwest::{Method, StatusCode, Url};

use super::client::{self, Client};
use super::diagnose::{self, Diagnosis, Transport};
use super::size;

/// The upload session open right now, if any.
#[derive(Clone, Default)]
pub struct Open(Arc<Mutex<Option<Url>>>);

impl Open {
    pub fn set(&self, url: Option<Url>) {
        if let Ok(mut o) = self.0.lock() {
            *o = url;
        }
    }
    pub fn take(&self) -> Option<Url> {
        self.0.lock().ok().and_then(|mut o| o.take())
    }
}

/// Cancels the open session (DELETE on its URL); returns what was done.
pub async fn cancel(c: &Client, open: &Open) -> Option<String> {
    let url = open.take()?;
    let r = c.req(Method::DELETE, url.clone()).send().await;
    Some(match r {
        Ok(resp) => format!("cancelled the upload session ({})", resp.status()),
        Err(e) => format!(
            "could not cancel the upload session {url}: {}",
            diagnose::chain(&e)
        ),
    })
}

fn location(c: &Client, resp: &reqwest::Response) -> Option<Url> {
    let loc = resp.headers().get(LOCATION)?.to_str().ok()?;
    c.base.join(loc).ok()
}

/// Uploads one blob into `repo`; the detail on success says how fast it went.
#[allow(clippy::too_many_arguments)]
pub async fn push_blob(
    c: &Client,
    open: &Open,
    repo: &str,
    name: &str,
    chunks: impl Iterator<Item = Bytes> + Send + 'static,
    len: u64,
    digest: &str,
    bar: Option<ProgressBar>,
) -> Result<String, Diagnosis> {
    let post = c.url(&format!("v2/{repo}/blobs/uploads/"));
    let resp = c
        .req(Method::POST, post)
        .header(CONTENT_LENGTH, "0")
        .send()
        .await
        .map_err(|e| c.transport(&e))?;
    if resp.status() != StatusCode::ACCEPTED {
        return Err(c
            .status(&format!("the {name} upload start (POST)"), resp)
            .await);
    }
    let Some(url) = location(c, &resp) else {
        return Err(Diagnosis::new(
            "protocol",
            "the upload start (POST) was answered 202 without a Location header",
            "the registry or a proxy in front drops the Location header: check the proxy's configuration",
        ));
    };
    open.set(Some(url.clone()));
    let result = patch_and_put(c, open, name, url, chunks, len, digest, bar).await;
    if result.is_err() {
        cancel(c, open).await;
    }
    result
}

#[allow(clippy::too_many_arguments)]
async fn patch_and_put(
    c: &Client,
    open: &Open,
    name: &str,
    url: Url,
    chunks: impl Iterator<Item = Bytes> + Send + 'static,
    len: u64,
    digest: &str,
    bar: Option<ProgressBar>,
) -> Result<String, Diagnosis> {
    let sent = Arc::new(AtomicU64::new(0));
    let counter = sent.clone();
    let stream = futures_util::stream::iter(chunks).map(move |chunk| {
        counter.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        if let Some(b) = &bar {
            b.inc(chunk.len() as u64);
        }
        Ok::<_, std::io::Error>(chunk)
    });
    let started = Instant::now();
    let what = format!("the {} {name} upload (one PATCH)", size::human(len));
    let resp = c
        .req(Method::PATCH, url)
        .header(CONTENT_TYPE, "application/octet-stream")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await;
    let resp = match resp {
        Ok(r) => r,
        Err(e) => {
            let n = sent.load(Ordering::Relaxed);
            return Err(match diagnose::classify(&e) {
                Transport::Reset | Transport::Closed(_) if n > 0 => Diagnosis::new(
                    "upload-broken",
                    format!(
                        "the connection broke during {what} after {} were sent: a proxy in front of the registry gave up on the request body",
                        size::human(n)
                    ),
                    "look for a body size limit (nginx ingress: nginx.ingress.kubernetes.io/proxy-body-size: \"0\") or a request timeout (proxy-read-timeout) on the path to the registry",
                ),
                _ => c.transport(&e),
            });
        }
    };
    let secs = started.elapsed().as_secs_f64();
    match resp.status() {
        StatusCode::ACCEPTED | StatusCode::NO_CONTENT | StatusCode::CREATED => {}
        StatusCode::PAYLOAD_TOO_LARGE => {
            let server = resp
                .headers()
                .get(SERVER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            return Err(client::body_too_large(&what, server.as_deref()));
        }
        _ => return Err(c.status(&what, resp).await),
    }
    let mut put = location(c, &resp).unwrap_or_else(|| open.take().expect("open session"));
    open.set(Some(put.clone()));
    put.query_pairs_mut().append_pair("digest", digest);
    let resp = c
        .req(Method::PUT, put)
        .header(CONTENT_LENGTH, "0")
        .send()
        .await
        .map_err(|e| c.transport(&e))?;
    if resp.status() != StatusCode::CREATED {
        let d = c
            .status(&format!("the {name} upload end (PUT ?digest=)"), resp)
            .await;
        return Err(d);
    }
    open.set(None);
    let stored = resp
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .unwrap_or(digest)
        .to_string();
    if stored != digest {
        return Err(Diagnosis::new(
            "digest-mismatch",
            format!(
                "the registry stored the {name} as {stored}, but verify sent {digest}: the bytes were changed on the way"
            ),
            "a proxy in front of the registry rewrites request bodies (compression, buffering to a full disk): check it",
        ));
    }
    Ok(format!(
        "{} in one PATCH, {}",
        size::human(len),
        size::rate(len, secs)
    ))
}

/// The registry's answer to a manifest PUT.
pub struct PutManifest {
    /// `Docker-Content-Digest`, or the digest sent when it has none.
    pub stored: String,
    pub location: bool,
}

/// PUTs a manifest of `media_type` to `repo` under `reference`; `digest`
/// is the digest of `body`.
pub async fn put_manifest(
    c: &Client,
    repo: &str,
    reference: &str,
    media_type: &str,
    body: &[u8],
    digest: &str,
) -> Result<PutManifest, Diagnosis> {
    let url = c.url(&format!("v2/{repo}/manifests/{reference}"));
    let resp = c
        .req(Method::PUT, url)
        .header(CONTENT_TYPE, media_type)
        .body(body.to_vec())
        .send()
        .await
        .map_err(|e| c.transport(&e))?;
    if resp.status() != StatusCode::CREATED {
        return Err(c.status("the manifest PUT", resp).await);
    }
    let header = |name| resp.headers().get(name).and_then(|v| v.to_str().ok());
    Ok(PutManifest {
        stored: header("docker-content-digest")
            .unwrap_or(digest)
            .to_string(),
        location: header(LOCATION.as_str()).is_some(),
    })
}
