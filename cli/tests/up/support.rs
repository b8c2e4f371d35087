//! Helpers of the `labctl up` tests: the example lab in a temp folder, the
//! release binaries, a new user's environment, skopeo, the scans.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub use crate::common::free_port;
use crate::common::{DEMO_KEY, contains, needles, run_ok, tool};

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The target dir this test was built in: `TARGET/debug/deps/up-HASH`.
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().to_path_buf()
}

/// The environment of a new user: no age identity, an empty HOME (cargo
/// and rustup keep theirs).
pub fn new_user(cmd: &mut Command, home: &Path) {
    let real_home = PathBuf::from(std::env::var_os("HOME").unwrap());
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| real_home.join(".cargo"));
    let rustup_home = std::env::var_os("RUSTUP_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| real_home.join(".rustup"));
    cmd.env_remove("LABCTL_AGE_KEY")
        .env_remove("LABCTL_AGE_KEY_FILE")
        .env_remove("REGISTRY_AUTH_FILE")
        .env("HOME", home)
        .env("CARGO_HOME", cargo_home)
        .env("RUSTUP_HOME", rustup_home)
        .env("CARGO_TARGET_DIR", target_dir());
}

/// The release binaries, built once for the tests that run them directly.
pub fn release_bin(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let mut c = Command::new("cargo");
        c.args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "labctl",
            "-p",
            "labreg",
        ])
        .current_dir(workspace())
        .env("CARGO_TARGET_DIR", target_dir());
        run_ok(&mut c);
    });
    target_dir().join("release").join(name)
}

/// The example lab (manifest, secrets, CA, demo identity) in a temp folder.
pub fn example_lab() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut c = tool("cp");
    c.arg("-r");
    for f in ["lab.yaml", "secrets", "certs", "demo"] {
        c.arg(workspace().join(f));
    }
    c.arg(dir.path());
    run_ok(&mut c);
    dir
}

pub fn labctl(lab: &Path) -> Command {
    let mut c = Command::new(release_bin("labctl"));
    c.current_dir(lab);
    new_user(&mut c, &lab.join("home"));
    c
}

pub fn demo_password(lab: &Path) -> String {
    let mut c = labctl(lab);
    c.args(["secrets", "get", "registry/admin"])
        .env("LABCTL_AGE_KEY", DEMO_KEY);
    run_ok(&mut c).trim_end().to_string()
}

pub fn up_state(lab: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(lab.join(".lab/up.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

pub fn alive(pid: u64) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    !stat.is_empty() && !stat.contains(") Z ")
}

/// `labctl down`, then: labreg gone, its runtime folder and up.json gone.
pub fn down(lab: &Path) {
    let state = up_state(lab);
    let pid = state["pid"].as_u64().unwrap();
    let rundir = PathBuf::from(state["runtime_dir"].as_str().unwrap());
    assert!(rundir.is_dir());
    let out = run_both(labctl(lab).arg("down"));
    assert!(out.contains(&format!("stopped labreg (pid {pid}")), "{out}");
    assert!(!alive(pid), "labreg {pid} still runs after labctl down");
    assert!(!rundir.exists(), "{} left behind", rundir.display());
    assert!(!lab.join(".lab/up.json").exists());
}

/// Runs; stdout and stderr together; fails the test on a failure.
pub fn run_both(cmd: &mut Command) -> String {
    let out = cmd.output().expect("runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{text}",
        out.status
    );
    text
}

/// A one-layer OCI layout with `text` in it.
pub fn image(dir: &Path, text: &str) -> PathBuf {
    let at = dir.join("image");
    let mut c = tool("bash");
    c.arg(workspace().join("scripts/make-oci-image.sh"))
        .arg(&at)
        .arg("demo")
        .arg(text);
    run_ok(&mut c);
    at
}

pub fn skopeo(args: &[&str]) -> String {
    let mut c = tool("skopeo");
    c.args(args);
    run_ok(&mut c)
}

pub fn scan_for(dir: &Path, secret: &str, found: &mut Vec<PathBuf>) {
    let needles = needles(secret.as_bytes());
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let meta = std::fs::symlink_metadata(&p).unwrap();
        if meta.is_dir() {
            scan_for(&p, secret, found);
        } else if meta.is_file() {
            let bytes = std::fs::read(&p).unwrap();
            if needles.iter().any(|n| contains(&bytes, n)) {
                found.push(p);
            }
        }
    }
}

/// Reads the child's stdout until a line contains `until`; returns it all.
pub fn read_until(out: &mut impl BufRead, until: &str) -> String {
    let mut all = String::new();
    loop {
        let mut line = String::new();
        let n = out.read_line(&mut line).unwrap();
        assert!(n > 0, "labctl up ended before printing {until:?}:\n{all}");
        all.push_str(&line);
        if line.contains(until) {
            return all;
        }
    }
}
