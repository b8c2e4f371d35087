//! `labctl validate`: every problem of lab.yaml at once, each with
//! FILE:LINE:COLUMN and its fix. Exit 1 when there is any.

use std::process::ExitCode;

use clap::ValueEnum;
use serde::Serialize;

use crate::lab::LabPath;
use crate::manifest::{self, Report};

#[derive(Clone, Copy, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

#[derive(clap::Args)]
pub struct Args {
    /// How to print the result.
    #[arg(short, long, value_enum, default_value = "text")]
    pub output: Output,
    /// Print the manifest with every default filled in (when valid).
    #[arg(long)]
    pub show: bool,
}

#[derive(Serialize)]
struct JsonProblem<'a> {
    file: String,
    line: u64,
    column: u64,
    message: &'a str,
    help: Option<&'a str>,
}

pub fn run(args: Args, lab: &LabPath) -> anyhow::Result<ExitCode> {
    let (parsed, problems) = match manifest::validate(&lab.file, &lab.root) {
        Ok(r) => r,
        Err(manifest::ManifestError::Read { path, source })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            anyhow::bail!(
                "{} not found\n  help: run `labctl init` to create a lab here, or pass -f PATH",
                path.display()
            )
        }
        Err(e) => return Err(e.into()),
    };
    match args.output {
        Output::Json => {
            let list: Vec<JsonProblem> = problems
                .iter()
                .map(|p| JsonProblem {
                    file: lab.file.display().to_string(),
                    line: p.pos.line,
                    column: p.pos.column,
                    message: &p.message,
                    help: p.help.as_deref(),
                })
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(
                    &serde_json::json!({"valid": problems.is_empty(), "problems": list})
                )?
            );
        }
        Output::Text if problems.is_empty() => {
            if args.show
                && let Some(parsed) = &parsed
            {
                print!("{}", serde_saphyr::to_string(parsed)?);
            }
            eprintln!("{}: valid", lab.file.display());
        }
        Output::Text => {
            eprint!(
                "{}",
                Report {
                    path: &lab.file,
                    problems: &problems
                }
            );
            let n = problems.len();
            eprintln!(
                "{}: {n} problem{}",
                lab.file.display(),
                if n == 1 { "" } else { "s" }
            );
        }
    }
    Ok(if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
