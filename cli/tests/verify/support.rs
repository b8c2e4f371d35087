//! Registries for the verify tests: labreg booted in-process on a port-0
//! listener, and Debian's docker-registry (distribution 2.8) as a child
//! process with htpasswd and TLS when asked; certificates made with rcgen;
//! labctl run as the real binary.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use labreg::config::Config;
use labreg::server;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use time::OffsetDateTime;

/// labreg in this process, plain HTTP, no auth.
pub struct Labreg {
    pub addr: std::net::SocketAddr,
    pub dir: tempfile::TempDir,
    // For the node-trust mirror test's metrics; the verify tests do not read it.
    #[allow(dead_code)]
    state: std::sync::Arc<labreg::api::AppState>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Labreg {
    /// Plain HTTP, no auth; `extra` YAML is added to the config.
    pub async fn start(extra: &str) -> Labreg {
        let dir = tempfile::tempdir().unwrap();
        let yaml = format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\n{extra}",
            dir.path().join("data").display()
        );
        Self::boot(dir, &yaml).await
    }

    /// With the same options docker-registry gets (htpasswd, TLS; the
    /// port when given).
    pub async fn start_with(o: &DistOptions) -> Labreg {
        let dir = tempfile::tempdir().unwrap();
        let yaml = config(dir.path(), 0, o) + &o.labreg_extra;
        let port = o.port.unwrap_or(0);
        Self::boot_on(dir, &yaml, port).await
    }

    pub async fn boot(dir: tempfile::TempDir, yaml: &str) -> Labreg {
        Self::boot_on(dir, yaml, 0).await
    }

    async fn boot_on(dir: tempfile::TempDir, yaml: &str, port: u16) -> Labreg {
        let loaded = Config::from_yaml(yaml, Vec::new()).expect("labreg config");
        let state = server::build_state(&loaded.config).expect("labreg state");
        let tls = server::tls_config(&loaded.config).expect("labreg tls");
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let app = server::router(state.clone(), Default::default(), false);
        tokio::spawn(async move {
            server::serve(listener, app, tls, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        Labreg {
            addr,
            dir,
            state,
            stop: Some(tx),
        }
    }

    /// The mirrors' Prometheus lines (`labreg_mirror_*`), as
    /// `http.debug.prometheus` serves them.
    #[allow(dead_code)]
    pub fn mirror_metrics(&self) -> String {
        let mut out = String::new();
        for u in &self.state.upstreams {
            u.render(&mut out);
        }
        out
    }

    /// Upload sessions still open in the storage.
    pub fn open_uploads(&self) -> Vec<String> {
        let d = self
            .dir
            .path()
            .join("data/docker/registry/v2/repositories/labctl/verify/_uploads");
        match std::fs::read_dir(d) {
            Ok(e) => e
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into())
                .collect(),
            Err(_) => Vec::new(),
        }
    }
}

impl Drop for Labreg {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// A CA and its key, for issuing test certificates.
pub struct Ca {
    pub cert_pem: String,
    key_pem: String,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(DnType::CommonName, name);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let cert = p.self_signed(&key).unwrap();
        Ca {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// A server certificate with `sans` (none: CN only), valid in `days`
    /// from..to relative to now; (cert, key) PEM.
    pub fn issue(&self, cn: &str, sans: &[&str], from_days: i64, to_days: i64) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
        let mut p = CertificateParams::new(sans).unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        let now = OffsetDateTime::now_utc();
        p.not_before = now + time::Duration::days(from_days);
        p.not_after = now + time::Duration::days(to_days);
        let issuer =
            Issuer::from_ca_cert_pem(&self.cert_pem, KeyPair::from_pem(&self.key_pem).unwrap())
                .unwrap();
        let cert = p.signed_by(&key, &issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// What docker-registry is started with.
#[derive(Default)]
pub struct DistOptions {
    /// (user, password) written to an htpasswd file.
    pub user: Option<(&'static str, &'static str)>,
    /// (cert, key) PEM.
    pub tls: Option<(String, String)>,
    pub no_delete: bool,
    /// A port to listen on (else a free one).
    pub port: Option<u16>,
    /// YAML added to labreg's config only (e.g. `labreg.mirrors`).
    pub labreg_extra: String,
}

/// Debian's docker-registry on loopback.
pub struct Distribution {
    pub port: u16,
    _dir: tempfile::TempDir,
    child: tokio::process::Child,
}

// docker-registry takes its address from its config only.
pub use crate::common::free_port;

/// A distribution config (read by both registries) in `d`.
fn config(d: &Path, port: u16, o: &DistOptions) -> String {
    let mut cfg = format!(
        "version: 0.1\nlog: {{level: error}}\nstorage:\n  filesystem: {{rootdirectory: {}}}\n  delete: {{enabled: {}}}\nhttp:\n  addr: 127.0.0.1:{port}\n",
        d.join("data").display(),
        !o.no_delete
    );
    if let Some((cert, key)) = &o.tls {
        std::fs::write(d.join("tls.crt"), cert).unwrap();
        std::fs::write(d.join("tls.key"), key).unwrap();
        cfg += &format!(
            "  tls: {{certificate: {}, key: {}}}\n",
            d.join("tls.crt").display(),
            d.join("tls.key").display()
        );
    }
    if let Some((user, password)) = o.user {
        // Made by Apache's htpasswd, as the seeds make it.
        let line =
            crate::common::run_ok(crate::common::tool("htpasswd").args(["-Bbn", user, password]));
        std::fs::write(d.join("htpasswd"), format!("{}\n", line.trim())).unwrap();
        cfg += &format!(
            "auth:\n  htpasswd: {{realm: labctl-test, path: {}}}\n",
            d.join("htpasswd").display()
        );
    }
    cfg
}

impl Distribution {
    /// Starts it; when the port was taken meanwhile (it exits), again on
    /// another port.
    pub async fn start(o: DistOptions) -> Distribution {
        crate::common::tool("docker-registry");
        for _ in 0..5 {
            if let Some(d) = Self::try_start(&o).await {
                return d;
            }
        }
        panic!("docker-registry did not start (5 tries)");
    }

    async fn try_start(o: &DistOptions) -> Option<Distribution> {
        let port = o.port.unwrap_or_else(free_port);
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let cfg = config(d, port, o);
        std::fs::write(d.join("config.yml"), cfg).unwrap();
        let mut child = tokio::process::Command::new("docker-registry")
            .arg("serve")
            .arg(d.join("config.yml"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("docker-registry starts");
        for _ in 0..200 {
            let up = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok();
            if up {
                // Someone else may hold the port: ours exits when it cannot bind.
                tokio::time::sleep(Duration::from_millis(100)).await;
                if child.try_wait().ok().flatten().is_some() {
                    return None;
                }
                return Some(Distribution {
                    port,
                    _dir: dir,
                    child,
                });
            }
            if child.try_wait().ok().flatten().is_some() {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("docker-registry did not listen on {port} within 10 s");
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

#[derive(Clone, Copy, Debug)]
pub enum Which {
    Labreg,
    Distribution,
}

pub const BOTH: [Which; 2] = [Which::Labreg, Which::Distribution];

/// Either registry, started with the options; dropped, it stops.
pub enum Reg {
    Labreg(Labreg),
    Distribution(Distribution),
}

impl Reg {
    pub async fn start(which: Which, o: DistOptions) -> Reg {
        match which {
            Which::Labreg => Reg::Labreg(Labreg::start_with(&o).await),
            Which::Distribution => Reg::Distribution(Distribution::start(o).await),
        }
    }
    pub fn port(&self) -> u16 {
        match self {
            Reg::Labreg(l) => l.addr.port(),
            Reg::Distribution(d) => d.port,
        }
    }
}

/// What a labctl run printed and returned.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The JSON report (for `--output json` runs).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", self.stdout, self.stderr))
    }
    /// The status of a step in the JSON report.
    pub fn status(&self, step: &str) -> String {
        self.step(step)["status"].as_str().unwrap_or("").to_string()
    }
    pub fn step(&self, step: &str) -> serde_json::Value {
        let v = self.json();
        v["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["step"] == step)
            .cloned()
            .unwrap_or_else(|| panic!("no step {step} in {}", self.stdout))
    }
    /// Asserts the run failed at `step` with a diagnosis of `kind`;
    /// returns its cause and fix.
    pub fn failed_with(&self, step: &str, kind: &str) -> String {
        assert_eq!(self.code, 1, "{}\n{}", self.stdout, self.stderr);
        let (s, k, msg) = self.failure();
        assert_eq!((s.as_str(), k.as_str()), (step, kind), "{msg}");
        msg
    }

    /// The failing step's diagnosis: (step, kind, cause + fix).
    pub fn failure(&self) -> (String, String, String) {
        let v = self.json();
        let f = v["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["status"] == "fail")
            .unwrap_or_else(|| panic!("no failed step in {}", self.stdout))
            .clone();
        let d = &f["diagnosis"];
        (
            f["step"].as_str().unwrap().into(),
            d["kind"].as_str().unwrap().into(),
            format!(
                "{} / {}",
                d["cause"].as_str().unwrap(),
                d["fix"].as_str().unwrap()
            ),
        )
    }
}

pub fn labctl(dir: &Path) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_labctl"));
    c.current_dir(dir)
        .env_remove("LABCTL_AGE_KEY")
        .env_remove("LABCTL_AGE_KEY_FILE")
        .env("HOME", dir)
        .kill_on_drop(true);
    c
}

/// Runs `labctl ARGS` with `stdin`, in a fresh folder.
pub async fn verify(args: &[&str], stdin: Option<&str>) -> Run {
    let dir = tempfile::tempdir().unwrap();
    run(labctl(dir.path()).args(args), stdin).await
}

pub async fn run(cmd: &mut tokio::process::Command, stdin: Option<&str>) -> Run {
    use tokio::io::AsyncWriteExt;
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("labctl runs");
    let mut input = child.stdin.take().unwrap();
    input
        .write_all(stdin.unwrap_or("").as_bytes())
        .await
        .unwrap();
    drop(input);
    let out = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("labctl finished within 2 minutes")
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    }
}

/// `labctl verify push --registry URL --output json EXTRA...`.
pub async fn verify_json(url: &str, extra: &[&str], stdin: Option<&str>) -> Run {
    let mut args = vec!["verify", "push", "--registry", url, "--output", "json"];
    args.extend(extra);
    verify(&args, stdin).await
}
