//! A new user's machine for the newcomer tests: an empty HOME (git knows
//! who commits; the `origin` the README names is a bare repository here),
//! labctl and labreg on PATH, no age identity, skopeo's logins in HOME.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub use crate::common::free_port;
use crate::common::{run_ok, tool};

/// labctl and labreg of this worktree, side by side (`labctl up` looks
/// for labreg next to itself). They are built, then copied at once to a
/// folder of this test run: the target dir is shared with other
/// worktrees, whose builds replace target/debug/labctl.
fn bin_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let built = PathBuf::from(env!("CARGO_BIN_EXE_labctl"))
            .parent()
            .unwrap()
            .to_path_buf();
        let mut c = Command::new("cargo");
        c.args(["build", "--quiet", "-p", "labctl", "-p", "labreg"])
            .current_dir(workspace())
            .env("CARGO_TARGET_DIR", built.parent().unwrap());
        run_ok(&mut c);
        let dir = tempfile::Builder::new()
            .prefix("newcomer-bin-")
            .tempdir()
            .unwrap()
            .keep();
        for b in ["labctl", "labreg"] {
            std::fs::copy(built.join(b), dir.join(b)).unwrap();
        }
        dir
    })
    .clone()
}

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// What a command printed and how it ended.
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
    #[track_caller]
    pub fn ok(self) -> Out {
        assert_eq!(self.code, 0, "failed:\n{}{}", self.stdout, self.stderr);
        self
    }
    #[track_caller]
    pub fn fails(self) -> Out {
        assert_eq!(
            self.code, 1,
            "expected exit 1:\n{}{}",
            self.stdout, self.stderr
        );
        self
    }
    /// The command in backquotes on the first line containing `marker`
    /// (the tool's advice), to run it as the user would.
    #[track_caller]
    pub fn advice(&self, marker: &str) -> String {
        let all = self.all();
        let line = all
            .lines()
            .find(|l| l.contains(marker))
            .unwrap_or_else(|| panic!("no line with {marker:?} in:\n{all}"));
        let tail = &line[line.find(marker).unwrap()..];
        let rest = &tail[tail.find('`').expect("a `command`") + 1..];
        rest[..rest.find('`').expect("a closing `")].to_string()
    }
}

/// One user (a HOME of their own) on this machine.
pub struct User {
    pub home: PathBuf,
}

/// A new machine: a temp folder holding the users' homes, the bare git
/// repository standing for the README's https://github.com/me/mylab.git,
/// and the labs.
pub struct Machine {
    pub dir: tempfile::TempDir,
}

impl Machine {
    pub fn new() -> Machine {
        tool("git");
        tool("skopeo");
        let m = Machine {
            dir: tempfile::tempdir().unwrap(),
        };
        m.remote("mylab");
        m
    }

    /// The bare repository behind https://github.com/me/NAME.git.
    pub fn remote(&self, name: &str) -> PathBuf {
        let remote = self.path().join(format!("remote/{name}.git"));
        if !remote.exists() {
            run_ok(
                Command::new("git")
                    .args(["init", "--quiet", "--bare", "-b", "main"])
                    .arg(&remote),
            );
        }
        remote
    }

    /// A lab made the README's way up to its first push: init with its
    /// repository, a password, certificates, a sealing key, render, commit.
    pub fn new_lab(&self, user: &User, name: &str) -> PathBuf {
        self.remote(name);
        let parent = user.home.join("work");
        std::fs::create_dir_all(&parent).unwrap();
        user.sh(
            &parent,
            &format!(
                "labctl init {name} --repo https://github.com/me/{name}.git && cd {name} \
                 && labctl secrets set registry/admin --generate && labctl certs >/dev/null \
                 && labctl sealing init && labctl render \
                 && git add -A && git commit -qm 'my lab' && git push -qu origin main"
            ),
        )
        .ok();
        parent.join(name)
    }

    /// `new_lab`, and `labctl down` in it when the guard drops.
    pub fn new_lab_stopped_after<'a>(&self, user: &'a User, name: &str) -> Down<'a> {
        Down {
            lab: self.new_lab(user, name),
            user,
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A user with an empty HOME: git knows them, and the GitHub URL the
    /// README uses leads to the bare repository.
    pub fn user(&self, name: &str) -> User {
        let home = self.path().join(name);
        std::fs::create_dir_all(&home).unwrap();
        let u = User { home };
        let remote = self.path().join("remote");
        u.sh(
            self.path(),
            &format!(
                "git config --global user.name {name} && git config --global user.email {name}@example.com \
                 && git config --global url.file://{}/.insteadOf https://github.com/me/ \
                 && git config --global init.defaultBranch main",
                remote.display()
            ),
        )
        .ok();
        u
    }
}

/// A new machine with one user and their lab, made the README's way.
pub fn one_user_lab() -> (Machine, User, PathBuf) {
    let m = Machine::new();
    let me = m.user("me");
    let lab = m.new_lab(&me, "mylab");
    (m, me, lab)
}

impl User {
    /// Runs `script` with bash -eo pipefail in `dir`, as this user.
    pub fn sh(&self, dir: &Path, script: &str) -> Out {
        self.try_sh(dir, script)
            .unwrap_or_else(|e| panic!("cannot run bash in {}: {e}", dir.display()))
    }

    fn try_sh(&self, dir: &Path, script: &str) -> std::io::Result<Out> {
        let path = format!(
            "{}:{}",
            bin_dir().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let out = Command::new("bash")
            .args(["-eo", "pipefail", "-c", script])
            .current_dir(dir)
            .env_clear()
            .env("PATH", path)
            .env("HOME", &self.home)
            .env("REGISTRY_AUTH_FILE", self.home.join("auth.json"))
            .env("LANG", "C.UTF-8")
            .output()?;
        Ok(Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// An OCI image folder at ~/image (tag demo), as the README expects.
    pub fn image(&self) {
        let mut c = tool("bash");
        c.arg(workspace().join("scripts/make-oci-image.sh"))
            .arg(self.home.join("image"))
            .arg("demo")
            .arg("hello from a newcomer");
        run_ok(&mut c);
    }

    /// The user's public age key, from the key file labctl init wrote.
    pub fn recipient(&self) -> String {
        let text = std::fs::read_to_string(self.home.join(".config/labctl/age/keys.txt")).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix("# public key: "))
            .unwrap()
            .to_string()
    }
}
/// `labctl down` in `lab`, ignoring whether anything ran (test cleanup).
pub struct Down<'a> {
    pub user: &'a User,
    pub lab: PathBuf,
}

impl Drop for Down<'_> {
    fn drop(&mut self) {
        let _ = self.user.try_sh(&self.lab, "labctl down");
    }
}
