//! A crash in the middle of `render` or `secrets rekey` leaves apps/ and
//! secrets/ as before or, once the next command rolls the journal forward,
//! as after: never in between. The crash is forced with the test hook
//! LABCTL_TEST_CRASH_AFTER_OPS (abort after N renames).

mod common;

use common::render::{files, lab, minio_ingress, render, rendered};

const HOOK: &str = "LABCTL_TEST_CRASH_AFTER_OPS";

/// Whether a path (relative, `/`-separated) names a hidden file: the
/// journal or a staged temporary file.
fn hidden(path: &str) -> bool {
    path.rsplit('/').next().is_some_and(|n| n.starts_with('.'))
}

#[test]
fn render_interrupted_between_renames_is_completed_by_the_next_render() {
    let (lab, apps, before) = rendered(&minio_ingress());
    // Two passwords change: several files must be replaced together.
    for (name, value) in [
        ("registry/ci", "Crash-Ci-Password-1"),
        ("registry/admin", "Crash-Admin-Password-2"),
    ] {
        lab.set_secret(name, value);
    }
    let out = lab.cmd().arg("render").env(HOOK, "1").output().unwrap();
    assert!(!out.status.success(), "the hook aborted render");
    let mid = files(&apps);
    assert!(
        mid.contains_key(".labctl-journal"),
        "the journal survived the crash"
    );
    let changed = mid
        .keys()
        .filter(|k| !hidden(k) && before.get(*k) != mid.get(*k))
        .count();
    assert_eq!(changed, 1, "exactly one rename happened before the crash");
    // The next render completes the interrupted one; then apps/ is current.
    render(&lab);
    let after = files(&apps);
    assert!(
        !after.keys().any(|k| hidden(k)),
        "no journal or temporary left: {:?}",
        after.keys()
    );
    lab.cmd().args(["render", "--check"]).assert().success();
    assert!(
        after
            .keys()
            .filter(|k| before.get(*k) != after.get(*k))
            .count()
            >= 2
    );
}

#[test]
fn rekey_interrupted_between_renames_is_completed_by_the_next_rekey() {
    let lab = lab(&minio_ingress());
    let secrets = lab.root().join("secrets");
    let before = files(&secrets);
    assert!(before.len() >= 3, "{:?}", before.keys());
    let out = lab
        .cmd()
        .args(["secrets", "rekey"])
        .env(HOOK, "1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(secrets.join(".labctl-journal").exists());
    lab.cmd().args(["secrets", "rekey"]).assert().success();
    let after = files(&secrets);
    assert!(!after.keys().any(|k| hidden(k)), "{:?}", after.keys());
    assert_eq!(after.len(), before.len());
    // Every secret still decrypts to its value.
    for name in before.keys() {
        let name = name.trim_end_matches(".age");
        lab.cmd().args(["secrets", "get", name]).assert().success();
    }
}
