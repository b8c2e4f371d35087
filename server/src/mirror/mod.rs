//! The mirror: a decorator of [`RepositoryService`] that makes repositories
//! under an upstream's prefix (or every repository, for registry:2's
//! `proxy:`) a pull-through cache of that upstream, and passes everything
//! else to the service it wraps. Handlers know nothing of it.
//!
//! Mirrored repositories: reads fill the cache ([`fetch`]); pushes are
//! refused with DENIED and the reason; deletes remove the cached copy only.
//! Cached content is stored like pushed content (`docker.io/library/nginx`
//! is a repository on disk), so GC and `labreg check` see it.

mod fetch;
mod spool;
pub mod upstream;

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

use crate::registry::manifest::Descriptor;
use crate::registry::service::{
    BlobService, ListingService, ManifestService, UploadService, Visible,
};
use crate::registry::{
    BlobContent, Change, ChunkRange, Context, Digest, ManifestPut, Page, Reference, Registry,
    RegistryError, RepoName, RepositoryService, Result, StoredManifest, UploadStatus,
};
use crate::storage::ByteStream;
use fetch::{Checked, Fills};
use upstream::Routed;
pub use upstream::Upstream;

pub struct Mirror {
    inner: Arc<dyn RepositoryService>,
    /// The registry the cache is written to (the one `inner` wraps).
    store: Arc<Registry>,
    upstreams: Vec<Arc<Upstream>>,
    fills: Fills,
    checked: Checked,
}

impl Mirror {
    pub fn new(
        inner: Arc<dyn RepositoryService>,
        store: Arc<Registry>,
        upstreams: Vec<Arc<Upstream>>,
    ) -> Mirror {
        Mirror {
            inner,
            store,
            upstreams,
            fills: Fills::default(),
            checked: Checked::default(),
        }
    }

    /// The upstream a request goes to, if any; an error when its allow list
    /// refuses the repository.
    fn route(&self, cx: &Context, repo: &RepoName) -> Result<Option<(usize, Routed<'_>)>> {
        for (i, up) in self.upstreams.iter().enumerate() {
            if let Some(routed) = up.route(cx, repo) {
                return routed.map(|r| Some((i, r)));
            }
        }
        Ok(None)
    }

    /// A blob of upstream `i` asked for through route `r`.
    fn ask<'a>(
        &'a self,
        cx: &'a Context,
        i: usize,
        r: &'a Routed<'a>,
        digest: &'a Digest,
    ) -> fetch::BlobAsk<'a> {
        fetch::BlobAsk {
            cx,
            store: &self.store,
            fills: &self.fills,
            upstream: &self.upstreams[i],
            r,
            digest,
        }
    }

    /// The repository as stored here: the cached one when mirrored.
    fn local(&self, cx: &Context, repo: &RepoName) -> Result<RepoName> {
        Ok(match self.route(cx, repo)? {
            Some((_, r)) => r.local,
            None => repo.clone(),
        })
    }

    /// Refuses a push into a mirrored repository.
    fn writable(&self, cx: &Context, repo: &RepoName) -> Result<()> {
        match self.route(cx, repo)? {
            Some((_, r)) => Err(RegistryError::Denied(format!(
                "{repo} is a read-only mirror of {} ({}): push to a repository outside the mirrored prefixes",
                r.upstream.url(),
                r.upstream.key
            ))),
            None => Ok(()),
        }
    }
}

#[async_trait]
impl ListingService for Mirror {
    async fn catalog(
        &self,
        cx: &Context,
        last: Option<&str>,
        n: Option<usize>,
        visible: Visible<'_>,
    ) -> Result<Page> {
        self.inner.catalog(cx, last, n, visible).await
    }

    async fn tags(
        &self,
        cx: &Context,
        repo: &RepoName,
        last: Option<&str>,
        n: Option<usize>,
    ) -> Result<Page> {
        let Some((_, r)) = self.route(cx, repo)? else {
            return self.inner.tags(cx, repo, last, n).await;
        };
        // The upstream's list (a mirror shows what can be pulled, not only
        // what was); the cached tags when the upstream does not answer.
        let up = r.upstream;
        match up.client.tags(&r.remote).await {
            Ok(mut tags) => {
                tags.sort();
                tags.dedup();
                Ok(crate::registry::catalog::paginate(tags, last, n, |a, b| {
                    a < b
                }))
            }
            Err(e) if e.is_not_found() => {
                let _ = up.failure(&e);
                Err(RegistryError::NameUnknown(format!(
                    "{repo} (upstream {} answered: {e})",
                    up.url()
                )))
            }
            Err(e) => {
                let _ = up.failure(&e);
                tracing::warn!(upstream = up.url(), repository = %r.local, error = %e,
                    "listing the cached tags, which may be stale: the upstream did not answer");
                self.inner.tags(cx, &r.local, last, n).await
            }
        }
    }
}

#[async_trait]
impl ManifestService for Mirror {
    async fn referrers(
        &self,
        cx: &Context,
        repo: &RepoName,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>> {
        let local = self.local(cx, repo)?;
        self.inner
            .referrers(cx, &local, subject, artifact_type)
            .await
    }

    async fn get_manifest(
        &self,
        cx: &Context,
        repo: &RepoName,
        reference: &Reference,
    ) -> Result<StoredManifest> {
        match self.route(cx, repo)? {
            Some((_, r)) => fetch::manifest(cx, &self.store, &self.checked, &r, reference).await,
            None => self.inner.get_manifest(cx, repo, reference).await,
        }
    }

    async fn put_manifest(
        &self,
        cx: &Context,
        repo: &RepoName,
        reference: &Reference,
        content_type: Option<&str>,
        content: Bytes,
    ) -> Result<ManifestPut> {
        self.writable(cx, repo)?;
        self.inner
            .put_manifest(cx, repo, reference, content_type, content)
            .await
    }

    async fn delete_manifest(
        &self,
        cx: &Context,
        repo: &RepoName,
        reference: &Reference,
    ) -> Result<Vec<Change>> {
        self.inner
            .delete_manifest(cx, &self.local(cx, repo)?, reference)
            .await
    }
}

#[async_trait]
impl BlobService for Mirror {
    async fn blob_size(&self, cx: &Context, repo: &RepoName, digest: &Digest) -> Result<u64> {
        // A HEAD of an uncached blob is the upstream's answer: nothing is
        // fetched or stored until the bytes are asked for.
        match self.route(cx, repo)? {
            Some((i, r)) => fetch::blob_size(&self.ask(cx, i, &r, digest)).await,
            None => self.inner.blob_size(cx, repo, digest).await,
        }
    }

    async fn open_blob(
        &self,
        cx: &Context,
        repo: &RepoName,
        digest: &Digest,
        offset: u64,
        len: u64,
    ) -> Result<BlobContent> {
        match self.route(cx, repo)? {
            Some((i, r)) => match fetch::open(&self.ask(cx, i, &r, digest), offset, len).await? {
                Some(stream) => Ok(BlobContent::Bytes(stream)),
                None => {
                    self.inner
                        .open_blob(cx, &r.local, digest, offset, len)
                        .await
                }
            },
            None => self.inner.open_blob(cx, repo, digest, offset, len).await,
        }
    }

    async fn delete_blob(&self, cx: &Context, repo: &RepoName, digest: &Digest) -> Result<Change> {
        self.inner
            .delete_blob(cx, &self.local(cx, repo)?, digest)
            .await
    }

    async fn mount_blob(
        &self,
        cx: &Context,
        repo: &RepoName,
        from: &RepoName,
        digest: &Digest,
    ) -> Result<Option<Change>> {
        self.writable(cx, repo)?;
        let from = self.local(cx, from)?;
        self.inner.mount_blob(cx, repo, &from, digest).await
    }
}

#[async_trait]
impl UploadService for Mirror {
    async fn start_upload(&self, cx: &Context, repo: &RepoName) -> Result<UploadStatus> {
        self.writable(cx, repo)?;
        self.inner.start_upload(cx, repo).await
    }

    async fn upload_status(&self, cx: &Context, repo: &RepoName, id: &str) -> Result<UploadStatus> {
        self.inner.upload_status(cx, repo, id).await
    }

    async fn append_upload(
        &self,
        cx: &Context,
        repo: &RepoName,
        id: &str,
        range: Option<ChunkRange>,
        body: ByteStream,
    ) -> Result<UploadStatus> {
        self.writable(cx, repo)?;
        self.inner.append_upload(cx, repo, id, range, body).await
    }

    async fn finish_upload(
        &self,
        cx: &Context,
        repo: &RepoName,
        id: &str,
        digest: &Digest,
        range: Option<ChunkRange>,
        body: Option<ByteStream>,
    ) -> Result<Change> {
        self.writable(cx, repo)?;
        self.inner
            .finish_upload(cx, repo, id, digest, range, body)
            .await
    }

    async fn put_blob(
        &self,
        cx: &Context,
        repo: &RepoName,
        digest: &Digest,
        body: ByteStream,
    ) -> Result<Change> {
        self.writable(cx, repo)?;
        self.inner.put_blob(cx, repo, digest, body).await
    }

    async fn cancel_upload(&self, cx: &Context, repo: &RepoName, id: &str) -> Result<()> {
        self.inner.cancel_upload(cx, repo, id).await
    }
}
