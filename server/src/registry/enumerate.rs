//! What the storage holds, enumerated as typed streams: repositories, blobs
//! with their sizes, links (layer links, manifest revisions, tags and their
//! history) with their times, and the tags of one repository. The catalog,
//! garbage collection and `check` read these; retention and usage are next.
//! Each yields as the driver lists, so nothing holds a whole walk in memory.

use std::pin::Pin;
use std::time::SystemTime;

use futures_util::{Stream, TryStreamExt};

use super::names::RepoName;
use super::paths::{self, Entry};
use super::{Digest, Registry, RegistryError, Result};
use crate::storage::FileInfo;

/// A stream of typed entries, borrowing the registry.
pub type Entries<'a, T> = Pin<Box<dyn Stream<Item = Result<T>> + Send + 'a>>;

/// A blob in the shared store.
#[derive(Debug, Clone)]
pub struct StoredBlob {
    pub digest: Digest,
    pub size: u64,
    /// When its data was written.
    pub modified: SystemTime,
}

/// A link file of a repository, read back from its path.
#[derive(Debug, Clone)]
pub struct StoredLink {
    pub entry: Entry,
    /// The link file's path, for reading it and for reports.
    pub path: String,
    /// When it was written: a layer pushed or mounted, a manifest pushed, a
    /// tag set.
    pub modified: SystemTime,
}

/// A tag of one repository and what it points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTag {
    /// The tag as stored: garbage collection must see every tag a volume
    /// holds, even one labreg would not accept on push.
    pub tag: String,
    pub digest: Digest,
    /// When the tag was last set.
    pub modified: SystemTime,
}

impl Registry {
    /// Every file under `root` the layout names, with what it is.
    fn classified(&self, root: &str) -> Entries<'_, (Entry, FileInfo)> {
        Box::pin(
            self.driver
                .walk(root)
                .map_err(RegistryError::from)
                .try_filter_map(|f| async move { Ok(paths::classify(&f.path).map(|e| (e, f))) }),
        )
    }

    /// Every blob of the store, in path order.
    pub fn stored_blobs(&self) -> Entries<'_, StoredBlob> {
        Box::pin(
            self.classified(&paths::blobs_root())
                .try_filter_map(|(entry, f)| async move {
                    Ok(match entry {
                        Entry::Blob(digest) => Some(StoredBlob {
                            digest,
                            size: f.size,
                            modified: f.modified,
                        }),
                        _ => None,
                    })
                }),
        )
    }

    /// Every link of every repository, in path order; other files (uploads)
    /// are left out.
    pub fn stored_links(&self) -> Entries<'_, StoredLink> {
        Box::pin(
            self.classified(&paths::repositories_root())
                .map_ok(|(entry, f)| StoredLink {
                    entry,
                    path: f.path,
                    modified: f.modified,
                }),
        )
    }

    /// Every repository: a directory under `repositories/` that holds
    /// `_layers` or `_manifests`, in catalog order (component by
    /// component). A directory whose name is not a valid repository name is
    /// skipped: no request could address it.
    pub fn repositories(&self) -> Entries<'_, RepoName> {
        Box::pin(
            self.directories_holding(&["_layers", "_manifests"])
                .try_filter_map(|name| async move {
                    let repo = RepoName::parse(&name).ok();
                    if repo.is_none() {
                        tracing::debug!(name, "not a repository name; left out");
                    }
                    Ok(repo)
                }),
        )
    }

    /// Every directory under `repositories/` that holds one of `markers`,
    /// as a name, depth first in sorted order. `_` directories are not
    /// descended.
    pub(super) fn directories_holding<'a>(&'a self, markers: &'a [&'a str]) -> Entries<'a, String> {
        let stack = vec![String::new()];
        Box::pin(futures_util::stream::try_unfold(
            stack,
            move |mut stack| async move {
                while let Some(rel) = stack.pop() {
                    let dir = if rel.is_empty() {
                        paths::repositories_root()
                    } else {
                        paths::repository(&rel)
                    };
                    let entries = self.list_dir(&dir).await?;
                    for e in entries.iter().rev().filter(|e| !e.starts_with('_')) {
                        stack.push(if rel.is_empty() {
                            e.clone()
                        } else {
                            format!("{rel}/{e}")
                        });
                    }
                    if !rel.is_empty() && entries.iter().any(|e| markers.contains(&e.as_str())) {
                        return Ok(Some((rel, stack)));
                    }
                }
                Ok(None)
            },
        ))
    }

    /// The tags of a repository with the digest each points at and when it
    /// was set, sorted by tag. A tag directory without its current link (an
    /// interrupted delete or first write) is not a tag.
    pub fn stored_tags<'a>(&'a self, name: &'a str) -> Entries<'a, StoredTag> {
        let names = futures_util::stream::once(self.list_dir_owned(paths::tags_dir(name)))
            .map_ok(|names| futures_util::stream::iter(names.into_iter().map(Ok)))
            .try_flatten();
        Box::pin(names.try_filter_map(move |tag| async move {
            let link = paths::tag_current_link(name, &tag);
            let modified = match self.driver.stat(&link).await {
                Ok(info) => info.modified,
                Err(e) if e.is_not_found() => return Ok(None),
                Err(e) => return Err(e.into()),
            };
            Ok(self.read_link(&link).await?.map(|digest| StoredTag {
                tag,
                digest,
                modified,
            }))
        }))
    }

    async fn list_dir_owned(&self, path: String) -> Result<Vec<String>> {
        Ok(self.list_dir(&path).await?)
    }
}
