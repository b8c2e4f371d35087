//! The two registries under test, started the same way: same storage kind
//! (a fresh folder each), same htpasswd file, loopback only.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    Labreg,
    Distribution,
}

impl Peer {
    pub fn name(self) -> &'static str {
        match self {
            Peer::Labreg => "labreg",
            Peer::Distribution => "registry:2 (docker-registry 2.8)",
        }
    }
}

pub struct Running {
    pub child: tokio::process::Child,
    pub base: String,
    /// From spawn to the first HTTP answer on /v2/ (a 401 without credentials).
    pub start_to_answer: Duration,
    /// From spawn to the first authenticated 200 on /v2/ (one bcrypt run).
    pub start_to_ready: Duration,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub async fn start(
    peer: Peer,
    labreg_bin: &Path,
    work: &Path,
    htpasswd: &Path,
    auth: &str,
) -> anyhow::Result<Running> {
    let port = free_port();
    let root = work.join(format!(
        "{}-{port}",
        peer.name().split(' ').next().unwrap_or("peer")
    ));
    std::fs::create_dir_all(&root)?;
    let config = root.join("config.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n  maintenance:\n    uploadpurging:\n      enabled: false\nhttp:\n  addr: 127.0.0.1:{port}\nauth:\n  htpasswd:\n    realm: bench\n    path: {}\n",
            root.join("data").display(),
            htpasswd.display()
        ),
    )?;
    let program: PathBuf = match peer {
        Peer::Labreg => labreg_bin.to_path_buf(),
        Peer::Distribution => "docker-registry".into(),
    };
    let started = Instant::now();
    let child = tokio::process::Command::new(&program)
        .arg("serve")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}: run scripts/setup.sh", program.display()))?;
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = started + Duration::from_secs(20);
    let start_to_answer = loop {
        if client.get(format!("{base}/v2/")).send().await.is_ok() {
            break started.elapsed();
        }
        if Instant::now() > deadline {
            bail!("{} did not answer on /v2/ within 20 s", peer.name());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    loop {
        let ok = client
            .get(format!("{base}/v2/"))
            .header("authorization", auth)
            .send()
            .await
            .map(|r| r.status().is_success())
            .unwrap_or(false);
        if ok {
            return Ok(Running {
                child,
                base,
                start_to_answer,
                start_to_ready: started.elapsed(),
            });
        }
        if Instant::now() > deadline {
            bail!("{} did not answer 200 on /v2/ within 20 s", peer.name());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

impl Running {
    /// Peak resident memory of the process so far (VmHWM), in MiB.
    pub fn peak_rss_mib(&self) -> f64 {
        let Some(pid) = self.child.id() else {
            return f64::NAN;
        };
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
            .unwrap_or(f64::NAN)
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
