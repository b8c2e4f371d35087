//! Atomic file writes: a temporary file in the target's folder, fsync,
//! rename over the target, fsync of the folder. A reader (or a crash) sees
//! the old file or the new one, never half of one.
//!
//! `stage` + `Staged::commit` split the two halves so that a batch (rekey)
//! writes every new file before it replaces any.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

/// A fully written and synced temporary file waiting to replace `target`.
/// Dropping it without `commit` removes the temporary file.
pub struct Staged {
    temp: NamedTempFile,
    target: PathBuf,
}

pub fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Writes `bytes` to a temporary file beside `target` (creating its folder)
/// and syncs it. `mode` is the Unix permission of the final file.
pub fn stage(target: &Path, bytes: &[u8], mode: u32) -> io::Result<Staged> {
    let dir = parent(target);
    fs::create_dir_all(dir)?;
    let mut temp = tempfile::Builder::new()
        .prefix(".labctl-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    temp.write_all(bytes)?;
    set_mode(temp.as_file(), mode)?;
    temp.as_file().sync_all()?;
    Ok(Staged {
        temp,
        target: target.to_path_buf(),
    })
}

impl Staged {
    /// Renames the temporary file over the target and syncs the folder.
    pub fn commit(self) -> io::Result<()> {
        let target = self.target;
        self.temp.persist(&target).map_err(|e| e.error)?;
        sync_dir(parent(&target))
    }
}

impl Staged {
    /// Keeps the synced temporary file on disk and returns (temporary,
    /// target), for a journal to rename later (see `journal`).
    pub fn keep(self) -> io::Result<(PathBuf, PathBuf)> {
        let temp = self.temp.into_temp_path().keep().map_err(|e| e.error)?;
        Ok((temp, self.target))
    }
}

/// `stage` then `commit`.
pub fn write(target: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    stage(target, bytes, mode)?.commit()
}

/// Removes a file and syncs its folder.
pub fn remove(target: &Path) -> io::Result<()> {
    fs::remove_file(target)?;
    sync_dir(parent(target))
}

pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(unix)]
fn set_mode(f: &File, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    f.set_permissions(fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_: &File, _: u32) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staged_files_replace_only_on_commit() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("sub/a.txt");
        write(&target, b"old", 0o600).unwrap();
        let staged = stage(&target, b"new", 0o600).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"old");
        staged.commit().unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"new");

        drop(stage(&target, b"dropped", 0o600).unwrap());
        assert_eq!(fs::read(&target).unwrap(), b"new");
        let names: Vec<_> = fs::read_dir(dir.path().join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            names,
            vec![std::ffi::OsString::from("a.txt")],
            "no temporary file is left behind"
        );
    }
}
