//! `labreg garbage-collect` and `labreg check` on both drivers: a store with
//! tagged, untagged and orphaned content loses exactly the orphans (and the
//! untagged with --delete-untagged), everything referenced still pulls; check
//! finds a corrupted blob and a dangling link.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use common::TestRegistry;
use common::images::{pull_image, push_blob, push_image};
use common::process::run_labreg;
use common::s3::{fresh_root, s3};
use common::suite::pattern;
use labreg::registry::{Digest, paths};
use labreg::storage::StorageDriver;
use labreg::storage::fs::FilesystemDriver;

/// One store under test: its config file, a driver on it, and a registry.
struct Store {
    config: PathBuf,
    driver: Arc<dyn StorageDriver>,
    reg: TestRegistry,
    _dir: tempfile::TempDir,
}

async fn fs_store() -> Store {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    let storage = format!("  filesystem:\n    rootdirectory: {}\n", root.display());
    store(dir, &storage, Arc::new(FilesystemDriver::new(&root))).await
}

async fn s3_store() -> Store {
    let root = fresh_root();
    store(
        tempfile::tempdir().unwrap(),
        &s3().yaml(&root),
        s3().driver(&root),
    )
    .await
}

async fn store(dir: tempfile::TempDir, storage: &str, driver: Arc<dyn StorageDriver>) -> Store {
    let yaml = format!("version: 0.1\nstorage:\n{storage}  delete:\n    enabled: true\n");
    let config = dir.path().join("config.yml");
    std::fs::write(&config, &yaml).unwrap();
    let reg = TestRegistry::start_yaml(&yaml, Path::new("/")).await;
    Store {
        config,
        driver,
        reg,
        _dir: dir,
    }
}

impl Store {
    async fn has_blob(&self, d: &str) -> bool {
        let d: Digest = d.parse().unwrap();
        self.driver.stat(&paths::blob_data(&d)).await.is_ok()
    }

    fn labreg(&self, args: &[&str]) -> (i32, String, String) {
        let mut all: Vec<&str> = args.to_vec();
        all.push(self.config.to_str().unwrap());
        run_labreg(&all, &[])
    }
}

async fn gc_deletes_exactly_the_unreferenced(s: Store) {
    let url = s.reg.url.clone();
    let (tagged, tagged_blobs) = push_image(&url, "gc/app", "v1", &[&pattern(20_000, 1)]).await;
    let (old, old_blobs) = push_image(&url, "gc/other", "v2", &[&pattern(30_000, 2)]).await;
    // v2 moves on: the old manifest is untagged but still stored.
    let (newer, newer_blobs) = push_image(&url, "gc/other", "v2", &[&pattern(40_000, 3)]).await;
    let orphan = push_blob(&url, "gc/app", &pattern(50_000, 4)).await;

    let (code, out, err) = s.labreg(&["garbage-collect"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("0 manifests and 0 blobs deleted"),
        "within the default 1h grace nothing goes: {out}"
    );
    let (code, out, _) = s.labreg(&["garbage-collect", "--dry-run", "--grace", "0s"]);
    assert_eq!(code, 0);
    assert!(
        out.contains(&format!("would delete blob {orphan}")),
        "{out}"
    );
    assert!(s.has_blob(&orphan).await, "a dry run deletes nothing");

    let (code, out, err) = s.labreg(&["garbage-collect", "--grace", "0s", "--output", "json"]);
    assert_eq!(code, 0, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        report["blobs_deleted"],
        serde_json::json!([orphan]),
        "{out}"
    );
    assert!(!s.has_blob(&orphan).await);
    for d in tagged_blobs.iter().chain(&old_blobs).chain(&newer_blobs) {
        assert!(s.has_blob(d).await, "{d} is referenced and stays");
    }
    assert_eq!(
        pull_image(&url, "gc/other", &old).await.unwrap(),
        old,
        "untagged still pulls by digest"
    );

    let (code, out, err) = s.labreg(&[
        "garbage-collect",
        "--grace",
        "0s",
        "--delete-untagged",
        "--output",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        report["manifests_deleted"],
        serde_json::json!([format!("gc/other@{old}")]),
        "{out}"
    );
    let mut gone: Vec<String> = report["blobs_deleted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    gone.sort();
    let mut want = old_blobs.clone();
    want.push(old.clone());
    want.sort();
    assert_eq!(gone, want, "the untagged manifest and its own blobs");
    assert!(pull_image(&url, "gc/other", &old).await.is_err());
    assert_eq!(pull_image(&url, "gc/app", "v1").await.unwrap(), tagged);
    assert_eq!(pull_image(&url, "gc/other", "v2").await.unwrap(), newer);
    let (code, out, _) = s.labreg(&["check"]);
    assert_eq!(code, 0, "sound after GC: {out}");
    s.reg.stop().await;
}

async fn check_finds_damage(s: Store) {
    let url = s.reg.url.clone();
    let (_, blobs) = push_image(
        &url,
        "ck/app",
        "v1",
        &[&pattern(20_000, 5), &pattern(1000, 6)],
    )
    .await;
    let (code, out, _) = s.labreg(&["check"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("sound"), "{out}");
    let corrupt: Digest = blobs[1].parse().unwrap();
    s.driver
        .put_content(&paths::blob_data(&corrupt), Bytes::from_static(b"bit rot"))
        .await
        .unwrap();
    let missing: Digest = blobs[2].parse().unwrap();
    let data = paths::blob_data(&missing);
    s.driver
        .delete(data.trim_end_matches("/data"))
        .await
        .unwrap();
    let (code, out, _) = s.labreg(&["check"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("corrupt-blob: {}", paths::blob_data(&corrupt))),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "dangling-layer-link: {}",
            paths::layer_link("ck/app", &missing)
        )),
        "{out}"
    );
    assert!(out.contains("missing-reference"), "{out}");
    let (code, out, _) = s.labreg(&["check", "--output", "json"]);
    assert_eq!(code, 1);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["problems"].as_array().unwrap().len(), 3, "{out}");
    s.reg.stop().await;
}

/// One test on the filesystem and one on S3 for a check written once.
macro_rules! on_fs_and_s3 {
    ($check:ident: $fs:ident, $s3:ident) => {
        #[tokio::test(flavor = "multi_thread")]
        async fn $fs() {
            $check(fs_store().await).await;
        }

        #[tokio::test(flavor = "multi_thread")]
        async fn $s3() {
            $check(s3_store().await).await;
        }
    };
}

on_fs_and_s3!(gc_deletes_exactly_the_unreferenced: gc_on_the_filesystem, gc_on_s3);
on_fs_and_s3!(check_finds_damage: check_on_the_filesystem, check_on_s3);

/// Sets a file's modified time `ago` in the past.
fn age(root: &Path, driver_path: &str, ago: std::time::Duration) {
    let file = std::fs::File::options()
        .write(true)
        .open(root.join(&driver_path[1..]))
        .unwrap();
    file.set_modified(std::time::SystemTime::now() - ago)
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn gc_keeps_old_blobs_that_were_linked_within_the_grace() {
    // The race with a push: a blob that sat unreferenced for long is linked
    // again (a mount, or an upload of the same bytes) just before or while
    // GC runs. Its data is old, its new link is young: it stays.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    let storage = format!("  filesystem:\n    rootdirectory: {}\n", root.display());
    let s = store(dir, &storage, Arc::new(FilesystemDriver::new(&root))).await;
    let url = s.reg.url.clone();
    let stale = push_blob(&url, "gc/x", &pattern(1000, 8)).await;
    let relinked = push_blob(&url, "gc/x", &pattern(1000, 9)).await;
    let two_hours = std::time::Duration::from_secs(7200);
    for d in [&stale, &relinked] {
        let d: Digest = d.parse().unwrap();
        age(&root, &paths::blob_data(&d), two_hours);
        age(&root, &paths::layer_link("gc/x", &d), two_hours);
    }
    let resp = common::send(common::client().post(format!(
        "{url}/v2/gc/y/blobs/uploads/?mount={relinked}&from=gc/x"
    )))
    .await;
    assert_eq!(resp.status(), 201, "mounted");
    let (code, out, err) = s.labreg(&["garbage-collect", "--output", "json"]);
    assert_eq!(code, 0, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["blobs_deleted"], serde_json::json!([stale]), "{out}");
    assert!(s.has_blob(&relinked).await);
    assert!(!s.has_blob(&stale).await);
    s.reg.stop().await;
}
