//! Events out of every change: a decorator of [`RepositoryService`] that
//! hands each [`Change`] the wrapped service returns (so, after it is
//! durable) to an [`EventSink`]. Reads pass through untouched. The default
//! sink does nothing; webhooks and a usage index are sinks to come.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

use crate::registry::manifest::Descriptor;
use crate::registry::service::{
    BlobService, ListingService, ManifestService, UploadService, Visible,
};
use crate::registry::{
    BlobContent, Change, ChunkRange, Context, Digest, ManifestPut, Page, Reference, RepoName,
    RepositoryService, Result, StoredManifest, UploadStatus,
};
use crate::storage::ByteStream;

/// Where changes go. Called on the request's task once the change is
/// durable: a sink that does I/O queues and returns.
pub trait EventSink: Send + Sync {
    fn record(&self, change: &Change);
}

/// The default: changes are not sent anywhere.
pub struct NoSink;

impl EventSink for NoSink {
    fn record(&self, _: &Change) {}
}

/// A service whose changes are recorded by a sink.
pub struct Events {
    inner: Arc<dyn RepositoryService>,
    sink: Arc<dyn EventSink>,
}

impl Events {
    pub fn new(inner: Arc<dyn RepositoryService>, sink: Arc<dyn EventSink>) -> Events {
        Events { inner, sink }
    }

    fn one(&self, result: Result<Change>) -> Result<Change> {
        if let Ok(change) = &result {
            self.sink.record(change);
        }
        result
    }
}

#[async_trait]
impl ListingService for Events {
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
        self.inner.tags(cx, repo, last, n).await
    }
}

#[async_trait]
impl ManifestService for Events {
    async fn referrers(
        &self,
        cx: &Context,
        repo: &RepoName,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>> {
        self.inner.referrers(cx, repo, subject, artifact_type).await
    }

    async fn get_manifest(
        &self,
        cx: &Context,
        repo: &RepoName,
        reference: &Reference,
    ) -> Result<StoredManifest> {
        self.inner.get_manifest(cx, repo, reference).await
    }

    async fn put_manifest(
        &self,
        cx: &Context,
        repo: &RepoName,
        reference: &Reference,
        content_type: Option<&str>,
        content: Bytes,
    ) -> Result<ManifestPut> {
        let result = self
            .inner
            .put_manifest(cx, repo, reference, content_type, content)
            .await;
        if let Ok(put) = &result {
            self.sink.record(&put.change);
        }
        result
    }

    async fn delete_manifest(
        &self,
        cx: &Context,
        repo: &RepoName,
        reference: &Reference,
    ) -> Result<Vec<Change>> {
        let result = self.inner.delete_manifest(cx, repo, reference).await;
        for change in result.iter().flatten() {
            self.sink.record(change);
        }
        result
    }
}

#[async_trait]
impl BlobService for Events {
    async fn blob_size(&self, cx: &Context, repo: &RepoName, digest: &Digest) -> Result<u64> {
        self.inner.blob_size(cx, repo, digest).await
    }

    async fn open_blob(
        &self,
        cx: &Context,
        repo: &RepoName,
        digest: &Digest,
        offset: u64,
        len: u64,
    ) -> Result<BlobContent> {
        self.inner.open_blob(cx, repo, digest, offset, len).await
    }

    async fn delete_blob(&self, cx: &Context, repo: &RepoName, digest: &Digest) -> Result<Change> {
        self.one(self.inner.delete_blob(cx, repo, digest).await)
    }

    async fn mount_blob(
        &self,
        cx: &Context,
        repo: &RepoName,
        from: &RepoName,
        digest: &Digest,
    ) -> Result<Option<Change>> {
        let result = self.inner.mount_blob(cx, repo, from, digest).await;
        if let Ok(Some(change)) = &result {
            self.sink.record(change);
        }
        result
    }
}

#[async_trait]
impl UploadService for Events {
    async fn start_upload(&self, cx: &Context, repo: &RepoName) -> Result<UploadStatus> {
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
        let result = self
            .inner
            .finish_upload(cx, repo, id, digest, range, body)
            .await;
        self.one(result)
    }

    async fn put_blob(
        &self,
        cx: &Context,
        repo: &RepoName,
        digest: &Digest,
        body: ByteStream,
    ) -> Result<Change> {
        self.one(self.inner.put_blob(cx, repo, digest, body).await)
    }

    async fn cancel_upload(&self, cx: &Context, repo: &RepoName, id: &str) -> Result<()> {
        self.inner.cancel_upload(cx, repo, id).await
    }
}
