//! Filling the cache from an upstream. Manifests: by digest, local first
//! and never upstream once cached; by tag, served from the cache within the
//! TTL, else a HEAD upstream (no body when the digest is unchanged) and a
//! GET only when it changed. Blobs: one upstream GET per digest however
//! many clients ask (single flight), run on its own task so a client that
//! goes away does not abort it, stored through the registry's upload path
//! (digest verified, then one atomic move) while every client of the fill
//! streams the bytes from its spool file (`spool.rs`).
//! A blob's HEAD that is not cached is the upstream's HEAD; the fill runs
//! when the bytes are opened. Upstream down, unreachable or 429: cached
//! content is served and the log says it is stale.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use futures_util::StreamExt;

use super::spool::{self, Progress, Spool};
use super::upstream::{Routed, Upstream, UpstreamMetrics};
use crate::auth::Principal;
use crate::registry::service::{BlobService, ManifestService, UploadService};
use crate::registry::{
    Context, Digest, Reference, Registry, RegistryError, RepoName, Result, StoredManifest, Tag,
};
use crate::storage::ByteStream;

/// A fill's outcome: the stored size (`None`: stored by another fill), or
/// the error as the client will read it, with the upstream's status.
type FillResult = std::result::Result<Option<u64>, (Option<u16>, String, String)>;

/// Blob fills in flight, by digest.
#[derive(Default)]
pub struct Fills {
    inflight: Arc<Mutex<HashMap<Digest, Arc<Spool>>>>,
}

/// When each cached tag was last confirmed upstream.
#[derive(Default)]
pub struct Checked(Mutex<HashMap<(RepoName, Tag), Instant>>);

impl Checked {
    fn fresh(&self, repo: &RepoName, tag: &Tag, up: &Upstream) -> bool {
        let map = self.0.lock().unwrap();
        map.get(&(repo.clone(), tag.clone()))
            .is_some_and(|t| t.elapsed() < up.tag_ttl)
    }

    fn confirm(&self, repo: &RepoName, tag: &Tag) {
        self.0
            .lock()
            .unwrap()
            .insert((repo.clone(), tag.clone()), Instant::now());
    }
}

/// A manifest through the cache.
pub async fn manifest(
    cx: &Context,
    store: &Registry,
    checked: &Checked,
    r: &Routed<'_>,
    reference: &Reference,
) -> Result<StoredManifest> {
    let up = r.upstream;
    let cached = match store.get_manifest(cx, &r.local, reference).await {
        Ok(m) => Some(m),
        Err(RegistryError::ManifestUnknown(_)) => None,
        Err(e) => return Err(e),
    };
    let tag = match (reference, cached) {
        (Reference::Digest(_), Some(m)) => return hit(up, m),
        (Reference::Tag(tag), Some(m)) if checked.fresh(&r.local, tag, up) => return hit(up, m),
        (Reference::Tag(tag), Some(m)) => {
            match up.client.head_manifest(&r.remote, tag.as_str()).await {
                Ok(meta) if meta.digest.as_deref() == Some(&m.digest.to_string()) => {
                    checked.confirm(&r.local, tag);
                    return hit(up, m);
                }
                Ok(_) => Some(tag),
                Err(e) => {
                    let _ = up.failure(&e);
                    tracing::warn!(upstream = up.url(), repository = %r.local, reference = %reference, error = %e,
                        "serving the cached manifest, which may be stale: the upstream did not answer the tag check");
                    return hit(up, m);
                }
            }
        }
        (Reference::Tag(tag), None) => Some(tag),
        (Reference::Digest(_), None) => None,
    };
    UpstreamMetrics::add(&up.metrics.misses, 1);
    let (meta, body) = up
        .client
        .get_manifest(&r.remote, &reference.to_string())
        .await
        .map_err(|e| {
            if e.is_not_found() {
                let _ = up.failure(&e);
                RegistryError::ManifestUnknown(format!(
                    "{}:{reference} (upstream {} answered: {e})",
                    r.local,
                    up.url()
                ))
            } else {
                up.failure(&e)
            }
        })?;
    UpstreamMetrics::add(&up.metrics.upstream_bytes, body.len() as u64);
    let digest = match reference {
        Reference::Digest(d) => d.clone(),
        Reference::Tag(_) => match &meta.digest {
            Some(d) => d.parse::<Digest>()?,
            None => Digest::sha256_of(&body),
        },
    };
    let actual = Digest::of(digest.algorithm(), &body);
    if actual != digest {
        UpstreamMetrics::add(&up.metrics.upstream_errors, 1);
        tracing::error!(upstream = up.url(), repository = %r.local, expected = %digest, %actual,
            "the upstream sent a manifest that does not match its digest: not stored, not served");
        return Err(RegistryError::Upstream {
            upstream: up.url().to_string(),
            status: None,
            answer: format!("sent a manifest whose digest is {actual}, not {digest}"),
        });
    }
    store
        .store_upstream_manifest(&r.local, tag, &digest, &meta.media_type, body.clone())
        .await?;
    if let Some(tag) = tag {
        checked.confirm(&r.local, tag);
    }
    Ok(StoredManifest {
        digest,
        media_type: meta.media_type,
        content: body,
    })
}

fn hit(up: &Upstream, m: StoredManifest) -> Result<StoredManifest> {
    UpstreamMetrics::add(&up.metrics.hits, 1);
    Ok(m)
}

/// A blob's size: the cached one, else the upstream's HEAD (not stored).
pub async fn blob_size(
    cx: &Context,
    store: &Arc<Registry>,
    upstream: &Arc<Upstream>,
    r: &Routed<'_>,
    digest: &Digest,
) -> Result<u64> {
    match store.blob_size(cx, &r.local, digest).await {
        Ok(size) => return Ok(size),
        Err(RegistryError::BlobUnknown(_)) => {}
        Err(e) => return Err(e),
    }
    if store.link_stored_blob(&r.local, digest).await? {
        return store.blob_size(cx, &r.local, digest).await;
    }
    upstream
        .client
        .head_blob(&r.remote, &digest.to_string())
        .await
        .map_err(|e| {
            if e.is_not_found() {
                RegistryError::BlobUnknown(digest.clone())
            } else {
                upstream.failure(&e)
            }
        })
}

/// A blob's bytes through the cache: `None` when it is cached (read it from
/// the store), else a stream from the fill in flight, started now when
/// there is none (one upstream GET however many clients ask).
#[allow(clippy::too_many_arguments)]
pub async fn open(
    cx: &Context,
    store: &Arc<Registry>,
    fills: &Fills,
    upstream: &Arc<Upstream>,
    r: &Routed<'_>,
    digest: &Digest,
    offset: u64,
    len: u64,
) -> Result<Option<ByteStream>> {
    let cached = match store.blob_size(cx, &r.local, digest).await {
        Ok(_) => true,
        Err(RegistryError::BlobUnknown(_)) => store.link_stored_blob(&r.local, digest).await?,
        Err(e) => return Err(e),
    };
    if cached {
        UpstreamMetrics::add(&upstream.metrics.hits, 1);
        return Ok(None);
    }
    let spool = flight(store, fills, upstream, r, digest).await?;
    match spool.started().await {
        Progress::Failed(Some(404), ..) => Err(RegistryError::BlobUnknown(digest.clone())),
        Progress::Failed(status, upstream, answer) => Err(RegistryError::Upstream {
            upstream,
            status,
            answer,
        }),
        Progress::Stored => {
            store.link_stored_blob(&r.local, digest).await?;
            Ok(None)
        }
        _ => Ok(Some(spool.reader(offset, len))),
    }
}

/// The fill of `digest` in flight, joined or started.
async fn flight(
    store: &Arc<Registry>,
    fills: &Fills,
    upstream: &Arc<Upstream>,
    r: &Routed<'_>,
    digest: &Digest,
) -> Result<Arc<Spool>> {
    if let Some(s) = fills.inflight.lock().unwrap().get(digest) {
        return Ok(s.clone());
    }
    let (spool, file) = Spool::create().await.map_err(|e| {
        RegistryError::Unsupported(format!(
            "cannot make a spool file for a mirrored blob in the temp folder: {e}"
        ))
    })?;
    let mut inflight = fills.inflight.lock().unwrap();
    if let Some(s) = inflight.get(digest) {
        return Ok(s.clone());
    }
    inflight.insert(digest.clone(), spool.clone());
    let job = Job {
        store: store.clone(),
        up: upstream.clone(),
        remote: r.remote.clone(),
        local: r.local.clone(),
        digest: digest.clone(),
        spool: spool.clone(),
    };
    let map = fills.inflight.clone();
    tokio::spawn(async move {
        let (spool, digest) = (job.spool.clone(), job.digest.clone());
        let failed = |m: String| Progress::Failed(None, String::new(), m);
        let end = match tokio::spawn(job.run(file)).await {
            Ok(Ok(Some(n))) => Progress::Done(n),
            Ok(Ok(None)) => Progress::Stored,
            Ok(Err((status, up, answer))) => Progress::Failed(status, up, answer),
            Err(e) => failed(format!("the fill stopped: {e}")),
        };
        spool.set(end);
        let mut map = map.lock().unwrap();
        if map.get(&digest).is_some_and(|s| Arc::ptr_eq(s, &spool)) {
            map.remove(&digest);
        }
    });
    Ok(spool)
}

/// One upstream GET of a blob, into the spool and the registry's verified
/// upload path at once.
struct Job {
    store: Arc<Registry>,
    up: Arc<Upstream>,
    remote: String,
    local: RepoName,
    digest: Digest,
    spool: Arc<Spool>,
}

impl Job {
    /// The stored size; `None` when another fill stored it meanwhile.
    async fn run(self, mut file: tokio::fs::File) -> FillResult {
        let (store, up, local, digest) = (&self.store, &self.up, &self.local, &self.digest);
        let fail = |status, answer: String| Err((status, up.url().to_string(), answer));
        // A fill that finished between the caller's look and this one.
        if store.link_stored_blob(local, digest).await.unwrap_or(false) {
            return Ok(None);
        }
        UpstreamMetrics::add(&up.metrics.misses, 1);
        let blob = match up.client.get_blob(&self.remote, &digest.to_string()).await {
            Ok(b) => b,
            Err(e) => {
                let RegistryError::Upstream { status, answer, .. } = up.failure(&e) else {
                    unreachable!("failure() is an upstream error");
                };
                return fail(status, answer);
            }
        };
        self.spool.set(Progress::Writing(0));
        let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(16);
        let body = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        let cx = Context::new(Principal::Anonymous);
        let put = store.put_blob(&cx, local, digest, Box::pin(body));
        // Owns the sender, so the upload's stream ends with the pump.
        let (spool, counting) = (self.spool.clone(), up.clone());
        let pump = async move {
            let mut written = 0u64;
            let mut upstream = blob.stream;
            while let Some(chunk) = upstream.next().await {
                let chunk = match chunk {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = tx.send(Err(io::Error::other(e.to_string()))).await;
                        return;
                    }
                };
                UpstreamMetrics::add(&counting.metrics.upstream_bytes, chunk.len() as u64);
                if let Err(e) = spool::append(&spool, &mut file, &mut written, &chunk).await {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
                if tx.send(Ok(chunk)).await.is_err() {
                    return;
                }
            }
        };
        let (stored, ()) = tokio::join!(put, pump);
        match stored {
            Ok(_) => store
                .blob_size(&cx, local, digest)
                .await
                .map(Some)
                .or_else(|e| fail(None, format!("could not be read back: {e}"))),
            Err(RegistryError::DigestMismatch { actual, .. }) => {
                UpstreamMetrics::add(&up.metrics.upstream_errors, 1);
                tracing::error!(upstream = up.url(), repository = %local, expected = %digest, %actual,
                    "the upstream sent blob bytes that do not match their digest: not stored, not served");
                fail(
                    None,
                    format!("sent bytes whose digest is {actual}, not {digest}"),
                )
            }
            Err(e) => {
                tracing::error!(upstream = up.url(), repository = %local, %digest, error = %e, "storing a mirrored blob failed");
                fail(None, format!("could not be cached: {e}"))
            }
        }
    }
}
