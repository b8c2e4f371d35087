//! Events out of every change: a decorator of [`RepositoryService`] that
//! hands each [`Change`] the wrapped service returns (so, after it is
//! durable) to an [`EventSink`]. Reads of a manifest or a blob made by an
//! API request become a [`Pull`] (registry:2 reports those too); other reads
//! pass through untouched. The default sink does nothing; the webhooks of
//! [`crate::notify`] are one sink.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

use crate::auth::Principal;
use crate::registry::manifest::Descriptor;
use crate::registry::names::Tag;
use crate::registry::service::{
    BlobService, ListingService, ManifestService, UploadService, Visible,
};
use crate::registry::{
    BlobContent, Change, ChunkRange, Context, Digest, ManifestPut, Page, Reference, RepoName,
    RepositoryService, RequestId, RequestInfo, Result, StoredManifest, UploadStatus,
};
use crate::storage::ByteStream;

/// Where changes go. Called on the request's task once the change is
/// durable: a sink that does I/O queues and returns.
pub trait EventSink: Send + Sync {
    fn record(&self, change: &Change);
    /// A manifest or blob served to an API request (GET or HEAD). No
    /// default: a sink that wraps others must pass pulls on, and one that
    /// has no use for them says so.
    fn pulled(&self, pull: &Pull);
}

/// A manifest or blob served to a client.
#[derive(Debug, Clone)]
pub struct Pull {
    pub repository: RepoName,
    pub digest: Digest,
    pub size: u64,
    /// The manifest as served; None for a blob.
    pub manifest: Option<StoredManifest>,
    /// The tag the manifest was asked by.
    pub tag: Option<Tag>,
    pub actor: Principal,
    pub request_id: RequestId,
    pub request: Arc<RequestInfo>,
}

impl Pull {
    fn new(cx: &Context, repository: &RepoName, digest: &Digest, size: u64) -> Pull {
        Pull {
            repository: repository.clone(),
            digest: digest.clone(),
            size,
            manifest: None,
            tag: None,
            actor: cx.actor.clone(),
            request_id: cx.request_id.clone(),
            request: cx.request.clone(),
        }
    }
}

/// The default: changes are not sent anywhere.
pub struct NoSink;

impl EventSink for NoSink {
    fn record(&self, _: &Change) {}

    fn pulled(&self, _: &Pull) {}
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

    /// A manifest read by an API request is a pull.
    fn manifest_read(
        &self,
        cx: &Context,
        repo: &RepoName,
        reference: &Reference,
        m: &StoredManifest,
    ) {
        if cx.request.method.is_empty() {
            return;
        }
        let mut pull = Pull::new(cx, repo, &m.digest, m.content.len() as u64);
        pull.tag = match reference {
            Reference::Tag(t) => Some(t.clone()),
            Reference::Digest(_) => None,
        };
        pull.manifest = Some(m.clone());
        self.sink.pulled(&pull);
    }

    /// A blob looked up by an API request (the first step of its GET or
    /// HEAD) is a pull, as registry:2 reports both.
    fn blob_read(&self, cx: &Context, repo: &RepoName, digest: &Digest, size: &u64) {
        if !cx.request.method.is_empty() {
            self.sink.pulled(&Pull::new(cx, repo, digest, *size));
        }
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
/// did goes to the sink as well; for reads that are pulls (`pull:`), the
/// named method sees the arguments and what was read.
macro_rules! decorate {
    ($part:ident {
        pass: $(fn $pass:ident($($ra:ident: $rt:ty),*) -> $rret:ty;)*
        pull: $(fn $pull:ident($($pa:ident: $pt:ty),*) -> $pret:ty => $hook:ident;)*
        change: $(fn $change:ident($($ca:ident: $ct:ty),*) -> $cret:ty;)*
    }) => {
        #[async_trait]
        impl $part for Events {
            $(async fn $pass(&self, $($ra: $rt),*) -> $rret {
                self.inner.$pass($($ra),*).await
            })*
            $(async fn $pull(&self, $($pa: $pt),*) -> $pret {
                let result = self.inner.$pull($($pa),*).await;
                if let Ok(read) = &result {
                    self.$hook($($pa),*, read);
                }
                result
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
    pull:
    change:
});

decorate!(ManifestService {
    pass:
    fn referrers(cx: &Context, repo: &RepoName, subject: &Digest, artifact_type: Option<&str>) -> Result<Vec<Descriptor>>;
    pull:
    fn get_manifest(cx: &Context, repo: &RepoName, reference: &Reference) -> Result<StoredManifest> => manifest_read;
    change:
    fn put_manifest(cx: &Context, repo: &RepoName, reference: &Reference, content_type: Option<&str>, content: Bytes) -> Result<ManifestPut>;
    fn delete_manifest(cx: &Context, repo: &RepoName, reference: &Reference) -> Result<Vec<Change>>;
});

decorate!(BlobService {
    pass:
    fn open_blob(cx: &Context, repo: &RepoName, digest: &Digest, offset: u64, len: u64) -> Result<BlobContent>;
    pull:
    fn blob_size(cx: &Context, repo: &RepoName, digest: &Digest) -> Result<u64> => blob_read;
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
    pull:
    change:
    fn finish_upload(cx: &Context, repo: &RepoName, id: &str, digest: &Digest, range: Option<ChunkRange>, body: Option<ByteStream>) -> Result<Change>;
    fn put_blob(cx: &Context, repo: &RepoName, digest: &Digest, body: ByteStream) -> Result<Change>;
});
