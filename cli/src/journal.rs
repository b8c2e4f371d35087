//! All-or-nothing batches of file replacements and removals in one folder
//! (apps/ for render, secrets/ for rekey).
//!
//! Every new file is staged first (written and synced beside its target).
//! Then a journal listing the renames and removals is written atomically,
//! then they are applied, then the journal is removed. A crash before the
//! journal leaves the folder as it was (the staged temporaries are swept by
//! the next batch); a crash after it is rolled forward by `recover`, which
//! every batch runs first. So the folder ends up as before or as after,
//! never in between, from the next labctl command on.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::atomic;

const JOURNAL: &str = ".labctl-journal";

/// Test hook: abort the process after this many applied operations, to
/// prove recovery (`LABCTL_TEST_CRASH_AFTER_OPS`). Never set in real use.
const CRASH_HOOK: &str = "LABCTL_TEST_CRASH_AFTER_OPS";

#[derive(serde::Serialize, serde::Deserialize)]
enum Op {
    /// A staged temporary file (relative to the root) replaces its target.
    Rename {
        temp: String,
        target: String,
    },
    Remove {
        target: String,
    },
}

pub struct Batch {
    root: PathBuf,
    ops: Vec<Op>,
}

fn relative(root: &Path, path: &Path) -> io::Result<String> {
    path.strip_prefix(root)
        .map(|p| p.to_string_lossy().into_owned())
        .map_err(|_| {
            io::Error::other(format!(
                "{} is not under {}",
                path.display(),
                root.display()
            ))
        })
}

impl Batch {
    /// Starts a batch in `root`, finishing an interrupted one first.
    pub fn begin(root: &Path) -> io::Result<Batch> {
        recover(root)?;
        sweep(root)?;
        Ok(Batch {
            root: root.to_path_buf(),
            ops: Vec::new(),
        })
    }

    /// Writes and syncs the new content of `target` beside it.
    pub fn stage(&mut self, target: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
        let (temp, target) = atomic::stage(target, bytes, mode)?.keep()?;
        // The temporary file sits beside its target (its path may have been
        // made absolute): name it relative to the root the same way.
        let target = relative(&self.root, &target)?;
        let name = temp
            .file_name()
            .ok_or_else(|| io::Error::other("a temporary file has no name"))?;
        let temp = Path::new(&target)
            .with_file_name(name)
            .to_string_lossy()
            .into_owned();
        let op = Op::Rename { temp, target };
        self.ops.push(op);
        Ok(())
    }

    pub fn remove(&mut self, target: &Path) -> io::Result<()> {
        let target = relative(&self.root, target)?;
        self.ops.push(Op::Remove { target });
        Ok(())
    }

    /// Records the batch, applies it, and forgets it.
    pub fn commit(mut self) -> io::Result<()> {
        let ops = std::mem::take(&mut self.ops);
        if ops.is_empty() {
            return Ok(());
        }
        let text = serde_json::to_vec(&ops).map_err(io::Error::other)?;
        atomic::write(&self.root.join(JOURNAL), &text, 0o600)?;
        apply(&self.root, &ops)?;
        atomic::remove(&self.root.join(JOURNAL))
    }
}

impl Drop for Batch {
    /// A batch dropped without commit removes what it staged.
    fn drop(&mut self) {
        for op in &self.ops {
            if let Op::Rename { temp, .. } = op {
                let _ = fs::remove_file(self.root.join(temp));
            }
        }
    }
}

fn apply(root: &Path, ops: &[Op]) -> io::Result<()> {
    let crash_after: Option<usize> = std::env::var(CRASH_HOOK).ok().and_then(|v| v.parse().ok());
    for (i, op) in ops.iter().enumerate() {
        if crash_after == Some(i) {
            std::process::abort();
        }
        match op {
            Op::Rename { temp, target } => {
                let (temp, target) = (root.join(temp), root.join(target));
                // Already renamed by an earlier, interrupted attempt.
                if temp.exists() {
                    fs::rename(&temp, &target)?;
                    atomic::sync_dir(atomic::parent(&target))?;
                }
            }
            Op::Remove { target } => {
                let target = root.join(target);
                if target.exists() {
                    atomic::remove(&target)?;
                }
            }
        }
    }
    Ok(())
}

/// Rolls an interrupted batch forward; true when there was one.
pub fn recover(root: &Path) -> io::Result<bool> {
    let journal = root.join(JOURNAL);
    let text = match fs::read(&journal) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    let ops: Vec<Op> = serde_json::from_slice(&text).map_err(|e| {
        io::Error::other(format!(
            "{} is damaged ({e}); delete it and run the command again",
            journal.display()
        ))
    })?;
    apply(root, &ops)?;
    atomic::remove(&journal)?;
    Ok(true)
}

/// Removes staged temporaries left by a batch that crashed before its
/// journal was written (`.labctl-*.tmp`, as atomic::stage names them).
fn sweep(root: &Path) -> io::Result<()> {
    if !root.is_dir() {
        return Ok(());
    }
    for entry in fs::read_dir(root)? {
        let path = entry?.path();
        if path.is_dir() {
            sweep(&path)?;
        } else if path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(".labctl-") && n.ends_with(".tmp"))
        {
            fs::remove_file(&path)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes the files `old` under `root`, then begins a batch that
    /// stages `new`.
    fn staged(root: &Path, old: [(&str, &[u8]); 2], new: [(&str, &[u8]); 2]) -> Batch {
        for (name, bytes) in old {
            atomic::write(&root.join(name), bytes, 0o644).unwrap();
        }
        let mut b = Batch::begin(root).unwrap();
        for (name, bytes) in new {
            b.stage(&root.join(name), bytes, 0o644).unwrap();
        }
        b
    }

    #[test]
    fn commit_applies_all_and_drop_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let mut b = staged(
            root,
            [("a", b"old a"), ("gone", b"x")],
            [("a", b"new a"), ("sub/b", b"new b")],
        );
        b.remove(&root.join("gone")).unwrap();
        b.commit().unwrap();
        assert_eq!(fs::read(root.join("a")).unwrap(), b"new a");
        assert_eq!(fs::read(root.join("sub/b")).unwrap(), b"new b");
        assert!(!root.join("gone").exists() && !root.join(JOURNAL).exists());

        let mut b = Batch::begin(root).unwrap();
        b.stage(&root.join("a"), b"dropped", 0o644).unwrap();
        drop(b);
        assert_eq!(fs::read(root.join("a")).unwrap(), b"new a");
        assert_eq!(fs::read_dir(root).unwrap().count(), 2, "no temporary left");
    }

    #[test]
    fn an_interrupted_batch_is_rolled_forward() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let mut b = staged(
            root,
            [("a", b"old a"), ("b", b"old b")],
            [("a", b"new a"), ("b", b"new b")],
        );
        // Simulate a crash after the journal and the first rename.
        let ops = std::mem::take(&mut b.ops);
        atomic::write(
            &root.join(JOURNAL),
            &serde_json::to_vec(&ops).unwrap(),
            0o600,
        )
        .unwrap();
        apply(root, &ops[..1]).unwrap();
        assert_eq!(fs::read(root.join("b")).unwrap(), b"old b", "in between");
        assert!(recover(root).unwrap());
        assert_eq!(fs::read(root.join("a")).unwrap(), b"new a");
        assert_eq!(fs::read(root.join("b")).unwrap(), b"new b");
        assert!(!recover(root).unwrap(), "nothing left to recover");
    }
}
