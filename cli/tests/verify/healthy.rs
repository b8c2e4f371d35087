//! Healthy registries pass, and what verify pushed is really there.

use crate::support::{BOTH, Ca, DistOptions, Distribution, Labreg, Reg, verify, verify_json};

#[tokio::test]
async fn labreg_passes_and_cleans_up() {
    let reg = Labreg::start("  delete: {enabled: true}\n").await;
    let url = format!("http://{}", reg.addr);
    let r = verify_json(&url, &[], None).await;
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let v = r.json();
    assert_eq!(v["passed"], true);
    // No auth on this labreg: the loud warning, and no login.
    assert_eq!(r.status("auth challenge"), "warn");
    assert_eq!(
        r.step("auth challenge")["diagnosis"]["kind"],
        "anonymous-push"
    );
    assert_eq!(r.status("login"), "skip");
    for s in [
        "resolve",
        "connect",
        "push layer",
        "push config",
        "push manifest",
        "catalog",
        "tags",
        "pull manifest",
        "pull blobs",
        "delete",
    ] {
        assert_eq!(r.status(s), "ok", "{s}: {}", r.stdout);
    }
    assert!(
        r.step("push layer")["detail"]
            .as_str()
            .unwrap()
            .contains("4.0 MiB in one PATCH")
    );
    assert!(reg.open_uploads().is_empty());
    // Deleted: the tag is gone.
    let tag = v["tag"].as_str().unwrap();
    let got = reqwest::get(format!("{url}/v2/labctl/verify/manifests/{tag}"))
        .await
        .unwrap();
    assert_eq!(got.status(), 404);
}

#[tokio::test]
async fn labreg_keep_is_seen_by_skopeo_and_text_output_reads_well() {
    let reg = Labreg::start("").await;
    let url = format!("http://{}", reg.addr);
    let r = verify(
        &[
            "verify",
            "push",
            "--registry",
            &url,
            "--keep",
            "--size",
            "300KiB",
        ],
        None,
    )
    .await;
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let tag = r
        .stdout
        .split("labctl/verify:")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    assert!(r.stdout.contains("  skip  delete"), "{}", r.stdout);
    assert!(r.stdout.contains("WARN  auth challenge"), "{}", r.stdout);
    assert!(
        r.stdout.contains("passed with 1 warning: 13 steps"),
        "{}",
        r.stdout
    );
    let info = skopeo_inspect(&format!("{}/labctl/verify:{tag}", reg.addr), &[]).await;
    let tags = info["RepoTags"].as_array().unwrap();
    assert!(tags.iter().any(|t| t == tag), "{info}");
    assert_eq!(info["Os"], "linux");
    assert_eq!(info["Layers"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn htpasswd_and_tls_pass_on_both_and_skopeo_inspects() {
    let ca = Ca::new("verify test CA");
    for which in BOTH {
        let reg = Reg::start(
            which,
            DistOptions {
                user: Some(("admin", "s3cret-pass")),
                tls: Some(ca.issue("127.0.0.1", &["127.0.0.1", "localhost"], -1, 30)),
                ..Default::default()
            },
        )
        .await;
        secure_push(&ca, reg.port()).await;
    }
}

async fn secure_push(ca: &Ca, port: u16) {
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.crt");
    std::fs::write(&ca_file, &ca.cert_pem).unwrap();
    let url = format!("https://127.0.0.1:{port}");
    let args = [
        "verify",
        "push",
        "--registry",
        &url,
        "--ca",
        ca_file.to_str().unwrap(),
        "--user",
        "admin",
        "--password-stdin",
        "--keep",
        "--output",
        "json",
    ];
    let r = verify(&args, Some("s3cret-pass\n")).await;
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.json()["warnings"], 0, "{}", r.stdout);
    assert!(
        r.step("tls")["detail"]
            .as_str()
            .unwrap()
            .contains("CN=verify test CA")
    );
    assert!(
        r.step("auth challenge")["detail"]
            .as_str()
            .unwrap()
            .contains("Basic realm=\"labctl-test\"")
    );
    assert!(!r.stdout.contains("s3cret-pass") && !r.stderr.contains("s3cret-pass"));
    let tag = r.json()["tag"].as_str().unwrap().to_string();
    let image = format!("127.0.0.1:{port}/labctl/verify:{tag}");
    let info = skopeo_inspect(&image, &["--creds", "admin:s3cret-pass"]).await;
    let pushed = r.step("push manifest")["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        pushed.ends_with(info["Digest"].as_str().unwrap()),
        "{pushed} vs {info}"
    );
}

#[tokio::test]
async fn distribution_without_delete_passes_with_a_warning() {
    let dist = Distribution::start(DistOptions {
        no_delete: true,
        ..Default::default()
    })
    .await;
    let url = format!("127.0.0.1:{}", dist.port);
    let r = verify_json(&url, &["--insecure"], None).await;
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let d = r.step("delete");
    assert_eq!(d["status"], "warn");
    assert_eq!(d["diagnosis"]["kind"], "delete-disabled");
    assert!(
        d["diagnosis"]["fix"]
            .as_str()
            .unwrap()
            .contains("storage.delete.enabled: true")
    );
    dist.stop().await;
}

/// `skopeo inspect --tls-verify=false [EXTRA] docker://IMAGE`, as JSON.
async fn skopeo_inspect(image: &str, extra: &[&str]) -> serde_json::Value {
    let out = tokio::process::Command::from(crate::common::tool("skopeo"))
        .args(["inspect", "--tls-verify=false"])
        .args(extra)
        .arg(format!("docker://{image}"))
        .output()
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "skopeo inspect {image}: {err}");
    serde_json::from_slice(&out.stdout).unwrap()
}
