//! `labctl init [DIR]`: a starter lab.yaml, secrets/, a .gitignore, and an
//! age identity outside the repository (an existing one is reused).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use crate::atomic;
use crate::identity::{self, IdentityError};
use crate::manifest::checks;

#[derive(clap::Args)]
pub struct Args {
    /// Folder of the new lab (default: the folder of -f, i.e. the current one).
    pub dir: Option<PathBuf>,
    /// The lab's name (default: the folder's name).
    #[arg(long)]
    pub name: Option<String>,
    /// The registry's host name.
    #[arg(long, default_value = "registry.home.arpa")]
    pub host: String,
}

const GITIGNORE: &[&str] = &[
    "# labctl: plaintext keys and secrets never go to git",
    "keys.txt",
    "*.key",
    "*.key.pem",
    "*.plain",
    ".labctl-*.tmp",
    "# labctl up: the local registry's storage, log and state",
    ".lab/",
];

fn starter(name: &str, host: &str, recipient: &str) -> String {
    format!(
        "# yaml-language-server: $schema=lab.schema.json   (labctl schema > lab.schema.json)
apiVersion: labctl/v1alpha1
kind: Lab
metadata:
  name: {name}
# git:
#   repoURL: https://github.com/me/{name}.git
#   revision: main
#   path: apps
secrets:
  recipients:
    - {recipient}
registry:
  namespace: registry
  host: {host}
  image: labreg
  replicas: 1
  users:
    admin:
      password: secret:registry/admin
  storage:
    filesystem:
      size: 20Gi
  delete: false
  redirect: false
  expose:
    ingress:
      className: nginx
      proxyBodySize: \"0\"
    tls: self-signed
  pullSecrets:
    - namespace: default
      name: regcred
"
    )
}

fn lab_name(dir: &Path) -> String {
    let base = std::fs::canonicalize(dir)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default()
        .to_ascii_lowercase();
    let cleaned: String = base
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let cleaned = cleaned.trim_matches('-').to_string();
    if checks::dns_label("name", &cleaned).is_ok() {
        cleaned
    } else {
        "homelab".into()
    }
}

/// The recipient of the identity found, or of a new one written to the
/// default place. Returns (recipient, where, created).
fn ensure_identity(lab_dir: &Path) -> anyhow::Result<(String, String, bool)> {
    match identity::find() {
        Ok(ids) => {
            let recipient = ids.keys[0].to_public().to_string();
            Ok((recipient, ids.origin, false))
        }
        Err(IdentityError::NotFound(_)) => {
            let path = match std::env::var_os(identity::ENV_KEY_FILE).filter(|v| !v.is_empty()) {
                Some(p) => PathBuf::from(p),
                None => identity::default_path()?,
            };
            create_identity(&path, lab_dir).map(|r| (r, path.display().to_string(), true))
        }
        Err(IdentityError::Read { path, source })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            create_identity(&path, lab_dir).map(|r| (r, path.display().to_string(), true))
        }
        Err(e) => Err(e.into()),
    }
}

fn create_identity(path: &Path, lab_dir: &Path) -> anyhow::Result<String> {
    let parent = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    if let (Ok(dir), Ok(lab)) = (
        std::fs::canonicalize(parent),
        std::fs::canonicalize(lab_dir),
    ) {
        anyhow::ensure!(
            !dir.starts_with(&lab),
            "refusing to create the age identity {} inside the lab folder, where it could be committed\n  help: point LABCTL_AGE_KEY_FILE outside {}",
            path.display(),
            lab.display()
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o700));
    }
    let (text, recipient) = identity::generate();
    atomic::write(path, text.as_bytes(), 0o600)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(recipient)
}

fn update_gitignore(path: &Path) -> anyhow::Result<()> {
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let have: Vec<&str> = old.lines().map(str::trim).collect();
    let missing: Vec<&str> = GITIGNORE
        .iter()
        .copied()
        .filter(|l| !have.contains(l))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let mut new = old.clone();
    if !new.is_empty() && !new.ends_with('\n') {
        new.push('\n');
    }
    for l in missing {
        new.push_str(l);
        new.push('\n');
    }
    atomic::write(path, new.as_bytes(), 0o644)
        .with_context(|| format!("cannot write {}", path.display()))
}

pub fn run(args: Args, lab_file: &Path) -> anyhow::Result<ExitCode> {
    let manifest = match &args.dir {
        Some(dir) => dir.join("lab.yaml"),
        None => lab_file.to_path_buf(),
    };
    let dir = crate::lab::LabPath::new(&manifest).root;
    anyhow::ensure!(
        !manifest.exists(),
        "{} already exists; nothing was changed\n  help: edit it, or check it with `labctl validate`",
        manifest.display()
    );
    if let Err((msg, help)) = checks::host(&args.host) {
        anyhow::bail!("{msg}\n  help: {help}");
    }
    let name = match args.name {
        Some(n) => {
            if let Err((msg, help)) = checks::dns_label("--name", &n) {
                anyhow::bail!("{msg}\n  help: {help}");
            }
            n
        }
        None => {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            lab_name(&dir)
        }
    };
    std::fs::create_dir_all(dir.join(crate::store::DIR))
        .with_context(|| format!("cannot create {}/secrets", dir.display()))?;
    let (recipient, origin, created) = ensure_identity(&dir)?;
    atomic::write(
        &manifest,
        starter(&name, &args.host, &recipient).as_bytes(),
        0o644,
    )
    .with_context(|| format!("cannot write {}", manifest.display()))?;
    update_gitignore(&dir.join(".gitignore"))?;
    let keep = dir.join(crate::store::DIR).join(".gitkeep");
    if !keep.exists() {
        atomic::write(&keep, b"", 0o644)
            .with_context(|| format!("cannot write {}", keep.display()))?;
    }
    if created {
        eprintln!(
            "created the age identity {origin}\n  keep it safe and out of git: without it the secrets cannot be decrypted"
        );
    } else {
        eprintln!("using the age identity {origin}");
    }
    eprintln!("recipient {recipient} added to {}", manifest.display());
    eprintln!("created {}, secrets/ and .gitignore", manifest.display());
    let f = if manifest == Path::new("lab.yaml") {
        String::new()
    } else {
        format!(" -f {}", manifest.display())
    };
    eprintln!("next: labctl{f} secrets set registry/admin --generate, then labctl{f} validate");
    Ok(ExitCode::SUCCESS)
}
