//! Blobs: content in the shared blob store, visible to a repository only
//! through a link in its `_layers`.

use async_trait::async_trait;

use super::change::{Change, ChangeAction, Context};
use super::names::RepoName;
use super::service::BlobService;
use super::{Digest, Registry, RegistryError, Result, Store, paths};
use crate::storage::ByteStream;

/// How a blob GET is answered.
pub enum BlobContent {
    /// The client fetches the bytes from this URL (a presigned S3 URL).
    Redirect(String),
    Bytes(ByteStream),
}

#[async_trait]
impl BlobService for Registry {
    /// The size of a blob linked to `name`; BlobUnknown when it is not linked
    /// there or its data is missing.
    async fn blob_size(&self, _: &Context, name: &RepoName, d: &Digest) -> Result<u64> {
        let (name, d) = (name.clone(), d.clone());
        self.chained(move |driver| async move {
            if !Store(&*driver)
                .exists(&paths::layer_link(&name, &d))
                .await?
            {
                return Err(RegistryError::BlobUnknown(d));
            }
            match driver.stat(&paths::blob_data(&d)).await {
                Ok(info) => Ok(info.size),
                Err(e) if e.is_not_found() => Err(RegistryError::BlobUnknown(d)),
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    /// Opens a blob whose link was checked by `blob_size`, for `len` bytes
    /// from `offset`, or redirects to the storage when that is enabled.
    async fn open_blob(
        &self,
        _: &Context,
        _: &RepoName,
        d: &Digest,
        offset: u64,
        len: u64,
    ) -> Result<BlobContent> {
        let path = paths::blob_data(d);
        if self.options.redirect
            && let Some(url) = self.driver.redirect_url(&path).await?
        {
            return Ok(BlobContent::Redirect(url));
        }
        Ok(BlobContent::Bytes(
            self.driver.sealed_reader(&path, offset, Some(len)).await?,
        ))
    }

    /// Unlinks a blob from a repository. The data stays for other
    /// repositories and for garbage collection, as in distribution.
    async fn delete_blob(&self, cx: &Context, name: &RepoName, d: &Digest) -> Result<Change> {
        self.check_delete()?;
        if !self.exists(&paths::layer_link(name, d)).await? {
            return Err(RegistryError::BlobUnknown(d.clone()));
        }
        self.remove(&paths::layer_dir(name, d)).await?;
        Ok(Change::new(cx, ChangeAction::BlobDelete, name, d))
    }

    /// Links a blob of `from` into `name`. Returns None when `from` does not
    /// have the blob, so the caller falls back to an upload.
    async fn mount_blob(
        &self,
        cx: &Context,
        name: &RepoName,
        from: &RepoName,
        d: &Digest,
    ) -> Result<Option<Change>> {
        self.check_writable()?;
        let size = match self.blob_size(cx, from, d).await {
            Ok(size) => size,
            Err(RegistryError::BlobUnknown(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        self.write_link(&paths::layer_link(name, d), d).await?;
        Ok(Some(
            Change::new(cx, ChangeAction::BlobMount, name, d)
                .size(size)
                .from(from),
        ))
    }
}
