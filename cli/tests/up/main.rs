//! `labctl up` / `labctl down` as users run them: the README's first
//! command (scripts/run.sh) in a clean checkout, then Ctrl-C, a second run,
//! a port in use. Real processes (release labctl and labreg), real skopeo.
//!
//! The clean checkout is the worktree's tracked files (`git ls-files`,
//! current contents, mtimes kept) copied to a temporary folder: nothing
//! outside git. It builds into this test's own CARGO_TARGET_DIR, so the
//! release build is incremental.

#[path = "../common/mod.rs"]
mod common;
mod readme;
mod support;

use std::io::BufReader;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::tool;
use support::*;

#[test]
fn ctrl_c_stops_labreg_and_removes_its_files() {
    let lab = example_lab();
    let lab = lab.path();
    let port = free_port();
    let mut child = labctl(lab)
        .args(["up", "--port", &port.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let printed = read_until(&mut out, "Ctrl-C stops it");
    assert!(printed.contains("passed: 13 steps"), "{printed}");
    let state = up_state(lab);
    let pid = state["pid"].as_u64().unwrap();
    let rundir = PathBuf::from(state["runtime_dir"].as_str().unwrap());
    assert!(alive(pid) && rundir.is_dir());
    assert_eq!(state["labctl_pid"].as_u64(), Some(child.id() as u64));

    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let started = Instant::now();
    let status = child.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut rest).unwrap();
    assert_eq!(status.code(), Some(0), "{rest}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(rest.contains("stopping labreg"), "{rest}");
    assert!(!alive(pid), "labreg {pid} outlived labctl up");
    assert!(!rundir.exists(), "{} left behind", rundir.display());
    assert!(!lab.join(".lab/up.json").exists());
    // The log says labreg shut down by itself (SIGTERM), not killed.
    let log = std::fs::read_to_string(lab.join(".lab/log/labreg.log")).unwrap();
    assert!(log.contains("shutting down"), "{log}");
}

#[test]
fn a_second_up_reuses_storage_ca_and_secrets() {
    tool("skopeo");
    let lab_dir = example_lab();
    let lab = lab_dir.path();
    // Start without a CA: the first up makes it, the second reuses it.
    std::fs::remove_file(lab.join("certs/ca.crt")).unwrap();
    std::fs::remove_file(lab.join("secrets/certs/ca.key.age")).unwrap();
    let port = free_port();
    let p = port.to_string();
    let first = run_both(labctl(lab).args(["up", "--detach", "--port", &p]));
    assert!(first.contains("created a new CA"), "{first}");
    let ca = std::fs::read(lab.join("certs/ca.crt")).unwrap();
    let key = std::fs::read(lab.join("secrets/certs/ca.key.age")).unwrap();

    // While it runs, a second up says so and how to stop it.
    let again = labctl(lab).args(["up", "--port", &p]).output().unwrap();
    let err = String::from_utf8_lossy(&again.stderr);
    assert_eq!(again.status.code(), Some(1), "{err}");
    assert!(
        err.contains("already running") && err.contains("labctl down"),
        "{err}"
    );

    let img = image(lab, "pushed by the first run");
    let creds = format!("admin:{}", demo_password(lab));
    let dir = lab.join(".lab/certs.d").join(format!("127.0.0.1:{port}"));
    let dir = dir.display().to_string();
    let dest = format!("docker://127.0.0.1:{port}/demo/kept:v1");
    let src = format!("oci:{}:demo", img.display());
    skopeo(&[
        "copy",
        "--quiet",
        "--dest-creds",
        &creds,
        "--dest-cert-dir",
        &dir,
        &src,
        &dest,
    ]);
    down(lab);

    let secrets_before = common::render::files(&lab.join("secrets"));
    let second = run_both(labctl(lab).args(["up", "--detach", "--port", &p]));
    assert!(
        !second.contains("created a new CA") && !second.contains("stored "),
        "{second}"
    );
    assert_eq!(std::fs::read(lab.join("certs/ca.crt")).unwrap(), ca);
    assert_eq!(
        std::fs::read(lab.join("secrets/certs/ca.key.age")).unwrap(),
        key
    );
    let secrets_after = common::render::files(&lab.join("secrets"));
    assert!(secrets_before == secrets_after, "up rewrote secrets");
    let inspect = skopeo(&["inspect", "--creds", &creds, "--cert-dir", &dir, &dest]);
    assert!(
        inspect.contains(&format!("127.0.0.1:{port}/demo/kept")),
        "{inspect}"
    );
    down(lab);
}

#[test]
fn a_port_in_use_is_named_with_the_option_to_change_it() {
    let lab = example_lab();
    // The hint for scripts/run.sh's PORT= is given where the lab has it.
    std::fs::create_dir_all(lab.path().join("scripts")).unwrap();
    std::fs::copy(
        workspace().join("scripts/run.sh"),
        lab.path().join("scripts/run.sh"),
    )
    .unwrap();
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let out = labctl(lab.path())
        .args(["up", "--port", &port.to_string()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("port {port} on 127.0.0.1 is already in use")),
        "{err}"
    );
    assert!(
        err.contains("labctl up --port ") && err.contains("PORT="),
        "{err}"
    );
    assert!(!lab.path().join(".lab/up.json").exists());
}
