//! Real external programs used as peers: registry clients and the reference
//! registry. Each is installed by scripts/setup.sh; a missing one fails the
//! test with that instruction rather than skipping it.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

pub fn require(tool: &str) {
    assert!(
        crate::on_path(tool),
        "{tool} is not installed: run scripts/setup.sh (it installs every test tool)"
    );
}

/// Runs a program to completion, stdin closed.
async fn output(program: &str, args: &[&str]) -> std::process::Output {
    require(program);
    tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap_or_else(|e| panic!("{program} did not start: {e}"))
}

/// Runs a program to completion; panics with its output when it fails.
pub async fn run(program: &str, args: &[&str]) -> String {
    let out = output(program, args).await;
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Writes `path`: one line per user made by Apache's `htpasswd -Bbn` with
/// bcrypt cost `cost`.
pub async fn htpasswd_file(path: &Path, cost: u32, users: &[(&str, &str)]) {
    let cost = cost.to_string();
    let mut text = String::new();
    for (user, password) in users {
        text.push_str(
            run("htpasswd", &["-Bbn", "-C", &cost, user, password])
                .await
                .trim(),
        );
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

/// `skopeo copy FLAGS... SRC DEST`, which must succeed.
pub async fn skopeo_copy_with(flags: &[&str], src: &str, dest: &str) -> String {
    run("skopeo", &copy_args(flags, src, dest)).await
}

/// `skopeo copy FLAGS... SRC oci:OUT:TAG`, which must succeed; the digest
/// the layout written at `out` names for `tag`.
pub async fn skopeo_copy_to_layout(flags: &[&str], src: &str, out: &Path, tag: &str) -> String {
    skopeo_copy_with(flags, src, &format!("oci:{}:{tag}", out.display())).await;
    super::oci::layout_digest(out, tag)
}

/// `skopeo copy FLAGS... oci:LAYOUT:TAG DEST`, which must succeed: an OCI
/// layout (from `make_layout`) pushed as a user's image would be.
pub async fn skopeo_push_layout(flags: &[&str], layout: &Path, tag: &str, dest: &str) -> String {
    skopeo_copy_with(flags, &format!("oci:{}:{tag}", layout.display()), dest).await
}

/// `skopeo copy FLAGS... SRC DEST`, its failure returned (stderr).
pub async fn try_skopeo_copy_with(flags: &[&str], src: &str, dest: &str) -> Result<String, String> {
    try_run("skopeo", &copy_args(flags, src, dest)).await
}

fn copy_args<'a>(flags: &[&'a str], src: &'a str, dest: &'a str) -> Vec<&'a str> {
    let mut args = vec!["copy"];
    args.extend(flags);
    args.extend([src, dest]);
    args
}

/// Like `run`, but returns the failure instead of panicking.
pub async fn try_run(program: &str, args: &[&str]) -> Result<String, String> {
    let out = output(program, args).await;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).to_string())
    }
}

/// Debian's docker-registry (distribution 2.8) serving `root` on loopback.
pub struct Distribution {
    pub host: String,
    child: tokio::process::Child,
    _dir: tempfile::TempDir,
}

impl Distribution {
    pub async fn start(root: &Path) -> Distribution {
        Self::start_storage(&format!(
            "  filesystem: {{rootdirectory: {}}}\n",
            root.display()
        ))
        .await
    }

    /// Starts it with `storage` as the lines under `storage:` (a driver
    /// section; deletes are enabled).
    pub async fn start_storage(storage: &str) -> Distribution {
        Self::start_with(storage, "", "").await
    }

    /// Starts it with `storage` as above, `http` lines added under `http:`
    /// (e.g. `tls:`) and `extra` top-level YAML (e.g. `auth:`, `proxy:`).
    pub async fn start_with(storage: &str, http: &str, extra: &str) -> Distribution {
        require("docker-registry");
        // docker-registry takes its address from its config, so a free port
        // is picked here; readiness is then awaited on /v2/.
        let port = crate::free_port();
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog: {{level: warn}}\nstorage:\n{storage}  delete: {{enabled: true}}\nhttp:\n  addr: 127.0.0.1:{port}\n{http}{extra}",
            ),
        )
        .unwrap();
        let child = tokio::process::Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            // The AWS SDK inside fails on a CA bundle it cannot load; the
            // test S3 server is plain HTTP on loopback and needs none.
            .env_remove("AWS_CA_BUNDLE")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("docker-registry starts");
        let host = format!("127.0.0.1:{port}");
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if client
                .get(format!("http://{host}/v2/"))
                .send()
                .await
                .is_ok()
            {
                return Distribution {
                    host,
                    child,
                    _dir: dir,
                };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("docker-registry did not answer on {host} within 10 s");
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// `skopeo copy` between two references, TLS verification off on both ends
/// (the test registries speak plain HTTP).
pub async fn skopeo_copy(src: &str, dest: &str) -> String {
    let no_tls = ["--src-tls-verify=false", "--dest-tls-verify=false"];
    skopeo_copy_with(&no_tls, src, dest).await
}
