//! A blob upload the way `docker push` does it: POST to open a session, one
//! streamed PATCH without Content-Range, then PUT ?digest= to close it, all
//! through labreg-oci. The open session is shared with the Ctrl-C handler,
//! which cancels it.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use futures_util::StreamExt as _;
use indicatif::ProgressBar;
use labreg_oci::{OciError, Problem, Upload};
use reqwest::StatusCode;

use super::client::{self, Client};
use super::diagnose::{self, Diagnosis, Transport};
use super::size;

/// The upload session open right now, if any.
#[derive(Clone, Default)]
pub struct Open(Arc<Mutex<Option<Upload>>>);

impl Open {
    pub fn set(&self, up: Option<Upload>) {
        if let Ok(mut o) = self.0.lock() {
            *o = up;
        }
    }
    pub fn take(&self) -> Option<Upload> {
        self.0.lock().ok().and_then(|mut o| o.take())
    }
}

/// Cancels the open session (DELETE on its URL); returns what was done.
pub async fn cancel(c: &Client, open: &Open) -> Option<String> {
    let up = open.take()?;
    let url = up.location.clone();
    Some(match c.oci.cancel_upload(up).await {
        Ok(status) => format!("cancelled the upload session ({status})"),
        Err(e) => match e.status() {
            Some(status) => format!("cancelled the upload session ({status})"),
            None => format!(
                "could not cancel the upload session {url}: {}",
                e.cause()
                    .map(|c| diagnose::chain(c))
                    .unwrap_or_else(|| e.to_string())
            ),
        },
    })
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
    let up = c
        .oci
        .start_upload(repo)
        .await
        .map_err(|e| c.failed(&format!("the {name} upload start (POST)"), &e))?;
    open.set(Some(up.clone()));
    let result = patch_and_put(c, open, name, up, chunks, len, digest, bar).await;
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
    mut up: Upload,
    chunks: impl Iterator<Item = Bytes> + Send + 'static,
    len: u64,
    digest: &str,
    bar: Option<ProgressBar>,
) -> Result<String, Diagnosis> {
    let stream = futures_util::stream::iter(chunks).map(move |chunk| {
        if let Some(b) = &bar {
            b.inc(chunk.len() as u64);
        }
        Ok::<_, std::io::Error>(chunk)
    });
    let started = Instant::now();
    let what = format!("the {} {name} upload (one PATCH)", size::human(len));
    if let Err(e) = c.oci.upload_counted(&mut up, stream, Some(len)).await {
        return Err(patch_failed(c, &what, &e));
    }
    let secs = started.elapsed().as_secs_f64();
    open.set(Some(up.clone()));
    match c.oci.finish_upload(up, digest, None).await {
        Ok(_) => {}
        Err(OciError::Protocol {
            problem: Problem::DigestMismatch { stored, .. },
            ..
        }) => {
            open.set(None);
            return Err(Diagnosis::new(
                "digest-mismatch",
                format!(
                    "the registry stored the {name} as {stored}, but verify sent {digest}: the bytes were changed on the way"
                ),
                "a proxy in front of the registry rewrites request bodies (compression, buffering to a full disk): check it",
            ));
        }
        Err(e) => return Err(c.failed(&format!("the {name} upload end (PUT ?digest=)"), &e)),
    }
    open.set(None);
    Ok(format!(
        "{} in one PATCH, {}",
        size::human(len),
        size::rate(len, secs)
    ))
}

/// Why the streamed PATCH failed: a body limit (413, or the connection cut
/// after some bytes), or whatever the answer or the transport says.
fn patch_failed(c: &Client, what: &str, e: &OciError) -> Diagnosis {
    if e.status() == Some(StatusCode::PAYLOAD_TOO_LARGE) {
        let server = e.answer().and_then(|a| a.server.as_deref());
        return client::body_too_large(what, server);
    }
    let n = e.sent().unwrap_or(0);
    match (e.cause().is_some(), diagnose::classify_oci(e)) {
        (true, Transport::Reset | Transport::Closed(_)) if n > 0 => Diagnosis::new(
            "upload-broken",
            format!(
                "the connection broke during {what} after {} were sent: a proxy in front of the registry gave up on the request body",
                size::human(n)
            ),
            "look for a body size limit (nginx ingress: nginx.ingress.kubernetes.io/proxy-body-size: \"0\") or a request timeout (proxy-read-timeout) on the path to the registry",
        ),
        _ => c.failed(what, e),
    }
}

/// The registry's answer to a manifest PUT.
pub struct PutManifest {
    /// The digest the registry stored: `Docker-Content-Digest`, or the
    /// digest of what was sent when it has none. The caller compares.
    pub stored: String,
    pub location: bool,
}

/// PUTs a manifest of `media_type` to `repo` under `reference`.
pub async fn put_manifest(
    c: &Client,
    repo: &str,
    reference: &str,
    media_type: &str,
    body: &[u8],
) -> Result<PutManifest, Diagnosis> {
    let body = Bytes::copy_from_slice(body);
    let put = c
        .oci
        .put_manifest_full(repo, reference, media_type, body)
        .await;
    match put {
        Ok(put) => Ok(PutManifest {
            stored: put.digest,
            location: put.location.is_some(),
        }),
        Err(OciError::Protocol {
            problem: Problem::DigestMismatch { stored, .. },
            ..
        }) => Ok(PutManifest {
            stored,
            location: false,
        }),
        Err(e) => Err(c.failed("the manifest PUT", &e)),
    }
}
