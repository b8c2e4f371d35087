//! Runs every labctl command on a temporary lab with known secret values,
//! then scans every file under the test's folder for those values: raw,
//! and base64 at every byte alignment. Only the age identity (which the
//! user asked for) may hold its own key.

mod common;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use std::path::{Path, PathBuf};

use common::{age_keygen, contains, labctl, needles};

const ADMIN: &str = "Known-Admin-Password-7f3a";
const ACCESS: &str = "Known-Access-Key-91c2e";
const SECRET: &str = "Known-Secret-Key-5d8b0aa";

fn all_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            all_files(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[test]
fn no_plaintext_secret_is_written_to_any_file() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let run = |args: &[&str], stdin: Option<&str>| {
        let mut c = labctl(t);
        c.args(["-f", "lab/lab.yaml"]).args(args);
        if let Some(s) = stdin {
            c.write_stdin(s);
        }
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };

    labctl(t).args(["init", "lab"]).assert().success();
    let manifest = std::fs::read_to_string(t.join("lab/lab.yaml")).unwrap().replace(
        "    filesystem:\n      size: 20Gi\n",
        "    s3:\n      endpoint: http://minio.minio.svc:9000\n      bucket: container-repo\n      accessKey: secret:minio/access-key\n      secretKey: secret:minio/secret-key\n",
    );
    std::fs::write(t.join("lab/lab.yaml"), manifest).unwrap();
    run(&["secrets", "set", "registry/admin"], Some(ADMIN));
    run(&["secrets", "set", "minio/access-key"], Some(ACCESS));
    run(&["secrets", "set", "minio/secret-key"], Some(SECRET));
    run(
        &[
            "secrets",
            "set",
            "tmp/generated",
            "--generate",
            "--length",
            "40",
        ],
        None,
    );
    let generated = run(&["secrets", "get", "tmp/generated"], None);
    assert_eq!(
        run(&["secrets", "get", "registry/admin"], None),
        ADMIN.as_bytes()
    );
    run(&["schema"], None);
    run(&["secrets", "list"], None);
    run(&["certs", "--san", "10.0.0.9"], None);
    run(&["validate"], None);
    run(&["certs", "--renew"], None);
    run(&["certs", "--write-trust", "sysroot"], None);
    let line = run(&["htpasswd", "admin"], Some(ADMIN));
    assert!(line.starts_with(b"admin:$2y$"));

    // A second recipient, then rekey; then remove a secret.
    let other = t.join("other-key.txt");
    let other_recipient = age_keygen(&other);
    let manifest = std::fs::read_to_string(t.join("lab/lab.yaml")).unwrap();
    let manifest = manifest.replacen(
        "  recipients:\n",
        &format!("  recipients:\n    - {other_recipient}\n"),
        1,
    );
    std::fs::write(t.join("lab/lab.yaml"), manifest).unwrap();
    run(&["secrets", "rekey"], None);
    run(&["secrets", "rm", "tmp/generated"], None);

    // What must not leak: the values, the certificates' private keys (PEM
    // text and DER), and the identity's own key.
    let mut secrets: Vec<(String, Vec<u8>)> = vec![
        ("admin password".into(), ADMIN.into()),
        ("access key".into(), ACCESS.into()),
        ("secret key".into(), SECRET.into()),
        ("generated value".into(), generated),
    ];
    for name in ["certs/ca.key", "certs/registry.home.arpa.key"] {
        let pem = String::from_utf8(run(&["secrets", "get", name], None)).unwrap();
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        secrets.push((format!("{name} DER"), STANDARD.decode(&body).unwrap()));
        for (i, l) in pem.lines().filter(|l| !l.starts_with("-----")).enumerate() {
            secrets.push((format!("{name} PEM line {i}"), l.as_bytes().to_vec()));
        }
    }
    let identity_file = t.join("home/.config/labctl/age/keys.txt");
    let identity = std::fs::read_to_string(&identity_file).unwrap();
    let key_line = identity
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .unwrap();
    secrets.push(("age identity".into(), key_line.as_bytes().to_vec()));

    let mut files = Vec::new();
    all_files(t, &mut files);
    files.retain(|f| *f != identity_file && *f != other);
    let names: Vec<String> = files
        .iter()
        .map(|f| f.strip_prefix(t).unwrap().display().to_string())
        .collect();
    for want in [
        "lab/lab.yaml",
        "lab/secrets/registry/admin.age",
        "lab/secrets/minio/secret-key.age",
        "lab/secrets/certs/ca.key.age",
        "lab/certs/ca.crt",
        "lab/certs/registry.home.arpa.crt",
        "lab/.gitignore",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} was written: {names:?}"
        );
    }
    assert!(
        !names.iter().any(|n| n.contains(".labctl-")),
        "no temporary file is left: {names:?}"
    );
    let mut leaks = Vec::new();
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        for (what, plain) in &secrets {
            for needle in needles(plain) {
                if contains(&bytes, &needle) {
                    leaks.push(format!("{what} in {}", f.display()));
                }
            }
        }
    }
    assert!(leaks.is_empty(), "plaintext found: {leaks:#?}");
    assert!(files.len() >= 15, "scanned {} files", files.len());
}

/// The scan itself finds a value in raw form and inside base64 text at
/// every alignment, so a clean result above means something.
#[test]
fn the_scanner_finds_raw_and_base64_values() {
    for k in 0..6 {
        let mut data = vec![b'x'; k];
        data.extend_from_slice(ADMIN.as_bytes());
        data.extend_from_slice(b"tail");
        for engine in [&STANDARD, &URL_SAFE] {
            let hay = format!("prefix {} suffix", engine.encode(&data));
            assert!(
                needles(ADMIN.as_bytes())
                    .iter()
                    .any(|n| contains(hay.as_bytes(), n)),
                "offset {k}"
            );
        }
    }
    assert!(contains(
        format!("a{ADMIN}b").as_bytes(),
        &needles(ADMIN.as_bytes())[0]
    ));
    assert!(
        !needles(ADMIN.as_bytes())
            .iter()
            .any(|n| contains(b"unrelated text", n))
    );
}
