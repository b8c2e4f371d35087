//! Debian's `containerd` for a test: its own root, state, socket and
//! config in a temp folder (no systemd, no CRI), stopped on drop; `ctr`
//! pointed at it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Containerd {
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    child: Child,
}

impl Containerd {
    pub fn start() -> Containerd {
        super::tool("containerd");
        super::tool("ctr");
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let socket = d.join("containerd.sock");
        // Only what pulls need: no CRI, no sandboxing plugins.
        let config = format!(
            "version = 2\nroot = \"{}\"\nstate = \"{}\"\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n[grpc]\n  address = \"{}\"\n",
            d.join("root").display(),
            d.join("state").display(),
            socket.display()
        );
        std::fs::write(d.join("config.toml"), config).unwrap();
        let log = std::fs::File::create(d.join("containerd.log")).unwrap();
        let child = Command::new("containerd")
            .arg("--config")
            .arg(d.join("config.toml"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("containerd starts");
        let mut c = Containerd { dir, socket, child };
        c.wait_ready();
        c
    }

    /// Until `ctr version` answers through the socket (the daemon has no
    /// readiness signal of its own); its log when it never does.
    fn wait_ready(&mut self) {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("containerd exited ({status}):\n{}", self.log());
            }
            let ok = self
                .ctr()
                .arg("version")
                .output()
                .is_ok_and(|o| o.status.success());
            if ok {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("containerd did not answer within 30 s:\n{}", self.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default()
    }

    /// `ctr` on this daemon's socket, namespace `labctl-test`.
    pub fn ctr(&self) -> Command {
        let mut c = Command::new("ctr");
        c.arg("--address")
            .arg(&self.socket)
            .args(["--namespace", "labctl-test"]);
        c
    }

    /// The manifest digest containerd stored for `reference`.
    pub fn image_digest(&self, reference: &str) -> String {
        let out = super::run_ok(self.ctr().args(["images", "ls"]));
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(reference))
            .and_then(|l| l.split_whitespace().find(|w| w.starts_with("sha256:")))
            .unwrap_or_else(|| panic!("{reference} not in `ctr images ls`:\n{out}"))
            .to_string()
    }

    /// `ctr image pull --hosts-dir DIR --user USER:PW REF` (native
    /// snapshotter): whether it worked, and what ctr printed.
    pub fn pull(&self, hosts_dir: &Path, creds: &str, image: &str) -> (bool, String) {
        let out = self
            .ctr()
            .args(["image", "pull", "--snapshotter", "native", "--hosts-dir"])
            .arg(hosts_dir)
            .args(["--user", creds, image])
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    pub fn hosts_dir(&self) -> PathBuf {
        self.dir.path().join("certs.d")
    }

    /// `certs.d/<host>/hosts.toml` trusting `ca` for `host` (HOST:PORT).
    pub fn trust(&self, host: &str, ca: &Path) {
        let d = self.hosts_dir().join(host);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::copy(ca, d.join("ca.crt")).unwrap();
        let toml = format!(
            "server = \"https://{host}\"\n\n[host.\"https://{host}\"]\n  capabilities = [\"pull\", \"resolve\"]\n  ca = \"{}\"\n",
            d.join("ca.crt").display()
        );
        std::fs::write(d.join("hosts.toml"), toml).unwrap();
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        // SIGTERM for a clean shutdown, then reap it.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
