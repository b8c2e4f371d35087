//! Registries that fail behind a healthy /v2/: wrong password, no
//! credentials, an ingress body limit (413, seed 003), blob redirects to
//! storage nobody can reach (seed 003's MinIO), and Ctrl-C mid-upload.

use std::sync::Arc;

use crate::proxy::{self, Mode};
use crate::support::{BOTH, DistOptions, Labreg, Reg, free_port, labctl, verify_json};

#[tokio::test]
async fn wrong_password_and_no_password() {
    for which in BOTH {
        let reg = Reg::start(
            which,
            DistOptions {
                user: Some(("admin", "right-password")),
                ..Default::default()
            },
        )
        .await;
        wrong_password_on(reg.port()).await;
    }
}

async fn wrong_password_on(port: u16) {
    let url = format!("http://127.0.0.1:{port}");
    let login = ["--insecure", "--user", "admin", "--password-stdin"];
    let r = verify_json(&url, &login, Some("wrong-password\n")).await;
    assert_eq!(r.code, 1);
    let msg = r.failed_with("login", "wrong-credentials");
    assert!(
        msg.contains("rejects the password of --user admin"),
        "{msg}"
    );
    assert!(msg.contains("htpasswd -vB FILE admin"), "{msg}");
    assert!(!r.stdout.contains("wrong-password") && !r.stderr.contains("wrong-password"));

    let r = verify_json(&url, &["--insecure"], None).await;
    let msg = r.failed_with("login", "no-credentials");
    assert!(msg.contains("--user USER --password-stdin"), "{msg}");
}

#[tokio::test]
async fn ingress_body_limit_413() {
    let reg = Labreg::start("").await;
    let front = proxy::start(reg.addr, Mode::Limit(1 << 20)).await;
    let url = format!("http://{front}");
    let r = verify_json(&url, &["--size", "2MiB"], None).await;
    assert_eq!(r.code, 1, "{}", r.stdout);
    let msg = r.failed_with("push layer", "body-too-large");
    assert!(
        msg.contains("413 Request Entity Too Large (the answer comes from nginx)"),
        "{msg}"
    );
    assert!(
        msg.contains("nginx.ingress.kubernetes.io/proxy-body-size: \"0\""),
        "{msg}"
    );
    // The failed upload's session was cancelled.
    assert!(reg.open_uploads().is_empty(), "{:?}", reg.open_uploads());
    // Below the limit the same proxy passes.
    let r = verify_json(&url, &["--size", "512KiB"], None).await;
    assert_eq!(r.code, 0, "{}", r.stdout);
}

#[tokio::test]
async fn blob_redirect_to_storage_nobody_reaches() {
    let reg = Labreg::start("").await;
    let closed = free_port();
    let front = proxy::start(reg.addr, Mode::RedirectBlobs(closed)).await;
    let url = format!("http://{front}");
    let r = verify_json(&url, &[], None).await;
    assert_eq!(r.code, 1, "{}", r.stdout);
    let msg = r.failed_with("pull blobs", "redirect-unreachable");
    assert!(
        msg.contains(&format!(
            "redirected to http://127.0.0.1:{closed}, which refuses connections"
        )),
        "{msg}"
    );
    assert!(msg.contains("storage.redirect.disable: true"), "{msg}");
    assert!(
        !msg.contains("X-Amz-Signature"),
        "presigned query must not be shown: {msg}"
    );
    assert_eq!(r.status("pull manifest"), "ok");
}

#[tokio::test]
async fn ctrl_c_cancels_the_open_upload() {
    let reg = Labreg::start("").await;
    let patch = Arc::new(tokio::sync::Notify::new());
    let front = proxy::start(reg.addr, Mode::StallPatch(patch.clone())).await;
    let url = format!("http://{front}");
    let dir = tempfile::tempdir().unwrap();
    let child = labctl(dir.path())
        .args(["verify", "push", "--registry", &url])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    patch.notified().await;
    // The session exists while the PATCH hangs.
    assert_eq!(reg.open_uploads().len(), 1);
    let pid = child.id().unwrap().to_string();
    let kill = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = tokio::time::timeout(std::time::Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("labctl exits after Ctrl-C")
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("interrupted: cancelled the upload session (204"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("interrupted after"));
    assert!(reg.open_uploads().is_empty(), "{:?}", reg.open_uploads());
}
