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

#[cfg(doc)]
use super::Registry;
use super::manifest::Descriptor;
use super::{
    BlobContent, Change, ChunkRange, Context, Digest, ManifestPut, Page, Reference, RepoName,
    Result, StoredManifest, UploadStatus,
};
use crate::storage::ByteStream;

/// Which repositories a caller may see in the catalog.
pub type Visible<'a> = &'a (dyn Fn(&str) -> bool + Send + Sync);

/// Everything the API asks: the four parts below. A decorator implements
/// the four; [`Registry`] implements each in the file of its content
/// (`blobs.rs`, `uploads.rs`, `manifests.rs`, `catalog.rs`).
pub trait RepositoryService:
    ListingService + BlobService + UploadService + ManifestService
{
}

impl<T: ListingService + BlobService + UploadService + ManifestService> RepositoryService for T {}

/// The catalog (the one call not about one repository) and tags lists.
#[async_trait]
pub trait ListingService: Send + Sync {
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
}

/// Blobs linked to a repository.
#[async_trait]
pub trait BlobService: Send + Sync {
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
}

/// Blob uploads: chunked, streamed or monolithic.
#[async_trait]
pub trait UploadService: Send + Sync {
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
}

/// Manifests, their tags, and the manifests that refer to them.
#[async_trait]
pub trait ManifestService: Send + Sync {
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
    async fn referrers(
        &self,
        cx: &Context,
        repo: &RepoName,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>>;
}
