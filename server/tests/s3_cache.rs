//! The descriptor cache on a real S3 server (Garage on loopback). The
//! registry runs over a driver that counts the calls reaching S3: with
//! `storage.cache.blobdescriptor: inmemory` a manifest GET by tag asks S3
//! for the tag's link only and by digest for nothing, while a moved tag, a
//! deleted manifest and a garbage-collected blob are seen at once through
//! this process; without the key, every link is read from S3 again.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use common::images::{pull_image, push_image};
use common::s3::{fresh_root, s3};
use common::{TestRegistry, client};
use labreg::auth::Principal;
use labreg::config::Config;
use labreg::registry::descriptors::DescriptorCache;
use labreg::registry::gc::GcOptions;
use labreg::registry::manifest::OCI_MANIFEST;
use labreg::registry::{
    BlobService, Context, Digest, ManifestService, Options, Reference, Registry, RegistryError,
    RepoName, UploadService,
};
use labreg::storage::{ByteStream, FileInfo, FileStream, FileWriter, Result, StorageDriver};
use reqwest::StatusCode;

/// The S3 driver, counting the calls the registry makes to it.
struct Counting {
    inner: Arc<dyn StorageDriver>,
    calls: AtomicUsize,
}

impl Counting {
    fn tick(&self) {
        self.calls.fetch_add(1, Ordering::SeqCst);
    }

    /// The calls since the last `take`.
    fn take(&self) -> usize {
        self.calls.swap(0, Ordering::SeqCst)
    }
}

#[async_trait]
impl StorageDriver for Counting {
    fn name(&self) -> &'static str {
        "counting s3"
    }
    async fn get_content(&self, path: &str) -> Result<Bytes> {
        self.tick();
        self.inner.get_content(path).await
    }
    async fn put_content(&self, path: &str, content: Bytes) -> Result<()> {
        self.tick();
        self.inner.put_content(path, content).await
    }
    async fn reader(&self, path: &str, offset: u64, len: Option<u64>) -> Result<ByteStream> {
        self.tick();
        self.inner.reader(path, offset, len).await
    }
    async fn writer(&self, path: &str, append: bool) -> Result<Box<dyn FileWriter>> {
        self.tick();
        self.inner.writer(path, append).await
    }
    async fn stat(&self, path: &str) -> Result<FileInfo> {
        self.tick();
        self.inner.stat(path).await
    }
    async fn list(&self, path: &str) -> Result<Vec<String>> {
        self.tick();
        self.inner.list(path).await
    }
    async fn sync(&self, path: &str) -> Result<()> {
        self.tick();
        self.inner.sync(path).await
    }
    fn writes_whole(&self) -> bool {
        self.inner.writes_whole()
    }
    async fn move_file(&self, from: &str, to: &str) -> Result<()> {
        self.tick();
        self.inner.move_file(from, to).await
    }
    async fn delete(&self, path: &str) -> Result<()> {
        self.tick();
        self.inner.delete(path).await
    }
    fn walk<'a>(&'a self, path: &str) -> FileStream<'a> {
        self.tick();
        self.inner.walk(path)
    }
}

/// Asserts that a result is the registry error `$kind`, showing it if not.
macro_rules! assert_error {
    ($result:expr, $kind:ident) => {{
        let r = $result;
        assert!(matches!(r, Err(RegistryError::$kind(_))), "{r:?}");
    }};
}

fn registry(root: &str, cache: DescriptorCache) -> (Registry, Arc<Counting>) {
    let counting = Arc::new(Counting {
        inner: s3().driver(root),
        calls: AtomicUsize::new(0),
    });
    let options = Options {
        delete_enabled: true,
        cache,
        ..Options::default()
    };
    (Registry::new(counting.clone(), options), counting)
}

const INMEMORY: DescriptorCache = DescriptorCache::InMemory { entries: 1000 };

fn cx() -> Context {
    Context::new(Principal::Anonymous)
}

fn tag(t: &str) -> Reference {
    Reference::parse(t).unwrap()
}

/// Pushes a config and one layer through the registry's upload path, then
/// a manifest of them under `reference`; returns (manifest, layer).
async fn push(reg: &Registry, repo: &RepoName, reference: &str, layer: &[u8]) -> (Digest, Digest) {
    let config = format!(
        "{{\"architecture\":\"amd64\",\"os\":\"linux\",\"n\":{}}}",
        layer.len()
    );
    let mut digests = Vec::new();
    for b in [config.as_bytes(), layer] {
        let d = Digest::sha256_of(b);
        let body: ByteStream =
            Box::pin(futures_util::stream::iter([Ok(Bytes::copy_from_slice(b))]));
        reg.put_blob(&cx(), repo, &d, body).await.unwrap();
        digests.push((d, b.len()));
    }
    let desc = |(d, n): &(Digest, usize), t: &str| serde_json::json!({"mediaType": t, "digest": d.to_string(), "size": n});
    let m = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": desc(&digests[0], "application/vnd.oci.image.config.v1+json"),
        "layers": [desc(&digests[1], "application/vnd.oci.image.layer.v1.tar")],
    });
    let put = reg
        .put_manifest(
            &cx(),
            repo,
            &tag(reference),
            Some(OCI_MANIFEST),
            Bytes::from(m.to_string()),
        )
        .await
        .unwrap();
    (put.change.digest.clone(), digests[1].0.clone())
}

async fn manifest_at(
    reg: &Registry,
    repo: &RepoName,
    r: &Reference,
) -> std::result::Result<Digest, RegistryError> {
    reg.get_manifest(&cx(), repo, r).await.map(|m| m.digest)
}

#[tokio::test(flavor = "multi_thread")]
async fn inmemory_gets_ask_s3_for_the_tag_only_and_see_this_process_changes_at_once() {
    let (reg, s3calls) = registry(&fresh_root(), INMEMORY);
    let repo = RepoName::parse("cache/app").unwrap();
    let (m1, layer1) = push(&reg, &repo, "v1", b"first layer").await;
    let by_digest = Reference::Digest(m1.clone());
    assert_eq!(manifest_at(&reg, &repo, &tag("v1")).await.unwrap(), m1);
    assert!(s3calls.take() > 0, "the first GET reads S3");
    for _ in 0..3 {
        assert_eq!(manifest_at(&reg, &repo, &tag("v1")).await.unwrap(), m1);
        assert_eq!(
            s3calls.take(),
            1,
            "a GET by tag reads the tag's link, nothing else"
        );
        assert_eq!(manifest_at(&reg, &repo, &by_digest).await.unwrap(), m1);
        assert_eq!(s3calls.take(), 0, "a GET by digest reads nothing");
    }
    let size = reg.blob_size(&cx(), &repo, &layer1).await.unwrap();
    assert_eq!(size, 11);
    s3calls.take();
    assert_eq!(reg.blob_size(&cx(), &repo, &layer1).await.unwrap(), 11);
    assert_eq!(
        s3calls.take(),
        0,
        "a blob HEAD reads nothing the second time"
    );

    // A push moves the tag: the next GET serves the new manifest.
    let (m2, layer2) = push(&reg, &repo, "v1", b"second layer").await;
    assert_eq!(manifest_at(&reg, &repo, &tag("v1")).await.unwrap(), m2);

    // A deleted manifest is unknown at once, though it was cached.
    reg.delete_manifest(&cx(), &repo, &by_digest).await.unwrap();
    assert_error!(manifest_at(&reg, &repo, &by_digest).await, ManifestUnknown);

    // Garbage collection through this process: the cached blob is unknown
    // at once.
    reg.delete_manifest(&cx(), &repo, &Reference::Digest(m2))
        .await
        .unwrap();
    assert_eq!(reg.blob_size(&cx(), &repo, &layer2).await.unwrap(), 12);
    let opts = GcOptions {
        dry_run: false,
        delete_untagged: false,
        grace: Duration::ZERO,
    };
    let report = reg.garbage_collect(&opts).await.unwrap();
    assert!(
        report.blobs_deleted.contains(&layer2.to_string()),
        "{report:?}"
    );
    assert_error!(reg.blob_size(&cx(), &repo, &layer2).await, BlobUnknown);
}

#[tokio::test(flavor = "multi_thread")]
async fn without_the_key_links_are_read_through_and_manifests_come_from_memory() {
    let root = fresh_root();
    let (reg, s3calls) = registry(&root, DescriptorCache::Off);
    let (other, _) = registry(&root, DescriptorCache::Off);
    let repo = RepoName::parse("plain/app").unwrap();
    let (m1, _) = push(&reg, &repo, "v1", b"a layer").await;
    let by_digest = Reference::Digest(m1.clone());
    assert_eq!(manifest_at(&reg, &repo, &tag("v1")).await.unwrap(), m1);
    s3calls.take();
    assert_eq!(manifest_at(&reg, &repo, &tag("v1")).await.unwrap(), m1);
    assert_eq!(
        s3calls.take(),
        2,
        "by tag: the tag's link and the revision link"
    );
    assert_eq!(manifest_at(&reg, &repo, &by_digest).await.unwrap(), m1);
    assert_eq!(s3calls.take(), 1, "by digest: the revision link");
    // Another replica deletes it: this one sees it at once.
    other
        .delete_manifest(&cx(), &repo, &by_digest)
        .await
        .unwrap();
    assert_error!(manifest_at(&reg, &repo, &by_digest).await, ManifestUnknown);
}

#[tokio::test(flavor = "multi_thread")]
async fn inmemory_reads_tags_through_and_a_push_finds_blobs_another_process_deleted() {
    let root = fresh_root();
    let (reg, _) = registry(&root, INMEMORY);
    let (other, _) = registry(&root, DescriptorCache::Off);
    let repo = RepoName::parse("shared/app").unwrap();
    let (m1, layer) = push(&reg, &repo, "v1", b"shared layer").await;
    assert_eq!(manifest_at(&reg, &repo, &tag("v1")).await.unwrap(), m1);
    assert_eq!(reg.blob_size(&cx(), &repo, &layer).await.unwrap(), 12);
    // Another process deletes the image and collects its blobs (what
    // `labreg garbage-collect` does beside a running labreg).
    other
        .delete_manifest(&cx(), &repo, &Reference::Digest(m1))
        .await
        .unwrap();
    let opts = GcOptions {
        dry_run: false,
        delete_untagged: false,
        grace: Duration::ZERO,
    };
    other.garbage_collect(&opts).await.unwrap();
    // Tags are never cached: the deleted tag is unknown at once.
    assert_error!(manifest_at(&reg, &repo, &tag("v1")).await, ManifestUnknown);
    // A manifest PUT checks its blobs in S3, not in the cache: refused,
    // and the stale descriptor is dropped, so the client uploads the blob
    // again (its HEAD now says unknown).
    let config = Digest::sha256_of(b"{}");
    let m = serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.to_string(), "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer.to_string(), "size": 12}],
    });
    let body: ByteStream = Box::pin(futures_util::stream::iter([Ok(Bytes::from_static(b"{}"))]));
    reg.put_blob(&cx(), &repo, &config, body).await.unwrap();
    assert_error!(
        reg.put_manifest(
            &cx(),
            &repo,
            &tag("v2"),
            Some(OCI_MANIFEST),
            Bytes::from(m.to_string()),
        )
        .await,
        ManifestBlobUnknown
    );
    assert_error!(reg.blob_size(&cx(), &repo, &layer).await, BlobUnknown);
}

/// The setting from config.yml, end to end over HTTP: pushes by real
/// clients' protocol, a tag moved and a manifest deleted are seen at once.
#[tokio::test(flavor = "multi_thread")]
async fn config_inmemory_serves_moved_tags_and_deletes_at_once() {
    let extra = "  cache:\n    blobdescriptor: inmemory\n  delete:\n    enabled: true\n  redirect:\n    disable: true\n";
    let reg = TestRegistry::start_s3(&fresh_root(), extra).await;
    let (md1, _) = push_image(&reg.url, "web/app", "v1", &[b"one".as_slice()]).await;
    assert_eq!(pull_image(&reg.url, "web/app", "v1").await.unwrap(), md1);
    assert_eq!(pull_image(&reg.url, "web/app", &md1).await.unwrap(), md1);
    let (md2, _) = push_image(&reg.url, "web/app", "v1", &[b"two".as_slice()]).await;
    assert_eq!(pull_image(&reg.url, "web/app", "v1").await.unwrap(), md2);
    let url = format!("{}/v2/web/app/manifests/{md1}", reg.url);
    let resp = common::send(client().delete(&url)).await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let resp = common::send(client().get(&url)).await;
    assert_eq!(
        resp.status(),
        StatusCode::NOT_FOUND,
        "deleted, though cached"
    );
    reg.stop().await;
}

#[test]
fn an_unknown_cache_stops_the_start_naming_the_key() {
    let yaml = format!(
        "version: 0.1\nstorage:\n{}  cache:\n    blobdescriptor: memcache\n",
        s3().yaml("/t-unused")
    );
    let msg = match Config::from_yaml(&yaml, Vec::new()) {
        Err(e) => e.to_string(),
        Ok(l) => labreg::server::build_state(&l.config)
            .err()
            .expect("refused")
            .to_string(),
    };
    assert!(msg.contains("storage.cache.blobdescriptor"), "{msg}");
    assert!(msg.contains("inmemory"), "names the fix: {msg}");
}
