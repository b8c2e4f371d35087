//! What verify found: one entry per step with its result and time, printed
//! as each step ends (for people) or as one JSON document at the end.

use std::io::Write;
use std::time::Duration;

use serde::Serialize;

use super::diagnose::Diagnosis;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Passed.
    Ok,
    /// Passed, but something deserves attention (anonymous push, delete disabled).
    Warn,
    /// Not run, and not needed (no credentials asked for, --keep).
    Skip,
    /// Failed: verify stops here.
    Fail,
}

#[derive(Debug, Serialize)]
pub struct Step {
    pub step: &'static str,
    pub status: Status,
    pub millis: u64,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diagnosis: Option<Diagnosis>,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub registry: String,
    pub repository: String,
    pub tag: String,
    pub layer_bytes: u64,
    pub steps: Vec<Step>,
    /// Every required step passed.
    pub passed: bool,
    pub warnings: usize,
    /// Stopped by Ctrl-C.
    pub interrupted: bool,
    pub millis: u64,
}

/// Collects the steps; prints each as it ends unless the output is JSON.
pub struct Reporter {
    pub report: Report,
    json: bool,
    print_json: bool,
}

fn millis(d: Duration) -> u64 {
    d.as_millis().try_into().unwrap_or(u64::MAX)
}

impl Reporter {
    pub fn new(report: Report, json: bool, print_json: bool) -> Reporter {
        let r = Reporter {
            report,
            json,
            print_json,
        };
        if !json {
            let rep = &r.report;
            println!(
                "verify push {}: {}:{} ({} layer)",
                rep.registry,
                rep.repository,
                rep.tag,
                super::size::human(rep.layer_bytes)
            );
        }
        r
    }

    pub fn push(&mut self, step: Step) {
        if !self.json {
            print_step(&step);
        }
        self.report.steps.push(step);
    }

    /// Prints the summary (or the JSON); `passed` tells whether every
    /// required step passed.
    pub fn finish(mut self, took: Duration) -> Report {
        let r = &mut self.report;
        r.millis = millis(took);
        r.passed = !r.interrupted && !r.steps.iter().any(|s| s.status == Status::Fail);
        r.warnings = r.steps.iter().filter(|s| s.status == Status::Warn).count();
        if self.json && self.print_json {
            let mut out = std::io::stdout().lock();
            let _ = serde_json::to_writer_pretty(&mut out, r);
            let _ = writeln!(out);
        } else if !self.json {
            let secs = took.as_secs_f64();
            let warn = match r.warnings {
                0 => String::new(),
                1 => " with 1 warning".into(),
                n => format!(" with {n} warnings"),
            };
            if r.interrupted {
                println!("interrupted after {secs:.1} s");
            } else if r.passed {
                println!("passed{warn}: {} steps in {secs:.1} s", r.steps.len());
            } else {
                let at = r.steps.iter().find(|s| s.status == Status::Fail);
                println!(
                    "FAILED at {} after {secs:.1} s",
                    at.map(|s| s.step).unwrap_or("?")
                );
            }
        }
        self.report
    }
}

fn print_step(s: &Step) {
    let mark = match s.status {
        Status::Ok => "ok",
        Status::Warn => "WARN",
        Status::Skip => "skip",
        Status::Fail => "FAIL",
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "  {mark:<5} {:<14} {:>6} ms  {}",
        s.step, s.millis, s.detail
    );
    if let Some(d) = &s.diagnosis {
        let _ = writeln!(out, "        cause: {}", d.cause);
        let _ = writeln!(out, "        fix:   {}", d.fix);
        if let Some(h) = &d.help {
            for line in h.lines() {
                let _ = writeln!(out, "        | {line}");
            }
        }
    }
    let _ = out.flush();
}
