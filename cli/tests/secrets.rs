//! The secret store: set/get/list/rm/rekey, wrong identities, corrupted
//! files, and that a failed rekey leaves every file as it was.

mod common;

use common::{TempLab, age_decrypt, age_keygen, base_manifest, run_ok, tool};

fn files_under(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((
                    p.strip_prefix(dir).unwrap().display().to_string(),
                    std::fs::read(&p).unwrap(),
                ));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn set_get_list_rm() {
    let lab = TempLab::new(&base_manifest());
    lab.set_secret("registry/admin", "pw-1\r\n");
    lab.set_secret("a/b/c.d_e-f", "line1\nline2\n\n");
    let out = lab.output(&["secrets", "set", "gen", "--generate", "--length", "48"]);
    assert!(out.status.success());
    assert!(out.stdout.is_empty(), "a generated value is not printed");
    let generated = lab.get_secret("gen").stdout;
    assert_eq!(generated.len(), 48);
    assert!(generated.iter().all(u8::is_ascii_alphanumeric));

    assert_eq!(lab.get_secret("registry/admin").stdout, b"pw-1");
    assert_eq!(lab.get_secret("a/b/c.d_e-f").stdout, b"line1\nline2\n");
    let list = lab.cmd().args(["secrets", "list"]).output().unwrap().stdout;
    assert_eq!(
        String::from_utf8(list).unwrap(),
        "a/b/c.d_e-f\ngen\nregistry/admin\n"
    );

    // Overwrite, then remove: rm warns that lab.yaml still refers to it.
    lab.set_secret("registry/admin", "pw-2");
    assert_eq!(lab.get_secret("registry/admin").stdout, b"pw-2");
    let out = lab.output(&["secrets", "rm", "registry/admin"]);
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("warning: lab.yaml:19:17 still refers to secret:registry/admin"),
        "{err}"
    );
    assert!(!lab.root().join("secrets/registry/admin.age").exists());
    let out = lab.get_secret("registry/admin");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("labctl secrets set registry/admin"));
}

#[test]
fn an_empty_value_is_refused() {
    let lab = TempLab::new(&base_manifest());
    let out = lab.output_with(&["secrets", "set", "x"], "\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("the value is empty; nothing was changed")
    );
    assert!(!lab.root().join("secrets/x.age").exists());
}

#[test]
fn wrong_identity_and_corrupted_files_are_named() {
    let lab = TempLab::new(&base_manifest());
    lab.set_secret("registry/admin", "pw");
    let other = lab.dir.path().join("home/other.txt");
    assert!(
        tool("age-keygen")
            .arg("-o")
            .arg(&other)
            .output()
            .unwrap()
            .status
            .success()
    );
    let out = lab
        .cmd()
        .env("LABCTL_AGE_KEY_FILE", &other)
        .args(["secrets", "get", "registry/admin"])
        .output()
        .unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("the age identity LABCTL_AGE_KEY_FILE=")
            && err.contains("is not a recipient of this lab")
            && err.contains(common::DEMO_RECIPIENT),
        "{err}"
    );
    assert!(err.contains("labctl secrets rekey"), "{err}");

    let file = lab.root().join("secrets/registry/admin.age");
    let mut text = std::fs::read_to_string(&file).unwrap();
    let mid = text.len() / 2;
    text.replace_range(mid..mid + 4, "AAAA");
    std::fs::write(&file, text).unwrap();
    let out = lab.get_secret("registry/admin");
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("cannot decrypt ./secrets/registry/admin.age: the file is corrupted"),
        "{err}"
    );
    assert!(
        err.contains("git checkout -- ./secrets/registry/admin.age"),
        "{err}"
    );
    std::fs::write(&file, "not age at all").unwrap();
    let out = lab.get_secret("registry/admin");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("the file is corrupted or not an age file")
    );
}

#[test]
fn rekey_reencrypts_to_new_recipients() {
    let lab = TempLab::new(&base_manifest());
    for (n, v) in [("a", "va"), ("b/c", "vbc")] {
        lab.set_secret(n, v);
    }
    let new_key = lab.dir.path().join("home/new.txt");
    let new_recipient = age_keygen(&new_key);
    let manifest = base_manifest().replace(
        &format!("    - {}\n", common::DEMO_RECIPIENT),
        &format!("    - {}\n    - {new_recipient}\n", common::DEMO_RECIPIENT),
    );
    std::fs::write(lab.root().join("lab.yaml"), manifest).unwrap();
    let out = lab.cmd().args(["secrets", "rekey"]).output().unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("re-encrypted 2 secrets to 2 recipients")
    );
    // The new recipient's owner can now read them with the real age.
    let plain = age_decrypt(&new_key, lab.root().join("secrets/b/c.age"));
    assert_eq!(plain, "vbc");
}

#[test]
fn a_failed_rekey_changes_nothing() {
    let lab = TempLab::new(&base_manifest());
    for (n, v) in [("a", "va"), ("b", "vb"), ("z", "vz")] {
        lab.set_secret(n, v);
    }
    // "b" is encrypted to someone else only: rekey cannot read it.
    let other = lab.dir.path().join("home/other.txt");
    let other_recipient = age_keygen(&other);
    run_ok(
        tool("age")
            .args(["-e", "-a", "-r", &other_recipient, "-o"])
            .arg(lab.root().join("secrets/b.age"))
            .arg(&other),
    );
    let before = files_under(&lab.root().join("secrets"));
    let out = lab.cmd().args(["secrets", "rekey"]).output().unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("rekey stopped; no secret was changed"),
        "{err}"
    );
    assert!(err.contains("secrets/b.age"), "{err}");
    assert_eq!(
        files_under(&lab.root().join("secrets")),
        before,
        "every file is byte-identical and no temporary file is left"
    );
}

#[test]
fn secret_names_cannot_escape_the_store() {
    let lab = TempLab::new(&base_manifest());
    for bad in ["../x", "/etc/x", "a//b", "A", "a/./b", ""] {
        let out = lab.output_with(&["secrets", "set", bad], "v");
        assert_eq!(out.status.code(), Some(1), "{bad:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("is not a valid secret name"),
            "{bad:?}"
        );
    }
    assert!(files_under(&lab.root().join("secrets")).is_empty());
}

#[test]
fn secrets_commands_work_while_the_rest_of_lab_yaml_is_unfinished() {
    let lab =
        TempLab::new(&base_manifest().replace("host: docker.registry.example.com", "host: TODO!"));
    lab.set_secret("a", "v");
    let lab = TempLab::new(&base_manifest().replace(common::DEMO_RECIPIENT, "age1nope"));
    let out = lab.output_with(&["secrets", "set", "a"], "v");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("lab.yaml is not valid (1 problem):\nlab.yaml:11:7: error: \"age1nope\" is not an age recipient"), "{err}");
}
