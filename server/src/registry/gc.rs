//! Garbage collection, safe while the registry serves.
//!
//! Mark: every manifest revision of every repository marks itself, its
//! config and layers, and its child manifests. With `delete_untagged`,
//! revisions no tag reaches first lose their links (a tag's current
//! manifest, the children of a kept index and the referrers of kept content
//! are reached), except those linked less than the grace period ago.
//!
//! Sweep: blobs not marked whose data is older than the grace period are
//! candidates. Just before deleting them, the repositories are walked again:
//! any link written less than the grace period ago (a layer uploaded or
//! mounted, a manifest or tag pushed, even after the mark) marks its target
//! and everything a young manifest references. Only then are the remaining
//! candidates deleted.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::manifest::{self, Manifest};
use super::paths::{self, Entry};
use super::{Digest, Registry, RegistryError, Result};
use futures_util::TryStreamExt;

#[derive(Debug, Clone)]
pub struct GcOptions {
    pub dry_run: bool,
    pub delete_untagged: bool,
    pub grace: Duration,
}

#[derive(Debug, Default, Serialize)]
pub struct GcReport {
    pub dry_run: bool,
    /// `repo@digest` of untagged manifests removed (or, dry, to remove).
    pub manifests_deleted: Vec<String>,
    pub blobs_deleted: Vec<String>,
    pub bytes_freed: u64,
    pub blobs_marked: usize,
    /// Unreferenced blobs kept because they are younger than the grace.
    pub blobs_kept_young: usize,
}

/// What the mark phase reached: blobs to keep, and manifests already
/// followed.
#[derive(Default)]
struct Marks {
    blobs: HashSet<Digest>,
    manifests: HashSet<Digest>,
}

/// One repository's manifests as the mark phase sees them.
#[derive(Default)]
struct Repo {
    revisions: BTreeMap<Digest, SystemTime>,
    tags: Vec<Digest>,
    index_links: Vec<(String, Digest)>,
}

impl Registry {
    /// Every repository's manifests, from one pass over the links.
    async fn repo_entries(&self) -> Result<HashMap<String, Repo>> {
        let mut repos: HashMap<String, Repo> = HashMap::new();
        let mut links = self.stored_links();
        while let Some(link) = links.try_next().await? {
            match link.entry {
                Entry::RevisionLink { repo, digest } => {
                    repos
                        .entry(repo)
                        .or_default()
                        .revisions
                        .insert(digest, link.modified);
                }
                Entry::TagIndex { repo, tag, digest } => {
                    repos
                        .entry(repo)
                        .or_default()
                        .index_links
                        .push((tag, digest));
                }
                Entry::TagCurrent { repo, .. } => {
                    repos.entry(repo).or_default();
                }
                _ => {}
            }
        }
        Ok(repos)
    }

    /// A manifest to mark from; a revision whose blob is gone is skipped
    /// (`check` reports it), one that does not parse stops the collection.
    async fn manifest_for_gc(&self, d: &Digest) -> Result<Option<Manifest>> {
        let content = match self.driver.get_content(&paths::blob_data(d)).await {
            Ok(c) => c,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        manifest::parse(&content, None).map(Some).map_err(|e| {
            RegistryError::Unsupported(format!(
                "manifest {d} cannot be read ({e}); garbage collection stops rather than delete what it might reference"
            ))
        })
    }

    /// Marks a manifest, what it references, and its children, recursively.
    async fn mark_manifest(&self, d: &Digest, marked: &mut Marks) -> Result<()> {
        let mut todo = vec![d.clone()];
        while let Some(d) = todo.pop() {
            if !marked.manifests.insert(d.clone()) {
                continue;
            }
            marked.blobs.insert(d.clone());
            let Some(m) = self.manifest_for_gc(&d).await? else {
                continue;
            };
            marked.blobs.extend(m.blobs.iter().cloned());
            for c in &m.children {
                todo.push(c.digest.parse()?);
            }
        }
        Ok(())
    }

    /// The revisions of a repository that tags reach, with referrers of
    /// what is reached and the revisions younger than `cutoff`.
    async fn reachable(
        &self,
        name: &str,
        repo: &Repo,
        cutoff: SystemTime,
    ) -> Result<HashSet<Digest>> {
        let mut parsed: HashMap<Digest, Manifest> = HashMap::new();
        for d in repo.revisions.keys() {
            if let Some(m) = self.manifest_for_gc(d).await? {
                parsed.insert(d.clone(), m);
            }
        }
        let mut kept: HashSet<Digest> = repo.tags.iter().cloned().collect();
        kept.extend(
            repo.revisions
                .iter()
                .filter(|(_, t)| **t >= cutoff)
                .map(|(d, _)| d.clone()),
        );
        loop {
            let before = kept.len();
            for (d, m) in &parsed {
                if kept.contains(d) {
                    for c in &m.children {
                        kept.insert(c.digest.parse()?);
                    }
                }
                if m.subject.as_ref().is_some_and(|s| kept.contains(s)) {
                    kept.insert(d.clone());
                }
            }
            if kept.len() == before {
                break;
            }
        }
        tracing::debug!(repo = name, kept = kept.len(), "reachable manifests");
        Ok(kept)
    }

    pub async fn garbage_collect(&self, opts: &GcOptions) -> Result<GcReport> {
        let cutoff = SystemTime::now()
            .checked_sub(opts.grace)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let mut report = GcReport {
            dry_run: opts.dry_run,
            ..Default::default()
        };
        let mut repos = self.repo_entries().await?;
        let mut marked = Marks::default();
        let names: Vec<String> = repos.keys().cloned().collect();
        for name in names {
            let tags: Vec<Digest> = self
                .stored_tags(&name)
                .map_ok(|t| t.digest)
                .try_collect()
                .await?;
            let repo = repos.get_mut(&name).expect("listed above");
            repo.tags = tags;
            let repo = &*repo;
            let mut live: Vec<Digest> = repo.revisions.keys().cloned().collect();
            if opts.delete_untagged {
                let kept = self.reachable(&name, repo, cutoff).await?;
                live.retain(|d| kept.contains(d));
                for d in repo.revisions.keys().filter(|d| !kept.contains(*d)) {
                    report.manifests_deleted.push(format!("{name}@{d}"));
                    if !opts.dry_run {
                        self.delete_revision(&name, d, &repo.index_links).await?;
                    }
                }
            }
            for d in &live {
                self.mark_manifest(d, &mut marked).await?;
            }
        }

        let mut candidates = Vec::new();
        let mut blobs = self.stored_blobs();
        while let Some(b) = blobs.try_next().await? {
            if marked.blobs.contains(&b.digest) {
                continue;
            }
            if b.modified >= cutoff {
                report.blobs_kept_young += 1;
                continue;
            }
            candidates.push((b.digest, b.size));
        }
        drop(blobs);
        let mut layer_links = HashMap::new();
        if !candidates.is_empty() {
            layer_links = self.mark_young_links(cutoff, &mut marked).await?;
        }
        report.blobs_marked = marked.blobs.len();
        for (d, size) in candidates {
            if marked.blobs.contains(&d) {
                report.blobs_kept_young += 1;
                continue;
            }
            if !opts.dry_run {
                self.remove(&paths::blob_dir(&d)).await?;
                // Links to a deleted blob would only mislead `check`.
                for repo in layer_links.get(&d).into_iter().flatten() {
                    self.remove(&paths::layer_dir(repo, &d)).await?;
                }
            }
            report.bytes_freed += size;
            report.blobs_deleted.push(d.to_string());
        }
        Ok(report)
    }

    /// The second look, right before the sweep: links written within the
    /// grace period keep their targets, and young manifests what they
    /// reference. Returns the repositories of the older layer links, by the
    /// blob they name.
    async fn mark_young_links(
        &self,
        cutoff: SystemTime,
        marked: &mut Marks,
    ) -> Result<HashMap<Digest, Vec<String>>> {
        let mut old_layer_links: HashMap<Digest, Vec<String>> = HashMap::new();
        let mut links = self.stored_links();
        while let Some(link) = links.try_next().await? {
            if link.modified < cutoff {
                if let Entry::LayerLink { repo, digest } = link.entry {
                    old_layer_links.entry(digest).or_default().push(repo);
                }
                continue;
            }
            match link.entry {
                Entry::LayerLink { digest, .. } => {
                    marked.blobs.insert(digest);
                }
                Entry::RevisionLink { digest, .. } | Entry::TagIndex { digest, .. } => {
                    self.mark_manifest(&digest, marked).await?;
                }
                Entry::TagCurrent { .. } => {
                    if let Some(d) = self.read_link(&link.path).await? {
                        self.mark_manifest(&d, marked).await?;
                    }
                }
                Entry::Blob(_) => {}
            }
        }
        Ok(old_layer_links)
    }

    /// Removes an untagged manifest's revision link and the tag history
    /// entries that name it.
    async fn delete_revision(
        &self,
        name: &str,
        d: &Digest,
        index: &[(String, Digest)],
    ) -> Result<()> {
        for (tag, _) in index.iter().filter(|(_, x)| x == d) {
            self.remove(&paths::tag_index_dir(name, tag, d)).await?;
        }
        self.remove(&paths::revision_dir(name, d)).await?;
        Ok(())
    }
}
