//! The registries under test, started the same way: same storage kind (a
//! fresh folder each), same credentials, loopback only. labreg and
//! distribution (registry:2, registry:3) read the same config.yml; angos gets
//! its own TOML with the same storage and an equivalent user.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// Which configuration a peer binary reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Labreg,
    /// distribution's `registry serve config.yml` (registry:2 and registry:3).
    Distribution,
    /// angos: `angos -c config.toml server`.
    Angos,
}

/// One registry of the comparison: a name for the table and a binary.
#[derive(Clone, Debug)]
pub struct Peer {
    pub name: String,
    pub kind: Kind,
    pub bin: PathBuf,
}

impl Peer {
    /// Parses `NAME=BINARY`; the kind comes from the name's start (`labreg…`,
    /// `registry…`, `angos…`), so `labreg-before=/tmp/old` runs a second
    /// labreg build beside the current one.
    pub fn parse(spec: &str) -> anyhow::Result<Peer> {
        let Some((name, bin)) = spec.split_once('=') else {
            bail!("--peer {spec:?}: expected NAME=BINARY, e.g. registry3=/var/tmp/peers/registry3");
        };
        let kind = if name.starts_with("labreg") {
            Kind::Labreg
        } else if name.starts_with("registry") {
            Kind::Distribution
        } else if name.starts_with("angos") {
            Kind::Angos
        } else {
            bail!(
                "--peer {spec:?}: the name must start with labreg, registry or angos (it picks the config format)"
            );
        };
        let bin = PathBuf::from(bin);
        anyhow::ensure!(
            bin.is_file(),
            "--peer {spec:?}: {} is not a file (build the peer first; README \"Benchmarks\")",
            bin.display()
        );
        Ok(Peer {
            name: name.to_string(),
            kind,
            bin,
        })
    }
}

/// A Garage server started by scripts/s3-server.sh, shared by all peers
/// (each under its own root directory).
pub struct S3 {
    vars: Vec<(String, String)>,
    /// Garage's data and metadata, removed when the server is stopped.
    dir: PathBuf,
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
        Ok(S3 { vars, dir })
    }

    fn get(&self, k: &str) -> &str {
        self.vars
            .iter()
            .find(|(n, _)| n == k)
            .map_or("", |(_, v)| v)
    }

    /// The storage section for one distribution-format peer. Blob GETs are
    /// served through the registry (no redirect), so the pull figure
    /// measures the registry. Path-style requests: registry:3's AWS SDK
    /// otherwise puts the bucket in the host name, which loopback does not
    /// resolve.
    fn section(&self, root: &str) -> String {
        format!(
            "  s3:\n    accesskey: {}\n    secretkey: {}\n    region: {}\n    regionendpoint: {}\n    bucket: {}\n    secure: false\n    v4auth: true\n    forcepathstyle: true\n    rootdirectory: {root}\n  redirect:\n    disable: true\n",
            self.get("S3_ACCESS_KEY"),
            self.get("S3_SECRET_KEY"),
            self.get("S3_REGION"),
            self.get("S3_ENDPOINT"),
            self.get("S3_BUCKET"),
        )
    }

    /// angos's S3 blob store, under its own key prefix.
    fn angos_section(&self, prefix: &str) -> String {
        format!(
            "[blob_store.s3]\naccess_key_id = \"{}\"\nsecret_key = \"{}\"\nendpoint = \"{}\"\nbucket = \"{}\"\nregion = \"{}\"\nkey_prefix = \"{prefix}\"\n",
            self.get("S3_ACCESS_KEY"),
            self.get("S3_SECRET_KEY"),
            self.get("S3_ENDPOINT"),
            self.get("S3_BUCKET"),
            self.get("S3_REGION"),
        )
    }
}

impl Drop for S3 {
    fn drop(&mut self) {
        let pid = self.get("S3_PID");
        let _ = std::process::Command::new("kill").arg(pid).status();
        // Once Garage has exited, nothing writes its folder any more.
        let proc_dir = PathBuf::from(format!("/proc/{pid}"));
        for _ in 0..100 {
            if pid.is_empty() || !proc_dir.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The bench user, for every peer: htpasswd (bcrypt) for labreg and
/// distribution, an Argon2id hash made by Debian's `argon2` for angos.
pub struct Credentials {
    pub htpasswd: PathBuf,
    pub argon2: String,
    /// `Basic …` of bench:bench-password.
    pub header: String,
}

pub struct Running {
    pub child: tokio::process::Child,
    pub base: String,
    /// From spawn to the first HTTP answer on /v2/.
    pub start_to_answer: Duration,
    /// From spawn to the first authenticated 200 on /v2/ (one password
    /// check), or to the first 200 without auth.
    pub start_to_ready: Duration,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// distribution's config.yml, which labreg reads too; `extra` is appended
/// as is (a `proxy:` or `labreg:` section). The blob descriptor cache is
/// on, as in the registry:2 and registry:3 images' default config.yml.
fn distribution_config(storage: &str, port: u16, htpasswd: Option<&Path>, extra: &str) -> String {
    let auth = htpasswd.map_or(String::new(), |h| {
        format!(
            "auth:\n  htpasswd:\n    realm: bench\n    path: {}\n",
            h.display()
        )
    });
    let tls = crate::tls::server().map_or(String::new(), |t| {
        format!(
            "  tls:\n    certificate: {}\n    key: {}\n",
            t.cert.display(),
            t.key.display()
        )
    });
    format!(
        "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n{storage}  cache:\n    blobdescriptor: inmemory\n  delete:\n    enabled: true\n  maintenance:\n    uploadpurging:\n      enabled: false\nhttp:\n  addr: 127.0.0.1:{port}\n{tls}{auth}{extra}"
    )
}

/// angos's config.toml (doc/reference/configuration.md): plain HTTP (or
/// TLS with `--tls`) on loopback, filesystem or S3 blob store, blob GETs served by the
/// registry, one user whose requests are allowed (or everyone, without
/// auth).
fn angos_config(root: &Path, port: u16, s3: Option<&S3>, argon2: Option<&str>) -> String {
    let store = match s3 {
        None => format!(
            "[blob_store.fs]\nroot_dir = \"{}\"\n",
            root.join("data").display()
        ),
        Some(s3) => s3.angos_section(&format!("bench-angos-{port}")),
    };
    let auth = match argon2 {
        Some(hash) => format!(
            "[global.access_policy]\ndefault = \"deny\"\nrules = [\"identity.username != null\"]\n\n[auth.identity.bench]\nusername = \"bench\"\npassword = \"{hash}\"\n"
        ),
        None => "[global.access_policy]\ndefault = \"allow\"\n".to_string(),
    };
    let tls = crate::tls::server().map_or(String::new(), |t| {
        format!(
            "\n[server.tls]\nserver_certificate_bundle = \"{}\"\nserver_private_key = \"{}\"\n",
            t.cert.display(),
            t.key.display()
        )
    });
    format!(
        "[server]\nbind_address = \"127.0.0.1\"\nport = {port}\n{tls}\n[global]\nenable_blob_redirect = false\n\n{store}\n{auth}"
    )
}

/// Starts `peer` with authentication (`creds`) or without.
pub async fn start(
    peer: &Peer,
    work: &Path,
    creds: Option<&Credentials>,
    s3: Option<&S3>,
) -> anyhow::Result<Running> {
    start_with(peer, work, creds, s3, "").await
}

/// Like `start`, with `extra` YAML appended to the config.yml of labreg or
/// distribution (angos takes none).
pub async fn start_with(
    peer: &Peer,
    work: &Path,
    creds: Option<&Credentials>,
    s3: Option<&S3>,
    extra: &str,
) -> anyhow::Result<Running> {
    let port = free_port();
    let root = work.join(format!("{}-{port}", peer.name));
    std::fs::create_dir_all(&root)?;
    let mut cmd = tokio::process::Command::new(&peer.bin);
    match peer.kind {
        Kind::Labreg | Kind::Distribution => {
            let storage = match s3 {
                None => format!(
                    "  filesystem:\n    rootdirectory: {}\n",
                    root.join("data").display()
                ),
                Some(s3) => s3.section(&format!("/bench-{}-{port}", peer.name)),
            };
            let config = root.join("config.yml");
            let htpasswd = creds.map(|c| c.htpasswd.as_path());
            let text = distribution_config(&storage, port, htpasswd, extra);
            std::fs::write(&config, text)?;
            cmd.arg("serve").arg(&config);
        }
        Kind::Angos => {
            anyhow::ensure!(
                extra.is_empty(),
                "{}: no config.yml for {extra:?}",
                peer.name
            );
            let config = root.join("config.toml");
            std::fs::write(
                &config,
                angos_config(&root, port, s3, creds.map(|c| c.argon2.as_str())),
            )?;
            cmd.arg("-c").arg(&config).arg("server");
        }
    }
    let started = Instant::now();
    let child = cmd
        // distribution's AWS SDK panics on a CA bundle it cannot load; the
        // loopback S3 server is plain HTTP and needs none.
        .env_remove("AWS_CA_BUNDLE")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}: {}", peer.name, peer.bin.display()))?;
    let base = format!("{}://127.0.0.1:{port}", crate::tls::scheme());
    let client = crate::tls::client_builder().build()?;
    let deadline = started + Duration::from_secs(20);
    let start_to_answer = loop {
        if client.get(format!("{base}/v2/")).send().await.is_ok() {
            break started.elapsed();
        }
        if Instant::now() > deadline {
            bail!("{} did not answer on /v2/ within 20 s", peer.name);
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    loop {
        let mut req = client.get(format!("{base}/v2/"));
        if let Some(c) = creds {
            req = req.header("authorization", &c.header);
        }
        let ok = req
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
            bail!("{} did not answer 200 on /v2/ within 20 s", peer.name);
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

pub fn proc_status_mib(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// Clock ticks per second of the times in `/proc/PID/stat` (USER_HZ: 100
/// on every Linux architecture, whatever the kernel's own tick rate).
const USER_HZ: f64 = 100.0;

/// CPU time a process has used (user and system, of all its threads,
/// ended ones included), in seconds, to the 10 ms of USER_HZ.
pub fn proc_cpu_seconds(pid: u32) -> f64 {
    cpu_of_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default())
}

/// `proc_cpu_seconds` of a `/proc/PID/stat` line.
fn cpu_of_stat(stat: &str) -> f64 {
    // After the command name's closing parenthesis (the name may hold
    // spaces and parentheses): state is the first field, utime the 12th,
    // stime the 13th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
    match (ticks(11), ticks(12)) {
        (Some(user), Some(system)) => (user + system) / USER_HZ,
        _ => f64::NAN,
    }
}

impl Running {
    /// CPU time the registry has used since it started, in seconds.
    pub fn cpu_seconds(&self) -> f64 {
        self.child.id().map_or(f64::NAN, proc_cpu_seconds)
    }

    /// Peak resident memory of the process since start or since the last
    /// `reset_peak_rss` (VmHWM), in MiB.
    pub fn peak_rss_mib(&self) -> f64 {
        self.child
            .id()
            .map_or(f64::NAN, |pid| proc_status_mib(pid, "VmHWM:"))
    }

    /// Resets VmHWM to the current resident size (Linux `clear_refs` 5), so
    /// that the next `peak_rss_mib` covers one workload only.
    pub fn reset_peak_rss(&self) {
        if let Some(pid) = self.child.id() {
            let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
        }
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This process's CPU time, read as the registries' is: it grows while
    /// a busy loop spends CPU, and stays put while the process sleeps.
    #[test]
    fn cpu_time_grows_with_work() {
        let pid = std::process::id();
        let before = proc_cpu_seconds(pid);
        assert!(before >= 0.0, "{before}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut x = 1u64;
        while proc_cpu_seconds(pid) - before < 0.2 {
            assert!(Instant::now() < deadline, "no CPU time counted in 30 s");
            for _ in 0..100_000 {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
        }
        let busy = proc_cpu_seconds(pid);
        std::thread::sleep(Duration::from_millis(500));
        let idle = proc_cpu_seconds(pid) - busy;
        assert!(idle < 0.2, "{idle} s counted while asleep");
    }

    /// A command name with spaces and parentheses does not shift the
    /// fields (the kernel writes the name as it is).
    #[test]
    fn stat_fields_count_from_the_last_parenthesis() {
        let stat =
            "4242 (labreg (x) y) S 1 4242 4242 0 -1 4194560 1046 0 0 0 250 75 0 0 20 0 9 0 1 1 1";
        assert_eq!(cpu_of_stat(stat), 3.25);
        assert!(cpu_of_stat("4242 (cut").is_nan());
    }
}
