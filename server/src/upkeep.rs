//! `labreg retention` and `labreg du`, and the retention schedule of
//! `labreg serve`.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use labreg::api::AppState;
use labreg::config::Config;
use labreg::events::EventSink;
use labreg::retention::{self, RetentionReport};
use labreg::usage::{self, UsageReport};

use crate::maintenance::{Output, open};

#[derive(Args)]
pub struct RetentionArgs {
    /// List what would be deleted and why; delete nothing.
    #[arg(long, short = 'd')]
    dry_run: bool,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
    /// distribution's config.yml with a labreg.retention section
    config: PathBuf,
}

#[derive(Args)]
pub struct DuArgs {
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
    /// distribution's config.yml (version 0.1)
    config: PathBuf,
}

pub async fn retention(args: RetentionArgs) -> anyhow::Result<()> {
    let loaded = Config::load(Some(&args.config))?;
    let Some(policies) = loaded.config.retention()? else {
        anyhow::bail!(
            "{} has no labreg.retention section: add policies (see README, Retention)",
            args.config.display()
        );
    };
    let registry = open(&args.config).await?;
    let report = retention::run(&registry, &policies, args.dry_run, None).await?;
    if args.output == Output::Json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_retention(&report);
    }
    Ok(())
}

fn print_retention(r: &RetentionReport) {
    let verb = if r.dry_run { "would delete" } else { "deleted" };
    for t in &r.tags {
        println!(
            "{verb} tag {}:{} ({}, pushed {}): {}",
            t.repository, t.tag, t.digest, t.pushed, t.reason
        );
    }
    for m in &r.manifests {
        println!(
            "{verb} manifest {}@{} (pushed {}): {}",
            m.repository, m.digest, m.pushed, m.reason
        );
    }
    for s in &r.skipped {
        println!("kept {s}: pushed again while retention ran");
    }
    println!(
        "{} tags and {} manifests {verb} in {} repositories; {} tags kept",
        r.tags.len(),
        r.manifests.len(),
        r.repositories,
        r.tags_kept
    );
    if let Some(gc) = &r.gc {
        println!(
            "garbage collection: {} blobs deleted ({} bytes); {} unreferenced blobs younger than the grace kept",
            gc.blobs_deleted.len(),
            gc.bytes_freed,
            gc.blobs_kept_young
        );
    }
}

pub async fn du(args: DuArgs) -> anyhow::Result<()> {
    let registry = open(&args.config).await?;
    let report = usage::report_from_store(&registry).await?;
    if args.output == Output::Json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_du(&report);
    }
    Ok(())
}

fn print_du(r: &UsageReport) {
    let mut repos: Vec<_> = r.repositories.iter().collect();
    repos.sort_by(|a, b| {
        b.bytes_exclusive
            .cmp(&a.bytes_exclusive)
            .then(a.name.cmp(&b.name))
    });
    println!(
        "{:>12} {:>12} {:>12} {:>6} {:>9}  {:<20}  REPOSITORY",
        "EXCLUSIVE", "SHARED", "REFERENCED", "TAGS", "MANIFESTS", "LAST PUSH"
    );
    for x in repos {
        println!(
            "{:>12} {:>12} {:>12} {:>6} {:>9}  {:<20}  {}",
            x.bytes_exclusive,
            x.bytes_shared,
            x.bytes_referenced,
            x.tags,
            x.manifests,
            x.last_push.as_deref().unwrap_or("-"),
            x.name
        );
    }
    let t = &r.totals;
    println!(
        "total: {} bytes in {} blobs ({} referenced, {} unreferenced: garbage collection frees them; {} without deduplication); {} repositories, {} tags, {} manifests",
        t.bytes_stored,
        t.blobs,
        t.bytes_referenced,
        t.bytes_unreferenced,
        t.bytes_without_dedup,
        t.repositories,
        t.tags,
        t.manifests
    );
}

/// Starts the retention schedule of `labreg.retention.schedule`, when set:
/// its removals reach the usage index, which then forgets the blobs the
/// garbage collection deleted.
pub fn spawn_retention(state: &Arc<AppState>, config: &Config) -> anyhow::Result<()> {
    let Some(policies) = config.retention()? else {
        return Ok(());
    };
    let Some(every) = policies.schedule else {
        tracing::info!(
            "retention policies loaded; no labreg.retention.schedule, so only `labreg retention` applies them"
        );
        return Ok(());
    };
    if state.registry.options().read_only {
        tracing::warn!("storage is read-only: the retention schedule does not run");
        return Ok(());
    }
    tracing::info!(every = ?every, policies = policies.policies.len(), "retention scheduled");
    let index = state.usage.clone();
    let sink = index.clone().map(|u| u as Arc<dyn EventSink>);
    retention::spawn_schedule(state.registry.clone(), policies, sink, move |r| {
        if let (Some(index), Some(gc)) = (&index, &r.gc) {
            index.forget_blobs(&gc.blobs_deleted);
        }
    });
    Ok(())
}
