//! `labctl down`: stops the labreg that `labctl up` started for this lab
//! (recorded in `.lab/up.json`): SIGTERM, wait, then removes its runtime
//! folder. The storage in `.lab/registry` stays for the next `labctl up`.

use std::process::ExitCode;

use anyhow::Context;
use serde::Serialize;

use super::up::{process, record, runtime, state_file};
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

/// `down` where there is no lab.yaml: an error naming the running labs
/// and the `-f` that stops each.
fn no_lab(lab: &LabPath) -> anyhow::Error {
    let runs = record::running();
    let help = if runs.is_empty() {
        "no `labctl up` is running for any lab of this user; to stop one, run `labctl down` in the lab's folder or name its lab.yaml with `labctl -f PATH/lab.yaml down`".to_string()
    } else {
        format!(
            "name the lab to stop with -f:{}",
            record::down_commands(&runs)
        )
    };
    anyhow::anyhow!(
        "{} not found, so there is no lab here to stop\n  help: {help}",
        lab.file.display()
    )
}

pub fn run(args: Args, given: &LabPath) -> anyhow::Result<ExitCode> {
    if !given.file.is_file() {
        return Err(no_lab(given));
    }
    let file = std::path::absolute(&given.file).context("cannot find the lab's path")?;
    let lab = &LabPath::new(&file);
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
                let others = record::running();
                let also = if others.is_empty() {
                    String::new()
                } else {
                    format!(
                        "\n  other labs' registries run; stop one with:{}",
                        record::down_commands(&others)
                    )
                };
                eprintln!(
                    "nothing to stop: no `labctl up` of this lab is recorded in {}{also}",
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
            record::remove(&lab.file);
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
