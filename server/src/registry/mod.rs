//! The content logic of the registry: blobs, per-repository links, uploads,
//! manifests, tags, catalog and referrers. It knows the storage driver below
//! it and nothing of HTTP above it: request bodies arrive as byte streams.

pub mod digest;
pub mod enumerate;
pub mod error;
pub mod fsck;
pub mod gc;
pub mod manifest;
pub mod names;
pub mod paths;

pub mod change;
pub mod service;

mod blobs;
mod cache;
pub(crate) mod catalog;
pub mod descriptors;
mod manifests;
pub mod prune;
mod uploads;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::FutureExt;

pub use blobs::BlobContent;
pub use catalog::Page;
pub use change::{Change, ChangeAction, Context, RequestId, RequestInfo};
pub use digest::Digest;
pub use error::{RegistryError, Result};
pub use manifests::{ManifestPut, StoredManifest};
pub use names::{Reference, RepoName, Tag};
pub use service::{BlobService, ListingService, ManifestService, RepositoryService, UploadService};
pub use uploads::{ChunkRange, UploadStatus};

use crate::storage::{StorageDriver, StorageError};

/// Options of the registry layer, from the `storage` section of the config.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `storage.delete.enabled`
    pub delete_enabled: bool,
    /// `storage.maintenance.readonly.enabled`
    pub read_only: bool,
    /// `storage.redirect.disable` is false: blob GETs may redirect.
    pub redirect: bool,
    /// `storage.cache.blobdescriptor`
    pub cache: descriptors::DescriptorCache,
}

pub struct Registry {
    /// The storage, through the descriptor cache (`cached`).
    driver: Arc<dyn StorageDriver>,
    cached: Arc<descriptors::Cached>,
    options: Options,
    uploads: uploads::Uploads,
    /// Parsed manifests by digest (content is immutable, so entries never go
    /// stale); the referrers API reads them instead of re-parsing.
    manifest_cache: Mutex<HashMap<Digest, Arc<manifest::Manifest>>>,
}

impl Registry {
    pub fn new(driver: Arc<dyn StorageDriver>, options: Options) -> Registry {
        let cached = Arc::new(descriptors::Cached::new(driver, options.cache));
        Registry {
            driver: cached.clone(),
            cached,
            options,
            uploads: uploads::Uploads::default(),
            manifest_cache: Mutex::new(HashMap::new()),
        }
    }

    pub fn driver(&self) -> &Arc<dyn StorageDriver> {
        &self.driver
    }

    pub fn options(&self) -> &Options {
        &self.options
    }

    fn check_writable(&self) -> Result<()> {
        if self.options.read_only {
            Err(RegistryError::ReadOnly)
        } else {
            Ok(())
        }
    }

    fn check_delete(&self) -> Result<()> {
        self.check_writable()?;
        if self.options.delete_enabled {
            Ok(())
        } else {
            Err(RegistryError::Unsupported(
                "deletes are disabled: set storage.delete.enabled to true".into(),
            ))
        }
    }

    /// Reads a link file and parses the digest it holds.
    async fn read_link(&self, path: &str) -> std::result::Result<Option<Digest>, StorageError> {
        Store(&*self.driver).read_link(path).await
    }

    async fn write_link(&self, path: &str, d: &Digest) -> std::result::Result<(), StorageError> {
        self.driver
            .put_content(path, Bytes::from(d.to_string()))
            .await
    }

    async fn exists(&self, path: &str) -> std::result::Result<bool, StorageError> {
        Store(&*self.driver).exists(path).await
    }

    /// Whether a path exists in the storage now, whatever the cache holds.
    async fn exists_now(&self, path: &str) -> std::result::Result<bool, StorageError> {
        self.cached.exists_now(path).await
    }

    /// Runs `f`, a chain of small reads, in one trip through the blocking
    /// pool when the driver can work in place (the filesystem: a manifest
    /// GET reads a tag link, checks the revision link and reads the
    /// manifest, each a hop of its own otherwise), else with the driver as
    /// it is.
    async fn chained<T, F>(
        &self,
        f: impl FnOnce(Arc<dyn StorageDriver>) -> F + Send + 'static,
    ) -> Result<T>
    where
        T: Send + 'static,
        F: Future<Output = Result<T>> + Send + 'static,
    {
        let Some(local) = self.driver.in_place() else {
            return f(self.driver.clone()).await;
        };
        let done = tokio::task::spawn_blocking(move || {
            f(local)
                .now_or_never()
                .expect("in-place storage calls are complete when first polled")
        });
        done.await.map_err(|e| {
            RegistryError::from(StorageError::io(
                "(chained reads)",
                std::io::Error::other(e),
            ))
        })?
    }

    pub async fn repository_exists(&self, name: &RepoName) -> Result<bool> {
        Ok(self.exists(&paths::repository(name)).await?)
    }

    /// Deletes a path, treating "already gone" as done.
    async fn remove(&self, path: &str) -> std::result::Result<(), StorageError> {
        match self.driver.delete(path).await {
            Err(e) if !e.is_not_found() => Err(e),
            _ => Ok(()),
        }
    }
}

/// The registry's small reads over one driver (the registry's own, or
/// its in-place twin inside `Registry::chained`).
struct Store<'a>(&'a dyn StorageDriver);

impl Store<'_> {
    async fn read_link(&self, path: &str) -> std::result::Result<Option<Digest>, StorageError> {
        match self.0.get_content(path).await {
            Ok(b) => Ok(std::str::from_utf8(&b)
                .ok()
                .and_then(|s| s.trim().parse().ok())),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn exists(&self, path: &str) -> std::result::Result<bool, StorageError> {
        match self.0.stat(path).await {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }
}

impl Registry {
    /// Whether the storage answers: the root of the layout can be listed or
    /// does not exist yet (a fresh registry).
    pub async fn health(&self) -> std::result::Result<(), StorageError> {
        match self.driver.list(paths::ROOT).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }
}
