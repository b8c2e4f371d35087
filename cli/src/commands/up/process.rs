//! labreg as a child process: finding the binary, checking the port,
//! starting it, waiting until it listens, stopping it with SIGTERM; and
//! `.lab/up.json`, the record `labctl down` and a second `labctl up` read.

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// What a running `labctl up` left in `.lab/up.json`.
#[derive(Debug, Serialize, Deserialize)]
pub struct State {
    /// labreg's process id.
    pub pid: u32,
    /// The `labctl up` serving in the foreground, if any.
    pub labctl_pid: Option<u32>,
    pub url: String,
    pub runtime_dir: PathBuf,
    pub log: PathBuf,
}

pub fn read_state(path: &Path) -> Option<State> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

pub fn write_state(path: &Path, state: &State) -> anyhow::Result<()> {
    let text = serde_json::to_vec_pretty(state).expect("serializable");
    crate::atomic::write(path, &text, 0o644)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// The labreg binary: next to labctl's, else on PATH.
pub fn binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find labctl's own path")?;
    let dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    let beside = dir.join("labreg");
    if beside.is_file() {
        return Ok(beside);
    }
    std::env::var_os("PATH")
        .and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("labreg"))
                .find(|f| f.is_file())
        })
        .with_context(|| {
            format!(
                "cannot find the labreg binary next to labctl ({}) or on PATH\n  help: build both with `cargo build --release -p labctl -p labreg` (scripts/run.sh does), or put labreg on PATH",
                dir.display()
            )
        })
}

fn bindable(port: u16) -> bool {
    TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)).is_ok()
}

/// Fails with the port, a free one to use instead, and the option (the
/// example repository's scripts/run.sh takes it as PORT=); when another
/// lab's `labctl up` holds the port, how to stop that one.
pub fn check_port(port: u16, root: &Path, detach: bool) -> anyhow::Result<()> {
    if bindable(port) {
        return Ok(());
    }
    let other = (1..=50)
        .filter_map(|i| port.checked_add(i))
        .find(|p| bindable(*p))
        .unwrap_or(5001);
    let run_sh = if root.join("scripts/run.sh").is_file() {
        format!(" (scripts/run.sh: PORT={other} scripts/run.sh)")
    } else {
        String::new()
    };
    let holder: Vec<_> = super::record::running()
        .into_iter()
        .filter(|r| r.url.ends_with(&format!(":{port}")))
        .collect();
    let stop = if holder.is_empty() {
        format!("stop what listens on {port}")
    } else {
        format!(
            "stop the `labctl up` that holds it:{}",
            super::record::down_commands(&holder)
        )
    };
    anyhow::bail!(
        "port {port} on 127.0.0.1 is already in use\n  help: choose another port: `labctl up{} --port {other}`{run_sh}, or {stop}",
        if detach { " --detach" } else { "" }
    )
}

/// Starts `labreg serve CONFIG` in its own process group (a Ctrl-C in the
/// terminal reaches labctl, which stops labreg in order), its output
/// appended to `log`.
pub fn spawn(bin: &Path, config: &Path, log: &Path) -> anyhow::Result<tokio::process::Child> {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("cannot open {}", log.display()))?;
    let err = out.try_clone().context("cannot share the log file")?;
    tokio::process::Command::new(bin)
        .arg("serve")
        .arg(config)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()
        .with_context(|| format!("cannot start {}", bin.display()))
}

/// The last lines of labreg's log, for an error message.
pub fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(8)..].join("\n")
}

/// Waits until labreg accepts connections on `port` (or exits).
pub async fn wait_ready(
    child: &mut tokio::process::Child,
    port: u16,
    log: &Path,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait()? {
            let tail = log_tail(log);
            let help = if tail.contains("cannot listen") {
                format!(
                    "another program took port {port}: run `labctl up --port {}`",
                    port + 1
                )
            } else {
                format!("see the whole log in {}", log.display())
            };
            anyhow::bail!("labreg exited ({status}) before listening:\n{tail}\n  help: {help}");
        }
        if tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "labreg did not listen on port {port} within 20 s\n  help: see its log, {}",
            log.display()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Sends SIGTERM (labreg finishes the requests in flight and exits).
pub fn terminate(pid: u32) {
    // SAFETY: kill has no memory preconditions; a stale pid is checked by the caller.
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGTERM);
    }
}

/// Whether `pid` is a running (not zombie) labreg.
pub fn is_labreg(pid: u32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    if unsafe { libc::kill(pid as libc::pid_t, 0) } != 0 {
        return false;
    }
    let proc = PathBuf::from(format!("/proc/{pid}"));
    if !proc.is_dir() {
        return true;
    }
    let stat = std::fs::read_to_string(proc.join("stat")).unwrap_or_default();
    let state = stat.rsplit_once(") ").map(|(_, r)| r.chars().next());
    if state == Some(Some('Z')) {
        return false;
    }
    let cmdline = std::fs::read(proc.join("cmdline")).unwrap_or_default();
    let argv0 = cmdline.split(|b| *b == 0).next().unwrap_or_default();
    Path::new(std::ffi::OsStr::from_bytes(argv0)).file_name() == Some("labreg".as_ref())
}

/// SIGTERM, then waits up to 30 s (labreg's drain time), then SIGKILL.
/// For a process that is not our child (`labctl down`).
pub async fn stop_pid(pid: u32) -> bool {
    terminate(pid);
    let deadline = Instant::now() + Duration::from_secs(30);
    while is_labreg(pid) {
        if Instant::now() > deadline {
            // SAFETY: as in terminate.
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGKILL);
            }
            return false;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    true
}

/// SIGTERM to our child and wait for it to exit.
pub async fn stop_child(child: &mut tokio::process::Child) -> anyhow::Result<()> {
    if let Some(pid) = child.id() {
        terminate(pid);
    }
    match tokio::time::timeout(Duration::from_secs(35), child.wait()).await {
        Ok(r) => {
            r.context("cannot wait for labreg")?;
        }
        Err(_) => {
            child.kill().await.context("cannot kill labreg")?;
        }
    }
    Ok(())
}
