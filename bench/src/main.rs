//! labbench: labreg against Debian's docker-registry (distribution 2.8, the
//! code inside `registry:2`), in the same run on the same machine, with the
//! same storage kind and the same htpasswd file. Prints a markdown table of
//! medians with min and max, and the machine's physical limits beside them.
//!
//! Run it with `scripts/bench.sh`; it is a benchmark, not a test.

mod peers;
mod soak;
mod work;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use peers::Peer;
use sha2::{Digest, Sha256};
use work::Client;

#[derive(Parser)]
struct Args {
    /// The labreg binary (a release build).
    #[arg(long)]
    labreg: PathBuf,
    /// Runs per figure; the table shows the median, min and max.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Size of the big layer, in MiB.
    #[arg(long, default_value_t = 512)]
    size_mib: usize,
    /// Seconds of manifest GETs per connection count.
    #[arg(long, default_value_t = 5)]
    gets_seconds: u64,
    /// Where the registries store their data (a fresh folder per run).
    #[arg(long, default_value = "/var/tmp/labbench")]
    work: PathBuf,
    /// bcrypt cost of the shared htpasswd file.
    #[arg(long, default_value_t = 10)]
    cost: u32,
    /// Which registries to run (default both); `--peer labreg` for profiling.
    #[arg(long = "peer", value_parser = ["labreg", "registry2"])]
    peers: Vec<String>,
    /// Instead of the comparison: a soak of mixed pushes and pulls against
    /// labreg for this many minutes, failing on any error or memory growth.
    #[arg(long)]
    soak_minutes: Option<u64>,
    /// Storage of both registries: a folder, or S3 on a Garage server on
    /// loopback (started by scripts/s3-server.sh).
    #[arg(long, value_parser = ["filesystem", "s3"], default_value = "filesystem")]
    storage: String,
}

/// metric → peer → samples
type Samples = BTreeMap<&'static str, BTreeMap<&'static str, Vec<f64>>>;

const METRICS: &[(&str, &str, bool)] = &[
    // (key, label, higher is better)
    ("push_mono", "push one big layer, monolithic (MB/s)", true),
    (
        "push_chunked",
        "push one big layer, 8 MiB chunks (MB/s)",
        true,
    ),
    ("pull", "pull the same layer (MB/s)", true),
    (
        "get1",
        "authenticated manifest GETs, 1 connection (req/s)",
        true,
    ),
    ("get1_p99", "  p99 latency, 1 connection (ms)", false),
    (
        "get32",
        "authenticated manifest GETs, 32 connections (req/s)",
        true,
    ),
    ("get32_p99", "  p99 latency, 32 connections (ms)", false),
    ("images", "200 small images, 16 clients (images/s)", true),
    ("rss", "peak RSS during the pushes (MiB)", false),
    ("ready", "process start to first answer on /v2/ (ms)", false),
    (
        "start",
        "process start to first authenticated 200 on /v2/ (ms)",
        false,
    ),
];

fn mb_s(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / 1e6 / d.as_secs_f64()
}

async fn run_peer(
    peer: Peer,
    args: &Args,
    dir: &std::path::Path,
    htpasswd: &std::path::Path,
    (data, d): (&Bytes, &str),
    out: &mut Samples,
    s3: Option<&peers::S3>,
) -> anyhow::Result<()> {
    let auth = work::basic_auth();
    let reg = peers::start(peer, &args.labreg, dir, htpasswd, &auth, s3).await?;
    let name = peer.name();
    let mut put =
        |k: &'static str, v: f64| out.entry(k).or_default().entry(name).or_default().push(v);
    put("ready", reg.start_to_answer.as_secs_f64() * 1000.0);
    put("start", reg.start_to_ready.as_secs_f64() * 1000.0);
    let c = Client::new(&reg.base);
    put(
        "push_mono",
        mb_s(
            data.len(),
            c.push_monolithic("big/mono", data.clone(), d).await?,
        ),
    );
    put(
        "push_chunked",
        mb_s(
            data.len(),
            c.push_chunked("big/chunked", data.clone(), d, 8 << 20)
                .await?,
        ),
    );
    put("rss", reg.peak_rss_mib());
    put(
        "pull",
        mb_s(data.len(), c.pull("big/mono", d, data.len()).await?),
    );
    c.push_small_image("small/app", "v1", 1).await?;
    let dur = Duration::from_secs(args.gets_seconds);
    let (rps, p99) = c.manifest_gets("small/app", "v1", 1, dur).await?;
    put("get1", rps);
    put("get1_p99", p99.as_secs_f64() * 1000.0);
    let (rps, p99) = c.manifest_gets("small/app", "v1", 32, dur).await?;
    put("get32", rps);
    put("get32_p99", p99.as_secs_f64() * 1000.0);
    put("images", c.many_images(200, 16).await?);
    reg.stop().await;
    Ok(())
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

/// SHA-256 of one core over `data`, MB/s.
fn sha256_limit(data: &[u8]) -> f64 {
    let t = Instant::now();
    std::hint::black_box(Sha256::digest(data));
    mb_s(data.len(), t.elapsed())
}

/// Sequential write with fsync to the work folder, MB/s.
fn write_limit(dir: &std::path::Path, data: &[u8]) -> anyhow::Result<f64> {
    let path = dir.join("write-limit.bin");
    let t = Instant::now();
    let mut f = std::fs::File::create(&path)?;
    for chunk in data.chunks(1 << 20) {
        f.write_all(chunk)?;
    }
    f.sync_all()?;
    let r = mb_s(data.len(), t.elapsed());
    std::fs::remove_file(path)?;
    Ok(r)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.work)?;
    let htpasswd = args.work.join("htpasswd");
    let status = std::process::Command::new("htpasswd")
        .args([
            "-Bbc",
            "-C",
            &args.cost.to_string(),
            htpasswd.to_str().unwrap(),
            "bench",
            "bench-password",
        ])
        .stderr(std::process::Stdio::null())
        .status()?;
    anyhow::ensure!(status.success(), "htpasswd failed: run scripts/setup.sh");
    if let Some(minutes) = args.soak_minutes {
        let auth = work::basic_auth();
        return soak::run(&args.labreg, &args.work, &htpasswd, &auth, minutes, 16).await;
    }
    let data: Vec<u8> = {
        let mut v = vec![0u8; args.size_mib << 20];
        rand::fill(&mut v[..]);
        v
    };
    let d = work::digest(&data);
    let sha = sha256_limit(&data);
    let write = write_limit(&args.work, &data)?;
    let data = Bytes::from(data);
    let s3 = match args.storage.as_str() {
        "s3" => Some(peers::S3::start(&args.work)?),
        _ => None,
    };
    let mut samples = Samples::new();
    for run in 0..args.runs {
        eprintln!("run {}/{}", run + 1, args.runs);
        for peer in [Peer::Labreg, Peer::Distribution] {
            let key = if peer == Peer::Labreg {
                "labreg"
            } else {
                "registry2"
            };
            if !args.peers.is_empty() && !args.peers.iter().any(|p| p == key) {
                continue;
            }
            let dir = tempfile::tempdir_in(&args.work)?;
            run_peer(
                peer,
                &args,
                dir.path(),
                &htpasswd,
                (&data, &d),
                &mut samples,
                s3.as_ref(),
            )
            .await?;
        }
    }
    let (l, r) = (Peer::Labreg.name(), Peer::Distribution.name());
    println!(
        "Storage: {}. Big layer: {} MiB; htpasswd bcrypt cost {}; {} runs, median (min–max).\n",
        if s3.is_some() {
            "S3 (Garage on loopback, blob GETs through the registry)"
        } else {
            "filesystem"
        },
        args.size_mib,
        args.cost,
        args.runs
    );
    println!("| figure | labreg | registry:2 | labreg / registry:2 |");
    println!("| --- | --- | --- | --- |");
    for (key, label, _) in METRICS {
        let Some(by) = samples.get(key) else { continue };
        let (Some(lv), Some(rv)) = (by.get(l), by.get(r)) else {
            let (name, v) = by.iter().next().expect("a sample");
            let (m, min, max) = stats(v);
            println!(
                "| {label} ({name} only) | {} ({}–{}) | | |",
                fmt(m),
                fmt(min),
                fmt(max)
            );
            continue;
        };
        let (lm, lmin, lmax) = stats(lv);
        let (rm, rmin, rmax) = stats(rv);
        println!(
            "| {label} | {} ({}–{}) | {} ({}–{}) | {:.2}x |",
            fmt(lm),
            fmt(lmin),
            fmt(lmax),
            fmt(rm),
            fmt(rmin),
            fmt(rmax),
            lm / rm
        );
    }
    println!("| limit: SHA-256, one core (MB/s) | {} | | |", fmt(sha));
    println!(
        "| limit: sequential write + fsync to the work folder (MB/s) | {} | | |",
        fmt(write)
    );
    Ok(())
}
