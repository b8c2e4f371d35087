//! Removing chosen tags and manifests, for retention: each removal checks
//! first that what was chosen is still what the storage holds (a tag pushed
//! again, a manifest linked again since the choice stay), so a policy run
//! while clients push never takes what they just wrote.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::SystemTime;

use futures_util::stream::FuturesOrdered;
use futures_util::{StreamExt, TryStreamExt};

use super::enumerate::Entries;
use super::manifest::Manifest;
use super::paths::{self, Entry};
use super::{Digest, Registry, RegistryError, Result};

/// Removals run at once (each syncs its folder on the filesystem).
pub const PARALLEL: usize = 8;

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

    /// Removes manifests' revision links (and the tag history entries that
    /// name them), each only if it was not linked again since its time and
    /// no tag points at it now. Returns which were removed.
    pub async fn unlink_manifests_if_unchanged(
        &self,
        name: &str,
        manifests: &[(Digest, SystemTime)],
    ) -> Result<Vec<bool>> {
        let mut tagged = HashSet::new();
        let mut history: Vec<(String, HashSet<Digest>)> = Vec::new();
        for tag in self.list_dir(&paths::tags_dir(name)).await? {
            if let Some(d) = self.read_link(&paths::tag_current_link(name, &tag)).await? {
                tagged.insert(d);
            }
            let index = format!("{}/index/sha256", paths::tag_dir(name, &tag));
            let seen = self.list_dir(&index).await?;
            let seen = seen
                .iter()
                .filter_map(|h| format!("sha256:{h}").parse().ok());
            history.push((tag, seen.collect()));
        }
        let mut work = Vec::with_capacity(manifests.len());
        for (digest, modified) in manifests {
            work.push(self.unlink_one(name, digest, *modified, &tagged, &history));
        }
        let removed = in_parallel(work).await?;
        Ok(removed)
    }

    async fn unlink_one(
        &self,
        name: &str,
        digest: &Digest,
        modified: SystemTime,
        tagged: &HashSet<Digest>,
        history: &[(String, HashSet<Digest>)],
    ) -> Result<bool> {
        let linked = match self.driver.stat(&paths::revision_link(name, digest)).await {
            Ok(info) => Some(info.modified),
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(e.into()),
        };
        if linked.is_none_or(|t| t > modified) || tagged.contains(digest) {
            return Ok(false);
        }
        for (tag, _) in history.iter().filter(|(_, seen)| seen.contains(digest)) {
            self.remove(&paths::tag_index_dir(name, tag, digest))
                .await?;
        }
        self.remove(&paths::revision_dir(name, digest)).await?;
        Ok(true)
    }
}

/// Runs `work` [`PARALLEL`] at a time; the results in order.
pub async fn in_parallel<T, F: Future<Output = Result<T>>>(work: Vec<F>) -> Result<Vec<T>> {
    let mut pending = FuturesOrdered::new();
    let mut out = Vec::with_capacity(work.len());
    for w in work {
        if pending.len() >= PARALLEL
            && let Some(r) = pending.next().await
        {
            out.push(r?);
        }
        pending.push_back(w);
    }
    while let Some(r) = pending.next().await {
        out.push(r?);
    }
    Ok(out)
}
