//! Filling the cache from an upstream. Manifests: by digest, local first
//! and never upstream once cached; by tag, served from the cache within the
//! TTL, else a HEAD upstream (no body when the digest is unchanged) and a
//! GET only when it changed. Blobs: one upstream GET per digest however
//! many clients wait (single flight), run on its own task so a client that
//! goes away does not abort it, stored through the registry's upload path
//! (digest verified, then one atomic move) before anyone reads it.
//! Upstream down, unreachable or 429: cached content is served and the log
//! says it is stale.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures_util::future::{BoxFuture, Shared};
use futures_util::{FutureExt, TryStreamExt};

use super::upstream::{Routed, Upstream, UpstreamMetrics};
use crate::auth::Principal;
use crate::registry::service::{BlobService, ManifestService, UploadService};
use crate::registry::{
    Context, Digest, Reference, Registry, RegistryError, RepoName, Result, StoredManifest, Tag,
};

/// A fill's outcome, shared by every waiter (errors as the message the
/// client will read, with the upstream's status).
type FillResult = std::result::Result<(), (Option<u16>, String, String)>;

/// Blob fills in flight, by digest.
#[derive(Default)]
pub struct Fills {
    inflight: Arc<Mutex<HashMap<Digest, Shared<BoxFuture<'static, FillResult>>>>>,
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

/// Makes sure a blob is cached and linked into the routed repository;
/// returns its size.
pub async fn blob(
    cx: &Context,
    store: &Arc<Registry>,
    fills: &Fills,
    upstream: &Arc<Upstream>,
    r: &Routed<'_>,
    digest: &Digest,
) -> Result<u64> {
    match store.blob_size(cx, &r.local, digest).await {
        Ok(size) => {
            UpstreamMetrics::add(&upstream.metrics.hits, 1);
            return Ok(size);
        }
        Err(RegistryError::BlobUnknown(_)) => {}
        Err(e) => return Err(e),
    }
    if !store.link_stored_blob(&r.local, digest).await? {
        let shared = {
            let mut inflight = fills.inflight.lock().unwrap();
            inflight
                .entry(digest.clone())
                .or_insert_with(|| {
                    let task = tokio::spawn(fill(
                        store.clone(),
                        upstream.clone(),
                        r.remote.clone(),
                        r.local.clone(),
                        digest.clone(),
                        fills.inflight.clone(),
                    ));
                    async move {
                        task.await
                            .unwrap_or_else(|e| Err((None, String::new(), e.to_string())))
                    }
                    .boxed()
                    .shared()
                })
                .clone()
        };
        if let Err((status, upstream_url, answer)) = shared.await {
            if status == Some(404) {
                return Err(RegistryError::BlobUnknown(digest.clone()));
            }
            return Err(RegistryError::Upstream {
                upstream: upstream_url,
                status,
                answer,
            });
        }
        store.link_stored_blob(&r.local, digest).await?;
    } else {
        UpstreamMetrics::add(&upstream.metrics.hits, 1);
    }
    store.blob_size(cx, &r.local, digest).await
}

/// One upstream GET of a blob, stored through the verified upload path.
async fn fill(
    store: Arc<Registry>,
    up: Arc<Upstream>,
    remote: String,
    local: RepoName,
    digest: Digest,
    inflight: Arc<Mutex<HashMap<Digest, Shared<BoxFuture<'static, FillResult>>>>>,
) -> FillResult {
    let result = fill_once(&store, &up, &remote, &local, &digest).await;
    inflight.lock().unwrap().remove(&digest);
    result
}

async fn fill_once(
    store: &Registry,
    up: &Arc<Upstream>,
    remote: &str,
    local: &RepoName,
    digest: &Digest,
) -> FillResult {
    let fail = |status, answer: String| Err((status, up.url().to_string(), answer));
    // A fill that finished between the caller's look and this one.
    if store.link_stored_blob(local, digest).await.unwrap_or(false) {
        return Ok(());
    }
    UpstreamMetrics::add(&up.metrics.misses, 1);
    let blob = match up.client.get_blob(remote, &digest.to_string()).await {
        Ok(b) => b,
        Err(e) => {
            let RegistryError::Upstream { status, answer, .. } = up.failure(&e) else {
                unreachable!("failure() is an upstream error");
            };
            return fail(status, answer);
        }
    };
    let counting = up.clone();
    let body = blob
        .stream
        .inspect_ok(move |b| UpstreamMetrics::add(&counting.metrics.upstream_bytes, b.len() as u64))
        .map_err(|e| io::Error::other(e.to_string()));
    let cx = Context::new(Principal::Anonymous);
    match store.put_blob(&cx, local, digest, Box::pin(body)).await {
        Ok(_) => Ok(()),
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
