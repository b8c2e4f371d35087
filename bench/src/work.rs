//! The workloads, as a client would run them against either registry.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

pub fn digest(data: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(data))
}

/// A registry client of the workloads: labreg-oci's, shared by the tasks
/// of one workload (one connection pool), with Basic credentials sent from
/// the first request when the bench has them.
#[derive(Clone)]
pub struct Client {
    oci: Arc<labreg_oci::Client>,
    base: String,
    auth: String,
}

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

impl Client {
    /// A client of the registry at `base`; `auth` is a `Basic ...` header
    /// value, or empty for a registry without authentication.
    pub fn new(base: &str, auth: &str) -> Client {
        let http = crate::tls::client_builder()
            .pool_max_idle_per_host(64)
            .build()
            .unwrap();
        let url = base.parse().expect("the registry's base URL");
        let oci = match basic_credentials(auth) {
            Some(creds) => labreg_oci::Client::new(url, http, Some(creds)).assume_basic(),
            None => labreg_oci::Client::new(url, http, None),
        };
        Client {
            oci: Arc::new(oci),
            base: base.to_string(),
            auth: auth.to_string(),
        }
    }

    /// POST, then PUT with the whole blob.
    pub async fn push_monolithic(
        &self,
        repo: &str,
        data: Bytes,
        d: &str,
    ) -> anyhow::Result<Duration> {
        let t = Instant::now();
        self.oci.put_blob(repo, d, data).await?;
        Ok(t.elapsed())
    }

    /// POST, PATCHes of `chunk` bytes with Content-Range, then PUT.
    pub async fn push_chunked(
        &self,
        repo: &str,
        data: Bytes,
        d: &str,
        chunk: usize,
    ) -> anyhow::Result<Duration> {
        let t = Instant::now();
        self.oci.put_blob_chunked(repo, d, data, chunk).await?;
        Ok(t.elapsed())
    }

    /// `pull` by a client of its own on a runtime of one thread, as a
    /// single download runs in curl or a registry client: on the two
    /// cores shared with the registry, the bench's multi-thread runtime
    /// moves the body's wake-ups between cores and becomes the limit of
    /// the fastest registries (README, "Session 11").
    pub async fn pull_on_one_thread(
        &self,
        repo: &str,
        d: &str,
        size: usize,
    ) -> anyhow::Result<Duration> {
        let (base, auth) = (self.base.clone(), self.auth.clone());
        let (repo, d) = (repo.to_string(), d.to_string());
        tokio::task::spawn_blocking(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(Client::new(&base, &auth).pull(&repo, &d, size))
        })
        .await
        .context("pull thread")?
    }

    pub async fn pull(&self, repo: &str, d: &str, size: usize) -> anyhow::Result<Duration> {
        let t = Instant::now();
        let mut body = self.oci.get_blob(repo, d).await?.stream;
        let mut n = 0;
        while let Some(chunk) = body.next().await {
            n += chunk?.len();
        }
        if n != size {
            bail!("pulled {n} bytes, expected {size}");
        }
        Ok(t.elapsed())
    }

    /// Pushes a small image (1 KiB layer, config, manifest) under `tag`.
    pub async fn push_small_image(&self, repo: &str, tag: &str, seed: usize) -> anyhow::Result<()> {
        let layer: Vec<u8> = (0..1024)
            .map(|i| ((i * 31 + seed * 7) % 251) as u8)
            .chain(seed.to_le_bytes())
            .collect();
        let config = format!("{{\"seed\":{seed}}}");
        let (ld, cd) = (digest(&layer), digest(config.as_bytes()));
        for (bytes, d) in [
            (Bytes::from(layer.clone()), &ld),
            (Bytes::from(config.clone()), &cd),
        ] {
            self.push_monolithic(repo, bytes, d).await?;
        }
        let m = serde_json::json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld, "size": layer.len()}]});
        let body = Bytes::from(serde_json::to_vec(&m)?);
        self.oci.put_manifest(repo, tag, OCI_MANIFEST, body).await?;
        Ok(())
    }

    /// `images` small images pushed by `clients` concurrent clients: images/s.
    pub async fn many_images(&self, images: usize, clients: usize) -> anyhow::Result<f64> {
        let next = Arc::new(AtomicUsize::new(0));
        let t = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..clients {
            let (c, next) = (self.clone(), next.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= images {
                        return anyhow::Ok(());
                    }
                    c.push_small_image(&format!("many/img{}", i % 20), &format!("t{i}"), i)
                        .await?;
                }
            }));
        }
        for t in tasks {
            t.await.context("client task")??;
        }
        Ok(images as f64 / t.elapsed().as_secs_f64())
    }

    /// `batches` batches of `n` distinct small blobs (64 KiB), each batch
    /// pushed in parallel (POST, then PUT): blobs/s.
    pub async fn blobs_parallel(&self, n: usize, batches: usize) -> anyhow::Result<f64> {
        let mut total = Duration::ZERO;
        for b in 0..batches {
            let blobs: Vec<(Bytes, String)> = (0..n)
                .map(|i| {
                    let mut v = vec![0u8; 64 * 1024];
                    rand::fill(&mut v[..]);
                    v[..8].copy_from_slice(&((b * n + i) as u64).to_le_bytes());
                    let d = digest(&v);
                    (Bytes::from(v), d)
                })
                .collect();
            let t = Instant::now();
            let tasks: Vec<_> = blobs
                .into_iter()
                .map(|(data, d)| {
                    let c = self.clone();
                    tokio::spawn(async move { c.push_monolithic("small/blobs", data, &d).await })
                })
                .collect();
            for t in tasks {
                t.await.context("client task")??;
            }
            total += t.elapsed();
        }
        Ok((n * batches) as f64 / total.as_secs_f64())
    }

    /// `n` concurrent monolithic pushes of `data` to `n` repositories:
    /// aggregate MB/s.
    pub async fn concurrent_pushes(&self, n: usize, data: Bytes, d: &str) -> anyhow::Result<f64> {
        let t = Instant::now();
        let tasks: Vec<_> = (0..n)
            .map(|i| {
                let (c, data, d) = (self.clone(), data.clone(), d.to_string());
                tokio::spawn(
                    async move { c.push_monolithic(&format!("conc/r{i}"), data, &d).await },
                )
            })
            .collect();
        for t in tasks {
            t.await.context("client task")??;
        }
        Ok((n * data.len()) as f64 / 1e6 / t.elapsed().as_secs_f64())
    }

    /// Manifest GETs by `conns` concurrent clients for `dur`:
    /// (requests per second, p99 latency).
    pub async fn manifest_gets(
        &self,
        repo: &str,
        tag: &str,
        conns: usize,
        dur: Duration,
    ) -> anyhow::Result<(f64, Duration)> {
        let deadline = Instant::now() + dur;
        let mut tasks = Vec::new();
        for _ in 0..conns {
            // A client (and connection) of its own per task.
            let c = Client::new(&self.base, &self.auth);
            let (repo, tag) = (repo.to_string(), tag.to_string());
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                while Instant::now() < deadline {
                    let t = Instant::now();
                    c.oci.get_manifest(&repo, &tag).await?;
                    lat.push(t.elapsed());
                }
                anyhow::Ok(lat)
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.context("client task")??);
        }
        all.sort();
        let p99 = all.get(all.len() * 99 / 100).copied().unwrap_or_default();
        Ok((all.len() as f64 / dur.as_secs_f64(), p99))
    }
}

/// The credentials of a `Basic ...` header value.
fn basic_credentials(header: &str) -> Option<labreg_oci::Credentials> {
    use base64::Engine as _;
    let encoded = header.strip_prefix("Basic ")?;
    let pair = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let (user, password) = std::str::from_utf8(&pair).ok()?.split_once(':')?;
    Some(labreg_oci::Credentials {
        username: user.to_string(),
        password: password.to_string(),
    })
}
