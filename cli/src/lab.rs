//! Where the lab is: the manifest given with `-f/--lab` and its folder.

use std::path::{Path, PathBuf};

use crate::manifest::{self, ManifestError, Report};

pub struct LabPath {
    /// The manifest, as given.
    pub file: PathBuf,
    /// Its folder: secrets/ and certs/ live here.
    pub root: PathBuf,
}

impl LabPath {
    pub fn new(file: &Path) -> LabPath {
        let root = match file.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        LabPath {
            file: file.to_path_buf(),
            root,
        }
    }

    /// The whole lab; an invalid manifest is an error listing its problems.
    pub fn load(&self) -> anyhow::Result<manifest::Lab> {
        manifest::load(&self.file).map_err(|e| self.explain(e))
    }

    /// Only the `secrets` part.
    pub fn load_secrets(&self) -> anyhow::Result<manifest::model::Secrets> {
        manifest::load_secrets(&self.file).map_err(|e| self.explain(e))
    }

    fn explain(&self, e: ManifestError) -> anyhow::Error {
        match e {
            ManifestError::Invalid { path, problems } => {
                let report = Report {
                    path: &path,
                    problems: &problems,
                };
                anyhow::anyhow!(
                    "{} is not valid ({} problem{}):\n{}  help: fix them and check with `labctl validate`",
                    path.display(),
                    problems.len(),
                    if problems.len() == 1 { "" } else { "s" },
                    report
                )
            }
            ManifestError::Read { path, source }
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                anyhow::anyhow!(
                    "{} not found\n  help: run `labctl init` to create a lab here, or pass -f PATH",
                    path.display()
                )
            }
            e @ ManifestError::Read { .. } => anyhow::Error::new(e).context("cannot load the lab"),
        }
    }
}
