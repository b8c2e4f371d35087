//! `labctl init [DIR]`: a starter lab.yaml, secrets/, a .gitignore, and an
//! age identity outside the repository (an existing one is reused). The
//! folder becomes a git repository if it is not in one, and lab.yaml's
//! `git:` names `--repo` or the `origin` remote, so that render writes the
//! Argo CD apps. In a folder that already has a lab, init only makes the
//! user's age identity when there is none (a new laptop).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use crate::identity::{self, IdentityError};
use crate::manifest::checks;
use crate::{atomic, git};

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
    /// The git repository Argo CD pulls (https://, ssh:// or git@host:path).
    /// Default: the folder's `origin` remote. Added as `origin` when the
    /// folder has no git repository yet.
    #[arg(long, value_name = "URL")]
    pub repo: Option<String>,
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

/// The `git:` section: the repository and branch when known, else the
/// same keys commented out.
fn git_section(name: &str, git: Option<(&str, &str)>) -> String {
    match git {
        Some((url, branch)) => {
            format!("git:\n  repoURL: {url}\n  revision: {branch}\n  path: apps\n")
        }
        None => format!(
            "# git:   (Argo CD's source: without it render writes no argocd/ apps and no root.yaml)\n#   repoURL: https://github.com/me/{name}.git\n#   revision: main\n#   path: apps\n"
        ),
    }
}

fn starter(name: &str, host: &str, recipient: &str, git: Option<(&str, &str)>) -> String {
    let git = git_section(name, git);
    format!(
        "# yaml-language-server: $schema=lab.schema.json   (labctl schema > lab.schema.json)
apiVersion: labctl/v1alpha1
kind: Lab
metadata:
  name: {name}
{git}secrets:
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

/// `labctl init` where lab.yaml exists: nothing changes, except that a
/// user with no age identity gets one, and the way to be added.
fn existing(manifest: &Path, dir: &Path) -> anyhow::Result<ExitCode> {
    let unchanged = format!("{} already exists; nothing was changed", manifest.display());
    match identity::find() {
        Err(IdentityError::NotFound(_)) => {}
        _ => anyhow::bail!("{unchanged}\n  help: edit it, or check it with `labctl validate`"),
    }
    let (recipient, origin, _) = ensure_identity(dir)?;
    let lab = crate::lab::LabPath::new(manifest);
    let others = lab
        .load_secrets()
        .map(|s| s.recipients.join(", "))
        .unwrap_or_default();
    eprintln!(
        "{} already exists and was left as it is",
        manifest.display()
    );
    eprintln!(
        "created your age identity {origin}\n  keep it safe and out of git: without it the secrets cannot be decrypted"
    );
    eprintln!("your public key: {recipient}");
    eprintln!(
        "next: add it under secrets.recipients in {} and commit; then someone whose key is already listed ({others}) runs `labctl secrets rekey` and commits, and the lab's secrets open for you",
        manifest.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// What init found or made of git, for lab.yaml and the messages.
struct GitSetup {
    /// (repoURL, branch) for lab.yaml's `git:`.
    source: Option<(String, String)>,
    said: Vec<String>,
}

fn setup_git(dir: &Path, repo: Option<&str>) -> anyhow::Result<GitSetup> {
    let mut said = Vec::new();
    let top = git::toplevel(dir);
    let at_top = match &top {
        None => {
            git::init(dir)?;
            said.push(format!(
                "initialised a git repository in {} (branch main)",
                dir.display()
            ));
            if let Some(url) = repo {
                git::add_origin(dir, url)?;
                said.push(format!("added the remote origin {url}"));
            }
            true
        }
        Some(t) => {
            let at_top = std::fs::canonicalize(t).ok() == std::fs::canonicalize(dir).ok();
            if let (true, Some(url), None) = (at_top, repo, git::origin_url(dir)) {
                git::add_origin(dir, url)?;
                said.push(format!("added the remote origin {url}"));
            }
            at_top
        }
    };
    let url = repo.map(str::to_string).or_else(|| git::origin_url(dir));
    let branch = git::branch(dir).unwrap_or_else(|| "main".into());
    let source = match (url, at_top) {
        (Some(url), true) => {
            said.push(format!(
                "git: {url} (revision {branch}, path apps): render writes the Argo CD apps for it"
            ));
            Some((url, branch))
        }
        (Some(_), false) => {
            said.push(format!(
                "note: the lab is in a subfolder of the git repository {}, so lab.yaml's git: is left commented out (git.path is both the folder under lab.yaml and the path in the repository)\n  help: keep the lab at the top of its own repository, or set git: in lab.yaml by hand",
                top.unwrap_or_default().display()
            ));
            None
        }
        (None, _) => {
            said.push(
                "note: no --repo and no `origin` remote, so lab.yaml's git: is commented out: render will write the Kubernetes objects but no Argo CD apps\n  help: uncomment git: in lab.yaml and set repoURL to the repository Argo CD pulls (and `git remote add origin URL`)".into(),
            );
            None
        }
    };
    Ok(GitSetup { source, said })
}

pub fn run(args: Args, lab_file: &Path) -> anyhow::Result<ExitCode> {
    let manifest = match &args.dir {
        Some(dir) => dir.join("lab.yaml"),
        None => lab_file.to_path_buf(),
    };
    let dir = crate::lab::LabPath::new(&manifest).root;
    if manifest.exists() {
        return existing(&manifest, &dir);
    }
    if let Err((msg, help)) = checks::host(&args.host) {
        anyhow::bail!("{msg}\n  help: {help}");
    }
    if let Some(url) = &args.repo {
        let ok = ["https://", "http://", "ssh://", "git@"]
            .iter()
            .any(|p| url.starts_with(p));
        anyhow::ensure!(
            ok,
            "--repo {url:?} is not a git URL Argo CD can pull\n  help: use an https://, ssh:// or git@host:path URL, e.g. --repo https://github.com/me/homelab.git"
        );
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
    let git = setup_git(&dir, args.repo.as_deref())?;
    let source = git.source.as_ref().map(|(u, b)| (u.as_str(), b.as_str()));
    atomic::write(
        &manifest,
        starter(&name, &args.host, &recipient, source).as_bytes(),
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
    for line in &git.said {
        eprintln!("{line}");
    }
    let next = "labctl secrets set registry/admin --generate && labctl certs && labctl validate";
    if manifest == Path::new("lab.yaml") {
        eprintln!("next: {next}");
    } else if manifest.file_name() == Some("lab.yaml".as_ref()) {
        eprintln!("next: cd {} && {next}", dir.display());
    } else {
        let f = manifest.display();
        eprintln!(
            "next: labctl -f {f} secrets set registry/admin --generate && labctl -f {f} certs && labctl -f {f} validate"
        );
    }
    Ok(ExitCode::SUCCESS)
}
