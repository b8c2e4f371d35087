//! Real clients against labreg: skopeo pushes, lists, inspects, copies back
//! and deletes; Debian's docker-registry (distribution 2.8) shares labreg's
//! storage folder and each serves what the other stored.

mod common;

use common::TestRegistry;
use common::oci::{
    AMD64_AND_ARM64, hex_noise, make_layout, make_layout_with_file, platform_digest,
};
use common::tools::{Distribution, run, skopeo_copy_to_layout, skopeo_push_layout, try_run};
use serde_json::Value;

const NO_TLS: &str = "--tls-verify=false";

#[tokio::test(flavor = "multi_thread")]
async fn skopeo_push_list_inspect_pull_delete() {
    let reg = TestRegistry::start("  delete:\n    enabled: true\n").await;
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    let pushed = make_layout(&src, "v1", &[("linux", "amd64")], "hello from skopeo");
    let dest = format!("docker://{}/demo/app:v1", reg.host());
    skopeo_push_layout(&["--dest-tls-verify=false"], &src, "v1", &dest).await;

    let tags: Value = serde_json::from_str(
        &run(
            "skopeo",
            &[
                "list-tags",
                NO_TLS,
                &format!("docker://{}/demo/app", reg.host()),
            ],
        )
        .await,
    )
    .unwrap();
    assert_eq!(tags["Tags"], serde_json::json!(["v1"]));
    let info: Value =
        serde_json::from_str(&run("skopeo", &["inspect", NO_TLS, &dest]).await).unwrap();
    assert_eq!(info["Digest"], pushed.as_str());
    assert_eq!(info["Architecture"], "amd64");

    let back = work.path().join("back");
    let flags = ["--src-tls-verify=false"];
    assert_eq!(
        skopeo_copy_to_layout(&flags, &dest, &back, "v1").await,
        pushed,
        "copied back with the identical digest"
    );

    run("skopeo", &["delete", NO_TLS, &dest]).await;
    let err = try_run("skopeo", &["inspect", NO_TLS, &dest])
        .await
        .expect_err("deleted image is gone");
    assert!(
        err.contains("manifest unknown") || err.contains("not found"),
        "{err}"
    );
}

/// A layer of about 20 MiB, gzip'd by the system's gzip from text that
/// does not compress much, crosses the filesystem writer's 8 MiB writeback
/// windows: skopeo pushes it and copies it back with identical digests
/// (skopeo checks every blob's digest as it copies).
#[tokio::test(flavor = "multi_thread")]
async fn skopeo_pushes_and_pulls_a_layer_across_writeback_windows() {
    let reg = TestRegistry::start("").await;
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    let pushed = make_layout_with_file(&src, "big", &hex_noise(40 << 20));
    let layer_bytes: u64 = std::fs::read_dir(src.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .max()
        .unwrap();
    assert!(layer_bytes > 16 << 20, "layer of {layer_bytes} bytes");
    let dest = format!("docker://{}/big/app:v1", reg.host());
    skopeo_push_layout(&["--dest-tls-verify=false"], &src, "big", &dest).await;
    let back = work.path().join("back");
    assert_eq!(
        skopeo_copy_to_layout(&["--src-tls-verify=false"], &dest, &back, "v1").await,
        pushed,
        "copied back with the identical digest"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn skopeo_multi_arch_index() {
    let reg = TestRegistry::start("").await;
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    let pushed = make_layout(&src, "multi", AMD64_AND_ARM64, "multi");
    let dest = format!("docker://{}/demo/multi:v1", reg.host());
    skopeo_push_layout(&["--all", "--dest-tls-verify=false"], &src, "multi", &dest).await;
    let raw: Value =
        serde_json::from_str(&run("skopeo", &["inspect", "--raw", NO_TLS, &dest]).await).unwrap();
    assert_eq!(raw["manifests"].as_array().unwrap().len(), 2);
    let back = work.path().join("back");
    let flags = ["--all", "--src-tls-verify=false"];
    assert_eq!(
        skopeo_copy_to_layout(&flags, &dest, &back, "v1").await,
        pushed
    );
    // A single-platform pull picks the arm64 image out of the index.
    let arm = work.path().join("arm");
    let flags = ["--override-arch=arm64", "--src-tls-verify=false"];
    assert_eq!(
        skopeo_copy_to_layout(&flags, &dest, &arm, "v1").await,
        platform_digest(&raw, "arm64")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn distribution_and_labreg_share_one_storage_folder() {
    let storage = tempfile::tempdir().unwrap();
    let labreg = TestRegistry::start_on(storage.path(), "").await;
    let dist = Distribution::start(storage.path()).await;
    let work = tempfile::tempdir().unwrap();

    // Pushed through labreg, pulled through registry:2.
    let a = work.path().join("a");
    let a_digest = make_layout(&a, "v1", &[("linux", "amd64")], "via labreg");
    skopeo_push_layout(
        &["--dest-tls-verify=false"],
        &a,
        "v1",
        &format!("docker://{}/interop/a:v1", labreg.host()),
    )
    .await;
    let a_back = work.path().join("a-back");
    let src = format!("docker://{}/interop/a:v1", dist.host);
    let flags = ["--src-tls-verify=false"];
    assert_eq!(
        skopeo_copy_to_layout(&flags, &src, &a_back, "v1").await,
        a_digest
    );

    // Pushed through registry:2 (an index too), pulled through labreg.
    let b = work.path().join("b");
    let b_digest = make_layout(&b, "v1", AMD64_AND_ARM64, "via distribution");
    skopeo_push_layout(
        &["--all", "--dest-tls-verify=false"],
        &b,
        "v1",
        &format!("docker://{}/interop/b:v1", dist.host),
    )
    .await;
    let b_back = work.path().join("b-back");
    let src = format!("docker://{}/interop/b:v1", labreg.host());
    let flags = ["--all", "--src-tls-verify=false"];
    assert_eq!(
        skopeo_copy_to_layout(&flags, &src, &b_back, "v1").await,
        b_digest
    );

    // Both list the same catalog.
    let cat = |host: String| async move {
        reqwest::get(format!("http://{host}/v2/_catalog"))
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()["repositories"]
            .clone()
    };
    assert_eq!(
        cat(labreg.host()).await,
        serde_json::json!(["interop/a", "interop/b"])
    );
    assert_eq!(cat(dist.host.clone()).await, cat(labreg.host()).await);
    dist.stop().await;
}

/// podman and buildah as clients, each with its own storage in a temp dir.
#[tokio::test(flavor = "multi_thread")]
async fn buildah_builds_and_pushes_podman_pulls_and_pushes() {
    let reg = TestRegistry::start("").await;
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("root");
    let runroot = work.path().join("run");
    let (root, runroot) = (root.to_str().unwrap(), runroot.to_str().unwrap());
    let iso = [
        "--root",
        root,
        "--runroot",
        runroot,
        "--storage-driver",
        "vfs",
    ];
    let with =
        |args: &[&str]| -> Vec<String> { iso.iter().chain(args).map(|s| s.to_string()).collect() };
    let call = |prog: &'static str, args: Vec<String>| async move {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        run(prog, &refs).await
    };
    let file = work.path().join("hello.txt");
    std::fs::write(&file, "built by buildah\n").unwrap();

    let ctr = call("buildah", with(&["from", "scratch"]))
        .await
        .trim()
        .to_string();
    call(
        "buildah",
        with(&["copy", &ctr, file.to_str().unwrap(), "/hello.txt"]),
    )
    .await;
    call(
        "buildah",
        with(&["commit", "--format", "oci", &ctr, "localhost/built:v1"]),
    )
    .await;
    let built = format!("{}/buildah/built:v1", reg.host());
    call(
        "buildah",
        with(&[
            "push",
            "--tls-verify=false",
            "localhost/built:v1",
            &format!("docker://{built}"),
        ]),
    )
    .await;

    call("podman", with(&["pull", "--tls-verify=false", &built])).await;
    let retagged = format!("{}/podman/copy:v2", reg.host());
    call("podman", with(&["tag", &built, &retagged])).await;
    call("podman", with(&["push", "--tls-verify=false", &retagged])).await;

    let tags: Value = reqwest::get(format!("http://{}/v2/podman/copy/tags/list", reg.host()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tags["tags"], serde_json::json!(["v2"]));
    // The same image under both names: the same config digest.
    let config = |name: &'static str, tag: &'static str| {
        let host = reg.host();
        async move {
            let raw = run(
                "skopeo",
                &[
                    "inspect",
                    "--raw",
                    NO_TLS,
                    &format!("docker://{host}/{name}:{tag}"),
                ],
            )
            .await;
            serde_json::from_str::<Value>(&raw).unwrap()["config"]["digest"].clone()
        }
    };
    assert_eq!(
        config("buildah/built", "v1").await,
        config("podman/copy", "v2").await
    );
}
