//! Independent checks of a storage folder in distribution's layout: every
//! blob's bytes hash to its path's digest, every link points at a blob that
//! exists. Written apart from labreg's own code, so a bug there cannot hide
//! itself here.

use std::path::Path;

use super::digest;

fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Problems found under `root` (a filesystem driver's rootdirectory).
pub fn verify(root: &Path) -> Vec<String> {
    let v2 = root.join("docker/registry/v2");
    let mut problems = Vec::new();
    let mut all = Vec::new();
    files(&v2.join("blobs"), &mut all);
    for f in &all {
        let name = f.file_name().unwrap().to_string_lossy();
        if name.starts_with('.') {
            continue; // a temporary file of an interrupted atomic write
        }
        let hex = f
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .to_string();
        let want = format!("sha256:{hex}");
        let got = digest(&std::fs::read(f).unwrap());
        if got != want {
            problems.push(format!("blob {} holds {got}", f.display()));
        }
    }
    let mut links = Vec::new();
    files(&v2.join("repositories"), &mut links);
    for l in links
        .iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "link"))
    {
        let text = std::fs::read_to_string(l).unwrap_or_default();
        let Some(hex) = text.strip_prefix("sha256:") else {
            problems.push(format!("link {} holds {text:?}", l.display()));
            continue;
        };
        let data = v2.join(format!(
            "blobs/sha256/{}/{hex}/data",
            &hex[..2.min(hex.len())]
        ));
        if !data.is_file() {
            problems.push(format!("link {} points at missing {text}", l.display()));
        }
    }
    problems
}
