//! Writing apps/ as a whole, through a journal: every new file is staged,
//! then all renames and removals are applied together, and a crash in
//! between is rolled forward by the next render. `diff` compares instead of writing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::RenderError;
use crate::journal;

/// Every file under `dir`, by path relative to it with `/`.
pub fn existing(dir: &Path) -> Result<BTreeMap<String, PathBuf>, RenderError> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, PathBuf>) -> std::io::Result<()> {
        for e in std::fs::read_dir(dir)? {
            let p = e?.path();
            if p.is_dir() {
                walk(base, &p, out)?;
            } else if let Ok(rel) = p.strip_prefix(base) {
                let rel: Vec<_> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect();
                out.insert(rel.join("/"), p);
            }
        }
        Ok(())
    }
    let mut out = BTreeMap::new();
    if dir.is_dir() {
        walk(dir, dir, &mut out).map_err(|source| RenderError::Io {
            action: "cannot list",
            path: dir.to_path_buf(),
            source,
        })?;
    }
    Ok(out)
}

/// How apps/ differs from the plan.
#[derive(Debug, Default, serde::Serialize)]
pub struct Diff {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
    pub unchanged: usize,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty()
    }
}

pub fn diff(dir: &Path, files: &BTreeMap<String, Vec<u8>>) -> Result<Diff, RenderError> {
    let old = existing(dir)?;
    let mut d = Diff::default();
    for (rel, bytes) in files {
        match old.get(rel) {
            None => d.added.push(rel.clone()),
            Some(p) if std::fs::read(p).ok().as_deref() != Some(bytes.as_slice()) => {
                d.changed.push(rel.clone())
            }
            Some(_) => d.unchanged += 1,
        }
    }
    d.removed = old
        .keys()
        .filter(|k| !files.contains_key(*k))
        .cloned()
        .collect();
    Ok(d)
}

/// Makes `dir` hold exactly `files`, all together (see `journal`); returns
/// what changed.
pub fn write(dir: &Path, files: &BTreeMap<String, Vec<u8>>) -> Result<Diff, RenderError> {
    let io = |action, path: &Path| {
        let path = path.to_path_buf();
        move |source| RenderError::Io {
            action,
            path,
            source,
        }
    };
    std::fs::create_dir_all(dir).map_err(io("cannot create", dir))?;
    let mut batch = journal::Batch::begin(dir).map_err(io("cannot recover", dir))?;
    let d = diff(dir, files)?;
    for rel in d.added.iter().chain(&d.changed) {
        let path = dir.join(rel);
        batch
            .stage(&path, &files[rel], 0o644)
            .map_err(io("cannot write", &path))?;
    }
    for rel in &d.removed {
        let path = dir.join(rel);
        batch.remove(&path).map_err(io("cannot remove", &path))?;
    }
    batch.commit().map_err(io("cannot write", dir))?;
    // Folders left empty go too.
    for rel in &d.removed {
        let mut parent = dir.join(rel).parent().map(Path::to_path_buf);
        while let Some(p) = parent {
            if p == dir || std::fs::remove_dir(&p).is_err() {
                break;
            }
            parent = p.parent().map(Path::to_path_buf);
        }
    }
    Ok(d)
}
