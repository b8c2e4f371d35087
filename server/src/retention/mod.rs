//! Retention: deleting the tags and manifests the `labreg.retention`
//! policies no longer keep, then collecting the blobs that became
//! unreferenced (the same garbage collection as `labreg garbage-collect`,
//! with its grace). `labreg retention [--dry-run]` runs it once; `labreg
//! serve` every `labreg.retention.schedule`.
//!
//! Repositories are read from the streaming enumerators one at a time, and
//! each is planned and applied before the next, so a removal follows its
//! decision closely; every removal checks again that the tag or manifest is
//! what was planned (a client that pushes it again meanwhile wins).

pub mod plan;
pub mod policy;

use std::sync::Arc;
use std::time::SystemTime;

use futures_util::TryStreamExt;
use serde::Serialize;

pub use plan::{ManifestDeletion, TagDeletion};
pub use policy::{Policies, Policy, RetentionConfig};

use crate::auth::Principal;
use crate::events::EventSink;
use crate::registry::gc::{GcOptions, GcReport};
use crate::registry::prune::in_parallel;
use crate::registry::{Change, ChangeAction, Context, Digest, Registry, RepoName, Result, Tag};

/// The actor named in the changes retention makes.
pub const ACTOR: &str = "labreg-retention";

#[derive(Debug, Default, Serialize)]
pub struct RetentionReport {
    pub dry_run: bool,
    /// When the run decided (RFC 3339): ages are counted from it.
    pub started: String,
    /// Repositories a policy applies to.
    pub repositories: usize,
    /// Tags deleted (or, dry, to delete), each with why.
    pub tags: Vec<TagDeletion>,
    pub manifests: Vec<ManifestDeletion>,
    pub tags_kept: usize,
    /// Planned removals left alone because a client wrote the tag or
    /// manifest again after the decision.
    pub skipped: Vec<String>,
    /// The garbage collection that followed (not on a dry run).
    pub gc: Option<GcReport>,
}

/// Applies `policies` to every repository of `registry`. Each removal is
/// handed to `sink` as a change (tag-delete, manifest-delete).
pub async fn run(
    registry: &Registry,
    policies: &Policies,
    dry_run: bool,
    sink: Option<Arc<dyn EventSink>>,
) -> Result<RetentionReport> {
    let now = SystemTime::now();
    let mut report = RetentionReport {
        dry_run,
        started: plan::rfc3339(now),
        ..Default::default()
    };
    let cx = Context::new(Principal::User(ACTOR.to_string()));
    let names: Vec<RepoName> = registry.repositories().try_collect().await?;
    for name in names {
        let Some(policy) = policies.for_repo(&name) else {
            continue;
        };
        report.repositories += 1;
        let repo_plan = registry
            .retention_plan(&name, policy, policies.grace, now)
            .await?;
        report.tags_kept += repo_plan.tags_kept;
        let mut work = Vec::with_capacity(repo_plan.tags.len());
        for t in &repo_plan.tags {
            work.push(untag(registry, &name, t, dry_run));
        }
        let untagged = in_parallel(work).await?;
        for (t, removed) in repo_plan.tags.into_iter().zip(untagged) {
            if !removed {
                report.skipped.push(format!("{name}:{}", t.tag));
                continue;
            }
            if let (Some(sink), false, Ok(tag)) = (&sink, dry_run, Tag::parse(&t.tag)) {
                let digest: Digest = t.digest.parse()?;
                sink.record(
                    &Change::new(&cx, ChangeAction::TagDelete, &name, &digest).tag(Some(&tag)),
                );
            }
            report.tags.push(t);
        }
        let removed = if dry_run {
            vec![true; repo_plan.manifests.len()]
        } else {
            let chosen = repo_plan
                .manifests
                .iter()
                .map(|m| Ok((m.digest.parse()?, m.modified)))
                .collect::<Result<Vec<(Digest, SystemTime)>>>()?;
            registry
                .unlink_manifests_if_unchanged(&name, &chosen)
                .await?
        };
        for (m, removed) in repo_plan.manifests.into_iter().zip(removed) {
            if !removed {
                report.skipped.push(format!("{name}@{}", m.digest));
                continue;
            }
            if let (Some(sink), false) = (&sink, dry_run) {
                let digest: Digest = m.digest.parse()?;
                sink.record(&Change::new(
                    &cx,
                    ChangeAction::ManifestDelete,
                    &name,
                    &digest,
                ));
            }
            report.manifests.push(m);
        }
    }
    if !dry_run {
        let gc = GcOptions {
            dry_run: false,
            delete_untagged: false,
            grace: policies.grace,
        };
        report.gc = Some(registry.garbage_collect(&gc).await?);
    }
    Ok(report)
}

/// Removes a planned tag unless it changed since the plan.
async fn untag(registry: &Registry, name: &str, t: &TagDeletion, dry_run: bool) -> Result<bool> {
    if dry_run {
        return Ok(true);
    }
    let digest: Digest = t.digest.parse()?;
    registry
        .untag_if_unchanged(name, &t.tag, &digest, t.modified)
        .await
}

/// Runs the policies every `schedule`, first one schedule after start.
/// `after` is told of each finished run (the usage index drops what the
/// garbage collection deleted).
pub fn spawn_schedule(
    registry: Arc<Registry>,
    policies: Policies,
    sink: Option<Arc<dyn EventSink>>,
    after: impl Fn(&RetentionReport) + Send + 'static,
) {
    let Some(every) = policies.schedule else {
        return;
    };
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            match run(&registry, &policies, false, sink.clone()).await {
                Ok(r) => {
                    let freed = r.gc.as_ref().map_or(0, |g| g.bytes_freed);
                    tracing::info!(
                        tags = r.tags.len(),
                        manifests = r.manifests.len(),
                        skipped = r.skipped.len(),
                        bytes_freed = freed,
                        "retention applied"
                    );
                    after(&r);
                }
                Err(e) => tracing::error!(error = %e, "retention failed; next try in one schedule"),
            }
        }
    });
}
