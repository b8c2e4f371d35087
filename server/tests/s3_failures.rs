//! S3 gone wrong: wrong credentials, a missing bucket, an endpoint nobody
//! answers. labreg refuses to start (or, when S3 fails later, answers 503)
//! with the cause named, and loses nothing already stored. Also: registry:2
//! (Debian's docker-registry) and labreg on the same bucket.

mod common;

use common::images::{pull_image, push_image};
use common::oci::{layout_digest, make_layout};
use common::process::{free_port, run_labreg};
use common::s3::{fresh_root, s3};
use common::suite::pattern;
use common::tools::{Distribution, skopeo_copy};
use common::{TestRegistry, assert_error, client};

fn config_with(
    dir: &std::path::Path,
    root: &str,
    edit: impl Fn(String) -> String,
) -> std::path::PathBuf {
    let yaml = edit(format!("version: 0.1\nstorage:\n{}", s3().yaml(root)));
    let path = dir.join(format!("config-{}.yml", rand::random::<u32>()));
    std::fs::write(&path, yaml).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_s3_settings_stop_the_start_with_the_cause_named() {
    let root = fresh_root();
    let reg = TestRegistry::start_s3(&root, "").await;
    let (md, _) = push_image(&reg.url, "keep/app", "v1", &[&pattern(10_000, 1)]).await;
    reg.stop().await;

    let dir = tempfile::tempdir().unwrap();
    let env = s3().clone();
    let dead = format!("http://127.0.0.1:{}", free_port());
    let cases: Vec<(std::path::PathBuf, &str)> = vec![
        (
            config_with(dir.path(), &root, |y| {
                y.replace(&env.secret_key, &"0".repeat(64))
            }),
            "refused the credentials",
        ),
        (
            config_with(dir.path(), &root, |y| {
                y.replace(&format!("bucket: {}", env.bucket), "bucket: no-such-bucket")
            }),
            "\"no-such-bucket\" does not exist",
        ),
        (
            config_with(dir.path(), &root, |y| y.replace(&env.endpoint, &dead)),
            "cannot reach the S3 endpoint",
        ),
    ];
    for (config, want) in cases {
        let addr = format!("127.0.0.1:{}", free_port());
        let (code, _, err) = run_labreg(
            &["serve", config.to_str().unwrap()],
            &[("REGISTRY_HTTP_ADDR", &addr)],
        );
        assert_eq!(code, 1, "{want}: {err}");
        assert!(err.contains(want), "expected {want:?} in: {err}");
        assert!(
            !err.contains(&env.secret_key),
            "the secret key is never printed"
        );
    }
    // What was stored is still there.
    let reg = TestRegistry::start_s3(&root, "").await;
    assert_eq!(pull_image(&reg.url, "keep/app", "v1").await.unwrap(), md);
    reg.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_first_log_line_names_where_clients_are_redirected() {
    // Seed 003's trap: redirects to a host only some clients can reach. A
    // loopback endpoint stands in for the cluster-internal name here (no
    // DNS leaves this machine); both are flagged the same way.
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = config_with(dir.path(), &fresh_root(), |y| {
        y.replace(&s3().endpoint, &format!("http://localhost:{port}"))
    });
    let addr = format!("127.0.0.1:{}", free_port());
    let (code, _, err) = run_labreg(
        &["serve", config.to_str().unwrap()],
        &[("REGISTRY_HTTP_ADDR", &addr)],
    );
    assert_eq!(code, 1, "nothing listens there: {err}");
    let first = err.lines().next().unwrap_or_default();
    assert!(
        first.contains(&format!(
            "blob downloads redirect clients to http://localhost:{port}"
        )),
        "first line: {first}"
    );
    let second = err.lines().nth(1).unwrap_or_default();
    assert!(
        second.contains("WARN") && second.contains("loopback"),
        "{err}"
    );
    assert!(err.contains("no http.secret"), "{err}");
    // With redirects off, no warning about the redirect host.
    let config = config_with(dir.path(), &fresh_root(), |y| {
        format!(
            "{}  redirect:\n    disable: true\n",
            y.replace(&s3().endpoint, &format!("http://localhost:{port}"))
        )
    });
    let (_, _, err) = run_labreg(
        &["serve", config.to_str().unwrap()],
        &[("REGISTRY_HTTP_ADDR", &addr)],
    );
    assert!(
        err.lines()
            .next()
            .unwrap_or_default()
            .contains("served through labreg"),
        "{err}"
    );
    assert!(!err.contains("loopback"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_failing_while_serving_answers_503_naming_the_cause() {
    let dead = format!("http://127.0.0.1:{}", free_port());
    let yaml = format!(
        "version: 0.1\nstorage:\n{}",
        s3().yaml(&fresh_root()).replace(&s3().endpoint, &dead)
    );
    let reg = TestRegistry::start_yaml(&yaml, std::path::Path::new("/")).await;
    let resp = common::send(client().get(format!("{}/v2/any/app/tags/list", reg.url))).await;
    assert_error(resp, 503, "UNAVAILABLE", "cannot reach the S3 endpoint").await;
    reg.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn docker_registry_and_labreg_share_a_bucket() {
    let root = fresh_root();
    let env = s3();
    let storage = format!(
        "  s3:\n    accesskey: {}\n    secretkey: {}\n    region: {}\n    regionendpoint: {}\n    bucket: {}\n    secure: false\n    v4auth: true\n    rootdirectory: {root}\n",
        env.access_key, env.secret_key, env.region, env.endpoint, env.bucket
    );
    let dist = Distribution::start_storage(&storage).await;
    let reg = TestRegistry::start_s3(&root, "").await;
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    let pushed = make_layout(&src, "v1", &[("linux", "amd64")], "written by registry:2");
    skopeo_copy(
        &format!("oci:{}:v1", src.display()),
        &format!("docker://{}/inter/op:v1", dist.host),
    )
    .await;
    let back = work.path().join("back");
    skopeo_copy(
        &format!("docker://{}/inter/op:v1", reg.host()),
        &format!("oci:{}:v1", back.display()),
    )
    .await;
    assert_eq!(
        layout_digest(&back, "v1"),
        pushed,
        "labreg serves what registry:2 wrote"
    );
    let (md, _) = push_image(&reg.url, "inter/labreg", "v2", &[&pattern(6 << 20, 2)]).await;
    assert_eq!(
        pull_image(&format!("http://{}", dist.host), "inter/labreg", "v2")
            .await
            .unwrap(),
        md,
        "registry:2 serves what labreg wrote"
    );
    dist.stop().await;
    reg.stop().await;
}
