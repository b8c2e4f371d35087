//! The samples of a run and the markdown table made of them.

use std::collections::BTreeMap;
use std::time::Duration;

/// metric → registry name → samples
#[derive(Default)]
pub struct Samples(BTreeMap<&'static str, BTreeMap<String, Vec<f64>>>);

impl Samples {
    pub fn put(&mut self, metric: &'static str, peer: &str, v: f64) {
        self.0
            .entry(metric)
            .or_default()
            .entry(peer.to_string())
            .or_default()
            .push(v);
    }
}

/// A table's rows: (key, label, higher is better).
pub type Metrics = &'static [(&'static str, &'static str, bool)];

/// The comparison's rows.
pub const METRICS: Metrics = &[
    ("push_mono", "push one big layer, monolithic (MB/s)", true),
    (
        "push_chunked",
        "push one big layer, 8 MiB chunks (MB/s)",
        true,
    ),
    ("pull", "pull the same layer (MB/s)", true),
    (
        "cpu_push",
        "registry's CPU per GB, monolithic push (ms)",
        false,
    ),
    ("cpu_pull", "registry's CPU per GB, pull (ms)", false),
    ("rss", "peak RSS during the two pushes (MiB)", false),
    (
        "blobs",
        "50 small blobs (64 KiB) pushed in parallel (blobs/s)",
        true,
    ),
    (
        "get16_open",
        "manifest GETs, no auth, 16 connections (req/s)",
        true,
    ),
    ("get16_open_p99", "  p99 latency (ms)", false),
    ("push_large", "push the large layer (MB/s)", true),
    ("pull_large", "pull the large layer (MB/s)", true),
    ("rss_large", "peak RSS during the large push (MiB)", false),
    (
        "push_concurrent",
        "concurrent pushes, aggregate (MB/s)",
        true,
    ),
    (
        "cpu_concurrent",
        "registry's CPU per GB, concurrent pushes (ms)",
        false,
    ),
    (
        "rss_concurrent",
        "peak RSS during the concurrent pushes (MiB)",
        false,
    ),
    (
        "get1",
        "authenticated manifest GETs, 1 connection (req/s)",
        true,
    ),
    ("get1_p99", "  p99 latency (ms)", false),
    (
        "get32",
        "authenticated manifest GETs, 32 connections (req/s)",
        true,
    ),
    ("get32_p99", "  p99 latency (ms)", false),
    (
        "images",
        "200 small images, 16 clients, authenticated (images/s)",
        true,
    ),
    ("ready", "process start to first answer on /v2/ (ms)", false),
    (
        "start",
        "process start to first authenticated 200 on /v2/ (ms)",
        false,
    ),
];

pub fn mb_s(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / 1e6 / d.as_secs_f64()
}

/// CPU milliseconds per GB (10^9 bytes) moved.
pub fn ms_per_gb(cpu_seconds: f64, bytes: usize) -> f64 {
    cpu_seconds * 1000.0 / (bytes as f64 / 1e9)
}

fn stats(v: &[f64]) -> (f64, f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    (s[s.len() / 2], s[0], s[s.len() - 1])
}

fn fmt(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// One row per figure, one column per registry (labreg first), then labreg
/// against the best of the others for that figure.
pub fn print(samples: &Samples, metrics: Metrics, names: &[&str], sha: f64, write: f64) {
    let head: Vec<&str> = names.to_vec();
    println!("| figure | {} | labreg / best other |", head.join(" | "));
    println!("| --- |{} --- |", " --- |".repeat(names.len()));
    for (key, label, higher) in metrics {
        let Some(by) = samples.0.get(key) else {
            continue;
        };
        let mut cells = Vec::new();
        let mut best: Option<(f64, &str)> = None;
        for name in names {
            let Some(v) = by.get(*name) else {
                cells.push(String::new());
                continue;
            };
            let (m, min, max) = stats(v);
            cells.push(format!("{} ({}–{})", fmt(m), fmt(min), fmt(max)));
            if *name != "labreg" {
                let better = best.is_none_or(|(b, _)| if *higher { m > b } else { m < b });
                if better {
                    best = Some((m, name));
                }
            }
        }
        let ratio = match (by.get("labreg"), best) {
            (Some(l), Some((b, who))) => format!("{:.2}x ({who})", stats(l).0 / b),
            _ => String::new(),
        };
        println!("| {label} | {} | {ratio} |", cells.join(" | "));
    }
    let pad = " |".repeat(names.len() + 1);
    println!("| limit: SHA-256, one core (MB/s) | {}{pad}", fmt(sha));
    println!(
        "| limit: sequential write + fsync to the work folder (MB/s) | {}{pad}",
        fmt(write)
    );
}
