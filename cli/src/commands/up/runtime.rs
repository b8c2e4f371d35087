//! Where a local labreg keeps its files.
//!
//! Public files stay in the lab's `.lab/` (gitignored): the storage
//! (`registry/`), the log, `up.json`, and `certs.d/ADDR/ca.crt` for
//! clients' `--cert-dir`. The plaintext ones (config.yml with `http.secret`,
//! htpasswd, the TLS key) live only in a memory-backed folder, mode 0700,
//! removed when labreg stops: `/dev/shm/labctl-LAB-UID-HASH/` (HASH tells
//! two copies of a lab apart).

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::{Value, json};

use crate::render::{RenderError, regconfig};

/// The memory-backed folder holding labreg's plaintext files.
pub struct RunDir {
    pub path: PathBuf,
}

fn uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

/// The prefix every runtime folder's name starts with.
const PREFIX: &str = "labctl-";

impl RunDir {
    /// The folder for the lab at `root` (absolute) named `lab`.
    pub fn path_for(lab: &str, root: &Path) -> anyhow::Result<PathBuf> {
        let base = [Some(PathBuf::from("/dev/shm")), std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from)]
            .into_iter()
            .flatten()
            .find(|p| p.is_dir())
            .context("no memory-backed folder to keep the registry's plaintext files in (neither /dev/shm nor $XDG_RUNTIME_DIR exists)\n  help: labctl up runs on Linux; set XDG_RUNTIME_DIR to a tmpfs folder")?;
        let digest = <sha2::Sha256 as sha2::Digest>::digest(root.as_os_str().as_encoded_bytes());
        let hash = hex::encode(&digest[..4]);
        Ok(base.join(format!("{PREFIX}{lab}-{}-{hash}", uid())))
    }

    /// Makes the folder afresh (mode 0700), removing a stale one of ours.
    pub fn create(path: PathBuf) -> anyhow::Result<RunDir> {
        remove(&path)?;
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        Ok(RunDir { path })
    }

    /// Writes a file that no one else may read.
    pub fn write(&self, name: &str, bytes: &[u8]) -> anyhow::Result<PathBuf> {
        let path = self.path.join(name);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        f.write_all(bytes)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(path)
    }
}

/// Removes a runtime folder, only if it is one of ours: named `labctl-*`,
/// a real folder (not a link) owned by this user.
pub fn remove(path: &Path) -> anyhow::Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("cannot inspect {}", path.display())),
    };
    let named = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with(PREFIX));
    anyhow::ensure!(
        named && meta.is_dir() && meta.uid() == uid(),
        "{} is not a labctl runtime folder of this user; leaving it alone\n  help: remove it yourself if it is stale",
        path.display()
    );
    std::fs::remove_dir_all(path).with_context(|| format!("cannot remove {}", path.display()))
}

/// The name of a mirror's password file in the runtime folder, before its
/// key in the mirrors Secret.
pub const MIRROR_FILE: &str = "mirror-";

/// What the local config points at.
pub struct LocalFiles<'a> {
    /// The runtime folder (mirror passwords are there).
    pub rundir: &'a Path,
    pub addr: &'a str,
    pub storage: &'a Path,
    pub tls_crt: &'a Path,
    pub tls_key: &'a Path,
    pub htpasswd: &'a Path,
}

/// The storage settings that are not the driver.
const STORAGE_KEEP: &[&str] = &["delete", "redirect", "maintenance", "cache"];

/// The rendered config.yml made local: filesystem storage in `.lab/`, the
/// address, TLS and htpasswd paths of this machine; everything else (auth,
/// `http.secret`, access rules, deletes, purging, headers) as rendered.
/// Returns the text and the keys changed, for people.
pub fn local_config(rendered: &str, f: &LocalFiles) -> Result<(String, Vec<String>), RenderError> {
    let bad = |m: String| RenderError::Other(format!("the rendered config.yml: {m}"));
    let mut tree: Value =
        serde_saphyr::from_str(rendered).map_err(|e| bad(format!("not valid YAML: {e}")))?;
    let mut changes = Vec::new();
    let storage = tree
        .get_mut("storage")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| bad("no storage section".into()))?;
    let was = storage
        .keys()
        .find(|k| !STORAGE_KEEP.contains(&k.as_str()))
        .cloned()
        .unwrap_or_default();
    storage.retain(|k, _| STORAGE_KEEP.contains(&k.as_str()));
    storage.insert(
        "filesystem".into(),
        json!({"rootdirectory": f.storage.display().to_string()}),
    );
    changes.push(format!(
        "storage: filesystem in {}{}",
        f.storage.display(),
        if was == "filesystem" {
            String::new()
        } else {
            format!(" (instead of {was})")
        }
    ));
    let http = tree
        .get_mut("http")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| bad("no http section".into()))?;
    let url = format!("https://{}", f.addr);
    http.insert("addr".into(), json!(f.addr));
    http.insert("host".into(), json!(url));
    http.insert(
        "tls".into(),
        json!({"certificate": f.tls_crt.display().to_string(), "key": f.tls_key.display().to_string()}),
    );
    changes.push(format!("http.addr: {}, http.host: {url}", f.addr));
    changes.push("http.tls: a certificate for localhost and 127.0.0.1 from the lab's CA".into());
    if let Some(h) = tree
        .pointer_mut("/auth/htpasswd")
        .and_then(Value::as_object_mut)
    {
        h.insert("path".into(), json!(f.htpasswd.display().to_string()));
        changes.push(format!("auth.htpasswd.path: {}", f.htpasswd.display()));
    }
    let mirrors = tree
        .pointer_mut("/labreg/mirrors")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten();
    // The files the cluster mounts (passwords from their Secret, own CAs
    // beside config.yml) are the runtime folder's copies here.
    let mounted = [
        (
            "password_file",
            crate::render::context::MIRRORS_DIR,
            MIRROR_FILE,
            "password",
        ),
        ("ca", crate::render::context::CONFIG_DIR, "", "CA"),
    ];
    for m in mirrors {
        for (field, dir, local_prefix, what) in mounted {
            let Some(key) = m
                .get(field)
                .and_then(Value::as_str)
                .and_then(|f| f.strip_prefix(dir)?.strip_prefix('/'))
                .map(str::to_string)
            else {
                continue;
            };
            let local = f.rundir.join(format!("{local_prefix}{key}"));
            m[field] = json!(local.display().to_string());
            changes.push(format!(
                "labreg.mirrors: {}'s {what} in {}",
                m["prefix"].as_str().unwrap_or_default(),
                local.display()
            ));
        }
    }
    let text = serde_json::to_string_pretty(&tree).expect("a JSON value prints");
    regconfig::validate("the local config.yml", &text)?;
    Ok((text, changes))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RENDERED: &str = "version: 0.1
storage:
  s3: {bucket: b, region: r, accesskey: a, secretkey: s}
  delete: {enabled: true}
  redirect: {disable: true}
http:
  addr: :5000
  secret: kept-secret
  headers: {X-Content-Type-Options: [nosniff]}
auth:
  htpasswd: {realm: r, path: /auth/htpasswd}
";

    /// The runtime folder's files of the tests.
    fn test_files() -> LocalFiles<'static> {
        LocalFiles {
            rundir: Path::new("/dev/shm/x"),
            addr: "127.0.0.1:5123",
            storage: Path::new("/lab/.lab/registry"),
            tls_crt: Path::new("/dev/shm/x/tls.crt"),
            tls_key: Path::new("/dev/shm/x/tls.key"),
            htpasswd: Path::new("/dev/shm/x/htpasswd"),
        }
    }

    #[test]
    fn local_config_keeps_everything_but_place() {
        let files = test_files();
        let (text, changes) = local_config(RENDERED, &files).unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            v["storage"]["filesystem"]["rootdirectory"],
            "/lab/.lab/registry"
        );
        assert!(v["storage"].get("s3").is_none());
        assert_eq!(v["storage"]["delete"]["enabled"], true);
        assert_eq!(v["http"]["secret"], "kept-secret");
        assert_eq!(v["http"]["addr"], "127.0.0.1:5123");
        assert_eq!(v["http"]["host"], "https://127.0.0.1:5123");
        assert_eq!(v["http"]["tls"]["key"], "/dev/shm/x/tls.key");
        assert_eq!(v["auth"]["htpasswd"]["path"], "/dev/shm/x/htpasswd");
        assert_eq!(v["auth"]["htpasswd"]["realm"], "r");
        assert!(changes[0].contains("instead of s3"), "{changes:?}");
        assert_eq!(changes.len(), 4);
    }

    /// A mirror's password file, mounted from its Secret in the cluster,
    /// and its own CA, mounted beside config.yml, are the runtime folder's
    /// copies here; anonymous mirrors stay as they are.
    #[test]
    fn local_config_reads_mirror_passwords_from_the_runtime_folder() {
        let rendered = format!(
            "{RENDERED}labreg:\n  mirrors:\n    - {{prefix: docker.io/, url: https://registry-1.docker.io}}\n    - {{prefix: ghcr.io/, url: https://ghcr.io, username: me, password_file: /etc/labreg/mirrors/ghcr.io, ca: /etc/docker/registry/mirror-ca-ghcr.io.crt}}\n"
        );
        let files = test_files();
        let (text, changes) = local_config(&rendered, &files).unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        let m = &v["labreg"]["mirrors"];
        assert!(m[0].get("password_file").is_none());
        assert_eq!(m[1]["password_file"], "/dev/shm/x/mirror-ghcr.io");
        assert_eq!(m[1]["username"], "me");
        assert_eq!(m[1]["ca"], "/dev/shm/x/mirror-ca-ghcr.io.crt");
        assert!(
            changes
                .iter()
                .any(|c| c.contains("ghcr.io/'s password in /dev/shm/x/mirror-ghcr.io")),
            "{changes:?}"
        );
    }
}
