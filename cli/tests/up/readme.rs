//! The README's first command, scripts/run.sh, in a clean checkout.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::common::{run_ok, tool};
use crate::support::*;

#[test]
fn readme_first_command_in_a_clean_checkout() {
    tool("skopeo");
    tool("git");
    let tmp = tempfile::tempdir().unwrap();
    let clone = tmp.path().join("labctl");
    std::fs::create_dir(&clone).unwrap();
    // The tracked files, as they are now, mtimes kept.
    let files = run_ok(
        Command::new("git")
            .args(["ls-files", "--cached"])
            .current_dir(workspace()),
    );
    let list: Vec<&str> = files
        .lines()
        .filter(|f| workspace().join(f).exists())
        .collect();
    let mut tar = tool("tar");
    tar.arg("-cf")
        .arg(tmp.path().join("src.tar"))
        .arg("-C")
        .arg(workspace())
        .args(&list);
    run_ok(&mut tar);
    run_ok(
        tool("tar")
            .arg("-xf")
            .arg(tmp.path().join("src.tar"))
            .arg("-C")
            .arg(&clone),
    );
    assert!(!clone.join(".lab").exists() && !clone.join("target").exists());

    let port = free_port();
    let started = Instant::now();
    let mut run = Command::new("bash");
    run.arg("scripts/run.sh")
        .current_dir(&clone)
        .env("PORT", port.to_string())
        .env("DETACH", "1");
    new_user(&mut run, &tmp.path().join("home"));
    let out = run.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        out.status.success(),
        "scripts/run.sh failed:\n{stdout}\n{stderr}"
    );
    eprintln!(
        "scripts/run.sh took {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // What it printed.
    let addr = format!("127.0.0.1:{port}");
    let clone = clone.canonicalize().unwrap();
    let ca = clone.join("certs/ca.crt");
    let cert_dir = clone.join(".lab/certs.d").join(&addr);
    assert!(
        stderr.contains("using the example lab's demo identity"),
        "{stderr}"
    );
    assert!(
        stdout.contains(&format!("labreg is serving https://{addr}")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("CA:        {}", ca.display())),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("cert dir:  {}", cert_dir.display())),
        "{stdout}"
    );
    assert!(stdout.contains("passed: 13 steps"), "{stdout}");
    for step in [
        "tls",
        "login",
        "push layer",
        "catalog",
        "tags",
        "pull blobs",
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.trim_start().starts_with("ok") && l.contains(step)),
            "step {step} did not pass:\n{stdout}"
        );
    }
    let login = stdout
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("login:"))
        .expect("a login line")
        .trim()
        .to_string();
    assert!(
        login.contains(&format!(
            "skopeo login --cert-dir {} -u admin --password-stdin {addr}",
            cert_dir.display()
        )),
        "{login}"
    );
    assert!(stdout.contains("labctl down"), "{stdout}");
    assert_eq!(
        std::fs::read(cert_dir.join("ca.crt")).unwrap(),
        std::fs::read(&ca).unwrap()
    );

    // The login line works as printed; skopeo pushes and pulls with the
    // printed cert dir and the credentials it stored.
    let auth = tmp.path().join("auth.json");
    let mut sh = tool("bash");
    new_user(&mut sh, &tmp.path().join("home"));
    sh.arg("-c")
        .arg(&login)
        .current_dir(&clone)
        .env("REGISTRY_AUTH_FILE", &auth);
    run_ok(&mut sh);
    let img = image(tmp.path(), "hello from the README's first command");
    let (src, dest) = (
        format!("oci:{}:demo", img.display()),
        format!("docker://{addr}/demo/hello:latest"),
    );
    let dir = cert_dir.display().to_string();
    let authfile = auth.display().to_string();
    skopeo(&[
        "copy",
        "--quiet",
        "--authfile",
        &authfile,
        "--dest-cert-dir",
        &dir,
        &src,
        &dest,
    ]);
    let back = tmp.path().join("back");
    let back_ref = format!("oci:{}:latest", back.display());
    skopeo(&[
        "copy",
        "--quiet",
        "--authfile",
        &authfile,
        "--src-cert-dir",
        &dir,
        &dest,
        &back_ref,
    ]);
    let digest = |p: &Path| {
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(p.join("index.json")).unwrap()).unwrap();
        v["manifests"][0]["digest"].as_str().unwrap().to_string()
    };
    assert_eq!(digest(&img), digest(&back));

    // No plaintext password anywhere in the checkout (.lab/ included) or in
    // labreg's runtime folder.
    let rundir = PathBuf::from(
        up_state(&clone)["runtime_dir"]
            .as_str()
            .unwrap()
            .to_string(),
    );
    let password = demo_password(&clone);
    let mut found = Vec::new();
    scan_for(&clone, &password, &mut found);
    scan_for(&rundir, &password, &mut found);
    assert!(found.is_empty(), "the password is in {found:?}");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&rundir).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o700);

    down(&clone);
}
