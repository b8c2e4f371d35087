//! The example lab at the repository's root (lab.yaml, secrets/, and the
//! demo identity in demo/) stays valid and readable.

mod common;

use std::path::PathBuf;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn the_example_lab_is_valid_and_its_secrets_open_with_the_demo_key() {
    let key = repo().join("demo/age-identity.txt");
    let text = std::fs::read_to_string(&key).unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with('#') && l.contains("demo")),
        "the demo key says it is one"
    );
    let run = |args: &[&str]| {
        common::labctl(&repo())
            .env("LABCTL_AGE_KEY_FILE", &key)
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["validate"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["secrets", "get", "registry/admin"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout.len(), 32);
}
