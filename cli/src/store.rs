//! The secret store: one armored age file per secret, `secrets/NAME.age`,
//! encrypted to the lab's recipients. Every write is atomic (see
//! `atomic.rs`); `rekey` writes all new files before it replaces any.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use age::armor::{ArmoredReader, ArmoredWriter, Format};
use age::x25519;

use crate::identity::Identities;
use crate::manifest::checks;
use crate::{atomic, journal};

pub const DIR: &str = "secrets";
pub const EXT: &str = ".age";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{}\n  help: {}", .0.0, .0.1)]
    BadName((String, String)),
    #[error("secret \"{name}\" does not exist ({} not found)\n  help: create it with `labctl secrets set {name}`, or see `labctl secrets list`", path.display())]
    NotFound { name: String, path: PathBuf },
    #[error("cannot decrypt {}: none of the identities in {origin} is a recipient of this file\n  help: use the identity whose recipient is in lab.yaml (set LABCTL_AGE_KEY_FILE), or ask someone who can decrypt it to add your recipient and run `labctl secrets rekey`", path.display())]
    WrongIdentity { path: PathBuf, origin: String },
    #[error("cannot decrypt {}: the file is corrupted or not an age file ({reason})\n  help: restore it from git (`git checkout -- {}`) or set the secret again with `labctl secrets set`", path.display(), path.display())]
    Corrupted { path: PathBuf, reason: String },
    #[error(
        "secret \"{name}\" is not UTF-8 text, which this command needs\n  help: check it with `labctl secrets get {name}` and set it again"
    )]
    NotText { name: String },
    #[error("rekey stopped; no secret was changed: {0}")]
    RekeyAborted(Box<StoreError>),
    #[error("rekey was interrupted while replacing the files in {}: {source}\n  help: fix the cause and run `labctl secrets rekey` again; it first completes the interrupted replacement, so every file ends up new", path.display())]
    RekeyPartial {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot encrypt to the lab's recipients: {0}")]
    Encrypt(String),
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StoreError {
    let path = path.to_path_buf();
    move |source| StoreError::Io {
        action,
        path,
        source,
    }
}

/// `ROOT/secrets/NAME.age`.
pub fn secret_path(root: &Path, name: &str) -> PathBuf {
    root.join(DIR).join(format!("{name}{EXT}"))
}

/// The lab's secrets folder and the recipients new files are encrypted to.
pub struct Store {
    pub root: PathBuf,
    pub recipients: Vec<x25519::Recipient>,
}

impl Store {
    pub fn new(root: &Path, recipients: &[String]) -> Result<Store, StoreError> {
        let recipients = recipients
            .iter()
            .map(|r| {
                r.parse::<x25519::Recipient>()
                    .map_err(|e| StoreError::Encrypt(format!("{r}: {e}")))
            })
            .collect::<Result<_, _>>()?;
        Ok(Store {
            root: root.to_path_buf(),
            recipients,
        })
    }

    /// The user's age identity, checked against these recipients (see
    /// `identity::for_lab`).
    pub fn identities(&self) -> Result<Identities, crate::identity::IdentityError> {
        let recipients: Vec<String> = self.recipients.iter().map(|r| r.to_string()).collect();
        crate::identity::for_lab(&recipients)
    }

    pub fn path(&self, name: &str) -> Result<PathBuf, StoreError> {
        checks::secret_name(name).map_err(StoreError::BadName)?;
        Ok(secret_path(&self.root, name))
    }

    /// Encrypts `plaintext` to the recipients, ASCII-armored.
    pub fn encrypt(&self, plaintext: &[u8]) -> Result<Vec<u8>, StoreError> {
        let enc_err = |e: &dyn std::fmt::Display| StoreError::Encrypt(e.to_string());
        let encryptor = age::Encryptor::with_recipients(
            self.recipients.iter().map(|r| r as &dyn age::Recipient),
        )
        .map_err(|e| enc_err(&e))?;
        let mut out = Vec::new();
        let armor =
            ArmoredWriter::wrap_output(&mut out, Format::AsciiArmor).map_err(|e| enc_err(&e))?;
        let mut w = encryptor.wrap_output(armor).map_err(|e| enc_err(&e))?;
        w.write_all(plaintext).map_err(|e| enc_err(&e))?;
        w.finish()
            .and_then(|a| a.finish())
            .map_err(|e| enc_err(&e))?;
        Ok(out)
    }

    /// Stores a secret (atomically).
    pub fn set(&self, name: &str, value: &[u8]) -> Result<PathBuf, StoreError> {
        let path = self.path(name)?;
        let bytes = self.encrypt(value)?;
        atomic::write(&path, &bytes, 0o644).map_err(io("cannot write", &path))?;
        Ok(path)
    }

    pub fn exists(&self, name: &str) -> Result<bool, StoreError> {
        Ok(self.path(name)?.is_file())
    }

    /// Decrypts a secret.
    pub fn get(&self, name: &str, ids: &Identities) -> Result<Vec<u8>, StoreError> {
        let path = self.path(name)?;
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::NotFound {
                    name: name.to_string(),
                    path,
                });
            }
            Err(e) => return Err(io("cannot read", &path)(e)),
        };
        decrypt(&path, &bytes, ids)
    }

    /// A secret as text.
    pub fn get_text(&self, name: &str, ids: &Identities) -> Result<String, StoreError> {
        String::from_utf8(self.get(name, ids)?).map_err(|_| StoreError::NotText {
            name: name.to_string(),
        })
    }

    pub fn remove(&self, name: &str) -> Result<PathBuf, StoreError> {
        let path = self.path(name)?;
        match atomic::remove(&path) {
            Ok(()) => Ok(path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(StoreError::NotFound {
                name: name.to_string(),
                path,
            }),
            Err(e) => Err(io("cannot remove", &path)(e)),
        }
    }

    /// Names of all secrets, sorted.
    pub fn list(&self) -> Result<Vec<String>, StoreError> {
        let dir = self.root.join(DIR);
        let mut names = Vec::new();
        if dir.is_dir() {
            walk(&dir, &dir, &mut names)?;
        }
        names.sort();
        Ok(names)
    }

    /// Re-encrypts every secret to the current recipients. All files are
    /// decrypted and staged first; then all are replaced together through a
    /// journal (see `journal`), so a failure or a crash leaves secrets/ as
    /// before or, once the next batch rolls it forward, as after.
    pub fn rekey(&self, ids: &Identities) -> Result<Vec<String>, StoreError> {
        let names = self.list()?;
        let root = self.root.join(DIR);
        let mut batch = journal::Batch::begin(&root).map_err(io("cannot recover", &root))?;
        for name in &names {
            let mut stage = || -> Result<(), StoreError> {
                let plain = self.get(name, ids)?;
                let path = self.path(name)?;
                let bytes = self.encrypt(&plain)?;
                batch
                    .stage(&path, &bytes, 0o644)
                    .map_err(io("cannot write", &path))
            };
            stage().map_err(|e| StoreError::RekeyAborted(Box::new(e)))?;
        }
        batch
            .commit()
            .map_err(|source| StoreError::RekeyPartial { path: root, source })?;
        Ok(names)
    }
}

fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) -> Result<(), StoreError> {
    for entry in std::fs::read_dir(dir).map_err(io("cannot list", dir))? {
        let entry = entry.map_err(io("cannot list", dir))?;
        let path = entry.path();
        if path.is_dir() {
            walk(base, &path, out)?;
        } else if let Some(rel) = path.strip_prefix(base).ok().and_then(|p| p.to_str())
            && let Some(name) = rel.strip_suffix(EXT)
            && checks::secret_name(name).is_ok()
        {
            out.push(name.to_string());
        }
    }
    Ok(())
}

/// Decrypts an age file (armored or binary) read from `path`.
pub fn decrypt(path: &Path, bytes: &[u8], ids: &Identities) -> Result<Vec<u8>, StoreError> {
    let corrupted = |reason: String| StoreError::Corrupted {
        path: path.to_path_buf(),
        reason,
    };
    let decryptor =
        age::Decryptor::new(ArmoredReader::new(bytes)).map_err(|e| corrupted(e.to_string()))?;
    let mut reader = match decryptor.decrypt(ids.as_dyn()) {
        Ok(r) => r,
        Err(age::DecryptError::NoMatchingKeys) => {
            return Err(StoreError::WrongIdentity {
                path: path.to_path_buf(),
                origin: ids.origin.clone(),
            });
        }
        Err(e) => return Err(corrupted(e.to_string())),
    };
    let mut out = Vec::new();
    reader
        .read_to_end(&mut out)
        .map_err(|e| corrupted(e.to_string()))?;
    Ok(out)
}
