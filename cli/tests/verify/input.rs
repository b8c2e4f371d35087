//! Bad input and unreachable registries.

use crate::support::{free_port, verify, verify_json};

#[tokio::test]
async fn a_registry_that_is_not_a_url() {
    let r = verify(&["verify", "push", "--registry", "ht!tp://reg lan"], None).await;
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("is not a registry address"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("expected HOST[:PORT]"), "{}", r.stderr);
    assert!(r.stdout.is_empty());
}

#[tokio::test]
async fn sizes_zero_and_absurd() {
    let r = verify(&["verify", "push", "--registry", "x", "--size", "0"], None).await;
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("at least 1 byte"), "{}", r.stderr);
    let r = verify(
        &["verify", "push", "--registry", "x", "--size", "64GiB"],
        None,
    )
    .await;
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("too large: at most 4.0 GiB"),
        "{}",
        r.stderr
    );
    let r = verify(
        &["verify", "push", "--registry", "x", "--size", "12 apples"],
        None,
    )
    .await;
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("unknown unit"), "{}", r.stderr);
}

#[tokio::test]
async fn connection_refused() {
    let port = free_port();
    let url = format!("127.0.0.1:{port}");
    let r = verify_json(&url, &["--insecure"], None).await;
    assert_eq!(r.code, 1);
    let msg = r.failed_with("connect", "connection-refused");
    assert!(
        msg.contains(&format!("nothing listens on 127.0.0.1:{port}")),
        "{msg}"
    );
}

#[tokio::test]
async fn a_name_that_does_not_resolve() {
    let r = verify_json("docker.registry.invalid", &[], None).await;
    assert_eq!(r.code, 1);
    let msg = r.failed_with("resolve", "dns");
    assert!(
        msg.contains("the name docker.registry.invalid does not resolve"),
        "{msg}"
    );
    assert!(msg.contains("/etc/hosts"), "{msg}");
}
