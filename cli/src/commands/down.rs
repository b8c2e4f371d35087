//! `labctl down`: stops the labreg that `labctl up` started for this lab
//! (recorded in `.lab/up.json`): SIGTERM, wait, then removes its runtime
//! folder. The storage in `.lab/registry` stays for the next `labctl up`.

use std::process::ExitCode;

use anyhow::Context;
use serde::Serialize;

use super::up::{process, runtime, state_file};
use super::verify::Output;
use crate::lab::LabPath;

#[derive(clap::Args)]
pub struct Args {
    /// `text` for people, `json` for programs.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

#[derive(Serialize)]
struct Report {
    /// labreg was running and is now stopped.
    stopped: bool,
    pid: Option<u32>,
    url: Option<String>,
    /// It did not stop within 30 s and was killed.
    killed: bool,
}

pub fn run(args: Args, lab: &LabPath) -> anyhow::Result<ExitCode> {
    let state = state_file(lab);
    let mut report = Report {
        stopped: false,
        pid: None,
        url: None,
        killed: false,
    };
    let text = args.output == Output::Text;
    match process::read_state(&state) {
        None => {
            if text {
                eprintln!(
                    "nothing to stop: no `labctl up` of this lab is recorded in {}",
                    state.display()
                );
            }
        }
        Some(s) => {
            report.pid = Some(s.pid);
            report.url = Some(s.url.clone());
            if process::is_labreg(s.pid) {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .context("cannot start the async runtime")?;
                report.killed = !rt.block_on(process::stop_pid(s.pid));
                report.stopped = true;
                if text {
                    let how = if report.killed {
                        "killed after 30 s"
                    } else {
                        "stopped"
                    };
                    eprintln!(
                        "{how} labreg (pid {}, {}); its storage stays for the next `labctl up`",
                        s.pid, s.url
                    );
                }
            } else if text {
                eprintln!(
                    "labreg (pid {}) was no longer running; cleaned up after it (its log: {})",
                    s.pid,
                    s.log.display()
                );
            }
            runtime::remove(&s.runtime_dir)?;
            std::fs::remove_file(&state)
                .or_else(|e| match e.kind() {
                    std::io::ErrorKind::NotFound => Ok(()),
                    _ => Err(e),
                })
                .with_context(|| format!("cannot remove {}", state.display()))?;
        }
    }
    if !text {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("serializable")
        );
    }
    Ok(ExitCode::SUCCESS)
}
