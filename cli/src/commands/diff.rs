//! `labctl diff`: what the cluster (or apps/ in git) would change if what
//! render produces were applied. Exit status as kubectl diff: 0 no
//! differences, 1 differences, 2 an error (also when some objects could not
//! be compared; the others are still shown).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use super::render::rendered;
use crate::diff::{self, Report, cluster, git, print};
use crate::lab::LabPath;

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Against {
    /// The live cluster (server-side dry-run apply)
    Cluster,
    /// The files in apps/, no cluster
    Git,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// Unified diffs and a summary line
    Text,
    /// One JSON report
    Json,
}

#[derive(clap::Args)]
pub struct Args {
    /// The kubeconfig file (default: KUBECONFIG, then ~/.kube/config, then
    /// the in-cluster service account).
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use (default: its current context).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// What to compare render's output with.
    #[arg(long, value_enum, default_value = "cluster")]
    pub against: Against,
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    pub output: Output,
    /// The sealed-secrets controller's certificate (default certs/sealing.crt).
    #[arg(long, value_name = "FILE")]
    pub cert: Option<PathBuf>,
}

/// Exit status 2: the comparison failed or is incomplete.
const ERROR: u8 = 2;

pub fn run(args: Args, lab: &LabPath) -> anyhow::Result<ExitCode> {
    match report(&args, lab) {
        Ok(report) => {
            show(&report, args.output)?;
            Ok(if report.summary.errors > 0 {
                ExitCode::from(ERROR)
            } else if report.differs() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Err(err) => {
            crate::print_error(&err);
            Ok(ExitCode::from(ERROR))
        }
    }
}

fn report(args: &Args, lab: &LabPath) -> anyhow::Result<Report> {
    let r = rendered(lab, args.cert.as_deref())?;
    let objects = diff::rendered(&r.plan)?;
    Ok(match args.against {
        Against::Git => {
            let committed = git::committed(&r.apps)?;
            Report::new("git", git::pair(committed, objects))
        }
        Against::Cluster => {
            let access = cluster::Access {
                kubeconfig: args.kubeconfig.clone(),
                context: args.context.clone(),
            };
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            let entries = rt.block_on(cluster::diff(&access, &r.lab.metadata.name, objects))?;
            Report::new("cluster", entries)
        }
    })
}

fn show(report: &Report, output: Output) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match output {
        Output::Json => {
            serde_json::to_writer_pretty(&mut out, report)?;
            writeln!(out)?;
        }
        Output::Text => print::human(report, &mut out, print::use_colour())?,
    }
    out.flush()?;
    Ok(())
}
