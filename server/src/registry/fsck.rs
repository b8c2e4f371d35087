//! `labreg check`: walks the storage, re-hashes every blob, and follows
//! every link (layer links, manifest revisions, tags and their history) to
//! report what is broken. It changes nothing.
//!
//! A mirrored repository (under a `labreg.mirrors` prefix, or every one
//! with registry:2's `proxy`) holds what clients pulled: a cached manifest
//! whose blobs or platform manifests nobody asked for yet is sound, and
//! those references are counted as `not_cached`.

use std::collections::HashSet;

use serde::Serialize;

use super::digest::Hasher;
use super::manifest;
use super::paths::{self, Entry};
use super::{Digest, Registry, Result};
use futures_util::TryStreamExt;

#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// A short, stable name: corrupt-blob, bad-link, dangling-layer-link,
    /// dangling-revision, unreadable-manifest, missing-reference,
    /// dangling-tag.
    pub kind: &'static str,
    pub path: String,
    pub detail: String,
}

#[derive(Debug, Default, Serialize)]
pub struct CheckReport {
    pub blobs: usize,
    pub links: usize,
    /// References of cached manifests (in mirrored repositories) whose
    /// content was never pulled through: fetched when a client asks.
    pub not_cached: usize,
    pub problems: Vec<Problem>,
}

impl CheckReport {
    pub fn sound(&self) -> bool {
        self.problems.is_empty()
    }

    fn problem(&mut self, kind: &'static str, path: &str, detail: String) {
        self.problems.push(Problem {
            kind,
            path: path.to_string(),
            detail,
        });
    }
}

impl Registry {
    /// Checks the storage; `mirrored` are the repository prefixes of the
    /// mirrors (`docker.io/`; `""` for registry:2's `proxy`).
    pub async fn check(&self, mirrored: &[String]) -> Result<CheckReport> {
        let mut report = CheckReport::default();
        let mut present: HashSet<Digest> = HashSet::new();
        let mut blobs = self.stored_blobs();
        while let Some(b) = blobs.try_next().await? {
            let path = paths::blob_data(&b.digest);
            let d = b.digest;
            report.blobs += 1;
            let actual = self.hash_blob(&path, &d).await?;
            if actual != d {
                report.problem(
                    "corrupt-blob",
                    &path,
                    format!("content hashes to {actual}, not {d}"),
                );
            }
            present.insert(d);
        }
        drop(blobs);
        let mut links = self.stored_links();
        while let Some(link) = links.try_next().await? {
            let (entry, path) = (link.entry, link.path);
            report.links += 1;
            let stored = self.read_link(&path).await?;
            match entry {
                Entry::Blob(_) => {}
                Entry::LayerLink { digest, .. } => {
                    if self.link_holds(&mut report, &path, stored.as_ref(), &digest)
                        && !present.contains(&digest)
                    {
                        report.problem(
                            "dangling-layer-link",
                            &path,
                            format!("blob {digest} is missing"),
                        );
                    }
                }
                Entry::RevisionLink { repo, digest } => {
                    if self.link_holds(&mut report, &path, stored.as_ref(), &digest) {
                        let cached = mirrored.iter().any(|p| repo.starts_with(p.as_str()));
                        self.check_manifest(&mut report, &present, &repo, &digest, &path, cached)
                            .await?;
                    }
                }
                Entry::TagIndex { digest, .. } => {
                    self.link_holds(&mut report, &path, stored.as_ref(), &digest);
                }
                Entry::TagCurrent { repo, tag } => match stored {
                    None => report.problem("bad-link", &path, "no digest in the link".into()),
                    Some(d) => {
                        if !self.exists(&paths::revision_link(&repo, &d)).await?
                            || !present.contains(&d)
                        {
                            report.problem(
                                "dangling-tag",
                                &path,
                                format!("tag {repo}:{tag} points at {d}, which is not stored in the repository"),
                            );
                        }
                    }
                },
            }
        }
        Ok(report)
    }

    async fn hash_blob(&self, path: &str, d: &Digest) -> Result<Digest> {
        let mut hasher = Hasher::new(d.algorithm());
        let mut stream = self.driver.reader(path, 0, None).await?;
        use futures_util::StreamExt;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| crate::storage::StorageError::io(path, e))?;
            hasher.update(&chunk);
        }
        Ok(hasher.finish())
    }

    /// Whether a link file names the digest its path says; reports it if not.
    fn link_holds(
        &self,
        report: &mut CheckReport,
        path: &str,
        stored: Option<&Digest>,
        want: &Digest,
    ) -> bool {
        match stored {
            Some(d) if d == want => true,
            Some(d) => {
                report.problem("bad-link", path, format!("holds {d}, its path says {want}"));
                false
            }
            None => {
                report.problem("bad-link", path, "no digest in the link".into());
                false
            }
        }
    }

    async fn check_manifest(
        &self,
        report: &mut CheckReport,
        present: &HashSet<Digest>,
        repo: &str,
        d: &Digest,
        path: &str,
        cached: bool,
    ) -> Result<()> {
        if !present.contains(d) {
            report.problem(
                "dangling-revision",
                path,
                format!("manifest blob {d} is missing"),
            );
            return Ok(());
        }
        let content = self.driver.get_content(&paths::blob_data(d)).await?;
        let m = match manifest::parse(&content, None) {
            Ok(m) => m,
            Err(e) => {
                report.problem("unreadable-manifest", path, e);
                return Ok(());
            }
        };
        let children = m
            .children
            .iter()
            .filter_map(|c| c.digest.parse::<Digest>().ok());
        for b in m.blobs.iter().cloned().chain(children) {
            if !present.contains(&b) && cached {
                report.not_cached += 1;
            } else if !present.contains(&b) {
                report.problem(
                    "missing-reference",
                    path,
                    format!("manifest {repo}@{d} references {b}, which is not stored"),
                );
            }
        }
        Ok(())
    }
}
