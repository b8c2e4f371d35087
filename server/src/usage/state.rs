//! The usage index's accounting, kept in memory: every stored blob with its
//! size, every repository's manifest revisions and tags, and for each blob
//! how many repositories reference it (a manifest references itself, its
//! config and its layers, as garbage collection marks them). Bytes shared,
//! exclusive and deduplicated totals follow from those counts without a
//! walk.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;

use crate::registry::Digest;

/// One repository's part of the index.
#[derive(Debug, Default, Clone)]
pub struct RepoUsage {
    revisions: HashSet<Digest>,
    tags: HashSet<String>,
    /// Blob → how many of this repository's revisions reference it.
    refs: HashMap<Digest, u32>,
    last_push: Option<SystemTime>,
}

/// Repositories in catalog order: component by component.
pub type RepoKey = Vec<String>;

pub fn key(name: &str) -> RepoKey {
    name.split('/').map(str::to_string).collect()
}

#[derive(Debug, Default)]
pub struct State {
    blobs: HashMap<Digest, u64>,
    /// Manifest → the blobs it references besides itself.
    manifests: HashMap<Digest, Arc<[Digest]>>,
    /// Blob → how many repositories reference it.
    holders: HashMap<Digest, u32>,
    pub(super) repos: BTreeMap<RepoKey, RepoUsage>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RepoReport {
    pub name: String,
    /// Bytes of every blob the repository's manifests reference (each
    /// once), the manifests included.
    pub bytes_referenced: u64,
    /// Of those, bytes other repositories reference too.
    pub bytes_shared: u64,
    /// Bytes only this repository references: what deleting it would free.
    pub bytes_exclusive: u64,
    pub tags: usize,
    pub manifests: usize,
    /// When a manifest was last pushed to it (RFC 3339).
    pub last_push: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Totals {
    pub repositories: usize,
    pub tags: usize,
    pub manifests: usize,
    /// Blobs in the store and their bytes: what `blobs/` holds.
    pub blobs: usize,
    pub bytes_stored: u64,
    /// Bytes some manifest references, each blob once (deduplicated).
    pub bytes_referenced: u64,
    /// Bytes nothing references: what garbage collection frees.
    pub bytes_unreferenced: u64,
    /// The sum of every repository's referenced bytes: what the store would
    /// hold without deduplication.
    pub bytes_without_dedup: u64,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct UsageReport {
    pub totals: Totals,
    pub repositories: Vec<RepoReport>,
}

impl State {
    pub fn add_blob(&mut self, d: &Digest, size: u64) {
        self.blobs.insert(d.clone(), size);
    }

    pub fn forget_blob(&mut self, d: &Digest) {
        self.blobs.remove(d);
        self.manifests.remove(d);
    }

    pub fn repo(&mut self, name: &str) -> &mut RepoUsage {
        self.repos.entry(key(name)).or_default()
    }

    pub fn knows_manifest(&self, d: &Digest) -> bool {
        self.manifests.contains_key(d)
    }

    /// Records what a manifest references (its content never changes).
    pub fn learn_manifest(&mut self, d: &Digest, blobs: &[Digest]) {
        self.manifests
            .entry(d.clone())
            .or_insert_with(|| blobs.to_vec().into());
    }

    fn referenced_by(&self, d: &Digest) -> Vec<Digest> {
        let mut all = vec![d.clone()];
        if let Some(b) = self.manifests.get(d) {
            all.extend(b.iter().cloned());
        }
        all
    }

    /// Links a manifest to a repository; a second link changes nothing.
    pub fn add_revision(&mut self, name: &str, d: &Digest, at: Option<SystemTime>) {
        let blobs = self.referenced_by(d);
        let repo = self.repos.entry(key(name)).or_default();
        if let Some(at) = at {
            repo.last_push = repo.last_push.max(Some(at));
        }
        if !repo.revisions.insert(d.clone()) {
            return;
        }
        for b in blobs {
            let n = repo.refs.entry(b.clone()).or_default();
            *n += 1;
            if *n == 1 {
                *self.holders.entry(b).or_default() += 1;
            }
        }
    }

    pub fn remove_revision(&mut self, name: &str, d: &Digest) {
        let blobs = self.referenced_by(d);
        let Some(repo) = self.repos.get_mut(&key(name)) else {
            return;
        };
        if !repo.revisions.remove(d) {
            return;
        }
        for b in blobs {
            let Some(n) = repo.refs.get_mut(&b) else {
                continue;
            };
            *n -= 1;
            if *n == 0 {
                repo.refs.remove(&b);
                if let Some(h) = self.holders.get_mut(&b) {
                    *h -= 1;
                    if *h == 0 {
                        self.holders.remove(&b);
                    }
                }
            }
        }
    }

    pub fn set_tag(&mut self, name: &str, tag: &str, at: Option<SystemTime>) {
        let repo = self.repo(name);
        repo.tags.insert(tag.to_string());
        if let Some(at) = at {
            repo.last_push = repo.last_push.max(Some(at));
        }
    }

    pub fn remove_tag(&mut self, name: &str, tag: &str) {
        if let Some(r) = self.repos.get_mut(&key(name)) {
            r.tags.remove(tag);
        }
    }

    fn size(&self, d: &Digest) -> u64 {
        self.blobs.get(d).copied().unwrap_or(0)
    }

    pub fn report(&self) -> UsageReport {
        let mut out = UsageReport::default();
        let t = &mut out.totals;
        t.blobs = self.blobs.len();
        t.bytes_stored = self.blobs.values().sum();
        t.bytes_referenced = self.holders.keys().map(|d| self.size(d)).sum();
        t.bytes_unreferenced = self
            .blobs
            .iter()
            .filter(|(d, _)| !self.holders.contains_key(*d))
            .map(|(_, s)| s)
            .sum();
        for (k, r) in &self.repos {
            let mut rep = RepoReport {
                name: k.join("/"),
                bytes_referenced: 0,
                bytes_shared: 0,
                bytes_exclusive: 0,
                tags: r.tags.len(),
                manifests: r.revisions.len(),
                last_push: r
                    .last_push
                    .map(|t| humantime::format_rfc3339_seconds(t).to_string()),
            };
            for b in r.refs.keys() {
                let s = self.size(b);
                rep.bytes_referenced += s;
                if self.holders.get(b).copied().unwrap_or(0) > 1 {
                    rep.bytes_shared += s;
                } else {
                    rep.bytes_exclusive += s;
                }
            }
            t.repositories += 1;
            t.tags += rep.tags;
            t.manifests += rep.manifests;
            t.bytes_without_dedup += rep.bytes_referenced;
            out.repositories.push(rep);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(n: u8) -> Digest {
        format!("sha256:{}", hex::encode([n; 32])).parse().unwrap()
    }

    #[test]
    fn shared_exclusive_and_dedup() {
        let mut s = State::default();
        for (n, size) in [(1, 100), (2, 1000), (3, 10), (4, 20), (9, 5)] {
            s.add_blob(&d(n), size);
        }
        // manifests 3 and 4 both reference layer 2; 3 also references 1.
        s.learn_manifest(&d(3), &[d(1), d(2)]);
        s.learn_manifest(&d(4), &[d(2)]);
        s.add_revision("a", &d(3), None);
        s.add_revision("a", &d(3), None);
        s.set_tag("a", "v1", None);
        s.add_revision("b/c", &d(4), None);
        let r = s.report();
        assert_eq!(r.totals.bytes_stored, 1135);
        assert_eq!(r.totals.bytes_referenced, 1130);
        assert_eq!(r.totals.bytes_unreferenced, 5);
        assert_eq!(r.totals.bytes_without_dedup, 1110 + 1020);
        let a = &r.repositories[0];
        assert_eq!(
            (a.name.as_str(), a.bytes_exclusive, a.bytes_shared),
            ("a", 110, 1000)
        );
        assert_eq!((a.tags, a.manifests), (1, 1));
        s.remove_revision("a", &d(3));
        let r = s.report();
        assert_eq!(
            r.repositories[1].bytes_exclusive, 1020,
            "b/c alone holds layer 2 now"
        );
        assert_eq!(r.totals.bytes_unreferenced, 115);
    }
}
