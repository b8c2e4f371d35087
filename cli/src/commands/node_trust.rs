//! `labctl node-trust sync`: what the node-trust DaemonSet runs on every
//! node. It copies the files of the rendered ConfigMap (a tree of node
//! paths) under the host root, updates them when the ConfigMap changes (CA
//! rotated, hosts changed), removes what it wrote when the lab drops it,
//! and never touches files it did not write (see `nodetrust::sync`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use crate::nodetrust::{self, sync};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Write the node-trust files of a folder (the ConfigMap's volume) under a host root
    Sync(SyncArgs),
}

#[derive(clap::Args)]
pub struct SyncArgs {
    /// The files to install: a tree of node paths (etc/containerd/certs.d/HOST/hosts.toml, ...).
    #[arg(long, value_name = "DIR")]
    pub from: PathBuf,
    /// Where the node's file system is mounted (`/` on the node itself).
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub host_root: PathBuf,
    /// labctl's record of what it wrote. Default:
    /// HOST_ROOT/var/lib/labctl/node-trust/record.json.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Sync again every SECONDS, forever (the DaemonSet's mode); once when absent.
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub interval: Option<u64>,
    /// `text` (default) or `json` (one report per sync).
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    pub output: String,
}

pub fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Sync(a) => sync_cmd(a),
    }
}

pub const STATE: &str = "var/lib/labctl/node-trust/record.json";

fn once(a: &SyncArgs, state: &std::path::Path) -> anyhow::Result<sync::Report> {
    let desired = sync::read_tree(&a.from).with_context(|| {
        format!(
            "cannot read the node-trust files in {}\n  help: point --from at the ConfigMap's volume (or any folder holding a tree of node paths)",
            a.from.display()
        )
    })?;
    sync::apply(&a.host_root, &desired, state).with_context(|| {
        format!(
            "cannot sync the node-trust files under {}",
            a.host_root.display()
        )
    })
}

fn print(a: &SyncArgs, rep: &sync::Report) {
    if a.output == "json" {
        let notes = nodetrust::after_change(&rep.changed());
        let v = serde_json::json!({"report": rep, "notes": notes});
        println!("{v}");
        return;
    }
    for l in rep.lines() {
        println!("{l}");
    }
    for n in nodetrust::after_change(&rep.changed()) {
        println!("note: {n}");
    }
    if rep.changed().is_empty() && rep.left_alone.is_empty() {
        println!("in sync: {} files unchanged", rep.unchanged);
    }
}

extern "C" fn exit_now(_: libc::c_int) {
    // SAFETY: _exit is async-signal-safe.
    unsafe { libc::_exit(0) }
}

fn sync_cmd(a: SyncArgs) -> anyhow::Result<ExitCode> {
    let state = a.state.clone().unwrap_or_else(|| a.host_root.join(STATE));
    let Some(secs) = a.interval else {
        let rep = once(&a, &state)?;
        print(&a, &rep);
        return Ok(if rep.left_alone.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        });
    };
    // As a container's PID 1, SIGTERM does nothing unless handled.
    // SAFETY: installs a handler that only calls _exit.
    unsafe {
        libc::signal(libc::SIGTERM, exit_now as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, exit_now as *const () as libc::sighandler_t);
    }
    let mut last_left: Vec<(String, String)> = Vec::new();
    loop {
        match once(&a, &state) {
            Ok(rep) => {
                let quiet = rep.changed().is_empty() && rep.left_alone == last_left;
                if !quiet {
                    print(&a, &rep);
                }
                last_left = rep.left_alone;
            }
            Err(e) => crate::print_error(&e),
        }
        std::thread::sleep(Duration::from_secs(secs));
    }
}
