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

    /// Hands what a successful change did to the sink.
    fn record<T: Changes>(&self, result: Result<T>) -> Result<T> {
        if let Ok(done) = &result {
            done.changes().iter().for_each(|c| self.sink.record(c));
        }
        result
    }
}

/// What a call that changes the storage returns, as its changes.
trait Changes {
    fn changes(&self) -> &[Change];
}

impl Changes for Change {
    fn changes(&self) -> &[Change] {
        std::slice::from_ref(self)
    }
}

impl Changes for Option<Change> {
    fn changes(&self) -> &[Change] {
        self.as_slice()
    }
}

impl Changes for Vec<Change> {
    fn changes(&self) -> &[Change] {
        self
    }
}

impl Changes for ManifestPut {
    fn changes(&self) -> &[Change] {
        std::slice::from_ref(&self.change)
    }
}

/// Implements one part of the service for [`Events`]: every call goes to the
/// wrapped service; for those that change content (`change:`), what they
/// did goes to the sink as well.
macro_rules! decorate {
    ($part:ident {
        pass: $(fn $pass:ident($($ra:ident: $rt:ty),*) -> $rret:ty;)*
        change: $(fn $change:ident($($ca:ident: $ct:ty),*) -> $cret:ty;)*
    }) => {
        #[async_trait]
        impl $part for Events {
            $(async fn $pass(&self, $($ra: $rt),*) -> $rret {
                self.inner.$pass($($ra),*).await
            })*
            $(async fn $change(&self, $($ca: $ct),*) -> $cret {
                self.record(self.inner.$change($($ca),*).await)
            })*
        }
    };
}

decorate!(ListingService {
    pass:
    fn catalog(cx: &Context, last: Option<&str>, n: Option<usize>, visible: Visible<'_>) -> Result<Page>;
    fn tags(cx: &Context, repo: &RepoName, last: Option<&str>, n: Option<usize>) -> Result<Page>;
    change:
});

decorate!(ManifestService {
    pass:
    fn referrers(cx: &Context, repo: &RepoName, subject: &Digest, artifact_type: Option<&str>) -> Result<Vec<Descriptor>>;
    fn get_manifest(cx: &Context, repo: &RepoName, reference: &Reference) -> Result<StoredManifest>;
    change:
    fn put_manifest(cx: &Context, repo: &RepoName, reference: &Reference, content_type: Option<&str>, content: Bytes) -> Result<ManifestPut>;
    fn delete_manifest(cx: &Context, repo: &RepoName, reference: &Reference) -> Result<Vec<Change>>;
});

decorate!(BlobService {
    pass:
    fn blob_size(cx: &Context, repo: &RepoName, digest: &Digest) -> Result<u64>;
    fn open_blob(cx: &Context, repo: &RepoName, digest: &Digest, offset: u64, len: u64) -> Result<BlobContent>;
    change:
    fn delete_blob(cx: &Context, repo: &RepoName, digest: &Digest) -> Result<Change>;
    fn mount_blob(cx: &Context, repo: &RepoName, from: &RepoName, digest: &Digest) -> Result<Option<Change>>;
});

decorate!(UploadService {
    pass:
    fn start_upload(cx: &Context, repo: &RepoName) -> Result<UploadStatus>;
    fn upload_status(cx: &Context, repo: &RepoName, id: &str) -> Result<UploadStatus>;
    fn append_upload(cx: &Context, repo: &RepoName, id: &str, range: Option<ChunkRange>, body: ByteStream) -> Result<UploadStatus>;
    fn cancel_upload(cx: &Context, repo: &RepoName, id: &str) -> Result<()>;
    change:
    fn finish_upload(cx: &Context, repo: &RepoName, id: &str, digest: &Digest, range: Option<ChunkRange>, body: Option<ByteStream>) -> Result<Change>;
    fn put_blob(cx: &Context, repo: &RepoName, digest: &Digest, body: ByteStream) -> Result<Change>;
});
