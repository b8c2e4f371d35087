//! Writes of a pull-through cache: content that comes from an upstream is
//! stored with the same layout and the same crash safety as pushed content,
//! but a manifest is stored before its blobs (they arrive when a client
//! asks for them), so the push-time reference check is not made.

use bytes::Bytes;

use super::{Digest, Registry, RepoName, Result, Tag, manifest, paths};
use crate::registry::RegistryError;

impl Registry {
    /// Stores a manifest fetched from an upstream (its digest already
    /// checked by the caller): the blob, the revision link, then the tag.
    pub async fn store_upstream_manifest(
        &self,
        name: &RepoName,
        tag: Option<&Tag>,
        digest: &Digest,
        media_type: &str,
        content: Bytes,
    ) -> Result<()> {
        self.check_writable()?;
        manifest::parse(&content, Some(media_type)).map_err(RegistryError::ManifestInvalid)?;
        let blob = paths::blob_data(digest);
        if !self.exists(&blob).await? {
            self.driver.put_content(&blob, content).await?;
        }
        self.write_link(&paths::revision_link(name, digest), digest)
            .await?;
        if let Some(tag) = tag {
            self.write_link(&paths::tag_index_link(name, tag, digest), digest)
                .await?;
            self.write_link(&paths::tag_current_link(name, tag), digest)
                .await?;
        }
        Ok(())
    }

    /// The digest a tag points at, if the tag exists.
    pub async fn tag_digest(&self, name: &RepoName, tag: &Tag) -> Result<Option<Digest>> {
        Ok(self.read_link(&paths::tag_current_link(name, tag)).await?)
    }

    /// Links a blob already in the storage (cached for another repository)
    /// into `name`; false when its data is not there.
    pub async fn link_stored_blob(&self, name: &RepoName, digest: &Digest) -> Result<bool> {
        if !self.exists(&paths::blob_data(digest)).await? {
            return Ok(false);
        }
        self.write_link(&paths::layer_link(name, digest), digest)
            .await?;
        Ok(true)
    }
}
