//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};

pub mod containerd;
pub mod fake_kube;
pub mod openssl;
pub mod render;

/// The demo identity of the example lab (public knowledge, never for real use).
pub const DEMO_KEY: &str =
    "AGE-SECRET-KEY-1AKSGGMEZKSV9ZCLW24VQFA7MC60SM6EAFL76PWTTKSUFUVADF0JSNJZFXD";
pub const DEMO_RECIPIENT: &str = "age1uwxrjtgqr2pxz6gfnrq4c02pgepqekxy2pazqmhp292sl4rqsyzqkf2gwu";

/// Runs `cmd` with `stdin` written to it; (exit code, stdout, stderr).
pub fn run_stdin(cmd: &mut Command, stdin: impl AsRef<[u8]>) -> (i32, String, String) {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the command starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_ref())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// `labctl` with a clean environment: no identity from the developer's
/// machine leaks into a test.
pub fn labctl(dir: &Path) -> assert_cmd::Command {
    let mut c = assert_cmd::Command::cargo_bin("labctl").expect("labctl binary");
    c.current_dir(dir)
        .env_remove("LABCTL_AGE_KEY")
        .env_remove("LABCTL_AGE_KEY_FILE")
        .env("HOME", dir.join("home"));
    c
}

pub use crate::free_port;

/// A real tool the test needs; a missing one fails the test loudly.
pub fn tool(name: &str) -> Command {
    assert!(
        crate::on_path(name),
        "this test needs the `{name}` tool, which is not installed: run scripts/setup.sh (Debian packages age, openssl, apache2-utils)"
    );
    Command::new(name)
}

/// Runs a tool and returns its stdout; a failure fails the test with stderr.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().expect("tool runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// The lines of a lab.yaml up to `registry:` (12 lines): the lab `name`,
/// its git repository `repo_url` (branch main, folder apps) and the demo
/// identity as the one recipient.
pub fn lab_head(name: &str, repo_url: &str) -> String {
    format!(
        "apiVersion: labctl/v1alpha1
kind: Lab
metadata:
  name: {name}
git:
  repoURL: {repo_url}
  revision: main
  path: apps
secrets:
  recipients:
    - {DEMO_RECIPIENT}
registry:
"
    )
}

/// A valid manifest; tests replace parts of it. Line numbers matter.
pub fn base_manifest() -> String {
    lab_head("homelab", "https://github.com/me/homelab.git")
        + "  namespace: registry
  host: docker.registry.example.com
  image: labreg
  replicas: 1
  users:
    admin:
      password: secret:registry/admin
  storage:
    filesystem:
      size: 20Gi
  delete: true
  redirect: false
  expose:
    ingress:
      className: nginx
      clusterIssuer: letsencrypt-prod
      proxyBodySize: \"0\"
  pullSecrets:
    - namespace: default
      name: regcred
"
}

/// A temporary lab folder with the demo identity in `LABCTL_AGE_KEY_FILE`
/// (outside the lab) and `lab.yaml` = `manifest`.
pub struct TempLab {
    pub dir: tempfile::TempDir,
    pub key_file: PathBuf,
}

impl TempLab {
    pub fn new(manifest: &str) -> TempLab {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("lab/secrets")).unwrap();
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        let key_file = dir.path().join("home/demo-key.txt");
        std::fs::write(&key_file, format!("# demo\n{DEMO_KEY}\n")).unwrap();
        std::fs::write(dir.path().join("lab/lab.yaml"), manifest).unwrap();
        TempLab { dir, key_file }
    }
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("lab")
    }
    pub fn cmd(&self) -> assert_cmd::Command {
        let mut c = labctl(&self.root());
        c.env("HOME", self.dir.path().join("home"))
            .env("LABCTL_AGE_KEY_FILE", &self.key_file);
        c
    }
    /// What `labctl ARGS` did in the lab (stdout, stderr, status).
    pub fn output(&self, args: &[&str]) -> std::process::Output {
        self.cmd().args(args).output().unwrap()
    }
    /// What `labctl ARGS` did with `stdin` written to it.
    pub fn output_with(&self, args: &[&str], stdin: &str) -> std::process::Output {
        self.cmd().args(args).write_stdin(stdin).output().unwrap()
    }
    /// What `labctl secrets get NAME` did (stdout, stderr, status).
    pub fn get_secret(&self, name: &str) -> std::process::Output {
        self.output(&["secrets", "get", name])
    }
    /// `labctl secrets set NAME` with `value` on stdin, which must succeed.
    pub fn set_secret(&self, name: &str, value: impl Into<Vec<u8>>) {
        self.cmd()
            .args(["secrets", "set", name])
            .write_stdin(value)
            .assert()
            .success();
    }
}

/// The forms in which `plain` must never appear.
pub fn needles(plain: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![plain.to_vec()];
    for engine in [&STANDARD, &URL_SAFE] {
        for k in 0..3 {
            let mut padded = vec![0u8; k];
            padded.extend_from_slice(plain);
            let enc = engine.encode(&padded);
            // Drop the groups that mix in the padding bytes or the end.
            let start = if k == 0 { 0 } else { 4 };
            let end = enc.len().saturating_sub(4);
            if end > start + 8 {
                out.push(enc.as_bytes()[start..end].to_vec());
            }
        }
    }
    out
}

pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Runs a labctl command that must succeed; a failure fails the test with
/// the command and its stderr.
pub trait Succeeds {
    fn succeeds(&mut self) -> std::process::Output;
}

impl Succeeds for assert_cmd::Command {
    fn succeeds(&mut self) -> std::process::Output {
        let out = self.output().expect("labctl runs");
        assert!(
            out.status.success(),
            "{self:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
}

/// What Debian's `age -d -i IDENTITY FILE` decrypts (independent of labctl).
pub fn age_decrypt(
    identity: impl AsRef<std::ffi::OsStr>,
    file: impl AsRef<std::ffi::OsStr>,
) -> String {
    run_ok(tool("age").arg("-d").arg("-i").arg(identity).arg(file))
}

/// A new identity made by Debian's `age-keygen` in `path`; returns its
/// recipient (`age-keygen -y`).
pub fn age_keygen(path: &Path) -> String {
    run_ok(tool("age-keygen").arg("-o").arg(path));
    run_ok(tool("age-keygen").arg("-y").arg(path))
        .trim()
        .to_string()
}

/// A lab in `root` for a registry on 127.0.0.1 behind NodePort `port`
/// with self-signed TLS: `certs/ca.crt` holds `ca_pem`, lab.yaml names
/// `user` (password in the secret registry/admin) and then `extra` lines
/// of `registry:`, and the demo identity is in `key.txt`, whose path is
/// returned.
pub fn nodeport_lab(
    root: &Path,
    name: &str,
    user: &str,
    ca_pem: &str,
    port: u16,
    extra: &str,
) -> PathBuf {
    std::fs::create_dir_all(root.join("certs")).unwrap();
    std::fs::write(root.join("certs/ca.crt"), ca_pem).unwrap();
    let key = root.join("key.txt");
    std::fs::write(&key, format!("{DEMO_KEY}\n")).unwrap();
    std::fs::write(
        root.join("lab.yaml"),
        format!(
            "apiVersion: labctl/v1alpha1\nkind: Lab\nmetadata: {{name: {name}}}\nsecrets:\n  recipients: [{DEMO_RECIPIENT}]\nregistry:\n  host: 127.0.0.1\n  users:\n    {user}: {{password: secret:registry/admin}}\n{extra}  expose:\n    nodePort: {port}\n    tls: self-signed\n"
        ),
    )
    .unwrap();
    key
}
