//! labreg on a real S3 server (Garage on loopback): real clients push and
//! pull, blob GETs redirect to presigned URLs (or not), replicas share one
//! bucket, and bad S3 settings stop the start with the cause named.

mod common;

use std::path::Path;

use common::images::{get_blob, pull_image, push_blob, push_image};
use common::oci::{hex_noise, make_layout, make_layout_with_file};
use common::s3::{fresh_root, s3};
use common::suite::pattern;
use common::tools::{skopeo_copy_to_layout, skopeo_push_layout};
use common::{TestRegistry, assert_error, client, digest};
use reqwest::StatusCode;

/// skopeo pushes the OCI layout `work/src` (tag v1) to `dest` over plain
/// HTTP and copies it back into `work/back`: the digest it copied back.
async fn skopeo_there_and_back(work: &Path, dest: &str) -> String {
    let src = work.join("src");
    skopeo_push_layout(&["--dest-tls-verify=false"], &src, "v1", dest).await;
    let flags = ["--src-tls-verify=false"];
    skopeo_copy_to_layout(&flags, dest, &work.join("back"), "v1").await
}

#[tokio::test(flavor = "multi_thread")]
async fn skopeo_push_and_pull_on_s3() {
    let reg = TestRegistry::start_s3(&fresh_root(), "").await;
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    let pushed = make_layout(&src, "v1", &[("linux", "amd64")], "hello from S3");
    let dest = format!("docker://{}/demo/app:v1", reg.host());
    // skopeo follows the redirect of every blob GET to the presigned URL.
    assert_eq!(skopeo_there_and_back(work.path(), &dest).await, pushed);
    reg.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn redirects_on_send_clients_to_a_presigned_url() {
    let reg = TestRegistry::start_s3(&fresh_root(), "").await;
    let data = pattern(300_000, 7);
    let d = push_blob(&reg.url, "r/app", &data).await;
    let resp = common::send(client().get(format!("{}/v2/r/app/blobs/{d}", reg.url))).await;
    assert_eq!(resp.status(), StatusCode::TEMPORARY_REDIRECT);
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with(&s3().endpoint), "{location}");
    assert!(
        location.contains("X-Amz-Signature="),
        "presigned: {location}"
    );
    // reqwest's default policy follows it and gets the bytes.
    assert_eq!(get_blob(&reg.url, "r/app", &d).await.unwrap(), data);
    let head = common::send(client().head(format!("{}/v2/r/app/blobs/{d}", reg.url))).await;
    assert_eq!(head.status(), StatusCode::OK, "HEAD answers itself");
    assert_eq!(
        head.headers()["content-length"],
        data.len().to_string().as_str()
    );
    reg.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn redirects_off_serve_every_byte_through_labreg() {
    let extra = "  redirect:\n    disable: true\n";
    let reg = TestRegistry::start_s3(&fresh_root(), extra).await;
    let (md, blobs) = push_image(&reg.url, "r/off", "v1", &[&pattern(70_000, 1)]).await;
    for d in &blobs {
        let resp = common::send(client().get(format!("{}/v2/r/off/blobs/{d}", reg.url))).await;
        assert_eq!(resp.status(), StatusCode::OK, "no redirect for {d}");
        assert_eq!(digest(&resp.bytes().await.unwrap()), *d);
    }
    let ranged = common::send(
        client()
            .get(format!("{}/v2/r/off/blobs/{}", reg.url, blobs[1]))
            .header("range", "bytes=10-19"),
    )
    .await;
    assert_eq!(ranged.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        &ranged.bytes().await.unwrap()[..],
        &pattern(70_000, 1)[10..20]
    );
    assert_eq!(pull_image(&reg.url, "r/off", "v1").await.unwrap(), md);
    reg.stop().await;
}

/// The path and query of an upload Location, to send to another replica.
fn upload_path(resp: &reqwest::Response) -> String {
    let loc = resp.headers()["location"].to_str().unwrap();
    match loc.find("/v2/") {
        Some(i) => loc[i..].to_string(),
        None => panic!("upload location {loc}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_on_one_bucket_act_as_one_registry() {
    let root = fresh_root();
    let secret = "http:\n  secret: shared-between-replicas\n";
    let a = TestRegistry::start_s3(&root, secret).await;
    let b = TestRegistry::start_s3(&root, secret).await;
    let layer = pattern((7 << 20) + 1234, 3);
    let d = digest(&layer);
    let c = client();
    let resp = common::send(c.post(format!("{}/v2/rep/app/blobs/uploads/", a.url))).await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let mut path = upload_path(&resp);
    // Chunks alternate between the replicas: 6 MiB (a full S3 part), then
    // small ones, and the last chunk rides on the PUT.
    let cuts = [0, 6 << 20, (6 << 20) + 1000, (7 << 20), layer.len()];
    let hosts = [&b, &a, &b, &a];
    for (i, w) in cuts.windows(2).enumerate() {
        let (start, end) = (w[0], w[1]);
        let host = hosts[i];
        let last = end == layer.len();
        let url = if last {
            let sep = if path.contains('?') { '&' } else { '?' };
            format!("{}{path}{sep}digest={d}", host.url)
        } else {
            format!("{}{path}", host.url)
        };
        let req = if last { c.put(url) } else { c.patch(url) };
        let resp = req
            .header("content-range", format!("{start}-{}", end - 1))
            .header("content-length", (end - start).to_string())
            .body(layer[start..end].to_vec())
            .send()
            .await
            .unwrap();
        let want = if last {
            StatusCode::CREATED
        } else {
            StatusCode::ACCEPTED
        };
        assert_eq!(
            resp.status(),
            want,
            "chunk {i} on replica {}",
            if i % 2 == 0 { "b" } else { "a" }
        );
        if !last {
            assert_eq!(resp.headers()["range"], format!("0-{}", end - 1).as_str());
            path = upload_path(&resp);
        }
    }
    let config = br#"{"architecture":"amd64","os":"linux"}"#;
    let cd = push_blob(&b.url, "rep/app", config).await;
    let m = common::images::manifest((&cd, config.len()), &[(&d, layer.len())]);
    let md = common::images::put_manifest(&b.url, "rep/app", "v1", &m).await;
    for r in [&a, &b] {
        assert_eq!(
            pull_image(&r.url, "rep/app", "v1").await.unwrap(),
            md,
            "pull from {}",
            r.url
        );
    }
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn replicas_with_different_secrets_fail_loudly() {
    let root = fresh_root();
    let a = TestRegistry::start_s3(&root, "http:\n  secret: one\n").await;
    let b = TestRegistry::start_s3(&root, "http:\n  secret: two\n").await;
    let c = client();
    let resp = common::send(c.post(format!("{}/v2/sec/app/blobs/uploads/", a.url))).await;
    let path = upload_path(&resp);
    assert!(path.contains("_state="), "{path}");
    let resp = common::send(c.patch(format!("{}{path}", b.url)).body(vec![1u8; 10])).await;
    assert_error(resp, 400, "BLOB_UPLOAD_INVALID", "http.secret").await;
    // The replica that started it continues it.
    let resp = common::send(c.patch(format!("{}{path}", a.url)).body(vec![1u8; 10])).await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    a.stop().await;
    b.stop().await;
}

/// labreg's own count of its S3 requests (`labreg_storage_s3_requests_total`,
/// all operations), and each operation's line.
async fn s3_requests(metrics: &str) -> (u64, String) {
    let text = reqwest::get(metrics).await.unwrap().text().await.unwrap();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("labreg_storage_s3_requests_total{"))
        .collect();
    assert_eq!(lines.len(), 7, "one line per operation:\n{text}");
    let total = lines
        .iter()
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    (total, lines.join("\n"))
}

/// labreg in a process of its own on a fresh `root` of the bucket,
/// redirects off, with its Prometheus metrics on: the process, its URL and
/// its metrics' URL.
async fn counted_labreg(
    dir: &std::path::Path,
    root: &str,
) -> (common::process::Process, String, String) {
    let debug = common::process::free_port();
    let config = dir.join("config.yml");
    let s3_yaml = s3().yaml(root);
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nstorage:\n{s3_yaml}  redirect:\n    disable: true\nhttp:\n  debug:\n    addr: 127.0.0.1:{debug}\n    prometheus:\n      enabled: true\n"
        ),
    )
    .unwrap();
    let labreg = common::process::Process::serve(Some(&config), &[], dir).await;
    let url = format!("http://{}", labreg.host);
    // The usage index reads the store once at start, in the background;
    // its report waits for that, so that those reads are not counted as
    // the test's (a LIST once was, on a loaded machine).
    let usage = reqwest::get(format!("{url}/labreg/v1/usage"))
        .await
        .unwrap();
    assert_eq!(usage.status(), StatusCode::OK, "the usage index is built");
    (labreg, url, format!("http://127.0.0.1:{debug}/metrics"))
}

/// The GETs among labreg's S3 requests so far.
async fn s3_gets(metrics: &str) -> u64 {
    let (_, lines) = s3_requests(metrics).await;
    let get = lines
        .lines()
        .find(|l| l.contains("operation=\"GET\""))
        .unwrap_or_else(|| panic!("no GET line:\n{lines}"));
    get.rsplit(' ').next().unwrap().parse().unwrap()
}

/// A blob served through labreg (redirects off) is downloaded from the
/// bucket in ranges of 16 MiB, four requested at once: 40 MiB is three
/// GETs, and comes back whole, a range across the first edge too; a blob
/// under 16 MiB is one GET. skopeo pulls through it too.
#[tokio::test(flavor = "multi_thread")]
async fn big_blobs_download_in_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let (labreg, url, metrics) = counted_labreg(dir.path(), &fresh_root()).await;
    let big = pattern(40 << 20, 3);
    let small = pattern(3 << 20, 4);
    let (db, ds) = (
        push_blob(&url, "r/big", &big).await,
        push_blob(&url, "r/big", &small).await,
    );
    for (d, data, gets) in [(&db, &big, 3), (&ds, &small, 1)] {
        let before = s3_gets(&metrics).await;
        assert_eq!(&get_blob(&url, "r/big", d).await.unwrap(), data);
        assert_eq!(
            s3_gets(&metrics).await - before,
            gets,
            "GETs for {} bytes",
            data.len()
        );
    }
    let edge = 16 << 20;
    let across = common::send(
        client()
            .get(format!("{url}/v2/r/big/blobs/{db}"))
            .header("range", format!("bytes={}-{}", edge - 5, edge + 4)),
    )
    .await;
    assert_eq!(across.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(&across.bytes().await.unwrap()[..], &big[edge - 5..edge + 5]);
    // skopeo pulls an image whose layer spans two ranges back, digest for
    // digest.
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    let pushed = make_layout_with_file(&src, "v1", &hex_noise(40 << 20));
    let dest = format!("docker://{}/r/skopeo:v1", url.trim_start_matches("http://"));
    assert_eq!(skopeo_there_and_back(work.path(), &dest).await, pushed);
    assert!(labreg.terminate().await.success());
}

/// A small blob is verified in memory and written as one object: a push
/// costs a handful of S3 requests, not the upload file's twenty (what
/// every config blob and small layer paid). Counted by labreg itself, in
/// a process of its own. (registry:2 serving such blobs from the same
/// bucket: `docker_registry_and_labreg_share_a_bucket`, s3_failures.rs.)
#[tokio::test(flavor = "multi_thread")]
async fn small_blobs_take_few_s3_requests() {
    let dir = tempfile::tempdir().unwrap();
    let root = fresh_root();
    let (labreg, url, metrics) = counted_labreg(dir.path(), &root).await;
    let (start, _) = s3_requests(&metrics).await;

    // POST with ?digest= and the bytes.
    let single = pattern(64 << 10, 3);
    let d1 = push_blob(&url, "few/req", &single).await;
    let (after_single, lines) = s3_requests(&metrics).await;
    // The blob's PUT and the link's (through an upload file, as before:
    // 19 requests).
    assert!(
        after_single - start <= 2,
        "{}:\n{lines}",
        after_single - start
    );

    // POST, then PUT with the bytes: the upload's two files written by
    // the POST, its size (HEAD, LIST), the blob and the link, the upload's
    // folder listed and its two files removed (19 before).
    let two = pattern(100 << 10, 4);
    let d2 = digest(&two);
    common::images::oci(&client(), &url)
        .put_blob("few/req", &d2, bytes::Bytes::from(two.clone()))
        .await
        .unwrap();
    let (after_two, lines) = s3_requests(&metrics).await;
    assert!(
        after_two - after_single <= 9,
        "{}:\n{lines}",
        after_two - after_single
    );

    // Bigger blobs pushed whole are written at the blob's own key and
    // completed only once their digest matched: one PUT under the 5 MiB
    // chunksize, a multipart upload above it (create, 3 parts, complete),
    // after the key's HEAD and LIST, and the link (through an upload file:
    // 17 and 21).
    let mut blobs = vec![("few/req", d1, single), ("few/req", d2, two)];
    for (len, seed, most) in [(1 << 20, 5, 4), (12 << 20, 6, 8)] {
        let data = pattern(len, seed);
        let before = s3_requests(&metrics).await.0;
        let d = push_blob(&url, "few/big", &data).await;
        let (after, lines) = s3_requests(&metrics).await;
        assert!(
            after - before <= most,
            "{len} bytes: {}:\n{lines}",
            after - before
        );
        blobs.push(("few/big", d, data));
    }
    // A wrong digest: the multipart upload to that digest's key is
    // aborted, nothing is stored there.
    let claimed = digest(b"other bytes");
    let refused = common::send(
        client()
            .post(format!("{url}/v2/few/big/blobs/uploads/?digest={claimed}"))
            .body(pattern(12 << 20, 7)),
    )
    .await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert!(refused.text().await.unwrap().contains("DIGEST_INVALID"));
    let hex = &claimed["sha256:".len()..];
    let key = format!("/docker/registry/v2/blobs/sha256/{}/{hex}/data", &hex[..2]);
    let stored = s3().driver(&root).stat(&key).await;
    assert!(
        stored.unwrap_err().is_not_found(),
        "nothing stored at {key}"
    );

    for (repo, d, data) in &blobs {
        assert_eq!(&get_blob(&url, repo, d).await.unwrap(), data, "{d}");
    }
    assert!(labreg.terminate().await.success());
}

/// containerd pushes the way it does, a POST and then one PUT with the
/// bytes (its access log lines: POST 202, PUT 201, per blob), so on S3
/// each blob is written at its own key (the 1.8 MB layer in place, the
/// config from memory), and what it pushed comes back digest for digest.
/// The image reaches containerd from another labreg, where skopeo put it.
#[tokio::test(flavor = "multi_thread")]
async fn containerd_pushes_to_s3() {
    use labctl_testkit::cli::containerd::Containerd;
    use labctl_testkit::cli::run_ok;
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    // The gzipped layer stays over 1 MiB.
    let pushed = make_layout_with_file(&src, "v1", &hex_noise(3 << 20));
    let from = TestRegistry::start("").await;
    let from_ref = format!("{}/from/app:v1", from.host());
    skopeo_push_layout(
        &["--dest-tls-verify=false"],
        &src,
        "v1",
        &format!("docker://{from_ref}"),
    )
    .await;
    let to = TestRegistry::start_s3(&fresh_root(), "").await;
    let to_ref = format!("{}/to/app:v1", to.host());
    let ctd = Containerd::start();
    let ctr = |args: &[&str]| run_ok(ctd.ctr().args(args));
    ctr(&[
        "images",
        "pull",
        "--plain-http",
        "--snapshotter",
        "native",
        &from_ref,
    ]);
    ctr(&["images", "tag", &from_ref, &to_ref]);
    ctr(&["images", "push", "--plain-http", &to_ref]);
    let back = work.path().join("back");
    assert_eq!(
        skopeo_copy_to_layout(
            &["--src-tls-verify=false"],
            &format!("docker://{to_ref}"),
            &back,
            "v1"
        )
        .await,
        pushed,
        "copied back with the identical digest"
    );
}
