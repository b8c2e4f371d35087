//! What a change did, typed: every call that changes the storage (a finished
//! upload, a mount, a manifest PUT, a delete) returns a [`Change`] once what
//! it wrote is durable, so the events decorator, webhooks and a usage index
//! read it instead of re-deriving it from HTTP.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use super::digest::Digest;
use super::names::{RepoName, Tag};
use crate::auth::Principal;

/// What kind of change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChangeAction {
    /// An upload finished (chunked or monolithic): the blob is linked.
    BlobPush,
    /// A blob of another repository was linked without an upload.
    BlobMount,
    /// A blob was unlinked from the repository.
    BlobDelete,
    /// A manifest was stored, and tagged when `tag` is set.
    ManifestPush,
    /// A manifest was removed by digest.
    ManifestDelete,
    /// A tag was removed (by a DELETE of the tag, or with its manifest).
    TagDelete,
}

impl ChangeAction {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeAction::BlobPush => "blob-push",
            ChangeAction::BlobMount => "blob-mount",
            ChangeAction::BlobDelete => "blob-delete",
            ChangeAction::ManifestPush => "manifest-push",
            ChangeAction::ManifestDelete => "manifest-delete",
            ChangeAction::TagDelete => "tag-delete",
        }
    }
}

impl fmt::Display for ChangeAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One request's identity, unique within this process's life: a random
/// prefix per process and a counter, so ids from two replicas differ.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestId(String);

impl RequestId {
    pub fn next() -> RequestId {
        static PREFIX: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let prefix = *PREFIX.get_or_init(rand::random::<u32>);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        RequestId(format!("{prefix:08x}-{n:x}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the HTTP request said about itself, as registry:2's events report
/// it (`request` of an event); empty for work labreg does on its own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestInfo {
    /// GET, PUT...; empty when the call did not come from the API.
    pub method: String,
    /// The client's address: the first `X-Forwarded-For` entry, else
    /// `X-Real-Ip`, else the peer (as registry:2's `RemoteAddr`).
    pub addr: String,
    /// The Host header.
    pub host: String,
    pub useragent: String,
    /// `http.host`, else `http(s)://HOST`: the base of the URLs in events.
    pub base_url: String,
}

/// Who asks and in which request: handed to every service call, so a
/// decorator (events, the mirror, metrics) knows it without reading HTTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    pub actor: Principal,
    pub request_id: RequestId,
    /// The registry the client meant, when it says: containerd asks a mirror
    /// for `/v2/library/nginx/manifests/1.27?ns=docker.io`.
    pub namespace: Option<String>,
    pub request: Arc<RequestInfo>,
}

impl Context {
    /// A fresh request by `actor`.
    pub fn new(actor: Principal) -> Context {
        Context {
            actor,
            request_id: RequestId::next(),
            namespace: None,
            request: Arc::default(),
        }
    }

    /// The same request, described by its HTTP request.
    pub fn request(mut self, request: RequestInfo) -> Context {
        self.request = Arc::new(request);
        self
    }

    /// The same request, for the registry named by `ns`.
    pub fn namespace(mut self, ns: Option<String>) -> Context {
        self.namespace = ns.filter(|n| !n.is_empty());
        self
    }
}

/// The typed outcome of one change, returned after it is durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub action: ChangeAction,
    pub repository: RepoName,
    pub digest: Digest,
    /// Bytes of the blob or manifest, when the change knows them.
    pub size: Option<u64>,
    /// The manifest's media type (manifest changes only).
    pub media_type: Option<String>,
    pub tag: Option<Tag>,
    pub actor: Principal,
    pub request_id: RequestId,
    pub request: Arc<RequestInfo>,
    /// The repository a mounted blob came from (mounts only).
    pub from: Option<RepoName>,
    /// The manifest as stored (manifest pushes only), for sinks that read
    /// its references.
    pub content: Option<Bytes>,
}

impl Change {
    /// A change of `action` on `digest` in `repository`, by `cx`'s actor.
    pub fn new(
        cx: &Context,
        action: ChangeAction,
        repository: &RepoName,
        digest: &Digest,
    ) -> Change {
        Change {
            action,
            repository: repository.clone(),
            digest: digest.clone(),
            size: None,
            media_type: None,
            tag: None,
            actor: cx.actor.clone(),
            request_id: cx.request_id.clone(),
            request: cx.request.clone(),
            from: None,
            content: None,
        }
    }

    pub fn from(mut self, from: &RepoName) -> Change {
        self.from = Some(from.clone());
        self
    }

    pub fn content(mut self, content: Bytes) -> Change {
        self.content = Some(content);
        self
    }

    pub fn size(mut self, size: u64) -> Change {
        self.size = Some(size);
        self
    }

    pub fn media_type(mut self, media_type: &str) -> Change {
        self.media_type = Some(media_type.to_string());
        self
    }

    pub fn tag(mut self, tag: Option<&Tag>) -> Change {
        self.tag = tag.cloned();
        self
    }
}
