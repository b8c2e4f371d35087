//! A link of limited speed in front of a registry: a TCP relay on loopback
//! whose answers (server to client) share one rate, as a home's internet
//! link does; requests pass unpaced. `labbench --mirror --upstream-mbps N`
//! puts the upstream behind one, so that "pulling from the upstream
//! directly" means what it means in a lab: across the link.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The relay; it stops when dropped.
pub struct Link {
    pub base: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Link {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// When the link is free again: each chunk books its time on it.
struct Pace {
    bytes_per_s: f64,
    free_at: Mutex<Instant>,
}

impl Pace {
    /// Waits until `n` more bytes have crossed the link.
    async fn send(&self, n: usize) {
        let done = {
            let mut free = self.free_at.lock().expect("pace poisoned");
            // A chunk that arrives late (the relay slept past its slot)
            // takes the time the link was idle, up to 20 ms of it, so the
            // timer's lateness does not lower the rate.
            let now = Instant::now();
            let start = (*free).max(now - Duration::from_millis(20));
            *free = start + Duration::from_secs_f64(n as f64 / self.bytes_per_s);
            *free
        };
        // The timer's grain is a millisecond: a chunk sleeps only when the
        // link is booked further ahead than that, so the rate holds on
        // average with bursts of a few milliseconds.
        if done > Instant::now() + Duration::from_millis(2) {
            tokio::time::sleep_until(done.into()).await;
        }
    }
}

/// A link of `megabits` Mbit/s to `upstream` (`http://host:port`).
pub async fn start(upstream: &str, megabits: f64) -> anyhow::Result<Link> {
    let target = upstream
        .strip_prefix("http://")
        .ok_or_else(|| anyhow::anyhow!("a link relays plain HTTP, not {upstream}"))?
        .to_string();
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let pace = Arc::new(Pace {
        bytes_per_s: megabits * 1e6 / 8.0,
        free_at: Mutex::new(Instant::now()),
    });
    let task = tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let (target, pace) = (target.clone(), pace.clone());
            tokio::spawn(async move {
                if let Ok(server) = TcpStream::connect(&target).await {
                    relay(client, server, &pace).await;
                }
            });
        }
    });
    Ok(Link { base, task })
}

async fn relay(client: TcpStream, server: TcpStream, pace: &Pace) {
    let (mut client_rx, mut client_tx) = client.into_split();
    let (mut server_rx, mut server_tx) = server.into_split();
    let requests =
        tokio::spawn(async move { tokio::io::copy(&mut client_rx, &mut server_tx).await });
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = match server_rx.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        pace.send(n).await;
        if client_tx.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = client_tx.shutdown().await;
    requests.abort();
}
