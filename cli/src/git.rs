//! The few facts labctl asks git for: whether a folder is in a work tree,
//! its top level, the `origin` remote and the branch, and `git init`.
//! Everything here runs the user's own `git`; a missing git is `None`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn output(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// The top folder of the work tree holding `dir`, if any.
pub fn toplevel(dir: &Path) -> Option<PathBuf> {
    output(dir, &["rev-parse", "--show-toplevel"]).map(PathBuf::from)
}

/// The URL of the `origin` remote.
pub fn origin_url(dir: &Path) -> Option<String> {
    output(dir, &["remote", "get-url", "origin"])
}

/// The current branch (also before the first commit).
pub fn branch(dir: &Path) -> Option<String> {
    output(dir, &["symbolic-ref", "--short", "HEAD"])
}

/// `git init -b main` in `dir`; an error names git's own message.
pub fn init(dir: &Path) -> anyhow::Result<()> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["init", "--quiet", "-b", "main"])
        .output()
        .map_err(|e| anyhow::anyhow!("cannot run git ({e})\n  help: install git (Debian: apt-get install git), then run `git init` in {}", dir.display()))?;
    anyhow::ensure!(
        out.status.success(),
        "git init failed in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

/// `git remote add origin URL` in `dir`.
pub fn add_origin(dir: &Path, url: &str) -> anyhow::Result<()> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["remote", "add", "origin", url])
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "git remote add origin {url} failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

/// Whether the repository has a commit yet.
pub fn has_commit(dir: &Path) -> bool {
    output(dir, &["rev-parse", "--verify", "--quiet", "HEAD"]).is_some()
}

/// Whether the current branch has an upstream (a plain `git push` works).
pub fn has_upstream(dir: &Path) -> bool {
    output(dir, &["rev-parse", "--abbrev-ref", "@{u}"]).is_some()
}

/// The push command that works from this state.
pub fn push_command(dir: &Path) -> String {
    let branch = branch(dir).unwrap_or_else(|| "main".into());
    match (origin_url(dir).is_some(), has_upstream(dir)) {
        (_, true) => "git push".into(),
        (true, false) => format!("git push -u origin {branch}"),
        (false, false) => format!("git remote add origin URL && git push -u origin {branch}"),
    }
}
