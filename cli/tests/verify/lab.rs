//! Without --registry: the lab's host and nodePort, its CA (certs/ca.crt),
//! and a user's password decrypted from secrets/.

use crate::common::nodeport_lab;
use crate::support::{Ca, DistOptions, Distribution, Run, labctl, run};

/// A free port in the NodePort range, for docker-registry's config.
fn node_port() -> u16 {
    let start = std::process::id() % 2768;
    (0..2768u32)
        .map(|i| (30000 + (start + i) % 2768) as u16)
        .find(|&p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok())
        .expect("a free port in 30000-32767")
}

#[tokio::test]
async fn the_lab_registry_with_its_ca_and_user() {
    let port = node_port();
    let ca = Ca::new("labctl CA testlab");
    let dist = Distribution::start(DistOptions {
        user: Some(("admin", "lab-password")),
        tls: Some(ca.issue("127.0.0.1", &["127.0.0.1"], -1, 30)),
        port: Some(port),
        ..Default::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let key = nodeport_lab(
        root,
        "testlab",
        "admin",
        &ca.cert_pem,
        port,
        "  delete: true\n",
    );
    let cmd = || {
        let mut c = labctl(root);
        c.env("LABCTL_AGE_KEY_FILE", &key);
        c
    };
    let set = set_admin(cmd(), "lab-password").await;
    assert_eq!(set.code, 0, "{}", set.stderr);

    let r = run(cmd().args(["verify", "push", "--output", "json"]), None).await;
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.json()["registry"], format!("https://127.0.0.1:{port}"));
    assert_eq!(r.json()["warnings"], 0, "{}", r.stdout);
    let login = r.step("login")["detail"].as_str().unwrap().to_string();
    assert_eq!(login, "as admin (lab.yaml, secret registry/admin)");

    // The secret changed but the registry's htpasswd did not.
    let set = set_admin(cmd(), "new-password").await;
    assert_eq!(set.code, 0, "{}", set.stderr);
    let r = run(cmd().args(["verify", "push", "--output", "json"]), None).await;
    let msg = r.failed_with("login", "wrong-credentials");
    assert!(msg.contains("run `labctl render` and sync"), "{msg}");

    // Without the lab's CA the trust commands are printed.
    std::fs::write(root.join("certs/ca.crt"), Ca::new("another").cert_pem).unwrap();
    let r = run(cmd().args(["verify", "push"]), None).await;
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("unknown-authority"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains(&format!("| mkdir -p /etc/docker/certs.d/127.0.0.1:{port}")),
        "{}",
        r.stdout
    );
    dist.stop().await;
}

/// `labctl secrets set registry/admin` with `password` on stdin.
async fn set_admin(mut cmd: tokio::process::Command, password: &str) -> Run {
    run(
        cmd.args(["secrets", "set", "registry/admin"]),
        Some(password),
    )
    .await
}
