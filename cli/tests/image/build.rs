//! `labctl image build`: the layout as skopeo reads it, the same digest
//! from the same inputs, and labreg run from the unpacked root filesystem
//! with `chroot` (containers cannot start on this machine) with the image's
//! own user, entrypoint and default config.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::common::{run_ok, tool};
use crate::support::{
    REVISION, build_image, labctl, manifest_digest, skopeo_json, static_bins, which, workspace,
};

#[test]
fn skopeo_reads_the_registry2_layout_and_the_digest_is_reproducible() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("a");
    let printed = manifest_digest(&build_image(&out));
    let oci = format!("oci:{}", out.display());

    let inspect = skopeo_json(&["inspect", &oci]);
    assert_eq!(inspect["Digest"], printed);
    assert_eq!(inspect["Architecture"], "amd64");
    assert_eq!(inspect["Os"], "linux");
    let config = skopeo_json(&["inspect", "--config", &oci]);
    let c = &config["config"];
    assert_eq!(c["User"], "65532:65532");
    assert_eq!(
        c["Entrypoint"],
        serde_json::json!(["/usr/local/bin/labreg"])
    );
    assert_eq!(
        c["Cmd"],
        serde_json::json!(["serve", "/etc/docker/registry/config.yml"])
    );
    assert_eq!(c["ExposedPorts"], serde_json::json!({"5000/tcp": {}}));
    assert_eq!(c["Volumes"], serde_json::json!({"/var/lib/registry": {}}));
    let labels = &c["Labels"];
    assert_eq!(
        labels["org.opencontainers.image.version"],
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(labels["org.opencontainers.image.revision"], REVISION);
    assert_eq!(
        labels["org.opencontainers.image.source"],
        "https://github.com/labctl/labctl"
    );
    assert_eq!(config["created"], "1970-01-01T00:00:00Z");
    // The layout's ref name is the version: skopeo finds the image by it.
    let by_tag = skopeo_json(&["inspect", &format!("{oci}:{}", env!("CARGO_PKG_VERSION"))]);
    assert_eq!(by_tag["Digest"], printed);

    // Same binaries, another folder, later: the same digest. Into the same
    // folder: replaced, same digest.
    assert_eq!(
        manifest_digest(&build_image(&tmp.path().join("b"))),
        printed
    );
    assert_eq!(manifest_digest(&build_image(&out)), printed);

    // Another SOURCE_DATE_EPOCH is another image.
    let mut c = labctl(tmp.path());
    c.args(["image", "build", "--revision", REVISION, "--output"])
        .arg(tmp.path().join("c"))
        .env("SOURCE_DATE_EPOCH", "1700000000");
    for b in static_bins() {
        c.arg("--binary").arg(b);
    }
    let other = manifest_digest(&run_ok(&mut c));
    assert_ne!(other, printed);
    let config = skopeo_json(&[
        "inspect",
        "--config",
        &format!("oci:{}", tmp.path().join("c").display()),
    ]);
    assert_eq!(config["created"], "2023-11-14T22:13:20Z");
}

#[test]
fn a_folder_that_is_not_a_layout_is_left_alone_and_dynamic_binaries_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("notes");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("keep.txt"), "mine").unwrap();
    let [labreg, _] = static_bins();
    let r = labctl(tmp.path())
        .args(["image", "build", "--output"])
        .arg(&out)
        .arg("--binary")
        .arg(&labreg)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert!(
        err.contains("not an OCI image layout; nothing was written"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("keep.txt")).unwrap(),
        "mine"
    );
    let names: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names.len(), 1, "staging left behind: {names:?}");

    // This test's own executable is linked dynamically.
    let r = labctl(tmp.path())
        .args(["image", "build", "--output"])
        .arg(tmp.path().join("x"))
        .arg("--binary")
        .arg(&labreg)
        .arg("--binary")
        .arg(std::env::current_exe().unwrap())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert!(err.contains("is dynamically linked"), "{err}");
    assert!(err.contains("crt-static"), "{err}");
    assert!(!tmp.path().join("x").exists());
}

/// The layer unpacked by GNU tar (an independent reader of our tar).
fn unpack(layout: &Path, rootfs: &Path) {
    let manifest = skopeo_json(&["inspect", "--raw", &format!("oci:{}", layout.display())]);
    let layer = manifest["layers"][0]["digest"].as_str().unwrap();
    let blob = layout
        .join("blobs/sha256")
        .join(layer.trim_start_matches("sha256:"));
    std::fs::create_dir_all(rootfs).unwrap();
    run_ok(
        tool("tar")
            .args(["--numeric-owner", "--same-owner", "-xpzf"])
            .arg(&blob)
            .arg("-C")
            .arg(rootfs),
    );
}

/// The device nodes every container runtime gives a container (the OCI
/// runtime spec's defaults); static glibc binaries read randomness from
/// /dev/urandom, as the getrandom crate finds no `getrandom` symbol there.
fn runtime_devices(root: &Path) {
    std::fs::create_dir_all(root.join("dev")).unwrap();
    for (name, minor) in [
        ("null", "3"),
        ("zero", "5"),
        ("random", "8"),
        ("urandom", "9"),
    ] {
        run_ok(
            tool("mknod")
                .args(["-m", "666"])
                .arg(root.join("dev").join(name))
                .args(["c", "1", minor]),
        );
    }
}

/// A command in the network namespace of process `pid`.
fn in_netns(pid: u32, program: &str) -> Command {
    let mut c = tool("nsenter");
    c.arg(format!("--net=/proc/{pid}/ns/net")).arg(program);
    c
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        unsafe {
            libc::kill(self.0.id() as i32, libc::SIGTERM);
        }
        let _ = self.0.wait();
    }
}

#[test]
fn labreg_runs_from_the_unpacked_root_filesystem_with_its_default_config() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("layout");
    build_image(&layout);
    let root = tmp.path().join("rootfs");
    unpack(&layout, &root);
    runtime_devices(&root);

    let md = |p: &str| std::fs::metadata(root.join(p)).unwrap();
    assert_eq!(
        (md("var/lib/registry").uid(), md("var/lib/registry").gid()),
        (65532, 65532)
    );
    assert_eq!(md("tmp").mode() & 0o7777, 0o1777);
    assert_eq!(md("usr/local/bin/labreg").mode() & 0o777, 0o755);
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap();
    assert!(passwd.contains("nonroot:x:65532:65532:"), "{passwd}");
    assert_eq!(
        std::fs::read(root.join("etc/ssl/certs/ca-certificates.crt")).unwrap(),
        std::fs::read("/etc/ssl/certs/ca-certificates.crt").unwrap()
    );
    assert_eq!(
        std::fs::read_to_string(root.join("etc/docker/registry/config.yml")).unwrap(),
        std::fs::read_to_string(workspace().join("server/container/config.yml")).unwrap()
    );

    // The image's user, entrypoint, arguments and environment; a network
    // namespace of its own, so :5000 is free whatever else runs here.
    let config = skopeo_json(&["inspect", "--config", &format!("oci:{}", layout.display())]);
    let c = &config["config"];
    let argv: Vec<&str> = c["Entrypoint"]
        .as_array()
        .unwrap()
        .iter()
        .chain(c["Cmd"].as_array().unwrap())
        .map(|v| v.as_str().unwrap())
        .collect();
    let mut cmd = tool("unshare");
    let script = format!(
        "{} link set lo up && exec {} --userspec=\"$0\" \"$@\"",
        which("ip").display(),
        which("chroot").display()
    );
    cmd.args(["--net", "sh", "-c", &script])
        .arg(c["User"].as_str().unwrap())
        .arg(&root)
        .args(&argv)
        .env_clear()
        .stderr(Stdio::piped())
        .stdout(Stdio::null());
    for e in c["Env"].as_array().unwrap() {
        let (k, v) = e.as_str().unwrap().split_once('=').unwrap();
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let run = Running(child);
    let pid = run.0.id();
    // Read its log until it listens, and keep draining it afterwards (a
    // closed pipe would fail labreg's later log writes).
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut log = String::new();
    while let Ok(line) = rx.recv_timeout(std::time::Duration::from_secs(30)) {
        log += &line;
        log.push('\n');
        if line.contains("labreg listening") {
            break;
        }
    }
    assert!(
        log.contains("labreg listening addr=0.0.0.0:5000"),
        "labreg did not start:\n{log}"
    );

    let code = run_ok(in_netns(pid, "curl").args([
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "http://127.0.0.1:5000/v2/",
    ]));
    assert_eq!(code, "200");
    // It stores as 65532 in the image's volume folder: push the image into
    // itself with skopeo.
    run_ok(
        in_netns(pid, "skopeo")
            .args(["copy", "--dest-tls-verify=false"])
            .arg(format!("oci:{}", layout.display()))
            .arg("docker://127.0.0.1:5000/labreg:self"),
    );
    let repo = root.join("var/lib/registry/docker/registry/v2/repositories/labreg");
    assert_eq!(std::fs::metadata(&repo).unwrap().uid(), 65532);

    // Names resolve in a static glibc binary from /etc/hosts (Kubernetes
    // mounts one): the image's labctl verifies the registry by name.
    std::fs::write(root.join("etc/hosts"), "127.0.0.1 registry.image.test\n").unwrap();
    let chroot = which("chroot");
    let out = in_netns(pid, chroot.to_str().unwrap())
        .arg("--userspec=65532:65532")
        .arg(&root)
        .args([
            "/usr/local/bin/labctl",
            "verify",
            "push",
            "--registry",
            "registry.image.test:5000",
            "--insecure",
            "--output",
            "json",
            "--size",
            "64KiB",
        ])
        .env_clear()
        .env("HOME", "/tmp")
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let steps = report["steps"].as_array().unwrap();
    assert_eq!(steps[0]["step"], "resolve");
    assert_eq!(steps[0]["status"], "ok", "{report}");
    assert_eq!(report["passed"], true, "{report}");
}
