//! Helpers of the image tests: the static binaries (built once, into their
//! own target folder since RUSTFLAGS differ), `labctl image build`, skopeo,
//! a labreg with TLS (openssl-made CA and certificate) and htpasswd (Apache's
//! `htpasswd`) on a port-0 listener.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::common::{run_ok, tool};
use crate::vsupport::Labreg;

pub const REVISION: &str = "0123456789abcdef0123456789abcdef01234567";
pub const USER: &str = "admin";
pub const PASSWORD: &str = "image-test-pw";

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `TARGET-static` beside this test's target folder `TARGET`.
fn static_target_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("LABCTL_STATIC_TARGET_DIR") {
        return d.into();
    }
    let exe = std::env::current_exe().unwrap();
    let target = exe.ancestors().nth(3).unwrap();
    let mut name = target.file_name().unwrap().to_os_string();
    name.push("-static");
    target.with_file_name(name)
}

/// Static labreg and labctl (gnu target, crt-static, debug without
/// debuginfo: the tests need them static, not fast), built once.
pub fn static_bins() -> [PathBuf; 2] {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        let target = static_target_dir();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut c = Command::new(cargo);
        c.args([
            "build",
            "--locked",
            "--quiet",
            "--target",
            "x86_64-unknown-linux-gnu",
        ])
        .args(["-p", "labreg", "-p", "labctl"])
        .current_dir(workspace())
        .env("CARGO_TARGET_DIR", &target)
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .env("CARGO_PROFILE_DEV_DEBUG", "0");
        run_ok(&mut c);
        target.join("x86_64-unknown-linux-gnu/debug")
    });
    [dir.join("labreg"), dir.join("labctl")]
}

/// The static labctl from this checkout: the binary the image ships, and
/// one no other build in a shared CARGO_TARGET_DIR replaces while the tests
/// run (`CARGO_BIN_EXE_labctl` can be).
pub fn labctl(dir: &Path) -> Command {
    let [_, labctl] = static_bins();
    let mut c = Command::new(labctl);
    c.current_dir(dir)
        .env_remove("LABCTL_AGE_KEY")
        .env_remove("LABCTL_AGE_KEY_FILE")
        .env_remove("SOURCE_DATE_EPOCH")
        .env("HOME", dir.join("home"));
    c
}

/// `labctl image build` of the static binaries into `out`; its stdout.
pub fn build_image(out: &Path) -> String {
    let mut c = labctl(out.parent().unwrap());
    c.args(["image", "build", "--revision", REVISION, "--output"])
        .arg(out);
    for b in static_bins() {
        c.arg("--binary").arg(b);
    }
    run_ok(&mut c)
}

/// The `sha256:...` after `manifest` in build or push output.
pub fn manifest_digest(out: &str) -> String {
    out.lines()
        .find_map(|l| l.trim().strip_prefix("manifest"))
        .map(|d| d.trim().to_string())
        .unwrap_or_else(|| panic!("no manifest digest in:\n{out}"))
}

pub fn skopeo_json(args: &[&str]) -> serde_json::Value {
    let out = run_ok(tool("skopeo").args(args));
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("skopeo {args:?}: {e}:\n{out}"))
}

/// The absolute path of a host tool (for commands run with another PATH).
pub fn which(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("this test needs `{name}`: run scripts/setup.sh"))
}

/// A labreg with TLS and htpasswd, in its own runtime (the tests are
/// synchronous and run real tools meanwhile).
pub struct Registry {
    reg: Labreg,
    _rt: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
    pub ca: PathBuf,
}

impl Registry {
    pub fn start() -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let ca = d.join("ca.crt");
        let (key, crt) = (d.join("tls.key"), d.join("tls.crt"));
        crate::common::openssl::ca_and_leaf(d, &ca, &crt, &key);
        let line = run_ok(tool("htpasswd").args(["-nbB", USER, PASSWORD]));
        std::fs::write(d.join("htpasswd"), line.trim_end().to_string() + "\n").unwrap();
        let yaml = format!(
            "version: 0.1\nlog: {{level: error}}\nstorage:\n  filesystem: {{rootdirectory: {}}}\nhttp:\n  addr: 127.0.0.1:0\n  tls: {{certificate: {}, key: {}}}\nauth:\n  htpasswd: {{realm: image-test, path: {}}}\n",
            d.join("data").display(),
            crt.display(),
            key.display(),
            d.join("htpasswd").display()
        );
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let reg = rt.block_on(Labreg::boot(tempfile::tempdir().unwrap(), &yaml));
        Registry {
            reg,
            _rt: rt,
            _dir: dir,
            ca,
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        self.reg.addr.to_string()
    }
}
