//! The `labreg` binary run as a user would run it: with arguments and
//! `REGISTRY_*` variables, its stderr kept for assertions.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

pub struct Process {
    pub child: tokio::process::Child,
    pub host: String,
    pub stderr: PathBuf,
}

pub use crate::free_port;

impl Process {
    /// Starts `labreg serve [config]` with `envs` on a free port (set through
    /// REGISTRY_HTTP_ADDR) and waits until it accepts connections.
    pub async fn serve(config: Option<&Path>, envs: &[(&str, String)], logs: &Path) -> Process {
        let port = free_port();
        let host = format!("127.0.0.1:{port}");
        let stderr = logs.join(format!("labreg-{port}.log"));
        let mut cmd = tokio::process::Command::new(crate::bin("labreg"));
        cmd.arg("serve");
        if let Some(c) = config {
            cmd.arg(c);
        }
        cmd.env("REGISTRY_HTTP_ADDR", &host)
            .envs(envs.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("labreg starts");
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(&host).await.is_ok() {
                return Process {
                    child,
                    host,
                    stderr,
                };
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "labreg exited with {status}: {}",
                    std::fs::read_to_string(&stderr).unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "labreg did not listen on {host}: {}",
            std::fs::read_to_string(&stderr).unwrap_or_default()
        );
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for the exit status.
    pub async fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().expect("running").to_string();
        let ok = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(ok.success());
        tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("labreg exits after SIGTERM")
            .unwrap()
    }
}

/// Runs the labreg binary to completion: (status, stdout, stderr).
pub fn run_labreg(args: &[&str], envs: &[(&str, &str)]) -> (i32, String, String) {
    run_program(&crate::bin("labreg"), args, envs)
}

fn run_program(
    program: &std::path::Path,
    args: &[&str],
    envs: &[(&str, &str)],
) -> (i32, String, String) {
    let out = std::process::Command::new(program)
        .args(args)
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// The labreg binary as it is when first asked for: a hard link (no space;
/// a copy when linking fails) beside the test's temporary files, because the
/// target folder is shared and a build elsewhere may replace the binary
/// while a long test runs. Ask for it when the test starts.
pub fn own_labreg() -> &'static std::path::Path {
    static BIN: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        // Links left by earlier test processes hold old binaries: drop them.
        for e in std::fs::read_dir(std::env::temp_dir())
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = e.file_name().to_string_lossy().to_string();
            if let Some(pid) = name.strip_prefix("labreg-test-")
                && !std::path::Path::new(&format!("/proc/{pid}")).exists()
            {
                let _ = std::fs::remove_file(e.path());
            }
        }
        let to = std::env::temp_dir().join(format!("labreg-test-{}", std::process::id()));
        let _ = std::fs::remove_file(&to);
        let from = crate::bin("labreg");
        if std::fs::hard_link(&from, &to).is_err() {
            std::fs::copy(&from, &to).unwrap();
        }
        to
    })
}

/// Runs that labreg to completion: (status, stdout, stderr).
pub fn run_own_labreg(args: &[&str], envs: &[(&str, &str)]) -> (i32, String, String) {
    run_program(own_labreg(), args, envs)
}
