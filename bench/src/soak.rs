//! The soak: mixed pushes and pulls against one labreg for a long while, on
//! loopback, bounded in time. Reports every error and the server's resident
//! memory over time; fails when any request failed or memory kept growing.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::peers::{self, Credentials, Peer};
use crate::work::{Client, digest};

pub async fn run(
    labreg: &Peer,
    work: &std::path::Path,
    creds: &Credentials,
    minutes: u64,
    clients: usize,
) -> anyhow::Result<()> {
    let dir = tempfile::tempdir_in(work)?;
    let reg = peers::start(labreg, dir.path(), Some(creds), None).await?;
    let auth = creds.header.as_str();
    let pid = reg.child.id().unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs(minutes * 60);
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut tasks = Vec::new();
    for w in 0..clients {
        let c = Client::new(&reg.base, auth);
        let (ok, failed) = (ok.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = 0usize;
            while Instant::now() < deadline {
                i += 1;
                let n = w * 1_000_000 + i;
                let repo = format!("soak/r{}", n % 8);
                let result = if i.is_multiple_of(3) {
                    c.push_small_image(&repo, &format!("t{}", n % 50), n % 500)
                        .await
                } else {
                    // A bounded set of contents, so the storage stays small
                    // however long the soak runs (pushes of existing blobs
                    // are still full uploads).
                    let k = n % 64;
                    let data = Bytes::from(vec![k as u8; 256 * 1024 + k * 61]);
                    let d = digest(&data);
                    match c.push_monolithic(&repo, data.clone(), &d).await {
                        Ok(_) => c.pull(&repo, &d, data.len()).await.map(|_| ()),
                        Err(e) => Err(e),
                    }
                };
                match result {
                    Ok(()) => ok.fetch_add(1, Ordering::Relaxed),
                    Err(e) => {
                        eprintln!("soak: {e:#}");
                        failed.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
        }));
    }
    let mut samples = Vec::new();
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(10)).await;
        let r = peers::proc_status_mib(pid, "VmRSS:");
        samples.push(r);
        println!(
            "soak: {:>4} s  rss {r:.1} MiB  ok {}  failed {}",
            samples.len() * 10,
            ok.load(Ordering::Relaxed),
            failed.load(Ordering::Relaxed)
        );
    }
    for t in tasks {
        t.await?;
    }
    reg.stop().await;
    let failed = failed.load(Ordering::Relaxed);
    // Flat: the last third of the run is no higher than 1.25x the middle third.
    let third = samples.len() / 3;
    let (mid, last) = (&samples[third..2 * third], &samples[2 * third..]);
    let max = |s: &[f64]| s.iter().copied().fold(0.0, f64::max);
    let grew = third > 0 && max(last) > 1.25 * max(mid);
    println!(
        "soak: {} operations, {failed} failed; rss middle max {:.1} MiB, last max {:.1} MiB",
        ok.load(Ordering::Relaxed),
        max(mid),
        max(last)
    );
    anyhow::ensure!(failed == 0, "{failed} operations failed");
    anyhow::ensure!(!grew, "memory kept growing");
    Ok(())
}
