//! labbench: labreg against other registries (registry:2, registry:3,
//! angos, or another labreg build), in the same run on the same machine,
//! with the same storage kind and equivalent credentials. Rounds alternate
//! the registries (A/B interleaved); the table shows medians with min and
//! max, the machine's physical limits and the load during the run. With
//! `--mirror`, the same registries as mirrors of one upstream instead
//! (`mirror.rs`).
//!
//! Run it with `scripts/bench.sh`; it is a benchmark, not a test.

mod link;
mod mirror;
mod peers;
mod soak;
mod table;
mod tls;
mod work;

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use clap::Parser;
use peers::{Credentials, Kind, Peer};
use sha2::{Digest, Sha256};
use table::{Samples, mb_s, ms_per_gb};
use work::Client;

#[derive(Parser)]
struct Args {
    /// The labreg binary (a release build); always in the comparison.
    #[arg(long)]
    labreg: PathBuf,
    /// Another registry, as NAME=BINARY (repeatable). The name's start picks
    /// the config written for it: registry… (distribution's config.yml:
    /// registry:2, registry:3), angos… (angos's TOML), labreg… (a second
    /// labreg build, for before/after comparisons).
    #[arg(long = "peer", value_parser = Peer::parse)]
    peers: Vec<Peer>,
    /// Run only the registries with these names (e.g. `--only labreg` for
    /// profiling).
    #[arg(long)]
    only: Vec<String>,
    /// Rounds; each runs every registry once, in turn.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Size of the big layer, in MiB.
    #[arg(long, default_value_t = 512)]
    size_mib: usize,
    /// Size of the large layer (pushed and pulled once per round), in MiB;
    /// 0 leaves it out.
    #[arg(long, default_value_t = 2048)]
    large_mib: usize,
    /// Concurrent pushers of one layer each; 0 leaves them out.
    #[arg(long, default_value_t = 64)]
    concurrent: usize,
    /// Size of each concurrent pusher's layer, in MiB.
    #[arg(long, default_value_t = 256)]
    concurrent_mib: usize,
    /// Rounds that include the large layer and the concurrent pushers (the
    /// first ones; default: all).
    #[arg(long)]
    heavy_runs: Option<usize>,
    /// Seconds of manifest GETs per connection count.
    #[arg(long, default_value_t = 5)]
    gets_seconds: u64,
    /// Where the registries store their data (a fresh folder per run).
    #[arg(long, default_value = "/var/tmp/labbench")]
    work: PathBuf,
    /// bcrypt cost of the shared htpasswd file.
    #[arg(long, default_value_t = 10)]
    cost: u32,
    /// Instead of the comparison: a soak of mixed pushes and pulls against
    /// labreg for this many minutes, failing on any error or memory growth.
    #[arg(long)]
    soak_minutes: Option<u64>,
    /// Storage of all registries: a folder, or S3 on a Garage server on
    /// loopback (started by scripts/s3-server.sh).
    #[arg(long, value_parser = ["filesystem", "s3"], default_value = "filesystem")]
    storage: String,
    /// Instead of the comparison: the big layer pulled through each
    /// registry as a mirror (labreg's `labreg.mirrors`, distribution's
    /// `proxy:`) of an open labreg on loopback, first and cached, against
    /// pulling it from that upstream directly.
    #[arg(long)]
    mirror: bool,
    /// Every registry serves HTTPS (a CA and a server certificate made
    /// with openssl for the run), and the clients trust that CA.
    #[arg(long)]
    tls: bool,
    /// Leaves out the authenticated figures (start times, authenticated
    /// GETs, many small images): with registry:3's bcrypt on every request
    /// they take minutes per round.
    #[arg(long)]
    skip_auth: bool,
    /// With --mirror: the upstream behind a link of this many Mbit/s (a
    /// relay in labbench pacing the answers), for the direct pull and the
    /// mirrors' fills alike; without it, loopback at full speed.
    #[arg(long, requires = "mirror")]
    upstream_mbps: Option<f64>,
}

/// The data every registry gets: (bytes, digest).
struct Layers {
    big: (Bytes, String),
    large: Option<(Bytes, String)>,
    each: Option<(Bytes, String)>,
}

fn random_layer(mib: usize) -> (Bytes, String) {
    let mut v = vec![0u8; mib << 20];
    rand::fill(&mut v[..]);
    let d = work::digest(&v);
    (Bytes::from(v), d)
}

/// The data path without authentication: pushes, pull, small blobs,
/// manifest GETs, large layers and concurrent pushers, with peak RSS.
async fn run_open(
    peer: &Peer,
    args: &Args,
    layers: &Layers,
    heavy: bool,
    out: &mut Samples,
    s3: Option<&peers::S3>,
) -> anyhow::Result<()> {
    let dir = tempfile::tempdir_in(&args.work)?;
    let reg = peers::start(peer, dir.path(), None, s3).await?;
    let mut put = |k: &'static str, v: f64| out.put(k, &peer.name, v);
    let c = Client::new(&reg.base, "");
    let (data, d) = &layers.big;
    reg.reset_peak_rss();
    let cpu = reg.cpu_seconds();
    let t = c.push_monolithic("big/mono", data.clone(), d).await?;
    put("push_mono", mb_s(data.len(), t));
    put("cpu_push", ms_per_gb(reg.cpu_seconds() - cpu, data.len()));
    let t = c
        .push_chunked("big/chunked", data.clone(), d, 8 << 20)
        .await?;
    put("push_chunked", mb_s(data.len(), t));
    put("rss", reg.peak_rss_mib());
    let cpu = reg.cpu_seconds();
    put(
        "pull",
        mb_s(
            data.len(),
            c.pull_on_one_thread("big/mono", d, data.len()).await?,
        ),
    );
    put("cpu_pull", ms_per_gb(reg.cpu_seconds() - cpu, data.len()));
    // The large layer right after the big one, before the many small
    // requests: its peak RSS then starts from the same resident size as
    // the big layer's (VmHWM is reset to the current size, and what 16
    // connections of manifest GETs leave allocated would be counted).
    if let Some((data, d)) = layers.large.as_ref().filter(|_| heavy) {
        reg.reset_peak_rss();
        let t = c.push_monolithic("large/layer", data.clone(), d).await?;
        put("push_large", mb_s(data.len(), t));
        put("rss_large", reg.peak_rss_mib());
        let t = c.pull_on_one_thread("large/layer", d, data.len()).await?;
        put("pull_large", mb_s(data.len(), t));
    }
    put("blobs", c.blobs_parallel(50, 10).await?);
    c.push_small_image("small/app", "v1", 1).await?;
    let dur = Duration::from_secs(args.gets_seconds);
    let (rps, p99) = c.manifest_gets("small/app", "v1", 16, dur).await?;
    put("get16_open", rps);
    put("get16_open_p99", p99.as_secs_f64() * 1000.0);
    if let Some((data, d)) = layers.each.as_ref().filter(|_| heavy) {
        reg.reset_peak_rss();
        let cpu = reg.cpu_seconds();
        let rate = c
            .concurrent_pushes(args.concurrent, data.clone(), d)
            .await?;
        put("push_concurrent", rate);
        let bytes = args.concurrent * data.len();
        put("cpu_concurrent", ms_per_gb(reg.cpu_seconds() - cpu, bytes));
        put("rss_concurrent", reg.peak_rss_mib());
    }
    reg.stop().await;
    Ok(())
}

/// With authentication: start times, authenticated manifest GETs and many
/// small images.
async fn run_auth(
    peer: &Peer,
    args: &Args,
    creds: &Credentials,
    out: &mut Samples,
    s3: Option<&peers::S3>,
) -> anyhow::Result<()> {
    let dir = tempfile::tempdir_in(&args.work)?;
    let reg = peers::start(peer, dir.path(), Some(creds), s3).await?;
    let mut put = |k: &'static str, v: f64| out.put(k, &peer.name, v);
    put("ready", reg.start_to_answer.as_secs_f64() * 1000.0);
    put("start", reg.start_to_ready.as_secs_f64() * 1000.0);
    let c = Client::new(&reg.base, &creds.header);
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

/// The order of the registries in round `run`: each once, starting one
/// further each round, so that no registry always runs right after the same
/// one (and its writeback) or always first.
fn turn(peers: usize, run: usize) -> impl Iterator<Item = usize> {
    (0..peers).map(move |i| (run + i) % peers)
}

/// The machine's 1-minute load average.
fn load() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// The bench user for every kind of peer.
fn credentials(args: &Args) -> anyhow::Result<Credentials> {
    let htpasswd = args.work.join("htpasswd");
    let status = std::process::Command::new("htpasswd")
        .args(["-Bbc", "-C", &args.cost.to_string()])
        .arg(&htpasswd)
        .args(["bench", "bench-password"])
        .stderr(std::process::Stdio::null())
        .status()?;
    anyhow::ensure!(status.success(), "htpasswd failed: run scripts/setup.sh");
    // angos's own hash format (Argon2id, its documented parameters).
    let mut salt = [0u8; 12];
    rand::fill(&mut salt[..]);
    let salt = base64::engine::general_purpose::STANDARD_NO_PAD.encode(salt);
    let mut child = std::process::Command::new("argon2")
        .args([
            salt.as_str(),
            "-id",
            "-t",
            "2",
            "-k",
            "19456",
            "-p",
            "1",
            "-e",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| anyhow::anyhow!("argon2: {e}: run scripts/setup.sh"))?;
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(b"bench-password")?;
    let out = child.wait_with_output()?;
    anyhow::ensure!(out.status.success(), "argon2 failed: run scripts/setup.sh");
    Ok(Credentials {
        htpasswd,
        argon2: String::from_utf8(out.stdout)?.trim().to_string(),
        header: format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("bench:bench-password")
        ),
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.work)?;
    // The CA and the server key live as long as the run, in a folder
    // removed at its end.
    anyhow::ensure!(
        !(args.tls && args.mirror),
        "--tls with --mirror: the mirrors would need the run's CA for their upstream; run them apart"
    );
    let _tls_dir = match args.tls {
        true => {
            let dir = tempfile::tempdir_in(&args.work)?;
            tls::enable(dir.path())?;
            Some(dir)
        }
        false => None,
    };
    let creds = credentials(&args)?;
    let labreg = Peer {
        name: "labreg".into(),
        kind: Kind::Labreg,
        bin: args.labreg.clone(),
    };
    if let Some(minutes) = args.soak_minutes {
        return soak::run(&labreg, &args.work, &creds, minutes, 16).await;
    }
    // The mirrors' upstream: the same binary, under its own name.
    let upstream = Peer {
        name: "upstream".into(),
        ..labreg.clone()
    };
    let all: Vec<Peer> = std::iter::once(labreg)
        .chain(args.peers.iter().cloned())
        .filter(|p| args.only.is_empty() || args.only.contains(&p.name))
        .collect();
    anyhow::ensure!(!all.is_empty(), "--only {:?} names no registry", args.only);
    if args.mirror {
        mirror::check(&all)?;
    }
    let layers = Layers {
        big: random_layer(args.size_mib),
        large: (!args.mirror && args.large_mib > 0).then(|| random_layer(args.large_mib)),
        each: (!args.mirror && args.concurrent > 0).then(|| random_layer(args.concurrent_mib)),
    };
    let sha = sha256_limit(&layers.big.0);
    let write = write_limit(&args.work, &layers.big.0)?;
    let s3 = match args.storage.as_str() {
        "s3" => Some(peers::S3::start(&args.work)?),
        _ => None,
    };
    let mut samples = Samples::default();
    let mut loads = Vec::new();
    for run in 0..args.runs {
        loads.push(load());
        eprintln!("round {}/{} (load {:.2})", run + 1, args.runs, load());
        if args.mirror {
            let setup = mirror::Setup {
                work: &args.work,
                creds: &creds,
                s3: s3.as_ref(),
                link_mbps: args.upstream_mbps,
            };
            mirror::round(&upstream, &all, &setup, &layers.big, &mut samples).await?;
            continue;
        }
        for peer in turn(all.len(), run).map(|i| &all[i]) {
            eprintln!("  {}", peer.name);
            let heavy = run < args.heavy_runs.unwrap_or(args.runs);
            run_open(peer, &args, &layers, heavy, &mut samples, s3.as_ref()).await?;
            if !args.skip_auth {
                run_auth(peer, &args, &creds, &mut samples, s3.as_ref()).await?;
            }
        }
    }
    loads.push(load());
    let names: Vec<&str> = all.iter().map(|p| p.name.as_str()).collect();
    let storage = match (s3.is_some(), args.tls) {
        (true, false) => "S3 (Garage on loopback, blob GETs through the registry)",
        (true, true) => {
            "S3 (Garage on loopback, blob GETs through the registry); clients speak HTTPS to every registry"
        }
        (false, false) => "filesystem",
        (false, true) => "filesystem; clients speak HTTPS to every registry",
    };
    if args.mirror {
        println!(
            "Storage: {storage}. Mirror: a {} MiB layer in an open labreg on loopback (the upstream, fresh each round), {}, pulled from it directly and, right after, twice through each registry as its mirror (started fresh, htpasswd bcrypt cost {}); {} rounds (registries in turn), median (min–max).",
            args.size_mib,
            match args.upstream_mbps {
                Some(m) => format!("behind a {m} Mbit/s link (labbench's pacing relay)"),
                None => "at loopback speed".into(),
            },
            args.cost,
            args.runs
        );
    } else {
        println!(
            "Storage: {storage}. Big layer {} MiB, large layer {} MiB, {} concurrent pushers of {} MiB (in {} of the rounds); htpasswd bcrypt cost {} (angos: Argon2id); {} rounds (registries in turn, each round starting with the next one), median (min–max).",
            args.size_mib,
            args.large_mib,
            args.concurrent,
            args.concurrent_mib,
            args.heavy_runs.unwrap_or(args.runs).min(args.runs),
            args.cost,
            args.runs
        );
    }
    let loads: Vec<String> = loads.iter().map(|l| format!("{l:.2}")).collect();
    println!(
        "Load (1-minute average) at each round's start and at the end: {}.\n",
        loads.join(", ")
    );
    let metrics = if args.mirror {
        mirror::METRICS
    } else {
        table::METRICS
    };
    table::print(&samples, metrics, &names, sha, write);
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn each_round_starts_one_further() {
        let order = |run| super::turn(3, run).collect::<Vec<_>>();
        assert_eq!(order(0), [0, 1, 2]);
        assert_eq!(order(1), [1, 2, 0]);
        assert_eq!(order(2), [2, 0, 1]);
        assert_eq!(order(3), [0, 1, 2]);
    }
}
