//! The seam between HTTP and content: what the API asks of a registry, per
//! repository, in typed names and byte streams (never HTTP types). The API
//! holds an `Arc<dyn RepositoryService>`; [`Registry`] implements it on a
//! storage driver, and a decorator (the events of [`crate::events`], a
//! mirror, metrics) implements it by wrapping another one, so features plug
//! in without a branch in the handlers.
//!
//! Every call carries a [`Context`] (who asks, which request); every change
//! returns its typed [`Change`] once it is durable.

use async_trait::async_trait;
use bytes::Bytes;

use super::manifest::Descriptor;
use super::{
    BlobContent, Change, ChunkRange, Context, Digest, ManifestPut, Page, Reference, Registry,
    RepoName, Result, StoredManifest, UploadStatus,
};
use crate::storage::ByteStream;

/// Which repositories a caller may see in the catalog.
pub type Visible<'a> = &'a (dyn Fn(&str) -> bool + Send + Sync);

#[async_trait]
pub trait RepositoryService: Send + Sync {
    // Discovery. The catalog is the one call not about one repository.
    async fn catalog(
        &self,
        cx: &Context,
        last: Option<&str>,
        n: Option<usize>,
        visible: Visible<'_>,
    ) -> Result<Page>;
    async fn tags(
        &self,
        cx: &Context,
        repo: &RepoName,
        last: Option<&str>,
        n: Option<usize>,
    ) -> Result<Page>;
    async fn referrers(
        &self,
        cx: &Context,
        repo: &RepoName,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>>;

    // Blobs.
    /// The size of a blob linked to `repo`; BlobUnknown otherwise.
    async fn blob_size(&self, cx: &Context, repo: &RepoName, digest: &Digest) -> Result<u64>;
    /// The bytes of a blob whose size was asked first, or a redirect.
    async fn open_blob(
        &self,
        cx: &Context,
        repo: &RepoName,
        digest: &Digest,
        offset: u64,
        len: u64,
    ) -> Result<BlobContent>;
    async fn delete_blob(&self, cx: &Context, repo: &RepoName, digest: &Digest) -> Result<Change>;
    /// None when `from` does not hold the blob: the client uploads instead.
    async fn mount_blob(
        &self,
        cx: &Context,
        repo: &RepoName,
        from: &RepoName,
        digest: &Digest,
    ) -> Result<Option<Change>>;

    // Uploads.
    async fn start_upload(&self, cx: &Context, repo: &RepoName) -> Result<UploadStatus>;
    async fn upload_status(&self, cx: &Context, repo: &RepoName, id: &str) -> Result<UploadStatus>;
    async fn append_upload(
        &self,
        cx: &Context,
        repo: &RepoName,
        id: &str,
        range: Option<ChunkRange>,
        body: ByteStream,
    ) -> Result<UploadStatus>;
    async fn finish_upload(
        &self,
        cx: &Context,
        repo: &RepoName,
        id: &str,
        digest: &Digest,
        range: Option<ChunkRange>,
        body: Option<ByteStream>,
    ) -> Result<Change>;
    /// A monolithic upload.
    async fn put_blob(
        &self,
        cx: &Context,
        repo: &RepoName,
        digest: &Digest,
        body: ByteStream,
    ) -> Result<Change>;
    async fn cancel_upload(&self, cx: &Context, repo: &RepoName, id: &str) -> Result<()>;

    // Manifests and tags.
    async fn get_manifest(
        &self,
        cx: &Context,
        repo: &RepoName,
        reference: &Reference,
    ) -> Result<StoredManifest>;
    async fn put_manifest(
        &self,
        cx: &Context,
        repo: &RepoName,
        reference: &Reference,
        content_type: Option<&str>,
        content: Bytes,
    ) -> Result<ManifestPut>;
    /// A tag, or a manifest with the tags that point at it: one change each.
    async fn delete_manifest(
        &self,
        cx: &Context,
        repo: &RepoName,
        reference: &Reference,
    ) -> Result<Vec<Change>>;
}

#[async_trait]
impl RepositoryService for Registry {
    async fn catalog(
        &self,
        _: &Context,
        last: Option<&str>,
        n: Option<usize>,
        visible: Visible<'_>,
    ) -> Result<Page> {
        Registry::catalog(self, last, n, visible).await
    }

    async fn tags(
        &self,
        _: &Context,
        repo: &RepoName,
        last: Option<&str>,
        n: Option<usize>,
    ) -> Result<Page> {
        Registry::tags(self, repo, last, n).await
    }

    async fn referrers(
        &self,
        _: &Context,
        repo: &RepoName,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>> {
        Registry::referrers(self, repo, subject, artifact_type).await
    }

    async fn blob_size(&self, _: &Context, repo: &RepoName, digest: &Digest) -> Result<u64> {
        Registry::blob_size(self, repo, digest).await
    }

    async fn open_blob(
        &self,
        _: &Context,
        _repo: &RepoName,
        digest: &Digest,
        offset: u64,
        len: u64,
    ) -> Result<BlobContent> {
        Registry::open_blob(self, digest, offset, len).await
    }

    async fn delete_blob(&self, cx: &Context, repo: &RepoName, digest: &Digest) -> Result<Change> {
        Registry::delete_blob(self, cx, repo, digest).await
    }

    async fn mount_blob(
        &self,
        cx: &Context,
        repo: &RepoName,
        from: &RepoName,
        digest: &Digest,
    ) -> Result<Option<Change>> {
        Registry::mount_blob(self, cx, repo, from, digest).await
    }

    async fn start_upload(&self, _: &Context, repo: &RepoName) -> Result<UploadStatus> {
        Registry::start_upload(self, repo).await
    }

    async fn upload_status(&self, _: &Context, repo: &RepoName, id: &str) -> Result<UploadStatus> {
        Registry::upload_status(self, repo, id).await
    }

    async fn append_upload(
        &self,
        _: &Context,
        repo: &RepoName,
        id: &str,
        range: Option<ChunkRange>,
        body: ByteStream,
    ) -> Result<UploadStatus> {
        Registry::append_upload(self, repo, id, range, body).await
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
        Registry::finish_upload(self, cx, repo, id, digest, range, body).await
    }

    async fn put_blob(
        &self,
        cx: &Context,
        repo: &RepoName,
        digest: &Digest,
        body: ByteStream,
    ) -> Result<Change> {
        Registry::put_blob(self, cx, repo, digest, body).await
    }

    async fn cancel_upload(&self, _: &Context, repo: &RepoName, id: &str) -> Result<()> {
        Registry::cancel_upload(self, repo, id).await
    }

    async fn get_manifest(
        &self,
        _: &Context,
        repo: &RepoName,
        reference: &Reference,
    ) -> Result<StoredManifest> {
        Registry::get_manifest(self, repo, reference).await
    }

    async fn put_manifest(
        &self,
        cx: &Context,
        repo: &RepoName,
        reference: &Reference,
        content_type: Option<&str>,
        content: Bytes,
    ) -> Result<ManifestPut> {
        Registry::put_manifest(self, cx, repo, reference, content_type, content).await
    }

    async fn delete_manifest(
        &self,
        cx: &Context,
        repo: &RepoName,
        reference: &Reference,
    ) -> Result<Vec<Change>> {
        Registry::delete_manifest(self, cx, repo, reference).await
    }
}
