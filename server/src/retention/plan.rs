//! Deciding what a policy deletes in one repository, from what the storage
//! says: the tags with the time their link was written (the push time, so a
//! restarted labreg keeps it), the manifest revisions with theirs, and each
//! manifest's children and subject.
//!
//! Tags: the policy's rules keep a tag (among the `keep_latest` newest,
//! matching `keep_tags`, pushed within `delete_tags_older_than`); a tag no
//! rule keeps is deleted. A cosign-style tag `sha256-<hex>[.sig|.att|...]`
//! belongs to the manifest it names and goes with it.
//!
//! Manifests: what kept tags reach (children of an index, referrers whose
//! `subject` is reached) lives, and so does an untagged manifest younger
//! than `delete_untagged_older_than` (or any, without that rule) and
//! anything linked within the grace. Every other revision is deleted: the
//! manifests of deleted tags, old untagged ones, and referrers of either.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::TryStreamExt;
use serde::Serialize;

use super::policy::Policy;
use crate::registry::enumerate::StoredTag;
use crate::registry::manifest::Manifest;
use crate::registry::{Digest, Registry, Result};

/// A tag the policy deletes.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TagDeletion {
    pub repository: String,
    pub tag: String,
    pub digest: String,
    /// When the tag was pushed (RFC 3339).
    pub pushed: String,
    pub reason: String,
    /// Which policy (its position in `labreg.retention.policies`).
    pub policy: usize,
    #[serde(skip)]
    pub modified: SystemTime,
}

/// A manifest the policy deletes (its revision link; its blobs go with the
/// garbage collection that follows, once nothing else references them).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ManifestDeletion {
    pub repository: String,
    pub digest: String,
    pub pushed: String,
    pub reason: String,
    pub policy: usize,
    #[serde(skip)]
    pub modified: SystemTime,
}

/// What one repository loses.
#[derive(Debug, Default)]
pub struct RepoPlan {
    pub tags: Vec<TagDeletion>,
    pub manifests: Vec<ManifestDeletion>,
    pub tags_kept: usize,
}

pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

fn age(now: SystemTime, t: SystemTime) -> Duration {
    now.duration_since(t).unwrap_or_default()
}

fn short(d: Duration) -> String {
    let secs = d.as_secs();
    let rounded = if secs >= 86400 {
        Duration::from_secs(secs / 3600 * 3600)
    } else {
        Duration::from_secs(secs)
    };
    humantime::format_duration(rounded).to_string()
}

/// The manifest digest a cosign-style tag (`sha256-<hex>` and an optional
/// `.suffix`) is attached to.
fn attached_to(tag: &str) -> Option<Digest> {
    let rest = tag.strip_prefix("sha256-")?;
    let hex = rest.split('.').next()?;
    format!("sha256:{hex}").parse().ok()
}

/// Why no rule keeps a tag, or None when one does.
fn tag_verdict(policy: &Policy, rank: usize, tag: &StoredTag, now: SystemTime) -> Option<String> {
    if !policy.deletes_tags() {
        return None;
    }
    let mut why = Vec::new();
    if let Some(n) = policy.keep_latest {
        if rank < n {
            return None;
        }
        why.push(format!("not among the {n} most recently pushed"));
    }
    if policy.keep_tags.iter().any(|p| p.matches(&tag.tag)) {
        return None;
    }
    if !policy.keep_tags.is_empty() {
        let list: Vec<String> = policy.keep_tags.iter().map(|p| p.to_string()).collect();
        why.push(format!("matches none of keep_tags [{}]", list.join(", ")));
    }
    if let Some(max) = policy.delete_tags_older_than {
        let a = age(now, tag.modified);
        if a <= max {
            return None;
        }
        why.push(format!(
            "pushed {} ago, older than {}",
            short(a),
            humantime::format_duration(max)
        ));
    }
    Some(why.join("; "))
}

/// Adds to `set` what its members reach: children of indexes, and the
/// manifests whose subject is in it.
fn close(set: &mut HashSet<Digest>, parsed: &HashMap<Digest, Arc<Manifest>>) {
    loop {
        let before = set.len();
        for (d, m) in parsed {
            if set.contains(d) {
                for c in &m.children {
                    if let Ok(c) = c.digest.parse() {
                        set.insert(c);
                    }
                }
            }
            if m.subject.as_ref().is_some_and(|s| set.contains(s)) {
                set.insert(d.clone());
            }
        }
        if set.len() == before {
            return;
        }
    }
}

impl Registry {
    /// What `policy` deletes in repository `name`, as of `now`.
    pub async fn retention_plan(
        &self,
        name: &str,
        policy: &Policy,
        grace: Duration,
        now: SystemTime,
    ) -> Result<RepoPlan> {
        let mut tags: Vec<StoredTag> = self.stored_tags(name).try_collect().await?;
        let revisions: BTreeMap<Digest, SystemTime> =
            self.stored_revisions(name).try_collect().await?;
        let mut parsed: HashMap<Digest, Arc<Manifest>> = HashMap::new();
        for d in revisions.keys() {
            if let Some((m, _)) = self.parsed_manifest(d).await? {
                parsed.insert(d.clone(), m);
            }
        }
        let (attached, mut tags): (Vec<StoredTag>, Vec<StoredTag>) = tags
            .drain(..)
            .partition(|t| attached_to(&t.tag).is_some_and(|d| revisions.contains_key(&d)));
        // Newest first; the same second orders by name, so runs agree.
        tags.sort_by(|a, b| b.modified.cmp(&a.modified).then(a.tag.cmp(&b.tag)));
        let mut plan = RepoPlan::default();
        let mut live: HashSet<Digest> = HashSet::new();
        let mut doomed_by_tag: HashMap<Digest, Vec<String>> = HashMap::new();
        for (rank, t) in tags.iter().enumerate() {
            match tag_verdict(policy, rank, t, now) {
                None => {
                    plan.tags_kept += 1;
                    live.insert(t.digest.clone());
                }
                Some(reason) => {
                    doomed_by_tag
                        .entry(t.digest.clone())
                        .or_default()
                        .push(t.tag.clone());
                    plan.tags.push(TagDeletion {
                        repository: name.to_string(),
                        tag: t.tag.clone(),
                        digest: t.digest.to_string(),
                        pushed: rfc3339(t.modified),
                        reason,
                        policy: policy.index,
                        modified: t.modified,
                    });
                }
            }
        }
        let mut was_tagged: HashSet<Digest> = tags.iter().map(|t| t.digest.clone()).collect();
        close(&mut was_tagged, &parsed);
        let grace_cutoff = now.checked_sub(grace).unwrap_or(SystemTime::UNIX_EPOCH);
        for (d, linked) in &revisions {
            let untagged_old = policy
                .delete_untagged_older_than
                .is_some_and(|max| age(now, *linked) > max);
            let follows_subject = parsed
                .get(d)
                .and_then(|m| m.subject.as_ref())
                .is_some_and(|s| revisions.contains_key(s));
            let untagged_root = !was_tagged.contains(d) && !follows_subject && !untagged_old;
            if *linked >= grace_cutoff || untagged_root || !parsed.contains_key(d) {
                live.insert(d.clone());
            }
        }
        close(&mut live, &parsed);
        // Attached tags follow the manifest they name; kept ones keep theirs.
        for t in &attached {
            let subject = attached_to(&t.tag).expect("partitioned on it");
            if live.contains(&subject) {
                plan.tags_kept += 1;
                live.insert(t.digest.clone());
            } else {
                plan.tags.push(TagDeletion {
                    repository: name.to_string(),
                    tag: t.tag.clone(),
                    digest: t.digest.to_string(),
                    pushed: rfc3339(t.modified),
                    reason: format!("attached to {subject}, which is deleted"),
                    policy: policy.index,
                    modified: t.modified,
                });
            }
        }
        close(&mut live, &parsed);
        let mut doomed: HashSet<Digest> = doomed_by_tag.keys().cloned().collect();
        close(&mut doomed, &parsed);
        for (d, linked) in &revisions {
            if live.contains(d) {
                continue;
            }
            let reason = if let Some(tags) = doomed_by_tag.get(d) {
                format!("its tags are deleted ({})", tags.join(", "))
            } else if let Some(s) = parsed.get(d).and_then(|m| m.subject.clone()) {
                format!("refers to {s}, which is deleted")
            } else if doomed.contains(d) {
                "part of an index whose tags are deleted".to_string()
            } else {
                format!(
                    "untagged, pushed {} ago, older than {}",
                    short(age(now, *linked)),
                    humantime::format_duration(
                        policy.delete_untagged_older_than.unwrap_or_default()
                    )
                )
            };
            plan.manifests.push(ManifestDeletion {
                repository: name.to_string(),
                digest: d.to_string(),
                pushed: rfc3339(*linked),
                reason,
                policy: policy.index,
                modified: *linked,
            });
        }
        Ok(plan)
    }
}
