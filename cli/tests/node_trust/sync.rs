//! `labctl node-trust sync` on a fake host root, without a registry: it
//! writes what it is given, never a file it did not write, and removes only
//! what it wrote and nobody changed since.

use std::path::Path;

use crate::common::labctl;

fn put(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn read(root: &Path, rel: &str) -> String {
    std::fs::read_to_string(root.join(rel)).unwrap()
}

/// (exit code, output) of a one-shot sync of `from` onto `host`.
fn sync(dir: &Path, from: &Path, host: &Path) -> (i32, String) {
    let out = labctl(dir)
        .args(["node-trust", "sync", "--from"])
        .arg(from)
        .arg("--host-root")
        .arg(host)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn writes_its_own_files_and_leaves_everyone_elses() {
    let t = tempfile::tempdir().unwrap();
    let (from, host) = (t.path().join("from"), t.path().join("host"));
    let ours = "etc/containerd/certs.d/reg.lan/hosts.toml";
    let ca = "etc/containerd/certs.d/reg.lan/ca.crt";
    let taken = "etc/containers/registries.conf.d/50-labctl-x.conf";
    put(&from, ours, "server = \"https://reg.lan\"\n");
    put(&from, ca, "CA 1\n");
    put(&from, taken, "[[registry]]\n");
    // The kubelet's own entries in a ConfigMap volume are not files to install.
    put(&from, "..2026_01_01/etc/x", "kubelet's\n");
    put(&host, taken, "someone's own drop-in\n");
    put(&host, "etc/containerd/certs.d/keep/hosts.toml", "foreign\n");

    let (code, out) = sync(t.path(), &from, &host);
    assert_eq!(code, 1, "a file was left alone: {out}");
    assert!(out.contains(&format!("wrote    /{ours}")), "{out}");
    assert!(
        out.contains(&format!(
            "left     /{taken}: exists and labctl did not write it"
        )),
        "{out}"
    );
    assert_eq!(read(&host, taken), "someone's own drop-in\n");
    assert_eq!(read(&host, ca), "CA 1\n");
    assert!(!host.join("etc/x").exists());
    let record = read(&host, "var/lib/labctl/node-trust/record.json");
    assert!(
        record.contains(&format!("/{ours}")) && !record.contains(taken),
        "{record}"
    );

    // Someone edits a file labctl wrote: it is theirs now, in both
    // directions (no update, no removal).
    put(&host, ca, "CA edited by hand\n");
    put(&from, ca, "CA 2\n");
    std::fs::remove_file(from.join(taken)).unwrap();
    let (code, out) = sync(t.path(), &from, &host);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("changed by someone since labctl wrote it"),
        "{out}"
    );
    assert_eq!(read(&host, ca), "CA edited by hand\n");

    // Dropped from the lab: labctl's files and the folders it made go;
    // the edited one and everything foreign stay.
    std::fs::remove_dir_all(&from).unwrap();
    std::fs::create_dir_all(&from).unwrap();
    let (code, out) = sync(t.path(), &from, &host);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("removed  /{ours}")), "{out}");
    assert!(!host.join(ours).exists());
    assert_eq!(read(&host, ca), "CA edited by hand\n");
    assert_eq!(
        read(&host, "etc/containerd/certs.d/keep/hosts.toml"),
        "foreign\n"
    );
    assert_eq!(read(&host, taken), "someone's own drop-in\n");

    // A file that already holds exactly what labctl would write, put there
    // by someone else, counts as in place and stays theirs.
    put(&from, "etc/containerd/certs.d/keep/hosts.toml", "foreign\n");
    let (code, out) = sync(t.path(), &from, &host);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("in place /etc/containerd/certs.d/keep/hosts.toml"),
        "{out}"
    );
}

#[test]
fn links_are_followed_in_the_tree_and_never_written_through_on_the_host() {
    let t = tempfile::tempdir().unwrap();
    let host = t.path().join("host");
    std::fs::create_dir_all(&host).unwrap();
    let from = t.path().join("from");
    std::fs::create_dir_all(from.join("etc")).unwrap();
    // A link in the tree pointing out of it is followed as the kubelet's
    // links are, but the file lands under the root at its tree path.
    std::fs::write(t.path().join("outside"), "x\n").unwrap();
    std::os::unix::fs::symlink(t.path().join("outside"), from.join("etc/linked")).unwrap();
    let (code, out) = sync(t.path(), &from, &host);
    assert_eq!(code, 0, "{out}");
    assert_eq!(read(&host, "etc/linked"), "x\n");
    // An existing link on the host is not written through.
    std::fs::write(from.join("etc/target"), "new\n").unwrap();
    std::os::unix::fs::symlink(t.path().join("outside"), host.join("etc/target")).unwrap();
    let (code, out) = sync(t.path(), &from, &host);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("not a regular file"), "{out}");
    assert_eq!(
        std::fs::read_to_string(t.path().join("outside")).unwrap(),
        "x\n"
    );
}
