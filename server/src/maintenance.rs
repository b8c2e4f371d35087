//! `labreg garbage-collect` and `labreg check`: the storage maintenance
//! commands, on the same config.yml as `serve` (filesystem or S3).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};
use labreg::config::{Config, parse_duration};
use labreg::registry::gc::GcOptions;
use labreg::registry::{Options, Registry};
use labreg::server;

#[derive(Args)]
pub struct GcArgs {
    /// Report what would be deleted, delete nothing.
    #[arg(long, short = 'd')]
    dry_run: bool,
    /// Also delete manifests no tag reaches (and then their blobs).
    #[arg(long, short = 'm')]
    delete_untagged: bool,
    /// Keep anything uploaded or linked less than this long ago.
    #[arg(long, default_value = "1h", value_parser = grace)]
    grace: Duration,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
    /// distribution's config.yml (version 0.1)
    config: PathBuf,
}

#[derive(Args)]
pub struct CheckArgs {
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
    /// distribution's config.yml (version 0.1)
    config: PathBuf,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

fn grace(s: &str) -> Result<Duration, String> {
    parse_duration(s)
}

pub fn run<T>(f: impl FnOnce(&tokio::runtime::Runtime) -> anyhow::Result<T>) -> anyhow::Result<T> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    f(&rt)
}

pub async fn open(config: &std::path::Path) -> anyhow::Result<Registry> {
    let loaded = Config::load(Some(config))?;
    let driver = server::storage_driver(&loaded.config)?;
    driver
        .check_reachable()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let options = Options {
        delete_enabled: true,
        read_only: false,
        redirect: false,
        cache: Default::default(),
    };
    Ok(Registry::new(Arc::clone(&driver), options))
}

pub async fn gc(args: GcArgs) -> anyhow::Result<()> {
    let registry = open(&args.config).await?;
    let opts = GcOptions {
        dry_run: args.dry_run,
        delete_untagged: args.delete_untagged,
        grace: args.grace,
    };
    let report = registry.garbage_collect(&opts).await?;
    if args.output == Output::Json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let verb = if report.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    for m in &report.manifests_deleted {
        println!("{verb} untagged manifest {m}");
    }
    for b in &report.blobs_deleted {
        println!("{verb} blob {b}");
    }
    println!(
        "{} manifests and {} blobs {verb} ({} bytes); {} blobs referenced; {} unreferenced blobs kept as younger than the grace period",
        report.manifests_deleted.len(),
        report.blobs_deleted.len(),
        report.bytes_freed,
        report.blobs_marked,
        report.blobs_kept_young
    );
    Ok(())
}

/// Returns whether the storage is sound.
pub async fn check(args: CheckArgs) -> anyhow::Result<bool> {
    let registry = open(&args.config).await?;
    let mirrored: Vec<String> = Config::load(Some(&args.config))?
        .config
        .upstreams()?
        .into_iter()
        .map(|u| u.prefix)
        .collect();
    let report = registry.check(&mirrored).await?;
    if args.output == Output::Json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for p in &report.problems {
            println!("{}: {}: {}", p.kind, p.path, p.detail);
        }
        if report.sound() {
            println!(
                "sound: {} blobs verified, {} links followed{}",
                report.blobs,
                report.links,
                if report.not_cached > 0 {
                    format!(
                        " ({} references of mirrored manifests not pulled yet)",
                        report.not_cached
                    )
                } else {
                    String::new()
                }
            );
        } else {
            println!(
                "damaged: {} problems in {} blobs and {} links",
                report.problems.len(),
                report.blobs,
                report.links
            );
        }
    }
    Ok(report.sound())
}
