//! `labctl init` (identity outside the repo, reused) and `labctl certs`
//! (renewal keeps the CA; trust files).

mod common;

use common::{Succeeds, TempLab, base_manifest, labctl, run_ok, tool};

#[test]
fn init_creates_a_lab_and_an_identity_outside_it_then_reuses_it() {
    let tmp = tempfile::tempdir().unwrap();
    let out = labctl(tmp.path())
        .args(["init", "one", "--host", "reg.lan"])
        .output()
        .unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{err}");
    let key = tmp.path().join("home/.config/labctl/age/keys.txt");
    assert!(
        err.contains(&format!("created the age identity {}", key.display())),
        "{err}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let recipient = run_ok(tool("age-keygen").arg("-y").arg(&key))
        .trim()
        .to_string();
    let manifest = std::fs::read_to_string(tmp.path().join("one/lab.yaml")).unwrap();
    assert!(
        manifest.contains(&format!("    - {recipient}\n")),
        "{manifest}"
    );
    assert!(manifest.contains("name: one\n") && manifest.contains("host: reg.lan\n"));
    assert!(tmp.path().join("one/secrets").is_dir());
    assert!(
        std::fs::read_to_string(tmp.path().join("one/.gitignore"))
            .unwrap()
            .contains("*.key")
    );

    // The starter only lacks its secret and its certificates: --generate
    // and `labctl certs` fix that.
    let out = labctl(tmp.path())
        .args(["-f", "one/lab.yaml", "validate"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("one/lab.yaml:20:17: error: secret \"registry/admin\" does not exist"),
        "{err}"
    );
    assert!(
        err.contains("error: registry.expose.tls is self-signed, but certs/reg.lan.crt"),
        "{err}"
    );
    labctl(tmp.path())
        .args([
            "-f",
            "one/lab.yaml",
            "secrets",
            "set",
            "registry/admin",
            "--generate",
        ])
        .assert()
        .success();
    labctl(tmp.path())
        .args(["-f", "one/lab.yaml", "certs"])
        .assert()
        .success();
    labctl(tmp.path())
        .args(["-f", "one/lab.yaml", "validate"])
        .assert()
        .success();

    // A second lab reuses the identity.
    let out = labctl(tmp.path()).args(["init", "two"]).output().unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains(&format!("using the age identity {}", key.display()))
    );
    let two = std::fs::read_to_string(tmp.path().join("two/lab.yaml")).unwrap();
    assert!(two.contains(&recipient));

    // An existing lab is never overwritten.
    let out = labctl(tmp.path()).args(["init", "one"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("one/lab.yaml already exists; nothing was changed")
    );
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("one/lab.yaml")).unwrap(),
        manifest
    );
}

#[test]
fn init_refuses_an_identity_inside_the_lab() {
    let tmp = tempfile::tempdir().unwrap();
    let inside = tmp.path().join("lab/keys.txt");
    let out = labctl(tmp.path())
        .env("LABCTL_AGE_KEY_FILE", &inside)
        .args(["init", "lab"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("refusing to create the age identity"));
    assert!(!inside.exists());
}

fn crt(lab: &TempLab) -> std::path::PathBuf {
    lab.root().join("certs/docker.registry.example.com.crt")
}

#[test]
fn certs_are_kept_then_renewed_with_the_same_ca() {
    let lab = TempLab::new(&base_manifest());
    let out = lab.cmd().args(["certs", "--san", "10.1.2.3"]).succeeds();
    let stdout = String::from_utf8(out.stdout).unwrap();
    for want in [
        "cp ./certs/ca.crt /etc/docker/certs.d/docker.registry.example.com/ca.crt",
        "/etc/containerd/certs.d/docker.registry.example.com/hosts.toml",
        "/etc/containers/certs.d/docker.registry.example.com/ca.crt",
        "/usr/local/share/ca-certificates/labctl-homelab-ca.crt",
        "update-ca-certificates",
    ] {
        assert!(stdout.contains(want), "{want} in\n{stdout}");
    }
    let ca = std::fs::read(lab.root().join("certs/ca.crt")).unwrap();
    let first = std::fs::read(crt(&lab)).unwrap();

    // Nothing to do: same bytes, SANs kept without repeating --san.
    let out = lab.cmd().args(["certs"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to renew"));
    assert_eq!(std::fs::read(crt(&lab)).unwrap(), first);

    // --renew: a new certificate from the same CA.
    lab.cmd().args(["certs", "--renew"]).assert().success();
    let second = std::fs::read(crt(&lab)).unwrap();
    assert_ne!(second, first);
    assert_eq!(std::fs::read(lab.root().join("certs/ca.crt")).unwrap(), ca);
    let sans = run_ok(
        tool("openssl")
            .args(["x509", "-noout", "-ext", "subjectAltName", "-in"])
            .arg(crt(&lab)),
    );
    assert!(sans.contains("IP Address:10.1.2.3"), "{sans}");

    // A certificate expiring in 10 days (made by openssl with the CA key) is renewed.
    let work = lab.dir.path().join("openssl");
    std::fs::create_dir_all(&work).unwrap();
    let ca_key = work.join("ca.key");
    run_ok(
        tool("age")
            .arg("-d")
            .arg("-i")
            .arg(&lab.key_file)
            .arg("-o")
            .arg(&ca_key)
            .arg(lab.root().join("secrets/certs/ca.key.age")),
    );
    let subject = "/CN=docker.registry.example.com";
    common::openssl::key_and_csr(subject, &work.join("k"), &work.join("csr"));
    run_ok(
        tool("openssl")
            .args(["x509", "-req", "-days", "10", "-in"])
            .arg(work.join("csr"))
            .arg("-CA")
            .arg(lab.root().join("certs/ca.crt"))
            .arg("-CAkey")
            .arg(&ca_key)
            .arg("-out")
            .arg(crt(&lab)),
    );
    let out = lab.output(&["certs", "--san", "10.1.2.3"]);
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("(it expires within 30 days)"), "{err}");
    assert_eq!(
        std::fs::read(lab.root().join("certs/ca.crt")).unwrap(),
        ca,
        "the CA is kept"
    );
    let end = run_ok(
        tool("openssl")
            .args([
                "x509",
                "-noout",
                "-checkend",
                &(300 * 86400).to_string(),
                "-in",
            ])
            .arg(crt(&lab)),
    );
    assert!(end.contains("will not expire"), "{end}");
    run_ok(
        tool("openssl")
            .args(["verify", "-CAfile"])
            .arg(lab.root().join("certs/ca.crt"))
            .arg(crt(&lab)),
    );
}

#[test]
fn certs_write_trust_files_for_a_node_port() {
    let manifest = base_manifest().replace(
        "    ingress:\n      className: nginx\n      clusterIssuer: letsencrypt-prod\n      proxyBodySize: \"0\"",
        "    nodePort: 30500",
    );
    let lab = TempLab::new(&manifest);
    let sysroot = lab.dir.path().join("sysroot");
    lab.cmd()
        .args(["certs", "--write-trust"])
        .arg(&sysroot)
        .succeeds();
    let ca = std::fs::read_to_string(lab.root().join("certs/ca.crt")).unwrap();
    let addr = "docker.registry.example.com:30500";
    for p in [
        format!("etc/docker/certs.d/{addr}/ca.crt"),
        format!("etc/containerd/certs.d/{addr}/ca.crt"),
        format!("etc/containers/certs.d/{addr}/ca.crt"),
        "usr/local/share/ca-certificates/labctl-homelab-ca.crt".to_string(),
    ] {
        assert_eq!(
            std::fs::read_to_string(sysroot.join(&p)).unwrap(),
            ca,
            "{p}"
        );
    }
    let hosts =
        std::fs::read_to_string(sysroot.join(format!("etc/containerd/certs.d/{addr}/hosts.toml")))
            .unwrap();
    assert!(hosts.contains(&format!("server = \"https://{addr}\"")));
    assert!(hosts.contains(&format!("[host.\"https://{addr}\"]")));
    // Relative to the file's folder, as containerd resolves it (the
    // node_trust tests pull through it).
    assert!(hosts.contains("ca = \"ca.crt\""), "{hosts}");
    let dropin = sysroot.join("etc/containers/registries.conf.d/50-labctl-homelab.conf");
    assert!(
        std::fs::read_to_string(dropin)
            .unwrap()
            .contains(&format!("location = \"{addr}\""))
    );

    // Again: nothing changes, the record says the files are labctl's.
    let out = lab
        .cmd()
        .args(["certs", "--write-trust"])
        .arg(&sysroot)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && err.contains("the trust files are in place (6 unchanged)"),
        "{err}"
    );
}

#[test]
fn certs_refuse_an_incomplete_ca() {
    let lab = TempLab::new(&base_manifest());
    lab.cmd().args(["certs"]).assert().success();
    std::fs::remove_file(lab.root().join("secrets/certs/ca.key.age")).unwrap();
    let out = lab.cmd().args(["certs"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("the CA is incomplete") && err.contains("--new-ca"),
        "{err}"
    );
}
