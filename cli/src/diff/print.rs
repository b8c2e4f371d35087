//! The report for people: each differing object's unified diff (coloured on
//! a terminal), objects that could not be compared, then one summary line.

use std::io::{IsTerminal, Write};

use super::{Change, Report};

/// Colour when stdout is a terminal and `NO_COLOR` is unset or empty.
pub fn use_colour() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const CYAN: &str = "\x1b[36m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

fn paint(line: &str, colour: bool) -> String {
    if !colour {
        return line.to_string();
    }
    let c = if line.starts_with("+++") || line.starts_with("---") {
        BOLD
    } else if line.starts_with('+') {
        GREEN
    } else if line.starts_with('-') {
        RED
    } else if line.starts_with("@@") {
        CYAN
    } else {
        return line.to_string();
    };
    format!("{c}{line}{RESET}")
}

/// Writes the report; `colour` adds ANSI colours.
pub fn human(report: &Report, out: &mut impl Write, colour: bool) -> std::io::Result<()> {
    for e in &report.objects {
        match e.change {
            Change::Unchanged => {}
            Change::Error => {
                let msg = e.error.as_deref().unwrap_or("unknown error");
                let head = format!("! {}: {msg}", e.key);
                writeln!(out, "{}", paint_error(&head, colour))?;
            }
            _ => {
                for line in e.diff.lines() {
                    writeln!(out, "{}", paint(line, colour))?;
                }
            }
        }
    }
    let s = &report.summary;
    let mut line = format!(
        "{} added, {} changed, {} deleted, {} unchanged",
        s.added, s.changed, s.deleted, s.unchanged
    );
    if s.errors > 0 {
        line.push_str(&format!(", {} not compared", s.errors));
    }
    let what = match report.against {
        "git" => "render against apps/",
        _ => "render against the cluster",
    };
    writeln!(out, "{what}: {line}")
}

fn paint_error(line: &str, colour: bool) -> String {
    if colour {
        format!("{RED}{BOLD}{line}{RESET}")
    } else {
        line.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Entry, ObjKey, Report, compare};
    use super::*;
    use serde_json::json;

    fn report() -> Report {
        let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}});
        let key = ObjKey::of(&obj);
        Report::new(
            "cluster",
            vec![
                compare("live", key.clone(), None, Some(&obj)),
                Entry::error(key, "forbidden".into()),
            ],
        )
    }

    fn text(colour: bool) -> String {
        let mut out = Vec::new();
        human(&report(), &mut out, colour).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn colour_only_when_asked() {
        let plain = text(false);
        assert!(!plain.contains('\x1b'), "{plain}");
        assert!(plain.contains("+kind: Namespace\n"), "{plain}");
        assert!(plain.contains("! Namespace a: forbidden\n"), "{plain}");
        assert!(plain.ends_with("1 added, 0 changed, 0 deleted, 0 unchanged, 1 not compared\n"));
        let coloured = text(true);
        assert!(
            coloured.contains("\x1b[32m+kind: Namespace\x1b[0m"),
            "{coloured}"
        );
        assert!(
            coloured.contains("\x1b[1m+++ rendered/v1.Namespace.a\x1b[0m"),
            "{coloured}"
        );
    }
}
