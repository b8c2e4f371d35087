//! Where `labctl up` runs, recorded outside the lab so that `labctl down`
//! (or `verify push`) started elsewhere can name it: one small JSON file
//! per running lab in `$XDG_STATE_HOME/labctl/up/` (default
//! `~/.local/state/labctl/up/`), written when labreg is ready, removed
//! when it stops. Nothing secret is in it: the lab's path, URL and pid.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
pub struct Record {
    pub lab: String,
    /// The lab's manifest, absolute.
    pub file: PathBuf,
    pub url: String,
    pub pid: u32,
}

fn dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".local/state"))
        })?;
    Some(base.join("labctl/up"))
}

/// The record's file for the lab whose manifest is `file` (absolute).
fn path_for(file: &Path) -> Option<PathBuf> {
    let digest = <sha2::Sha256 as sha2::Digest>::digest(file.as_os_str().as_encoded_bytes());
    Some(dir()?.join(format!("{}.json", hex::encode(&digest[..8]))))
}

/// Records a running `up`; a failure only loses the hint, so it is a warning.
pub fn write(r: &Record) {
    let Some(path) = path_for(&r.file) else {
        return;
    };
    let text = serde_json::to_vec_pretty(r).expect("serializable");
    let res = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| crate::atomic::write(&path, &text, 0o644));
    if let Err(e) = res {
        eprintln!(
            "warning: cannot record this run in {} ({e}); `labctl down` still works from the lab's folder",
            path.display()
        );
    }
}

pub fn remove(file: &Path) {
    if let Some(path) = path_for(file) {
        let _ = std::fs::remove_file(path);
    }
}

/// The recorded runs whose labreg still runs; stale records are removed.
pub fn running() -> Vec<Record> {
    let Some(dir) = dir() else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let path = e.path();
        let rec = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| serde_json::from_str::<Record>(&t).ok());
        match rec {
            Some(r) if super::process::is_labreg(r.pid) => out.push(r),
            _ if path.extension() == Some("json".as_ref()) => {
                let _ = std::fs::remove_file(&path);
            }
            _ => {}
        }
    }
    out.sort_by(|a, b| a.file.cmp(&b.file));
    out
}

/// The `labctl -f FILE down` line for each running lab, for messages.
pub fn down_commands(runs: &[Record]) -> String {
    runs.iter()
        .map(|r| {
            format!(
                "\n    labctl -f {} down      # lab {}, {} (pid {})",
                r.file.display(),
                r.lab,
                r.url,
                r.pid
            )
        })
        .collect()
}
