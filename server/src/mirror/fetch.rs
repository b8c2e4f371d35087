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

use futures_util::StreamExt;
use labreg_oci::BlobStream;

use super::spool::{Progress, Spool};
use super::upstream::{Routed, Upstream, UpstreamMetrics};
use crate::auth::Principal;
use crate::registry::service::{BlobService, ManifestService, UploadService};
use crate::registry::{
    Context, Digest, Reference, Registry, RegistryError, RepoName, Result, StoredManifest, Tag,
};
use crate::storage::ByteStream;

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

/// A mirrored blob asked for: the store it is cached in, the fills in
/// flight, its upstream and route, and its digest.
pub struct BlobAsk<'a> {
    pub cx: &'a Context,
    pub store: &'a Arc<Registry>,
    pub fills: &'a Fills,
    pub upstream: &'a Arc<Upstream>,
    pub r: &'a Routed<'a>,
    pub digest: &'a Digest,
}

impl BlobAsk<'_> {
    /// The cached blob's size (a blob the store holds for another
    /// repository is linked into this one); `None` when it is not cached.
    async fn cached_size(&self) -> Result<Option<u64>> {
        let (cx, store, local, digest) = (self.cx, self.store, &self.r.local, self.digest);
        match store.blob_size(cx, local, digest).await {
            Ok(size) => Ok(Some(size)),
            Err(RegistryError::BlobUnknown(_)) => {
                if store.link_stored_blob(local, digest).await? {
                    store.blob_size(cx, local, digest).await.map(Some)
                } else {
                    Ok(None)
                }
            }
            Err(e) => Err(e),
        }
    }
}

/// A blob's size: the cached one, else the one a fill in flight was
/// announced, else the upstream's HEAD (not stored).
pub async fn blob_size(a: &BlobAsk<'_>) -> Result<u64> {
    if let Some(size) = a.cached_size().await? {
        return Ok(size);
    }
    let filling = a.fills.inflight.lock().unwrap().get(a.digest).cloned();
    if let Some(size) = filling.and_then(|s| s.size.get().copied()) {
        return Ok(size);
    }
    a.upstream
        .client
        .head_blob(&a.r.remote, &a.digest.to_string())
        .await
        .map_err(|e| {
            if e.is_not_found() {
                RegistryError::BlobUnknown(a.digest.clone())
            } else {
                a.upstream.failure(&e)
            }
        })
}

/// A blob's bytes through the cache: `None` when it is cached (read it from
/// the store), else a stream from the fill in flight, started now when
/// there is none (one upstream GET however many clients ask).
pub async fn open(a: &BlobAsk<'_>, offset: u64, len: u64) -> Result<Option<ByteStream>> {
    let (store, r, digest) = (a.store, a.r, a.digest);
    if a.cached_size().await?.is_some() {
        UpstreamMetrics::add(&a.upstream.metrics.hits, 1);
        return Ok(None);
    }
    let spool = flight(store, a.fills, a.upstream, r, digest);
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
fn flight(
    store: &Arc<Registry>,
    fills: &Fills,
    upstream: &Arc<Upstream>,
    r: &Routed<'_>,
    digest: &Digest,
) -> Arc<Spool> {
    let mut inflight = fills.inflight.lock().unwrap();
    if let Some(s) = inflight.get(digest) {
        return s.clone();
    }
    let spool = Spool::new();
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
        if let Err(e) = tokio::spawn(job.run()).await
            && !spool.verified()
        {
            spool.set(Progress::Failed(
                None,
                String::new(),
                format!("the fill stopped: {e}"),
            ));
        }
        let mut map = map.lock().unwrap();
        if map.get(&digest).is_some_and(|s| Arc::ptr_eq(s, &spool)) {
            map.remove(&digest);
        }
    });
    spool
}

/// One upstream GET of a blob: its bytes written once, to the spool, and
/// hashed on the way; readers get the last byte once the digest matched,
/// then the spool is stored (on a local disk, the spool is the upload that
/// becomes the blob; elsewhere it is uploaded from the spool).
struct Job {
    store: Arc<Registry>,
    up: Arc<Upstream>,
    remote: String,
    local: RepoName,
    digest: Digest,
    spool: Arc<Spool>,
}

/// Where a fill writes: an upload in the store, or a temp file.
enum Target {
    Upload(String),
    Temp,
}

/// Why a fill failed: the upstream's status, and the answer as the clients
/// will read it.
type Failure = (Option<u16>, String);

impl Job {
    /// Runs the fill and publishes how it ends in the spool's progress.
    async fn run(self) {
        let (store, local, digest) = (&self.store, &self.local, &self.digest);
        // A fill that finished between the caller's look and this one.
        if store.link_stored_blob(local, digest).await.unwrap_or(false) {
            return self.spool.set(Progress::Stored);
        }
        let fail = |(status, answer): Failure| {
            self.spool
                .set(Progress::Failed(status, self.up.url().to_string(), answer))
        };
        UpstreamMetrics::add(&self.up.metrics.misses, 1);
        let blob = match self
            .up
            .client
            .get_blob(&self.remote, &digest.to_string())
            .await
        {
            Ok(b) => b,
            Err(e) => {
                let RegistryError::Upstream { status, answer, .. } = self.up.failure(&e) else {
                    unreachable!("failure() is an upstream error");
                };
                return fail((status, answer));
            }
        };
        if let Some(size) = blob.size {
            let _ = self.spool.size.set(size);
        }
        let target = match self.open().await {
            Ok(t) => t,
            Err(e) => return fail(e),
        };
        let size = match self.copy(blob).await {
            Ok(size) => size,
            Err(e) => {
                fail(e);
                if let Target::Upload(id) = target {
                    let _ = store.end_local_fill(local, &id, None).await;
                }
                return;
            }
        };
        if let Err(e) = self.store(target, size).await {
            tracing::error!(upstream = self.up.url(), repository = %local, %digest, error = %e,
                "storing a mirrored blob failed: its clients got it, the next pull fetches it again");
        }
    }

    /// Gives the spool its file: an upload in the store when the store is
    /// on this machine's disk, else a temp file.
    async fn open(&self) -> std::result::Result<Target, Failure> {
        let failed = |e: &dyn std::fmt::Display| {
            (
                None,
                format!("could not be cached: the mirror's spool file: {e}"),
            )
        };
        let (target, path) = match self.store.start_local_fill(&self.local).await {
            Ok(Some((id, path))) => (Target::Upload(id), Some(path)),
            Ok(None) => (Target::Temp, None),
            Err(e) => return Err(failed(&e)),
        };
        match self.spool.open(path).await {
            Ok(()) => Ok(target),
            Err(e) => {
                if let Target::Upload(id) = target {
                    let _ = self.store.end_local_fill(&self.local, &id, None).await;
                }
                Err(failed(&e))
            }
        }
    }

    /// The upstream's bytes into the spool, verified; publishes `Done`.
    async fn copy(&self, blob: BlobStream) -> std::result::Result<u64, Failure> {
        let (up, digest) = (&self.up, &self.digest);
        let spool_failed = |e: io::Error| (None, format!("could not be cached: {e}"));
        self.spool.set(Progress::Writing(0));
        let mut writer = self.spool.writer(digest.algorithm());
        let mut body = blob.stream;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| (None, format!("broke off sending the blob: {e}")))?;
            UpstreamMetrics::add(&up.metrics.upstream_bytes, chunk.len() as u64);
            writer.write(&chunk).await.map_err(spool_failed)?;
        }
        let (size, actual) = writer.finish().await.map_err(spool_failed)?;
        if &actual != digest {
            UpstreamMetrics::add(&up.metrics.upstream_errors, 1);
            tracing::error!(upstream = up.url(), repository = %self.local, expected = %digest, %actual,
                "the upstream sent blob bytes that do not match their digest: not stored, not served");
            return Err((
                None,
                format!("sent bytes whose digest is {actual}, not {digest}"),
            ));
        }
        self.spool.set(Progress::Done(size));
        Ok(size)
    }

    /// Stores the verified spool as the blob.
    async fn store(&self, target: Target, size: u64) -> Result<()> {
        let (store, local, digest) = (&self.store, &self.local, &self.digest);
        match target {
            Target::Upload(id) => {
                let synced = self.spool.sync().await;
                let verified = synced.is_ok().then_some(digest);
                store.end_local_fill(local, &id, verified).await?;
                synced.map_err(|e| RegistryError::Unsupported(format!("syncing the spool: {e}")))
            }
            Target::Temp => {
                let cx = Context::new(Principal::Anonymous);
                store
                    .put_blob(&cx, local, digest, self.spool.read_all(0, size))
                    .await
                    .map(drop)
            }
        }
    }
}
