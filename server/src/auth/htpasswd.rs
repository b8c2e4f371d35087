//! htpasswd files as Apache's `htpasswd -B` writes them: `user:bcrypt-hash`
//! per line. Only bcrypt (`$2y$`, `$2a$`, `$2b$`) is accepted, as in
//! distribution; other lines are skipped with a warning naming the line.
//!
//! Verification runs bcrypt once per distinct credential: a verified (or
//! refused) credential is remembered under a keyed hash of user, password and
//! the stored hash, so a changed password or file invalidates it. Unknown
//! users are checked against a dummy hash of the same cost, so timing does
//! not reveal who exists.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use sha2::{Digest, Sha256};

/// How often, at most, the file's metadata is checked for changes.
const RELOAD_CHECK: Duration = Duration::from_secs(1);
/// Remembered verdicts before the cache starts over.
const CACHE_LIMIT: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum HtpasswdError {
    #[error(
        "cannot read htpasswd file {path}: {source} (auth.htpasswd.path); create it with `labreg htpasswd -Bbn USER PASSWORD > {path}`"
    )]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The parsed file: users and their hashes, plus a warning per skipped line.
#[derive(Debug, Default, Clone)]
pub struct Entries {
    pub users: HashMap<String, String>,
    pub warnings: Vec<String>,
}

fn is_bcrypt(hash: &str) -> bool {
    ["$2y$", "$2a$", "$2b$"].iter().any(|p| hash.starts_with(p)) && hash.len() == 60
}

pub fn parse(text: &str) -> Entries {
    let mut e = Entries::default();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let n = i + 1;
        match line.split_once(':') {
            Some((user, hash)) if !user.is_empty() && is_bcrypt(hash) => {
                e.users.insert(user.to_string(), hash.to_string());
            }
            Some((user, _)) if !user.is_empty() => e.warnings.push(format!(
                "line {n}: user {user:?} has no bcrypt hash; only bcrypt is supported: recreate it with `htpasswd -B` or `labreg htpasswd -Bbn`"
            )),
            _ => e.warnings.push(format!("line {n}: not of the form user:hash; skipped")),
        }
    }
    e
}

struct Loaded {
    entries: Arc<Entries>,
    /// (modified, len, inode) of the file when read.
    stamp: Option<(SystemTime, u64, u64)>,
    checked: Instant,
}

pub struct Htpasswd {
    path: PathBuf,
    loaded: Mutex<Loaded>,
    cache: Mutex<HashMap<[u8; 32], bool>>,
    cache_key: [u8; 32],
    /// Hashed on first need, at the file's highest cost, so that start-up
    /// does not pay for a bcrypt run.
    dummy_hash: Arc<OnceLock<String>>,
    dummy_cost: u32,
}

fn stamp(path: &Path) -> Option<(SystemTime, u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let md = std::fs::metadata(path).ok()?;
    Some((md.modified().ok()?, md.len(), md.ino()))
}

impl Htpasswd {
    /// Reads the file; a missing or unreadable file is an error at start.
    pub fn open(path: &Path) -> Result<Htpasswd, HtpasswdError> {
        let entries = Self::read(path)?;
        let cost = entries
            .users
            .values()
            .filter_map(|h| h.get(4..6)?.parse::<u32>().ok())
            .max()
            .unwrap_or(bcrypt::DEFAULT_COST);
        Ok(Htpasswd {
            path: path.to_path_buf(),
            loaded: Mutex::new(Loaded {
                entries: Arc::new(entries),
                stamp: stamp(path),
                checked: Instant::now(),
            }),
            cache: Mutex::new(HashMap::new()),
            cache_key: rand::random(),
            dummy_hash: Arc::new(OnceLock::new()),
            dummy_cost: cost,
        })
    }

    fn read(path: &Path) -> Result<Entries, HtpasswdError> {
        let text = std::fs::read_to_string(path).map_err(|source| HtpasswdError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let entries = parse(&text);
        for w in &entries.warnings {
            tracing::warn!(file = %path.display(), "htpasswd {w}");
        }
        Ok(entries)
    }

    /// The current entries, re-read when the file changed (checked at most
    /// once a second). A file that became unreadable keeps the last good one.
    pub fn entries(&self) -> Arc<Entries> {
        let mut l = self.loaded.lock().expect("htpasswd lock poisoned");
        if l.checked.elapsed() >= RELOAD_CHECK {
            l.checked = Instant::now();
            let now = stamp(&self.path);
            if now != l.stamp {
                match Self::read(&self.path) {
                    Ok(e) => {
                        tracing::info!(file = %self.path.display(), users = e.users.len(), "htpasswd reloaded");
                        l.entries = Arc::new(e);
                        l.stamp = now;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "htpasswd reload failed; keeping the previous users")
                    }
                }
            }
        }
        l.entries.clone()
    }

    /// Checks a user's password; bcrypt runs on the blocking pool, once per
    /// distinct (user, password, stored hash).
    pub async fn verify(&self, user: &str, password: &str) -> bool {
        let entries = self.entries();
        let (hash, known) = match entries.users.get(user) {
            Some(h) => (h.clone(), true),
            None => {
                let (cell, cost) = (self.dummy_hash.clone(), self.dummy_cost);
                let dummy = tokio::task::spawn_blocking(move || {
                    cell.get_or_init(|| {
                        bcrypt::hash("labreg dummy password", cost).expect("bcrypt of a constant")
                    })
                    .clone()
                })
                .await;
                match dummy {
                    Ok(h) => (h, false),
                    Err(_) => return false,
                }
            }
        };
        let mut h = Sha256::new();
        for part in [
            &self.cache_key[..],
            user.as_bytes(),
            password.as_bytes(),
            hash.as_bytes(),
        ] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part);
        }
        let key: [u8; 32] = h.finalize().into();
        if let Some(&ok) = self.cache.lock().expect("auth cache poisoned").get(&key) {
            return ok && known;
        }
        let pw = password.to_string();
        let ok = tokio::task::spawn_blocking(move || bcrypt::verify(pw, &hash).unwrap_or(false))
            .await
            .unwrap_or(false);
        let mut cache = self.cache.lock().expect("auth cache poisoned");
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(key, ok);
        ok && known
    }
}

/// An htpasswd line for `user`, as `htpasswd -nbB` prints it (without the
/// trailing newline), with the given bcrypt cost.
pub fn line(user: &str, password: &str, cost: u32) -> Result<String, String> {
    if user.is_empty() || user.contains(':') {
        return Err("the user name must be non-empty and must not contain ':'".into());
    }
    if password.len() > 72 {
        return Err(
            "bcrypt uses only the first 72 bytes of a password; choose a shorter one".into(),
        );
    }
    if !(4..=31).contains(&cost) {
        return Err(format!("bcrypt cost {cost} is out of range 4..=31"));
    }
    let parts = bcrypt::hash_with_result(password, cost).map_err(|e| e.to_string())?;
    Ok(format!(
        "{user}:{}",
        parts.format_for_version(bcrypt::Version::TwoY)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_skips_broken_lines() {
        let good = line("alice", "pw", 4).unwrap();
        let text = format!(
            "{good}\n\n# comment\nbob:$apr1$abc$def\nnocolon\n:$2y$04$x\ncarol:{{SHA}}abc=\n"
        );
        let e = parse(&text);
        assert_eq!(e.users.len(), 1);
        assert_eq!(e.warnings.len(), 4, "{:?}", e.warnings);
        assert!(e.warnings[0].starts_with("line 4:") && e.warnings[0].contains("bob"));
        assert!(e.warnings[1].starts_with("line 5:"));
    }

    #[test]
    fn line_is_2y_and_verifies() {
        let l = line("admin", "2secret", 5).unwrap();
        let (user, hash) = l.split_once(':').unwrap();
        assert_eq!(user, "admin");
        assert!(hash.starts_with("$2y$05$"));
        assert!(bcrypt::verify("2secret", hash).unwrap());
        assert!(line("a:b", "x", 5).is_err());
        assert!(line("a", &"x".repeat(73), 5).is_err());
        assert!(line("a", "x", 3).is_err());
    }

    #[tokio::test]
    async fn verify_caches_and_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("htpasswd");
        std::fs::write(&path, format!("{}\n", line("alice", "one", 4).unwrap())).unwrap();
        let h = Htpasswd::open(&path).unwrap();
        assert!(h.verify("alice", "one").await);
        assert!(h.verify("alice", "one").await, "cached");
        assert!(!h.verify("alice", "two").await);
        assert!(!h.verify("mallory", "one").await);
        // A changed file is picked up: alice's password changes, bob appears.
        std::fs::write(
            &path,
            format!(
                "{}\n{}\n",
                line("alice", "two", 4).unwrap(),
                line("bob", "b", 4).unwrap()
            ),
        )
        .unwrap();
        h.loaded.lock().unwrap().checked -= RELOAD_CHECK;
        assert!(h.verify("bob", "b").await);
        assert!(h.verify("alice", "two").await);
        assert!(
            !h.verify("alice", "one").await,
            "the old password no longer works"
        );
    }
}
