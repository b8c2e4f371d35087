//! labctl against the real tools: Debian's `age`, `openssl` and `htpasswd`
//! (installed by scripts/setup.sh). A missing tool fails the test.

mod common;

use std::process::Stdio;

use common::{
    DEMO_RECIPIENT, Succeeds, TempLab, age_decrypt, base_manifest, run_ok, run_stdin, tool,
};

#[test]
fn age_decrypts_what_labctl_wrote() {
    let lab = TempLab::new(&base_manifest());
    lab.set_secret("registry/admin", "s3cret value\n");
    let file = lab.root().join("secrets/registry/admin.age");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"),
        "armored: {text}"
    );
    let plain = age_decrypt(&lab.key_file, &file);
    assert_eq!(
        plain, "s3cret value",
        "one trailing newline of stdin is dropped"
    );
}

#[test]
fn labctl_decrypts_what_age_wrote() {
    let lab = TempLab::new(&base_manifest());
    let file = lab.root().join("secrets/minio/secret-key.age");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    for armor in [true, false] {
        let mut age = tool("age");
        age.args(["-e", "-r", DEMO_RECIPIENT, "-o"])
            .arg(&file)
            .stdin(Stdio::piped());
        if armor {
            age.arg("-a");
        }
        let (code, _, err) = run_stdin(&mut age, b"from-age\x01bytes");
        assert_eq!(code, 0, "{err}");
        let out = lab
            .cmd()
            .args(["secrets", "get", "minio/secret-key"])
            .succeeds();
        assert_eq!(out.stdout, b"from-age\x01bytes", "armor={armor}");
    }
}

#[test]
fn a_key_from_age_keygen_is_a_labctl_identity() {
    let lab = TempLab::new("");
    let key = lab.dir.path().join("home/keygen.txt");
    let out = tool("age-keygen").arg("-o").arg(&key).output().unwrap();
    assert!(out.status.success());
    let recipient = run_ok(tool("age-keygen").arg("-y").arg(&key))
        .trim()
        .to_string();
    std::fs::write(
        lab.root().join("lab.yaml"),
        base_manifest().replace(common::DEMO_RECIPIENT, &recipient),
    )
    .unwrap();
    lab.cmd()
        .env("LABCTL_AGE_KEY_FILE", &key)
        .args(["secrets", "set", "x"])
        .write_stdin("v")
        .assert()
        .success();
    let plain = age_decrypt(&key, lab.root().join("secrets/x.age"));
    assert_eq!(plain, "v");
    // LABCTL_AGE_KEY holds the key itself.
    let key_text = std::fs::read_to_string(&key).unwrap();
    let out = lab
        .cmd()
        .env_remove("LABCTL_AGE_KEY_FILE")
        .env("LABCTL_AGE_KEY", key_text)
        .args(["secrets", "get", "x"])
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"v", "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn openssl_verifies_the_server_certificate_and_shows_the_sans() {
    let lab = TempLab::new(&base_manifest());
    lab.cmd()
        .args([
            "certs",
            "--san",
            "registry.lan",
            "--san",
            "10.0.0.5",
            "--san",
            "fd00::5",
        ])
        .succeeds();
    let root = lab.root();
    let ca = root.join("certs/ca.crt");
    let crt = root.join("certs/docker.registry.example.com.crt");
    let verify = run_ok(
        tool("openssl")
            .args(["verify", "-purpose", "sslserver", "-CAfile"])
            .arg(&ca)
            .arg(&crt),
    );
    assert!(verify.trim().ends_with(": OK"), "{verify}");
    let sans = run_ok(
        tool("openssl")
            .args(["x509", "-noout", "-ext", "subjectAltName", "-in"])
            .arg(&crt),
    );
    assert!(
        sans.contains("DNS:docker.registry.example.com, DNS:registry.lan, IP Address:10.0.0.5, IP Address:FD00:0:0:0:0:0:0:5"),
        "{sans}"
    );
    let ca_text = run_ok(
        tool("openssl")
            .args(["x509", "-noout", "-text", "-in"])
            .arg(&ca),
    );
    assert!(ca_text.contains("CA:TRUE"), "{ca_text}");
    // The keys exist only as age files, and openssl can read them once decrypted by age.
    for name in ["certs/ca.key", "certs/docker.registry.example.com.key"] {
        let file = root.join(format!("secrets/{name}.age"));
        let pem = age_decrypt(&lab.key_file, &file);
        let (code, _, err) = run_stdin(tool("openssl").args(["pkey", "-noout", "-check"]), &pem);
        assert_eq!(code, 0, "{name} is a valid private key: {err}");
    }
    assert!(!root.join("certs/ca.key").exists());
}

#[test]
fn htpasswd_verifies_labctl_lines() {
    let lab = TempLab::new("");
    for (user, pass) in [
        ("admin", "docker123"),
        ("ci.bot", "pässwörd with spaces"),
        ("x", "a:b$c"),
    ] {
        let out = lab.output_with(&["htpasswd", user], &format!("{pass}\n"));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line = String::from_utf8(out.stdout).unwrap();
        assert!(line.starts_with(&format!("{user}:$2y$10$")), "{line}");
        let file = lab.dir.path().join("htpasswd");
        std::fs::write(&file, &line).unwrap();
        run_ok(tool("htpasswd").arg("-vb").arg(&file).args([user, pass]));
        let wrong = tool("htpasswd")
            .arg("-vb")
            .arg(&file)
            .args([user, "wrong"])
            .output()
            .unwrap();
        assert!(!wrong.status.success(), "a wrong password is refused");
    }
}
