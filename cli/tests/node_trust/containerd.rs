//! Debian's containerd, started by the test with its own root, state and
//! socket in a temporary folder (no systemd, no CRI plugin), and its `ctr`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::tool;

pub struct Containerd {
    pub sock: PathBuf,
    dir: tempfile::TempDir,
    child: Child,
}

impl Containerd {
    pub fn start() -> Containerd {
        tool("ctr");
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let sock = d.join("containerd.sock");
        let config = format!(
            "version = 2\nroot = \"{}\"\nstate = \"{}\"\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\n[grpc]\n  address = \"{}\"\n",
            d.join("root").display(),
            d.join("state").display(),
            sock.display()
        );
        std::fs::write(d.join("config.toml"), config).unwrap();
        let log = std::fs::File::create(d.join("containerd.log")).unwrap();
        let child = tool("containerd")
            .arg("--config")
            .arg(d.join("config.toml"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("containerd starts");
        let c = Containerd { sock, dir, child };
        let start = Instant::now();
        while !c.ctr().arg("version").output().unwrap().status.success() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "containerd did not answer within 30 s: {}",
                c.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        c
    }

    /// `ctr` talking to this containerd.
    pub fn ctr(&self) -> Command {
        let mut c = tool("ctr");
        c.arg("--address").arg(&self.sock);
        c
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default()
    }

    /// `ctr image pull --hosts-dir DIR --user USER:PW REF`: (success, output).
    pub fn pull(&self, hosts_dir: &std::path::Path, creds: &str, image: &str) -> (bool, String) {
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

    /// The digest containerd holds for `image`.
    pub fn digest(&self, image: &str) -> String {
        let out = self.ctr().args(["image", "ls"]).output().unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(image))
            .unwrap_or_else(|| panic!("{image} not in ctr image ls:\n{text}"));
        line.split_whitespace()
            .find(|w| w.starts_with("sha256:"))
            .unwrap()
            .to_string()
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
