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

/// A Garage server started by scripts/s3-server.sh, shared by both peers
/// (each under its own root directory).
pub struct S3 {
    vars: Vec<(String, String)>,
}

impl S3 {
    pub fn start(work: &Path) -> anyhow::Result<S3> {
        let dir = work.join(format!("garage-{}", std::process::id()));
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/s3-server.sh");
        let out = std::process::Command::new("bash")
            .arg(script)
            .arg(&dir)
            .args(["--watch", &std::process::id().to_string()])
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "the S3 server did not start ({}): run scripts/setup.sh",
            String::from_utf8_lossy(&out.stderr)
        );
        let vars = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Ok(S3 { vars })
    }

    fn get(&self, k: &str) -> &str {
        self.vars
            .iter()
            .find(|(n, _)| n == k)
            .map_or("", |(_, v)| v)
    }

    /// The storage section for one peer. Blob GETs are served through the
    /// registry (no redirect), so the pull figure measures the registry.
    fn section(&self, root: &str) -> String {
        format!(
            "  s3:\n    accesskey: {}\n    secretkey: {}\n    region: {}\n    regionendpoint: {}\n    bucket: {}\n    secure: false\n    v4auth: true\n    rootdirectory: {root}\n  redirect:\n    disable: true\n",
            self.get("S3_ACCESS_KEY"),
            self.get("S3_SECRET_KEY"),
            self.get("S3_REGION"),
            self.get("S3_ENDPOINT"),
            self.get("S3_BUCKET"),
        )
    }
}

impl Drop for S3 {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .arg(self.get("S3_PID"))
            .status();
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
    s3: Option<&S3>,
) -> anyhow::Result<Running> {
    start_with(peer, labreg_bin, work, Some(htpasswd), auth, s3, "").await
}

/// Like `start`, with `extra` YAML appended to the config (a `proxy:` or
/// `labreg:` section); without `htpasswd`, open to anyone.
pub async fn start_with(
    peer: Peer,
    labreg_bin: &Path,
    work: &Path,
    htpasswd: Option<&Path>,
    auth: &str,
    s3: Option<&S3>,
    extra: &str,
) -> anyhow::Result<Running> {
    let port = free_port();
    let root = work.join(format!(
        "{}-{port}",
        peer.name().split(' ').next().unwrap_or("peer")
    ));
    std::fs::create_dir_all(&root)?;
    let config = root.join("config.yml");
    let storage = match s3 {
        None => format!(
            "  filesystem:\n    rootdirectory: {}\n",
            root.join("data").display()
        ),
        Some(s3) => s3.section(&format!("/bench-{port}")),
    };
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n{storage}  delete:\n    enabled: true\n  maintenance:\n    uploadpurging:\n      enabled: false\nhttp:\n  addr: 127.0.0.1:{port}\n{}{extra}",
            htpasswd.map_or(String::new(), |h| format!(
                "auth:\n  htpasswd:\n    realm: bench\n    path: {}\n",
                h.display()
            ))
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
        // distribution's AWS SDK panics on a CA bundle it cannot load; the
        // loopback S3 server is plain HTTP and needs none.
        .env_remove("AWS_CA_BUNDLE")
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
