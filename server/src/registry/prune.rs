//! Removing chosen tags and manifests, for retention: each removal checks
//! first that what was chosen is still what the storage holds (a tag pushed
//! again, a manifest linked again since the choice stay), so a policy run
//! while clients push never takes what they just wrote.

use std::sync::Arc;
use std::time::SystemTime;

use futures_util::TryStreamExt;

use super::enumerate::Entries;
use super::manifest::Manifest;
use super::paths::{self, Entry};
use super::{Digest, Registry, RegistryError, Result};

impl Registry {
    /// The manifest revisions of one repository with when each was linked.
    pub fn stored_revisions<'a>(&'a self, name: &'a str) -> Entries<'a, (Digest, SystemTime)> {
        let root = format!("{}/_manifests/revisions", paths::repository(name));
        Box::pin(
            self.driver
                .walk(&root)
                .map_err(RegistryError::from)
                .try_filter_map(move |f| async move {
                    Ok(match paths::classify(&f.path) {
                        Some(Entry::RevisionLink { repo, digest }) if repo == name => {
                            Some((digest, f.modified))
                        }
                        _ => None,
                    })
                }),
        )
    }

    /// A stored manifest, parsed, with its size; None when it is missing or
    /// does not parse.
    pub async fn parsed_manifest(&self, digest: &Digest) -> Result<Option<(Arc<Manifest>, u64)>> {
        self.load_manifest(digest).await
    }

    /// Removes a tag if it still points at `digest` and was not set again
    /// since `modified`. Returns whether it was removed.
    pub async fn untag_if_unchanged(
        &self,
        name: &str,
        tag: &str,
        digest: &Digest,
        modified: SystemTime,
    ) -> Result<bool> {
        let link = paths::tag_current_link(name, tag);
        let now = match self.driver.stat(&link).await {
            Ok(info) => info.modified,
            Err(e) if e.is_not_found() => return Ok(false),
            Err(e) => return Err(e.into()),
        };
        if now > modified || self.read_link(&link).await?.as_ref() != Some(digest) {
            return Ok(false);
        }
        self.remove(&paths::tag_dir(name, tag)).await?;
        Ok(true)
    }

    /// Removes a manifest's revision link (and the tag history entries that
    /// name it) if it was not linked again since `modified` and no tag
    /// points at it now. Returns whether it was removed.
    pub async fn unlink_manifest_if_unchanged(
        &self,
        name: &str,
        digest: &Digest,
        modified: SystemTime,
    ) -> Result<bool> {
        match self.driver.stat(&paths::revision_link(name, digest)).await {
            Ok(info) if info.modified > modified => return Ok(false),
            Ok(_) => {}
            Err(e) if e.is_not_found() => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        let tags = self.list_dir(&paths::tags_dir(name)).await?;
        for tag in &tags {
            if self
                .read_link(&paths::tag_current_link(name, tag))
                .await?
                .as_ref()
                == Some(digest)
            {
                return Ok(false);
            }
        }
        for tag in &tags {
            self.remove(&paths::tag_index_dir(name, tag, digest)).await?;
        }
        self.remove(&paths::revision_dir(name, digest)).await?;
        Ok(true)
    }
}
