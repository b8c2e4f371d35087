//! The workspace's OCI client (`labreg-oci`) against real registries: labreg
//! behind TLS (a certificate from `openssl req`, trusted through
//! `labreg::trust`) with Apache `htpasswd` users, and Debian's
//! docker-registry. Each push style, mounts, manifests, tags, the catalog,
//! referrers and deletes; errors keep the status and the spec's code; what
//! the client pushed, skopeo reads back.

mod common;

use bytes::Bytes;
use common::TestRegistry;
use common::tools::{Distribution, run};
use futures_util::stream;
use labreg_oci::{Client, Credentials, Mount, digest_of};
use reqwest::StatusCode;
use serde_json::json;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// Pushes through every upload style into `repo`; returns the manifest's
/// digest and the blobs' digests.
async fn push_every_way(c: &Client, repo: &str) -> (String, Vec<String>) {
    let config = Bytes::from_static(br#"{"architecture":"amd64","os":"linux"}"#);
    let whole: Bytes = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let chunked: Bytes = (0..700_000u32).map(|i| (i % 241) as u8).collect();
    let streamed: Bytes = (0..1_000_000u32).map(|i| (i % 239) as u8).collect();

    let cd = c.push_blob_single(repo, config.clone()).await.unwrap();
    assert_eq!(cd, digest_of(&config));
    let wd = c.push_blob(repo, whole.clone()).await.unwrap();
    let kd = c
        .push_blob_chunked(repo, chunked.clone(), 256 * 1024)
        .await
        .unwrap();
    // A streamed PATCH of 64 KiB pieces without Content-Range, as docker's.
    let mut up = c.start_upload(repo).await.unwrap();
    let pieces: Vec<Result<Bytes, std::io::Error>> = streamed
        .chunks(64 * 1024)
        .map(|p| Ok(Bytes::copy_from_slice(p)))
        .collect();
    let body = reqwest::Body::wrap_stream(stream::iter(pieces));
    c.upload_stream(&mut up, body, Some(streamed.len() as u64))
        .await
        .unwrap();
    assert_eq!(up.offset, streamed.len() as u64);
    let sd = c
        .finish_upload(up, &digest_of(&streamed), None)
        .await
        .unwrap();

    let layers = [(&wd, &whole), (&kd, &chunked), (&sd, &streamed)];
    for (d, data) in layers {
        assert_eq!(c.head_blob(repo, d).await.unwrap(), data.len() as u64);
    }
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": config.len()},
        "layers": layers.iter().map(|(d, data)| json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": data.len()})).collect::<Vec<_>>(),
    });
    let body = Bytes::from(serde_json::to_vec(&manifest).unwrap());
    let md = c
        .put_manifest(repo, "v1", OCI_MANIFEST, body.clone())
        .await
        .unwrap();
    assert_eq!(md, digest_of(&body));
    let (meta, got) = c.get_manifest(repo, "v1").await.unwrap();
    assert_eq!((meta.digest.as_deref(), got), (Some(md.as_str()), body));
    (md, vec![cd, wd, kd, sd])
}

/// Mount, tags, catalog, the errors' status and code, and deletes.
async fn manage(c: &Client, repo: &str, other: &str, md: &str, blobs: &[String]) {
    match c.mount_blob(other, repo, &blobs[1]).await.unwrap() {
        Mount::Mounted(d) => assert_eq!(d, blobs[1]),
        Mount::Upload(up) => panic!("mount answered an upload session {up:?}"),
    }
    assert!(c.head_blob(other, &blobs[1]).await.is_ok());

    c.put_manifest(
        repo,
        "v2",
        OCI_MANIFEST,
        c.get_manifest(repo, md).await.unwrap().1,
    )
    .await
    .unwrap();
    let mut tags = c.tags(repo).await.unwrap();
    tags.sort();
    assert_eq!(tags, ["v1", "v2"]);
    // One repository per page: the Link header is followed.
    let catalog = c.catalog(1).await.unwrap();
    assert!(
        catalog.contains(&repo.to_string()) && catalog.contains(&other.to_string()),
        "{catalog:?}"
    );

    let err = c.get_manifest(repo, "missing").await.unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::NOT_FOUND), "{err}");
    assert!(err.to_string().contains("MANIFEST_UNKNOWN"), "{err}");
    // A wrong digest at the end of an upload: the spec's DIGEST_INVALID.
    let up = c.start_upload(repo).await.unwrap();
    let err = c
        .finish_upload(up, &digest_of(b"other"), Some(Bytes::from_static(b"bytes")))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::BAD_REQUEST), "{err}");
    assert!(err.to_string().contains("DIGEST_INVALID"), "{err}");
    // A cancelled upload is gone.
    let up = c.start_upload(repo).await.unwrap();
    c.cancel_upload(up.clone()).await.unwrap();
    let err = c
        .upload_chunk(&mut up.clone(), Bytes::from_static(b"x"))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::NOT_FOUND), "{err}");

    c.delete_manifest(repo, md).await.unwrap();
    assert!(c.get_manifest(repo, "v1").await.unwrap_err().is_not_found());
    c.delete_blob(other, &blobs[1]).await.unwrap();
    assert!(
        c.head_blob(other, &blobs[1])
            .await
            .unwrap_err()
            .is_not_found()
    );
}

/// What skopeo reads of `reference`: its manifest digest.
async fn skopeo_digest(args: &[&str], reference: &str) -> String {
    let mut all = vec!["inspect", "--format", "{{.Digest}}"];
    all.extend_from_slice(args);
    all.push(reference);
    run("skopeo", &all).await.trim().to_string()
}

#[tokio::test]
async fn labreg_over_tls_with_htpasswd() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("reg.crt"), dir.path().join("reg.key"));
    run(
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "30",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            key.to_str().unwrap(),
            "-out",
            cert.to_str().unwrap(),
        ],
    )
    .await;
    let users = run("htpasswd", &["-Bbn", "-C", "10", "pusher", "s3cret"]).await;
    let htpasswd = dir.path().join("htpasswd");
    std::fs::write(&htpasswd, users).unwrap();
    let reg = TestRegistry::start(&format!(
        "http:\n  tls:\n    certificate: {}\n    key: {}\nauth:\n  htpasswd:\n    realm: r\n    path: {}\n",
        cert.display(),
        key.display(),
        htpasswd.display()
    ))
    .await;
    let mut anchors = labreg::trust::Anchors::system();
    anchors.add_pem_file(&cert).unwrap();
    let http = reqwest::Client::builder()
        .use_preconfigured_tls(anchors.client_config().unwrap())
        .build()
        .unwrap();
    let creds = Credentials {
        username: "pusher".into(),
        password: "s3cret".into(),
    };
    let c = Client::new(reg.url.parse().unwrap(), http.clone(), Some(creds));
    c.ping().await.unwrap();
    let (md, _) = push_every_way(&c, "team/app").await;

    // Referrers: an artifact whose subject is the image.
    let subject = c.get_manifest("team/app", &md).await.unwrap();
    let sbom = Bytes::from_static(b"{}");
    let sd = c.push_blob("team/app", sbom.clone()).await.unwrap();
    let artifact = json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/spdx+json",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": sd, "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.empty.v1+json", "digest": sd, "size": 2}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": md, "size": subject.1.len()},
    });
    let body = Bytes::from(serde_json::to_vec(&artifact).unwrap());
    let ad = c
        .put_manifest("team/app", &digest_of(&body), OCI_MANIFEST, body)
        .await
        .unwrap();
    let found = c.referrers("team/app", &md, None).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].digest, ad);
    assert_eq!(
        found[0].artifact_type.as_deref(),
        Some("application/spdx+json")
    );
    let none = c
        .referrers("team/app", &md, Some("application/vnd.example"))
        .await
        .unwrap();
    assert!(none.is_empty(), "{none:?}");

    // skopeo, trusting the same certificate, reads what the client pushed.
    let certs = dir.path().join("certs.d");
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::copy(&cert, certs.join("ca.crt")).unwrap();
    let seen = skopeo_digest(
        &[
            "--cert-dir",
            certs.to_str().unwrap(),
            "--creds",
            "pusher:s3cret",
        ],
        &format!("docker://{}/team/app:v1", reg.host()),
    )
    .await;
    assert_eq!(seen, md);

    // Wrong password: the registry's 401 with its code, not a retry loop.
    let wrong = Client::new(
        reg.url.parse().unwrap(),
        http.clone(),
        Some(Credentials {
            username: "pusher".into(),
            password: "nope".into(),
        }),
    );
    let err = wrong.start_upload("team/app").await.unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::UNAUTHORIZED), "{err}");
    assert!(err.to_string().contains("UNAUTHORIZED"), "{err}");
    // Without the certificate: no answer, a transport error naming TLS.
    let untrusting = Client::new(reg.url.parse().unwrap(), reqwest::Client::new(), None);
    let err = untrusting.ping().await.unwrap_err();
    assert!(err.status().is_none() && err.is_unavailable(), "{err}");
    reg.stop().await;
}

#[tokio::test]
async fn labreg_manage_and_delete() {
    let reg = TestRegistry::start("  delete:\n    enabled: true\n").await;
    let c = Client::new(reg.url.parse().unwrap(), reqwest::Client::new(), None);
    let (md, blobs) = push_every_way(&c, "lib/app").await;
    manage(&c, "lib/app", "lib/other", &md, &blobs).await;
    reg.stop().await;
}

#[tokio::test]
async fn debian_docker_registry() {
    let dir = tempfile::tempdir().unwrap();
    let peer = Distribution::start(dir.path()).await;
    let url = format!("http://{}", peer.host);
    let c = Client::new(url.parse().unwrap(), reqwest::Client::new(), None);
    c.ping().await.unwrap();
    let (md, blobs) = push_every_way(&c, "lib/app").await;
    let seen = skopeo_digest(
        &["--tls-verify=false"],
        &format!("docker://{}/lib/app:v1", peer.host),
    )
    .await;
    assert_eq!(seen, md);
    manage(&c, "lib/app", "lib/other", &md, &blobs).await;
    peer.stop().await;
}
