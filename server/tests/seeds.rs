//! The labreg binary started the way the seeds start registry:2: the seed
//! 001 `docker run -e REGISTRY_...` set with no config file, and the seed 003
//! config.yml (storage swapped to filesystem). Also `labreg htpasswd`
//! against Apache's htpasswd, SIGTERM during an upload, and start-up errors.

mod common;

use std::time::Duration;

use common::digest;
use common::pki::{Ca, client_trusting};
use common::process::{Process, run_labreg};
use common::tools::{run, skopeo_copy_with, try_run};
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread")]
async fn seed_001_variables_run_a_tls_htpasswd_registry() {
    let dir = tempfile::tempdir().unwrap();
    let (auth, certs, data) = (
        dir.path().join("auth"),
        dir.path().join("certs"),
        dir.path().join("data"),
    );
    for d in [&auth, &certs, &data] {
        std::fs::create_dir_all(d).unwrap();
    }
    // `docker run --entrypoint htpasswd registry:2 -Bbn admin "2secret" >> auth/htpasswd`
    let (code, line, _) = run_labreg(&["htpasswd", "-Bbn", "admin", "2secret"], &[]);
    assert_eq!(code, 0);
    std::fs::write(auth.join("htpasswd"), line).unwrap();
    let ca = Ca::new("seed CA");
    let server = ca.server(&["localhost", "127.0.0.1"]);
    std::fs::write(certs.join("registry-cert.crt"), &server.cert_pem).unwrap();
    std::fs::write(certs.join("registry-cert.key"), &server.key_pem).unwrap();
    let p = |d: &std::path::Path, f: &str| d.join(f).display().to_string();
    let reg = Process::serve(
        None,
        &[
            (
                "REGISTRY_HTTP_TLS_CERTIFICATE",
                p(&certs, "registry-cert.crt"),
            ),
            ("REGISTRY_HTTP_TLS_KEY", p(&certs, "registry-cert.key")),
            ("REGISTRY_AUTH", "htpasswd".into()),
            ("REGISTRY_AUTH_HTPASSWD_REALM", "Registry Realm".into()),
            ("REGISTRY_AUTH_HTPASSWD_PATH", p(&auth, "htpasswd")),
            (
                "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY",
                data.display().to_string(),
            ),
        ],
        dir.path(),
    )
    .await;
    let client = client_trusting(&ca.pem());
    let url = format!("https://{}/v2/", reg.host);
    let resp = common::send(client.get(&url)).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        resp.headers()["www-authenticate"],
        "Basic realm=\"Registry Realm\""
    );
    assert_eq!(
        common::send(client.get(&url).basic_auth("admin", Some("2secret")))
            .await
            .status(),
        StatusCode::OK
    );
    // `docker login` + push, with skopeo.
    let cert_dir = ca.write_cert_dir(&dir.path().join("certs.d"));
    let src = dir.path().join("img");
    common::oci::make_layout(&src, "0.1", &[("linux", "amd64")], "continuul site");
    skopeo_copy_with(
        &[
            "--dest-cert-dir",
            cert_dir.to_str().unwrap(),
            "--dest-creds",
            "admin:2secret",
        ],
        &format!("oci:{}:0.1", src.display()),
        &format!("docker://{}/continuul/site:0.1", reg.host),
    )
    .await;
    let catalog = common::send(
        client
            .get(format!("https://{}/v2/_catalog", reg.host))
            .basic_auth("admin", Some("2secret")),
    )
    .await;
    assert_eq!(
        catalog.text().await.unwrap(),
        r#"{"repositories":["continuul/site"]}"#
    );
    let log = reg.log();
    assert!(
        log.contains("auth=\"htpasswd\"") || log.contains("auth=htpasswd"),
        "{log}"
    );
    assert!(!log.contains("2secret"), "credentials never reach the log");
}

#[tokio::test(flavor = "multi_thread")]
async fn seed_003_config_file_with_filesystem_storage() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yml");
    let fixture = include_str!("fixtures/seed003-config.yml");
    std::fs::write(
        &config,
        fixture.replace(
            "ROOTDIRECTORY",
            &dir.path().join("data").display().to_string(),
        ),
    )
    .unwrap();
    let reg = Process::serve(Some(&config), &[], dir.path()).await;
    let c = common::client();
    let resp =
        common::send(c.post(format!("http://{}/v2/seed/app/blobs/uploads/", reg.host))).await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
    let location = resp.headers()["location"].to_str().unwrap();
    assert!(
        location.starts_with("https://docker.registry.example.com/v2/seed/app/blobs/uploads/"),
        "{location}"
    );
    // Delete is enabled: a blob can be pushed and deleted.
    let d = digest(b"x");
    common::send(
        c.post(format!(
            "http://{}/v2/seed/app/blobs/uploads/?digest={d}",
            reg.host
        ))
        .body("x"),
    )
    .await;
    let resp = common::send(c.delete(format!("http://{}/v2/seed/app/blobs/{d}", reg.host))).await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    // JSON logs, one object per line, at debug level with the access log.
    let log = reg.log();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        lines.iter().any(|l| l["message"] == "labreg listening"),
        "{log}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["message"] == "request" && l["status"] == 202),
        "{log}"
    );
    assert!(
        lines.iter().all(|l| l["service"] == "registry"),
        "log.fields on every line: {log}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn labreg_htpasswd_lines_verify_with_apache_htpasswd() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("htpasswd");
    let (code, out, err) = run_labreg(&["htpasswd", "-Bbn", "admin", "s3cret pass"], &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 1);
    assert!(out.starts_with("admin:$2y$10$"), "{out}");
    std::fs::write(&file, &out).unwrap();
    run(
        "htpasswd",
        &["-vb", file.to_str().unwrap(), "admin", "s3cret pass"],
    )
    .await;
    assert!(
        try_run(
            "htpasswd",
            &["-vb", file.to_str().unwrap(), "admin", "wrong"]
        )
        .await
        .is_err()
    );
    let (code, _, err) = run_labreg(&["htpasswd", "-Bn", "admin", "pw"], &[]);
    assert_ne!(code, 0);
    assert!(err.contains("needs -b"), "{err}");
    let (code, _, err) = run_labreg(&["htpasswd", "-Bbn", "a:b", "pw"], &[]);
    assert_ne!(code, 0);
    assert!(err.contains("':'"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_an_upload_in_flight_finish_and_it_resumes_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let envs = [(
        "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY",
        data.display().to_string(),
    )];
    let reg = Process::serve(None, &envs, dir.path()).await;
    let c = common::client();
    let resp =
        common::send(c.post(format!("http://{}/v2/slow/app/blobs/uploads/", reg.host))).await;
    let loc = resp.headers()["location"].to_str().unwrap().to_string();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let body = reqwest::Body::wrap_stream(tokio_stream_from(rx));
    let patch = tokio::spawn({
        let url = format!("http://{}{loc}", reg.host);
        async move { common::send(common::client().patch(url).body(body)).await }
    });
    let chunk = vec![7u8; 1 << 20];
    tx.send(Ok(chunk.clone())).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let pid = reg.child.id().unwrap().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    tx.send(Ok(chunk.clone())).await.unwrap();
    drop(tx);
    let resp = patch.await.unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::ACCEPTED,
        "the request in flight finished"
    );
    assert_eq!(resp.headers()["range"], "0-2097151");
    let mut reg = reg;
    let status = tokio::time::timeout(Duration::from_secs(30), reg.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "clean exit after SIGTERM: {status}");

    // A new process on the same storage completes the upload.
    let reg = Process::serve(None, &envs, dir.path()).await;
    let all = [chunk.clone(), chunk].concat();
    let resp =
        common::send(c.put(format!("http://{}{loc}?digest={}", reg.host, digest(&all)))).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let got = common::body_of(c.get(format!(
        "http://{}/v2/slow/app/blobs/{}",
        reg.host,
        digest(&all)
    )))
    .await;
    assert_eq!(digest(&got), digest(&all));
    assert!(reg.terminate().await.success());
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[test]
fn start_up_errors_name_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    let root = (
        "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY",
        dir.path().to_str().unwrap(),
    );
    for (envs, want) in [
        (
            vec![root, ("REGISTRY_LOG_LEVEL", "loud")],
            "config key log.level",
        ),
        (
            vec![
                root,
                ("REGISTRY_AUTH", "htpasswd"),
                ("REGISTRY_AUTH_HTPASSWD_PATH", "/nonexistent/htpasswd"),
            ],
            "cannot read htpasswd file /nonexistent/htpasswd",
        ),
        (
            vec![
                root,
                ("REGISTRY_HTTP_TLS_CERTIFICATE", "/nonexistent.crt"),
                ("REGISTRY_HTTP_TLS_KEY", "/nonexistent.key"),
            ],
            "http.tls.certificate",
        ),
        (vec![root, ("REGISTRY_STORAGE", "s3")], "storage"),
    ] {
        let (code, _, err) = run_labreg(&["serve"], &envs);
        assert_eq!(code, 1, "{envs:?}");
        assert!(err.contains(want), "{envs:?}: {err}");
    }
    let (code, _, err) = run_labreg(&["serve", "/nonexistent/config.yml"], &[]);
    assert_eq!(code, 1);
    assert!(
        err.contains("cannot read config file /nonexistent/config.yml"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_port_in_use_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let (code, _, err) = run_labreg(
        &["serve"],
        &[
            ("REGISTRY_HTTP_ADDR", &addr),
            (
                "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY",
                dir.path().to_str().unwrap(),
            ),
        ],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!("cannot listen on {addr}")) && err.contains("REGISTRY_HTTP_ADDR"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn debug_server_serves_health_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let debug = format!("127.0.0.1:{}", common::process::free_port());
    let reg = Process::serve(
        None,
        &[
            (
                "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY",
                dir.path().join("data").display().to_string(),
            ),
            ("REGISTRY_HTTP_DEBUG_ADDR", debug.clone()),
            ("REGISTRY_HTTP_DEBUG_PROMETHEUS_ENABLED", "true".into()),
        ],
        dir.path(),
    )
    .await;
    let c = common::client();
    common::send(c.get(format!("http://{}/v2/", reg.host))).await;
    common::send(c.get(format!("http://{}/v2/nothing/tags/list", reg.host))).await;
    let health = common::send(c.get(format!("http://{debug}/debug/health"))).await;
    assert_eq!(health.status(), StatusCode::OK);
    let metrics = common::send(c.get(format!("http://{debug}/metrics")))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("labreg_http_requests_total{method=\"GET\",code=\"200\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("labreg_http_requests_total{method=\"GET\",code=\"404\"} 1"),
        "{metrics}"
    );
    assert!(reg.terminate().await.success());
}

/// Credentials never reach the log, at any level: not the password, not the
/// base64 of the Authorization header, not a wrong password either.
#[tokio::test(flavor = "multi_thread")]
async fn credentials_are_never_logged() {
    let dir = tempfile::tempdir().unwrap();
    let htpasswd = dir.path().join("htpasswd");
    let (_, line, _) = run_labreg(
        &[
            "htpasswd",
            "-Bbn",
            "-C",
            "4",
            "admin",
            "correct-horse-battery",
        ],
        &[],
    );
    std::fs::write(&htpasswd, line).unwrap();
    let reg = Process::serve(
        None,
        &[
            (
                "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY",
                dir.path().join("data").display().to_string(),
            ),
            (
                "REGISTRY_AUTH_HTPASSWD_PATH",
                htpasswd.display().to_string(),
            ),
            ("REGISTRY_AUTH_HTPASSWD_REALM", "r".into()),
            ("LABREG_LOG", "trace".into()),
        ],
        dir.path(),
    )
    .await;
    let c = common::client();
    for (user, pw) in [
        ("admin", "correct-horse-battery"),
        ("admin", "wrong-staple-guess"),
        ("ghost", "boo-secret"),
    ] {
        common::send(
            c.get(format!("http://{}/v2/", reg.host))
                .basic_auth(user, Some(pw)),
        )
        .await;
        common::send(
            c.post(format!("http://{}/v2/x/blobs/uploads/", reg.host))
                .basic_auth(user, Some(pw)),
        )
        .await;
    }
    let log = reg.log();
    assert!(log.contains("request"), "the access log ran: {log}");
    use base64::Engine;
    for secret in ["correct-horse-battery", "wrong-staple-guess", "boo-secret"] {
        assert!(!log.contains(secret), "{secret} in the log");
        for user in ["admin", "ghost"] {
            let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}"));
            assert!(!log.contains(&b64), "credentials of {user} in the log");
        }
    }
    assert!(reg.terminate().await.success());
}
