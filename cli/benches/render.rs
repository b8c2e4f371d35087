//! Render of the example lab with its secrets unchanged: the time a user
//! (or CI's `render --check`) waits, process start included.
//!
//!     cargo bench -p labctl --bench render
//!
//! Runs `labctl render` on a copy of the example lab (nothing to re-seal or
//! re-hash: every value is reused) and `labctl render --check` on the
//! example itself, 30 times each after a warm-up; prints min / median / max.
//! Target: median under 100 ms.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}

fn measure(name: &str, dir: &Path, args: &[&str], key: &Path) {
    let run = || {
        let start = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_labctl"))
            .current_dir(dir)
            .env("LABCTL_AGE_KEY_FILE", key)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        start.elapsed()
    };
    for _ in 0..3 {
        run();
    }
    let mut times: Vec<Duration> = (0..30).map(|_| run()).collect();
    times.sort();
    println!(
        "{name:<32} min {:>6.1} ms   median {:>6.1} ms   max {:>6.1} ms",
        times[0].as_secs_f64() * 1e3,
        times[times.len() / 2].as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3
    );
}

fn main() {
    let repo: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let key = repo.join("demo/age-identity.txt");
    let tmp = tempfile::tempdir().unwrap();
    for part in ["lab.yaml", "secrets", "certs", "apps"] {
        let from = repo.join(part);
        if from.is_dir() {
            copy(&from, &tmp.path().join(part));
        } else {
            std::fs::copy(&from, tmp.path().join(part)).unwrap();
        }
    }
    measure(
        "render (example lab, unchanged)",
        tmp.path(),
        &["render"],
        &key,
    );
    measure(
        "render --check (example lab)",
        &repo,
        &["render", "--check"],
        &key,
    );
}
