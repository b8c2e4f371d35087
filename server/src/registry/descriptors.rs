//! The registry's in-process cache of what only changes through it: a
//! storage driver decorator, so every caller (GETs, pushes, deletes,
//! garbage collection, retention, the UI) goes through one place and no
//! code path can forget an invalidation.
//!
//! - Manifest content by digest (`blobs/.../data` read whole), always: the
//!   bytes of a digest never change, and every GET still checks the
//!   repository's revision link before serving them, so a manifest deleted
//!   by another process is gone at once. Bounded in bytes.
//! - With `storage.cache.blobdescriptor: inmemory`, also blob descriptors
//!   (a blob's stat: size and time) and the repository links to layers and
//!   revisions (their stat and content): a manifest GET by digest reads
//!   nothing, by tag only the tag's link. Bounded in entries
//!   (`blobdescriptorsize`). Another process deleting through the same
//!   storage is not seen (registry:2's inmemory cache has the same limit).
//! - Never cached: tags (they move), uploads, listings, and any absence
//!   (a path not found is asked again next time, so what this or another
//!   process writes is seen at once).
//!
//! This process's own deletes, moves and writes drop what they touch
//! (a deleted directory drops everything under it). A read that raced an
//! invalidation is not kept (an epoch counts invalidations). A read that
//! finds a cached path gone in the storage drops it too.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;

use super::paths::{self, Entry};
use crate::storage::{ByteStream, FileInfo, FileStream, FileWriter, Result, StorageDriver};

/// Bytes of manifest content kept (typical manifests are 0.5 to 10 KiB).
const CONTENT_BYTES: usize = 32 << 20;
/// Manifests larger than this are read from the storage each time.
const CONTENT_MAX: usize = 1 << 20;
/// registry:2's `blobdescriptorsize` default.
pub const DEFAULT_DESCRIPTORS: usize = 10_000;

/// `storage.cache.blobdescriptor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DescriptorCache {
    /// No key, or `redis` (safe for replicas sharing one storage: labreg
    /// keeps no shared cache and reads descriptors from the storage).
    #[default]
    Off,
    /// `inmemory`: descriptors and links cached in this process, at most
    /// `entries` of them.
    InMemory { entries: usize },
}

/// A bounded map in approximate least-recently-used order: entries go to a
/// young generation; when it is full, it becomes the old one (the previous
/// old one is dropped), and an old entry that is used moves back to the
/// young. Sorted, so a deleted directory drops its entries as one range.
struct Generations<V> {
    young: BTreeMap<String, V>,
    old: BTreeMap<String, V>,
    young_weight: usize,
    /// Weight a generation holds: half the budget.
    half: usize,
    weigh: fn(&str, &V) -> usize,
}

impl<V: Clone> Generations<V> {
    fn new(budget: usize, weigh: fn(&str, &V) -> usize) -> Self {
        Generations {
            young: BTreeMap::new(),
            old: BTreeMap::new(),
            young_weight: 0,
            half: (budget / 2).max(1),
            weigh,
        }
    }

    fn get(&mut self, key: &str) -> Option<V> {
        if let Some(v) = self.young.get(key) {
            return Some(v.clone());
        }
        let v = self.old.remove(key)?;
        self.insert(key.to_string(), v.clone());
        Some(v)
    }

    fn insert(&mut self, key: String, v: V) {
        let w = (self.weigh)(&key, &v);
        if w > self.half {
            return;
        }
        if self.young_weight + w > self.half {
            self.old = std::mem::take(&mut self.young);
            self.young_weight = 0;
        }
        if let Some(before) = self.young.insert(key.clone(), v) {
            self.young_weight -= (self.weigh)(&key, &before);
        }
        self.young_weight += w;
    }

    /// Drops `prefix` and every key under it (and, harmlessly, siblings
    /// whose names start with it).
    fn remove_under(&mut self, prefix: &str) {
        for young in [true, false] {
            let map = if young {
                &mut self.young
            } else {
                &mut self.old
            };
            let keys: Vec<String> = map
                .range(prefix.to_string()..)
                .take_while(|(k, _)| k.starts_with(prefix))
                .map(|(k, _)| k.clone())
                .collect();
            for k in keys {
                if let Some(v) = map.remove(&k)
                    && young
                {
                    self.young_weight -= (self.weigh)(&k, &v);
                }
            }
        }
    }
}

/// What may be cached of a path.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// Blob data: content always, stat with descriptors.
    Blob,
    /// A layer or revision link: content and stat with descriptors.
    Link,
    Never,
}

fn kind(path: &str) -> Kind {
    match paths::classify(path) {
        Some(Entry::Blob(_)) => Kind::Blob,
        Some(Entry::LayerLink { .. } | Entry::RevisionLink { .. }) => Kind::Link,
        _ => Kind::Never,
    }
}

struct Maps {
    contents: Generations<Bytes>,
    stats: Generations<FileInfo>,
    /// Invalidations so far: a read that began before one is not kept.
    epoch: u64,
}

struct Shared {
    descriptors: bool,
    maps: Mutex<Maps>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Maps> {
        self.maps.lock().expect("descriptor cache poisoned")
    }

    fn caches_content(&self, k: Kind) -> bool {
        k == Kind::Blob || (k == Kind::Link && self.descriptors)
    }

    fn caches_stat(&self, k: Kind) -> bool {
        k != Kind::Never && self.descriptors
    }

    fn forget(&self, path: &str) {
        let mut m = self.lock();
        m.contents.remove_under(path);
        m.stats.remove_under(path);
        m.epoch += 1;
    }
}

/// The caching decorator (see the module's documentation).
pub struct Cached {
    inner: Arc<dyn StorageDriver>,
    shared: Arc<Shared>,
}

impl Cached {
    pub fn new(inner: Arc<dyn StorageDriver>, mode: DescriptorCache) -> Cached {
        let entries = match mode {
            DescriptorCache::Off => 0,
            DescriptorCache::InMemory { entries } => entries,
        };
        let maps = Maps {
            contents: Generations::new(CONTENT_BYTES, |k, v: &Bytes| k.len() + v.len() + 64),
            stats: Generations::new(entries, |_, _: &FileInfo| 1),
            epoch: 0,
        };
        Cached {
            inner,
            shared: Arc::new(Shared {
                descriptors: mode != DescriptorCache::Off,
                maps: Mutex::new(maps),
            }),
        }
    }

    /// Whether `path` exists in the storage now, asking it (never the
    /// cache); a path found gone is dropped from the cache. For checks that
    /// must see another process's deletes (a manifest PUT's references).
    pub async fn exists_now(&self, path: &str) -> Result<bool> {
        match self.inner.stat(path).await {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => {
                self.shared.forget(path);
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// The result of an inner call on `path`; a path not found there is
    /// dropped from the cache (another process removed it).
    fn seen<T>(&self, path: &str, r: Result<T>) -> Result<T> {
        if let Err(e) = &r
            && e.is_not_found()
            && kind(path) != Kind::Never
        {
            self.shared.forget(path);
        }
        r
    }

    /// A read of `path`: from the cache `map` when it holds it, else from
    /// `read` (kept when `keep` says so and nothing was invalidated
    /// meanwhile). Not `cacheable`: `read` only.
    async fn through<V: Clone>(
        &self,
        path: &str,
        cacheable: bool,
        map: fn(&mut Maps) -> &mut Generations<V>,
        read: impl Future<Output = Result<V>>,
        keep: impl Fn(&V) -> bool,
    ) -> Result<V> {
        if !cacheable {
            return read.await;
        }
        let epoch = {
            let mut m = self.shared.lock();
            if let Some(v) = map(&mut m).get(path) {
                return Ok(v);
            }
            m.epoch
        };
        let v = self.seen(path, read.await)?;
        let mut m = self.shared.lock();
        if m.epoch == epoch && keep(&v) {
            map(&mut m).insert(path.to_string(), v.clone());
        }
        Ok(v)
    }

    /// Drops what a change to `path` makes stale, before and after it.
    async fn changing<T>(&self, path: &str, change: impl Future<Output = Result<T>>) -> Result<T> {
        self.shared.forget(path);
        let r = change.await;
        self.shared.forget(path);
        r
    }
}

#[async_trait]
impl StorageDriver for Cached {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn in_place(&self) -> Option<Arc<dyn StorageDriver>> {
        let inner = self.inner.in_place()?;
        Some(Arc::new(Cached {
            inner,
            shared: self.shared.clone(),
        }))
    }

    async fn get_content(&self, path: &str) -> Result<Bytes> {
        let cacheable = self.shared.caches_content(kind(path));
        let read = self.inner.get_content(path);
        self.through(
            path,
            cacheable,
            |m| &mut m.contents,
            read,
            |b| b.len() <= CONTENT_MAX,
        )
        .await
    }

    async fn stat(&self, path: &str) -> Result<FileInfo> {
        let cacheable = self.shared.caches_stat(kind(path));
        let read = self.inner.stat(path);
        self.through(path, cacheable, |m| &mut m.stats, read, |i| !i.is_dir)
            .await
    }

    async fn reader(&self, path: &str, offset: u64, len: Option<u64>) -> Result<ByteStream> {
        self.seen(path, self.inner.reader(path, offset, len).await)
    }

    async fn sealed_reader(&self, path: &str, offset: u64, len: Option<u64>) -> Result<ByteStream> {
        self.seen(path, self.inner.sealed_reader(path, offset, len).await)
    }

    async fn put_content(&self, path: &str, content: Bytes) -> Result<()> {
        self.changing(path, self.inner.put_content(path, content))
            .await
    }

    async fn writer(&self, path: &str, append: bool) -> Result<Box<dyn FileWriter>> {
        self.changing(path, self.inner.writer(path, append)).await
    }

    async fn sync(&self, path: &str) -> Result<()> {
        self.inner.sync(path).await
    }

    fn writes_whole(&self) -> bool {
        self.inner.writes_whole()
    }

    async fn move_file(&self, from: &str, to: &str) -> Result<()> {
        self.shared.forget(from);
        self.changing(to, self.inner.move_file(from, to)).await
    }

    async fn delete(&self, path: &str) -> Result<()> {
        self.changing(path, self.inner.delete(path)).await
    }

    async fn list(&self, path: &str) -> Result<Vec<String>> {
        self.inner.list(path).await
    }

    fn local_path(&self, path: &str) -> Option<std::path::PathBuf> {
        self.inner.local_path(path)
    }

    async fn redirect_url(&self, path: &str) -> Result<Option<String>> {
        self.inner.redirect_url(path).await
    }

    fn walk<'a>(&'a self, path: &str) -> FileStream<'a> {
        self.inner.walk(path)
    }

    async fn check_reachable(&self) -> Result<()> {
        self.inner.check_reachable().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generations_stay_within_budget_and_keep_what_is_used() {
        let mut g: Generations<u32> = Generations::new(8, |_, _| 1);
        for i in 0..4 {
            g.insert(format!("k{i}"), i);
        }
        // The young generation is full: k4 starts a new one, k0..k3 are old.
        g.insert("k4".into(), 4);
        assert_eq!(g.get("k0"), Some(0), "an old entry used moves back");
        for i in 5..8 {
            g.insert(format!("k{i}"), i);
        }
        // k1..k3 were never used again: dropped with their generation.
        assert_eq!(g.get("k1"), None);
        assert_eq!(g.get("k0"), Some(0));
        assert!(g.young.len() + g.old.len() <= 8);
    }

    #[test]
    fn a_deleted_directory_drops_everything_under_it() {
        let mut g: Generations<u32> = Generations::new(100, |_, _| 1);
        g.insert("/r/app/_layers/sha256/aa/link".into(), 1);
        g.insert("/r/app/_layers/sha256/bb/link".into(), 2);
        g.insert("/r/other/_layers/sha256/aa/link".into(), 3);
        g.remove_under("/r/app/_layers/sha256/aa");
        assert_eq!(g.get("/r/app/_layers/sha256/aa/link"), None);
        assert_eq!(g.get("/r/app/_layers/sha256/bb/link"), Some(2));
        g.remove_under("/r/app");
        assert_eq!(g.get("/r/app/_layers/sha256/bb/link"), None);
        assert_eq!(g.get("/r/other/_layers/sha256/aa/link"), Some(3));
        assert_eq!(g.young_weight, 1);
    }

    #[test]
    fn only_blobs_and_their_links_are_cacheable() {
        let d: super::super::Digest =
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
                .parse()
                .unwrap();
        assert!(kind(&paths::blob_data(&d)) == Kind::Blob);
        assert!(kind(&paths::layer_link("a/b", &d)) == Kind::Link);
        assert!(kind(&paths::revision_link("a/b", &d)) == Kind::Link);
        assert!(kind(&paths::tag_current_link("a/b", "v1")) == Kind::Never);
        assert!(kind(&paths::tag_index_link("a/b", "v1", &d)) == Kind::Never);
        assert!(kind(&paths::upload_data("a/b", "u1")) == Kind::Never);
    }
}
