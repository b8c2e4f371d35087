//! Makes a machine hold exactly the node-trust files it is given, touching
//! nothing else.
//!
//! A record (JSON, in the state file) lists every file labctl wrote, with
//! the SHA-256 of what it wrote, and every folder it created. A file is
//! labctl's only while it still holds what labctl wrote: a file that is
//! there and not in the record, or that someone changed since, is left
//! alone and reported. The record is saved before each change (listing the
//! old and the new content as both acceptable), so a crash in between
//! leaves nothing that the next run would mistake for someone else's.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Debug, Default, Serialize, Deserialize)]
struct Record {
    /// Node path → the SHA-256 (hex) of each content labctl may have left.
    files: BTreeMap<String, Vec<String>>,
    /// Folders labctl created (removed again when empty).
    dirs: BTreeSet<String>,
}

/// What one sync did.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub written: Vec<String>,
    pub updated: Vec<String>,
    pub removed: Vec<String>,
    pub unchanged: usize,
    /// Files that already hold what labctl would write, put there by
    /// someone else: in place, and left alone.
    pub in_place: Vec<String>,
    /// (path, why) of files labctl did not write and so did not touch,
    /// though they differ from what it would write.
    pub left_alone: Vec<(String, String)>,
}

impl Report {
    /// Paths whose content changed (for the notes of what to restart).
    pub fn changed(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .written
            .iter()
            .chain(&self.updated)
            .chain(&self.removed)
            .cloned()
            .collect();
        v.sort();
        v
    }

    /// One line per change, for people.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (what, paths) in [
            ("wrote", &self.written),
            ("updated", &self.updated),
            ("removed", &self.removed),
        ] {
            out.extend(paths.iter().map(|p| format!("{what:8} {p}")));
        }
        for p in &self.in_place {
            out.push(format!("in place {p} (not written by labctl; left alone)"));
        }
        for (p, why) in &self.left_alone {
            out.push(format!("left     {p}: {why}"));
        }
        out
    }
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A node path (absolute, no `..`) under `root`.
fn on_host(root: &Path, path: &str) -> io::Result<PathBuf> {
    let p = Path::new(path);
    let ok = p.is_absolute()
        && p.components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
    if !ok {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{path:?} is not an absolute path without \"..\""),
        ));
    }
    Ok(root.join(path.trim_start_matches('/')))
}

fn load(state: &Path) -> io::Result<Record> {
    match std::fs::read(state) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} is not labctl's record of what it wrote ({e}); move it away to start over (files labctl wrote are then left alone)",
                    state.display()
                ),
            )
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Record::default()),
        Err(e) => Err(e),
    }
}

fn save(state: &Path, r: &Record) -> io::Result<()> {
    let mut bytes = serde_json::to_vec_pretty(r).expect("serializable");
    bytes.push(b'\n');
    crate::atomic::write(state, &bytes, 0o644)
}

/// What is at `path` now: None when nothing, Err when not a plain file.
fn current(path: &Path) -> io::Result<Result<Option<Vec<u8>>, String>> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Ok(None)),
        Err(e) => Err(e),
        Ok(m) if m.file_type().is_file() => Ok(Ok(Some(std::fs::read(path)?))),
        Ok(_) => Ok(Err("not a regular file (a link or a folder)".into())),
    }
}

/// Creates the folders of `path` under `root`, recording each new one.
fn make_dirs(root: &Path, path: &str, r: &mut Record, state: &Path) -> io::Result<()> {
    let mut missing = Vec::new();
    let mut cur = Path::new(path).parent();
    while let Some(d) = cur {
        if d == Path::new("/") || on_host(root, &d.to_string_lossy())?.exists() {
            break;
        }
        missing.push(d.to_string_lossy().into_owned());
        cur = d.parent();
    }
    if missing.is_empty() {
        return Ok(());
    }
    r.dirs.extend(missing.iter().cloned());
    save(state, r)?;
    for d in missing.iter().rev() {
        std::fs::create_dir_all(on_host(root, d)?)?;
    }
    Ok(())
}

/// Makes the machine under `root` hold `desired` (node path → contents),
/// removes what labctl wrote before and no longer wants, and records it in
/// `state`.
pub fn apply(root: &Path, desired: &BTreeMap<String, Vec<u8>>, state: &Path) -> io::Result<Report> {
    let mut r = load(state)?;
    let mut rep = Report::default();
    for (path, bytes) in desired {
        let target = on_host(root, path)?;
        let want = sha(bytes);
        let known = r.files.get(path).cloned().unwrap_or_default();
        let now = match current(&target)? {
            Ok(now) => now,
            Err(why) => {
                rep.left_alone.push((path.clone(), why));
                continue;
            }
        };
        let updating = match &now {
            Some(b) if b == bytes => {
                if !known.is_empty() {
                    r.files.insert(path.clone(), vec![want]);
                    rep.unchanged += 1;
                } else {
                    rep.in_place.push(path.clone());
                }
                continue;
            }
            Some(b) if known.contains(&sha(b)) => true,
            Some(_) if known.is_empty() => {
                rep.left_alone.push((
                    path.clone(),
                    "exists and labctl did not write it; move it away (or remove it) and sync again".into(),
                ));
                continue;
            }
            Some(_) => {
                // Theirs from now on: neither updated nor removed.
                r.files.remove(path);
                save(state, &r)?;
                rep.left_alone.push((
                    path.clone(),
                    "changed by someone since labctl wrote it, so it is theirs now; remove it and sync again to get labctl's version".into(),
                ));
                continue;
            }
            None => false,
        };
        make_dirs(root, path, &mut r, state)?;
        let mut accepted = known;
        accepted.push(want.clone());
        r.files.insert(path.clone(), accepted);
        save(state, &r)?;
        crate::atomic::write(&target, bytes, 0o644)?;
        r.files.insert(path.clone(), vec![want]);
        if updating {
            rep.updated.push(path.clone());
        } else {
            rep.written.push(path.clone());
        }
    }
    // What labctl wrote before and no longer wants.
    let stale: Vec<String> = r
        .files
        .keys()
        .filter(|p| !desired.contains_key(*p))
        .cloned()
        .collect();
    for path in stale {
        let target = on_host(root, &path)?;
        let known = r.files.remove(&path).unwrap_or_default();
        match current(&target)? {
            Ok(Some(b)) if known.contains(&sha(&b)) => {
                std::fs::remove_file(&target)?;
                rep.removed.push(path);
            }
            Ok(None) => {}
            Ok(Some(_)) | Err(_) => rep.left_alone.push((
                path,
                "labctl no longer wants it, but someone changed it since labctl wrote it; remove it by hand if it is not needed".into(),
            )),
        }
    }
    // Folders labctl created and nothing needs any more, deepest first.
    let dirs: Vec<String> = r.dirs.iter().rev().cloned().collect();
    for d in dirs {
        let prefix = format!("{d}/");
        if desired.keys().any(|p| p.starts_with(&prefix)) {
            continue;
        }
        let host = on_host(root, &d)?;
        let gone = match std::fs::remove_dir(&host) {
            Ok(()) => true,
            Err(e) if e.kind() == io::ErrorKind::NotFound => true,
            Err(_) => false, // not empty: someone else's files are in it
        };
        if gone {
            r.dirs.remove(&d);
        }
    }
    save(state, &r)?;
    Ok(rep)
}

/// The files of a folder as the node-trust ConfigMap volume presents them:
/// the tree of node paths (`etc/containerd/certs.d/HOST/hosts.toml`),
/// through the kubelet's `..data` links; entries starting with `..` are the
/// kubelet's own.
pub fn read_tree(dir: &Path) -> io::Result<BTreeMap<String, Vec<u8>>> {
    fn walk(dir: &Path, rel: &str, out: &mut BTreeMap<String, Vec<u8>>) -> io::Result<()> {
        for e in std::fs::read_dir(dir)? {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("..") {
                continue;
            }
            let path = e.path();
            let rel = format!("{rel}/{name}");
            if std::fs::metadata(&path)?.is_dir() {
                walk(&path, &rel, out)?;
            } else {
                out.insert(rel, std::fs::read(&path)?);
            }
        }
        Ok(())
    }
    let mut out = BTreeMap::new();
    walk(dir, "", &mut out)?;
    Ok(out)
}
