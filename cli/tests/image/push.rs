//! `labctl image push` into a labreg with TLS and htpasswd, then pulled
//! back by skopeo and by containerd (`ctr` through a hosts.toml trusting
//! the CA, no --skip-verify) with identical digests; the lab's own
//! registry with its CA and user; failures named.

use std::path::PathBuf;

use crate::common::containerd::Containerd;
use crate::common::{nodeport_lab, run_ok, run_stdin, tool};
use crate::support::{PASSWORD, Registry, USER, build_image, labctl, manifest_digest, skopeo_json};

/// A labreg to push to, and labreg's image built into TMP/layout:
/// (the registry, TMP, the layout, its manifest digest).
fn registry_and_image() -> (Registry, tempfile::TempDir, PathBuf, String) {
    let reg = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("layout");
    let built = manifest_digest(&build_image(&layout));
    (reg, tmp, layout, built)
}

#[test]
fn pushed_with_labctl_then_pulled_by_skopeo_and_containerd_with_the_same_digest() {
    let (reg, tmp, layout, built) = registry_and_image();
    let host = reg.host();
    let reference = format!("{host}/labctl/labreg:test");
    let push = || {
        let mut c = labctl(tmp.path());
        c.args(["image", "push", &reference, "--from"])
            .arg(&layout)
            .arg("--ca")
            .arg(&reg.ca)
            .args(["--user", USER, "--password-stdin"]);
        run_stdin(&mut c, PASSWORD)
    };
    let (code, out, err) = push();
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(manifest_digest(&out), built, "{out}");
    assert_eq!(out.matches("uploaded").count(), 2, "{out}");
    assert!(
        out.contains(&format!("registry.image: {reference}")),
        "{out}"
    );
    // Again: nothing to upload.
    let (code, out, err) = push();
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(out.matches("already in the registry").count(), 2, "{out}");

    // skopeo, trusting the CA through a cert dir, logged in.
    let certs = tmp.path().join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::copy(&reg.ca, certs.join("ca.crt")).unwrap();
    let creds = format!("{USER}:{PASSWORD}");
    let docker = format!("docker://{reference}");
    let certs_arg = certs.to_str().unwrap();
    let remote = skopeo_json(&[
        "inspect",
        "--cert-dir",
        certs_arg,
        "--creds",
        &creds,
        &docker,
    ]);
    assert_eq!(remote["Digest"], built);
    let back = tmp.path().join("back");
    run_ok(
        tool("skopeo")
            .args([
                "copy",
                "--src-cert-dir",
                certs_arg,
                "--src-creds",
                &creds,
                &docker,
            ])
            .arg(format!("oci:{}:test", back.display())),
    );
    let local = skopeo_json(&["inspect", &format!("oci:{}:test", back.display())]);
    assert_eq!(local["Digest"], built);

    // containerd pulls it (and unpacks it) through hosts.toml + ca.crt.
    let ctd = Containerd::start();
    ctd.trust(&host, &reg.ca);
    let pulled = ctd
        .ctr()
        .args([
            "images",
            "pull",
            "--snapshotter",
            "native",
            "--user",
            &creds,
            "--hosts-dir",
        ])
        .arg(ctd.hosts_dir())
        .arg(&reference)
        .output()
        .unwrap();
    assert!(
        pulled.status.success(),
        "ctr pull failed: {}\n{}\n{}",
        String::from_utf8_lossy(&pulled.stdout),
        String::from_utf8_lossy(&pulled.stderr),
        ctd.log()
    );
    assert_eq!(ctd.image_digest(&reference), built);
}

#[test]
fn the_lab_registry_with_its_ca_and_user_and_failures_named() {
    let (reg, tmp, layout, built) = registry_and_image();
    let lab = tmp.path().join("lab");
    // lab.yaml exposes a NodePort; REF names the port labreg listens on.
    let ca_pem = std::fs::read_to_string(&reg.ca).unwrap();
    let key = nodeport_lab(&lab, "imagelab", USER, &ca_pem, 30500, "");
    let cmd = || {
        let mut c = labctl(&lab);
        c.env("LABCTL_AGE_KEY_FILE", &key);
        c
    };
    let (code, _, err) = run_stdin(cmd().args(["secrets", "set", "registry/admin"]), PASSWORD);
    assert_eq!(code, 0, "{err}");
    let reference = format!("{}/labctl/labreg:lab", reg.host());
    let (code, out, err) = run_stdin(
        cmd()
            .args(["image", "push", &reference, "--from"])
            .arg(&layout),
        "",
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(manifest_digest(&out), built);

    // A wrong password is named as such, with the fix.
    let (code, _, err) = run_stdin(
        cmd()
            .args([
                "image",
                "push",
                &reference,
                "--user",
                USER,
                "--password-stdin",
                "--from",
            ])
            .arg(&layout),
        "wrong",
    );
    assert_eq!(code, 1);
    assert!(err.contains("rejects the password"), "{err}");
    // Without the lab's CA: the certificate's issuer is unknown.
    std::fs::remove_file(lab.join("certs/ca.crt")).unwrap();
    let (code, _, err) = run_stdin(
        cmd()
            .args(["image", "push", &reference, "--from"])
            .arg(&layout),
        "",
    );
    assert_eq!(code, 1);
    assert!(err.contains("cannot push") && err.contains("fix:"), "{err}");
    assert!(err.to_lowercase().contains("ca"), "{err}");
    // Not a reference.
    let (code, _, err) = run_stdin(
        cmd()
            .args(["image", "push", "labreg", "--from"])
            .arg(&layout),
        "",
    );
    assert_eq!(code, 1);
    assert!(err.contains("names no registry"), "{err}");
}
