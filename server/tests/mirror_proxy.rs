//! registry:2's pull-through cache config moved to labreg: the same
//! `config.yml` with `proxy:`, and the same as `REGISTRY_PROXY_*` variables,
//! give the same results on the labreg binary as on Debian's docker-registry
//! (distribution 2.8), side by side against one upstream.

mod common;

use std::path::Path;

use common::TestRegistry;
use common::oci::{AMD64_AND_ARM64, layout_digest, make_layout};
use common::process::Process;
use common::tools::{Distribution, run, skopeo_copy_with, try_run};

async fn pull(host: &str, reference: &str, out: &Path) -> String {
    let dest = format!("oci:{}:t", out.display());
    let src = format!("docker://{host}/{reference}");
    run(
        "skopeo",
        &["copy", "--all", "--src-tls-verify=false", &src, &dest],
    )
    .await;
    layout_digest(out, "t")
}

#[tokio::test(flavor = "multi_thread")]
async fn proxy_config_and_variables_work_as_on_registry2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let upstream = TestRegistry::start("").await;
    let pushed = make_layout(&d.join("img"), "1", AMD64_AND_ARM64, "busybox");
    let img = format!("oci:{}:1", d.join("img").display());
    skopeo_copy_with(
        &["--all", "--dest-tls-verify=false"],
        &img,
        &format!("docker://{}/library/busybox:1", upstream.host()),
    )
    .await;

    // The pull-through config.yml of distribution's docs, for both.
    let proxy = format!(
        "proxy:\n  remoteurl: {}\n  username: puller\n  password: proxy-secret-pw\n  ttl: 168h\n",
        upstream.url
    );
    let distribution = Distribution::start_with(
        &format!(
            "  filesystem: {{rootdirectory: {}}}\n",
            d.join("dist").display()
        ),
        "",
        &proxy,
    )
    .await;
    let config = d.join("config.yml");
    std::fs::write(
        &config,
        format!("version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: :5000\n{proxy}", d.join("file").display()),
    )
    .unwrap();
    let from_file = Process::serve(Some(&config), &[], d).await;
    // The same as the variables of `docker run -e REGISTRY_PROXY_REMOTEURL=...`.
    let from_env = Process::serve(
        None,
        &[
            ("REGISTRY_PROXY_REMOTEURL", upstream.url.clone()),
            ("REGISTRY_PROXY_USERNAME", "puller".into()),
            ("REGISTRY_PROXY_PASSWORD", "proxy-secret-pw".into()),
            (
                "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY",
                d.join("env").display().to_string(),
            ),
        ],
        d,
    )
    .await;

    for (i, host) in [&distribution.host, &from_file.host, &from_env.host]
        .into_iter()
        .enumerate()
    {
        let by_tag = pull(host, "library/busybox:1", &d.join(format!("tag{i}"))).await;
        assert_eq!(by_tag, pushed, "{host}");
        let by_digest = pull(
            host,
            &format!("library/busybox@{pushed}"),
            &d.join(format!("dig{i}")),
        )
        .await;
        assert_eq!(by_digest, pushed, "{host}");
        // Unknown upstream: both fail; pushes: both refuse.
        let missing = format!("docker://{host}/library/nothing:1");
        let out = format!("oci:{}:t", d.join(format!("miss{i}")).display());
        assert!(
            try_run(
                "skopeo",
                &["copy", "--src-tls-verify=false", &missing, &out]
            )
            .await
            .is_err()
        );
        let dest = format!("docker://{host}/library/busybox:pushed");
        let err = try_run("skopeo", &["copy", "--dest-tls-verify=false", &img, &dest])
            .await
            .unwrap_err();
        assert!(
            err.contains("denied") || err.contains("unsupported"),
            "{host}: {err}"
        );
    }
    for p in [from_file, from_env] {
        let log = p.log();
        assert!(log.contains("mirroring every repository"), "{log}");
        assert!(!log.contains("proxy-secret-pw"), "{log}");
        p.terminate().await;
    }
    distribution.stop().await;
    upstream.stop().await;
}
