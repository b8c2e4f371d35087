//! The OCI distribution API end to end, over HTTP, against labreg on a
//! port-0 listener.

mod common;

use common::{TestRegistry, client, digest, images};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

async fn error_code(resp: Response) -> String {
    let v: Value = resp.json().await.expect("error body is JSON");
    v["errors"][0]["code"]
        .as_str()
        .expect("error code")
        .to_string()
}

async fn push_blob(reg: &TestRegistry, name: &str, data: &[u8]) -> String {
    images::push_blob(&reg.url, name, data).await
}

fn image_manifest(
    config: &str,
    config_len: usize,
    layers: &[(&str, usize)],
    subject: Option<Value>,
) -> Value {
    let mut m = images::manifest((config, config_len), layers);
    if let Some(s) = subject {
        m["subject"] = s;
    }
    m
}

async fn put_manifest(
    reg: &TestRegistry,
    name: &str,
    reference: &str,
    media_type: &str,
    body: &Value,
) -> Response {
    common::send(
        client()
            .put(format!("{}/v2/{name}/manifests/{reference}", reg.url))
            .header("content-type", media_type)
            .body(serde_json::to_vec(body).unwrap()),
    )
    .await
}

/// Pushes a small image (config + one layer) and returns its manifest.
async fn push_image(reg: &TestRegistry, name: &str, tag: &str, seed: &str) -> (String, Value) {
    let config = format!("{{\"seed\":\"{seed}\"}}");
    let layer = format!("layer of {seed}");
    let c = push_blob(reg, name, config.as_bytes()).await;
    let l = push_blob(reg, name, layer.as_bytes()).await;
    let m = image_manifest(&c, config.len(), &[(&l, layer.len())], None);
    let resp = put_manifest(reg, name, tag, OCI_MANIFEST, &m).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let d = resp.headers()["docker-content-digest"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(d, digest(&serde_json::to_vec(&m).unwrap()));
    (d, m)
}

/// PATCHes `body` to the upload at `loc` as the bytes `range` of it.
async fn patch_range(
    c: &reqwest::Client,
    reg: &TestRegistry,
    loc: &str,
    range: &str,
    body: Vec<u8>,
) -> Response {
    common::send(
        c.patch(format!("{}{loc}", reg.url))
            .header("content-range", range)
            .body(body),
    )
    .await
}

#[tokio::test]
async fn base_endpoint_and_headers() {
    let reg =
        TestRegistry::start("http:\n  headers:\n    X-Content-Type-Options: [nosniff]\n").await;
    let resp = common::send(client().get(format!("{}/v2/", reg.url))).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()["docker-distribution-api-version"],
        "registry/2.0"
    );
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
    let resp = common::send(client().get(format!("{}/v2/nothing/here/x", reg.url))).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = common::send(client().post(format!("{}/v2/", reg.url))).await;
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(error_code(resp).await, "UNSUPPORTED");
}

#[tokio::test]
async fn blob_pull_with_ranges() {
    let reg = TestRegistry::start("").await;
    let data: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    let d = push_blob(&reg, "lib/range", &data).await;
    let url = format!("{}/v2/lib/range/blobs/{d}", reg.url);
    let resp = common::send(client().get(&url)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-length"], "10000");
    assert_eq!(resp.headers()["docker-content-digest"], d.as_str());
    assert_eq!(resp.bytes().await.unwrap().as_ref(), &data[..]);
    let resp = common::send(client().head(&url)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-length"], "10000");
    let resp = common::send(client().get(&url).header("range", "bytes=100-199")).await;
    assert_eq!(resp.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(resp.headers()["content-range"], "bytes 100-199/10000");
    assert_eq!(resp.bytes().await.unwrap().as_ref(), &data[100..200]);
    let resp = common::send(client().get(&url).header("range", "bytes=-10")).await;
    assert_eq!(resp.bytes().await.unwrap().as_ref(), &data[9990..]);
    let resp = common::send(client().get(&url).header("range", "bytes=10000-")).await;
    assert_eq!(resp.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(resp.headers()["content-range"], "bytes */10000");
    // The blob is linked to lib/range only.
    let resp = common::send(client().get(format!("{}/v2/other/blobs/{d}", reg.url))).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(resp).await, "BLOB_UNKNOWN");
    // The layout is distribution's.
    let files = reg.files();
    let hex = &d["sha256:".len()..];
    assert!(
        files.contains(&format!(
            "docker/registry/v2/blobs/sha256/{}/{hex}/data",
            &hex[..2]
        )),
        "{files:?}"
    );
    assert!(files.contains(&format!(
        "docker/registry/v2/repositories/lib/range/_layers/sha256/{hex}/link"
    )));
    let link = std::fs::read_to_string(reg.root.join(format!(
        "docker/registry/v2/repositories/lib/range/_layers/sha256/{hex}/link"
    )))
    .unwrap();
    assert_eq!(link, d);
}

/// A blob over two of the filesystem's 4 MiB mapped windows, pulled whole
/// and in a range across a window's edge, over HTTP/1.1 and over HTTP/2
/// with prior knowledge (h2c): the same bytes each way.
#[tokio::test(flavor = "multi_thread")]
async fn big_blob_pulls_over_http1_and_h2c() {
    let reg = TestRegistry::start("").await;
    let data: Vec<u8> = (0..(9 << 20) + 4099).map(|i| (i % 253) as u8).collect();
    let d = push_blob(&reg, "lib/big", &data).await;
    let url = format!("{}/v2/lib/big/blobs/{d}", reg.url);
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let edge = 4 << 20;
    let h1 = (reqwest::Version::HTTP_11, "HTTP/1.1", client());
    for (version, http, c) in [h1, (reqwest::Version::HTTP_2, "h2c", h2)] {
        let resp = common::send(c.get(&url)).await;
        assert_eq!(resp.status(), StatusCode::OK, "{http}");
        assert_eq!(resp.version(), version, "{http}");
        assert!(resp.bytes().await.unwrap() == data, "{http}");
        let range = format!("bytes={}-{}", edge - 5, edge + 6);
        let resp = common::send(c.get(&url).header("range", range)).await;
        assert_eq!(resp.status(), StatusCode::PARTIAL_CONTENT, "{http}");
        assert!(
            resp.bytes().await.unwrap() == data[edge - 5..=edge + 6],
            "{http}"
        );
    }
}

#[tokio::test]
async fn chunked_streamed_and_cancelled_uploads() {
    let reg = TestRegistry::start("").await;
    let c = client();
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let d = digest(&data);
    let resp = common::send(c.post(format!("{}/v2/chunked/blobs/uploads/", reg.url))).await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    assert_eq!(resp.headers()["range"], "0-0");
    let id = resp.headers()["docker-upload-uuid"]
        .to_str()
        .unwrap()
        .to_string();
    let mut loc = resp.headers()["location"].to_str().unwrap().to_string();
    let chunk = 1_000_000;
    for (i, part) in data.chunks(chunk).enumerate() {
        let start = i * chunk;
        let resp = common::send(
            c.patch(format!("{}{loc}", reg.url))
                .header(
                    "content-range",
                    format!("{start}-{}", start + part.len() - 1),
                )
                .header("content-type", "application/octet-stream")
                .body(part.to_vec()),
        )
        .await;
        assert_eq!(resp.status(), StatusCode::ACCEPTED);
        assert_eq!(
            resp.headers()["range"],
            format!("0-{}", start + part.len() - 1).as_str()
        );
        loc = resp.headers()["location"].to_str().unwrap().to_string();
        if i == 0 {
            // A chunk that does not continue the upload: 416 with the offset.
            let resp = patch_range(&c, &reg, &loc, "5-9", vec![0u8; 5]).await;
            assert_eq!(resp.status(), StatusCode::RANGE_NOT_SATISFIABLE);
            assert_eq!(resp.headers()["range"], "0-999999");
        }
    }
    let resp = common::send(c.get(format!("{}{loc}", reg.url))).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(resp.headers()["range"], "0-2999999");
    assert_eq!(resp.headers()["docker-upload-uuid"], id.as_str());
    let resp = common::send(c.put(format!("{}{loc}?digest={d}", reg.url))).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(
        resp.headers()["location"],
        format!("/v2/chunked/blobs/{d}").as_str()
    );
    let got = common::body_of(c.get(format!("{}/v2/chunked/blobs/{d}", reg.url))).await;
    assert_eq!(got.as_ref(), &data[..]);
    // The upload is gone once complete.
    let resp = common::send(c.get(format!("{}{loc}", reg.url))).await;
    assert_eq!(error_code(resp).await, "BLOB_UPLOAD_UNKNOWN");

    // Streamed: one PATCH without Content-Range (what docker push does), then PUT.
    let resp = common::send(c.post(format!("{}/v2/streamed/blobs/uploads/", reg.url))).await;
    let loc = resp.headers()["location"].to_str().unwrap().to_string();
    let pieces: Vec<Result<Vec<u8>, std::io::Error>> =
        data.chunks(65536).map(|c| Ok(c.to_vec())).collect();
    let stream = futures_util::stream::iter(pieces);
    let resp = common::send(
        c.patch(format!("{}{loc}", reg.url))
            .body(reqwest::Body::wrap_stream(stream)),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let resp = common::send(c.put(format!("{}{loc}?digest={d}", reg.url))).await;
    assert_eq!(resp.status(), StatusCode::CREATED);

    // POST then PUT with the whole body.
    let resp = common::send(c.post(format!("{}/v2/put-body/blobs/uploads/", reg.url))).await;
    let loc = resp.headers()["location"].to_str().unwrap().to_string();
    let resp = common::send(
        c.put(format!("{}{loc}?digest={d}", reg.url))
            .body(data.clone()),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::CREATED);

    // Cancel.
    let resp = common::send(c.post(format!("{}/v2/cancel/blobs/uploads/", reg.url))).await;
    let loc = resp.headers()["location"].to_str().unwrap().to_string();
    common::send(c.patch(format!("{}{loc}", reg.url)).body(vec![1u8; 10])).await;
    let resp = common::send(c.delete(format!("{}{loc}", reg.url))).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let resp = common::send(c.delete(format!("{}{loc}", reg.url))).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(resp).await, "BLOB_UPLOAD_UNKNOWN");
    assert!(
        !reg.files().iter().any(|f| f.contains("_uploads")),
        "{:?}",
        reg.files()
    );
}

#[tokio::test]
async fn cross_repository_mount() {
    let reg = TestRegistry::start("").await;
    let c = client();
    let d = push_blob(&reg, "src/app", b"shared layer").await;
    let resp = common::send(c.post(format!(
        "{}/v2/dst/app/blobs/uploads/?mount={d}&from=src/app",
        reg.url
    )))
    .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(
        resp.headers()["location"],
        format!("/v2/dst/app/blobs/{d}").as_str()
    );
    let resp = common::send(c.head(format!("{}/v2/dst/app/blobs/{d}", reg.url))).await;
    assert_eq!(resp.status(), StatusCode::OK);
    // Not mountable (the source does not have it): an upload starts instead.
    let missing = digest(b"nowhere");
    let resp = common::send(c.post(format!(
        "{}/v2/dst/app/blobs/uploads/?mount={missing}&from=src/app",
        reg.url
    )))
    .await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    assert!(resp.headers().contains_key("docker-upload-uuid"));
}

#[tokio::test]
async fn manifests_tags_and_negotiation() {
    let reg = TestRegistry::start("").await;
    let c = client();
    let (d, m) = push_image(&reg, "team/app", "v1", "one").await;
    for reference in ["v1", d.as_str()] {
        let resp = common::send(
            c.get(format!("{}/v2/team/app/manifests/{reference}", reg.url))
                .header("accept", OCI_MANIFEST),
        )
        .await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()["content-type"], OCI_MANIFEST);
        assert_eq!(resp.headers()["docker-content-digest"], d.as_str());
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body, m);
    }
    let resp = common::send(c.head(format!("{}/v2/team/app/manifests/v1", reg.url))).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()["content-length"],
        serde_json::to_vec(&m).unwrap().len().to_string().as_str()
    );
    // A client that accepts only Docker schema2 is not handed an OCI manifest.
    let resp = common::send(
        c.get(format!("{}/v2/team/app/manifests/v1", reg.url))
            .header("accept", DOCKER_MANIFEST),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(resp).await, "MANIFEST_UNKNOWN");

    // An index of two platforms; a client without index support gets amd64.
    let (d2, _) = push_image(&reg, "team/app", "arm", "two").await;
    let index = json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": d2, "size": 1, "platform": {"os": "linux", "architecture": "arm64"}},
            {"mediaType": OCI_MANIFEST, "digest": d, "size": 1, "platform": {"os": "linux", "architecture": "amd64"}},
        ]
    });
    let resp = put_manifest(&reg, "team/app", "multi", OCI_INDEX, &index).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let resp = common::send(
        c.get(format!("{}/v2/team/app/manifests/multi", reg.url))
            .header("accept", OCI_MANIFEST),
    )
    .await;
    assert_eq!(resp.headers()["docker-content-digest"], d.as_str());
    let resp = common::send(
        c.get(format!("{}/v2/team/app/manifests/multi", reg.url))
            .header("accept", format!("{OCI_INDEX}, {OCI_MANIFEST}")),
    )
    .await;
    assert_eq!(resp.headers()["content-type"], OCI_INDEX);

    // An index whose child is not in the repository.
    let bad_index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": digest(b"absent"), "size": 1}]});
    let resp = put_manifest(&reg, "team/app", "broken", OCI_INDEX, &bad_index).await;
    assert_eq!(error_code(resp).await, "MANIFEST_BLOB_UNKNOWN");

    // Tags, sorted, paginated with a Link header.
    let resp = common::send(c.get(format!("{}/v2/team/app/tags/list", reg.url))).await;
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body,
        json!({"name": "team/app", "tags": ["arm", "multi", "v1"]})
    );
    let resp = common::send(c.get(format!("{}/v2/team/app/tags/list?n=2", reg.url))).await;
    assert_eq!(
        resp.headers()["link"],
        "</v2/team/app/tags/list?last=multi&n=2>; rel=\"next\""
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["tags"], json!(["arm", "multi"]));
    let resp =
        common::send(c.get(format!("{}/v2/team/app/tags/list?n=2&last=multi", reg.url))).await;
    assert!(!resp.headers().contains_key("link"));
    assert_eq!(resp.json::<Value>().await.unwrap()["tags"], json!(["v1"]));
    let resp = common::send(c.get(format!("{}/v2/team/none/tags/list", reg.url))).await;
    assert_eq!(error_code(resp).await, "NAME_UNKNOWN");

    // A tag moved to another manifest.
    let resp = put_manifest(
        &reg,
        "team/app",
        "v1",
        OCI_MANIFEST,
        &serde_json::from_slice(
            &common::body_of(c.get(format!("{}/v2/team/app/manifests/{d2}", reg.url))).await,
        )
        .unwrap(),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let resp = common::send(c.head(format!("{}/v2/team/app/manifests/v1", reg.url))).await;
    assert_eq!(resp.headers()["docker-content-digest"], d2.as_str());
}

#[tokio::test]
async fn catalog_pagination() {
    let reg = TestRegistry::start("catalog:\n  maxentries: 3\n").await;
    for name in ["b", "a/x", "a", "a-b", "c/d/e"] {
        push_blob(&reg, name, name.as_bytes()).await;
    }
    let c = client();
    let all = ["a", "a/x", "a-b", "b", "c/d/e"];
    let resp = common::send(c.get(format!("{}/v2/_catalog", reg.url))).await;
    assert_eq!(
        resp.headers()["link"],
        "</v2/_catalog?last=a-b&n=3>; rel=\"next\""
    );
    assert_eq!(
        resp.json::<Value>().await.unwrap()["repositories"],
        json!(all[..3])
    );
    let resp = common::send(c.get(format!("{}/v2/_catalog?n=2&last=a-b", reg.url))).await;
    assert!(!resp.headers().contains_key("link"));
    assert_eq!(
        resp.json::<Value>().await.unwrap()["repositories"],
        json!(all[3..])
    );
    let resp = common::send(c.get(format!("{}/v2/_catalog?n=0", reg.url))).await;
    assert_eq!(
        resp.json::<Value>().await.unwrap()["repositories"],
        json!([])
    );
    let resp = common::send(c.get(format!("{}/v2/_catalog?n=-1", reg.url))).await;
    assert_eq!(error_code(resp).await, "PAGINATION_NUMBER_INVALID");
}

#[tokio::test]
async fn referrers_and_subject() {
    let reg = TestRegistry::start("").await;
    let c = client();
    let (subject, m) = push_image(&reg, "sig/app", "v1", "subject").await;
    let subject_len = serde_json::to_vec(&m).unwrap().len();
    let empty = push_blob(&reg, "sig/app", b"{}").await;
    let mut referrer_digests = Vec::new();
    for at in [
        "application/vnd.example.sig",
        "application/vnd.example.sbom",
    ] {
        let mut r = image_manifest(
            &empty,
            2,
            &[],
            Some(json!({"mediaType": OCI_MANIFEST, "digest": subject, "size": subject_len})),
        );
        r["artifactType"] = json!(at);
        r["annotations"] = json!({"kind": at});
        let resp = put_manifest(
            &reg,
            "sig/app",
            &digest(&serde_json::to_vec(&r).unwrap()),
            OCI_MANIFEST,
            &r,
        )
        .await;
        assert_eq!(resp.status(), StatusCode::CREATED);
        assert_eq!(resp.headers()["oci-subject"], subject.as_str());
        referrer_digests.push(
            resp.headers()["docker-content-digest"]
                .to_str()
                .unwrap()
                .to_string(),
        );
    }
    let resp = common::send(c.get(format!("{}/v2/sig/app/referrers/{subject}", reg.url))).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], OCI_INDEX);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["mediaType"], OCI_INDEX);
    let mut got: Vec<String> = body["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["digest"].as_str().unwrap().to_string())
        .collect();
    got.sort();
    referrer_digests.sort();
    assert_eq!(got, referrer_digests);
    let resp = common::send(c.get(format!(
        "{}/v2/sig/app/referrers/{subject}?artifactType=application/vnd.example.sbom",
        reg.url
    )))
    .await;
    assert_eq!(resp.headers()["oci-filters-applied"], "artifactType");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["manifests"].as_array().unwrap().len(), 1);
    assert_eq!(
        body["manifests"][0]["artifactType"],
        "application/vnd.example.sbom"
    );
    assert_eq!(
        body["manifests"][0]["annotations"]["kind"],
        "application/vnd.example.sbom"
    );
    // A subject nobody refers to: an empty list, not an error.
    let resp =
        common::send(c.get(format!("{}/v2/sig/app/referrers/{}", reg.url, digest(b"x")))).await;
    assert_eq!(resp.json::<Value>().await.unwrap()["manifests"], json!([]));
}

#[tokio::test]
async fn deletes_need_the_switch() {
    let off = TestRegistry::start("").await;
    let (d, _) = push_image(&off, "del/app", "v1", "x").await;
    for url in [
        format!("/v2/del/app/manifests/{d}"),
        "/v2/del/app/manifests/v1".into(),
    ] {
        let resp = common::send(client().delete(format!("{}{url}", off.url))).await;
        assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(error_code(resp).await, "UNSUPPORTED");
    }

    let reg = TestRegistry::start("  delete:\n    enabled: true\n").await;
    let c = client();
    let (d, m) = push_image(&reg, "del/app", "v1", "x").await;
    put_manifest(&reg, "del/app", "v2", OCI_MANIFEST, &m).await;
    put_manifest(&reg, "del/app", "keep", OCI_MANIFEST, &m).await;
    // By tag: only that tag goes.
    let resp = common::send(c.delete(format!("{}/v2/del/app/manifests/keep", reg.url))).await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let tags: Value = common::json_of(c.get(format!("{}/v2/del/app/tags/list", reg.url))).await;
    assert_eq!(tags["tags"], json!(["v1", "v2"]));
    // By digest: the manifest and every tag on it.
    let resp = common::send(c.delete(format!("{}/v2/del/app/manifests/{d}", reg.url))).await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let resp = common::send(c.get(format!("{}/v2/del/app/manifests/v1", reg.url))).await;
    assert_eq!(error_code(resp).await, "MANIFEST_UNKNOWN");
    let tags: Value = common::json_of(c.get(format!("{}/v2/del/app/tags/list", reg.url))).await;
    assert_eq!(tags["tags"], json!([]));
    let resp = common::send(c.delete(format!("{}/v2/del/app/manifests/{d}", reg.url))).await;
    assert_eq!(error_code(resp).await, "MANIFEST_UNKNOWN");
    // Blobs.
    let layer = m["layers"][0]["digest"].as_str().unwrap();
    let resp = common::send(c.delete(format!("{}/v2/del/app/blobs/{layer}", reg.url))).await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let resp = common::send(c.head(format!("{}/v2/del/app/blobs/{layer}", reg.url))).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn read_only_mode_serves_reads_and_refuses_writes() {
    let dir = tempfile::tempdir().unwrap();
    let rw = TestRegistry::start_on(dir.path(), "").await;
    let (d, _) = push_image(&rw, "ro/app", "v1", "ro").await;
    rw.stop().await;
    let ro = TestRegistry::start_on(
        dir.path(),
        "  maintenance:\n    readonly:\n      enabled: true\n",
    )
    .await;
    let resp = common::send(client().get(format!("{}/v2/ro/app/manifests/{d}", ro.url))).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = common::send(client().post(format!("{}/v2/ro/app/blobs/uploads/", ro.url))).await;
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(error_code(resp).await, "UNSUPPORTED");
}

/// A request, the status and the error code it must get.
type BadCase<'a> = (
    Method,
    String,
    Vec<(&'a str, String)>,
    Vec<u8>,
    StatusCode,
    &'a str,
);

/// Each bad request gets the spec's error, no 5xx, and leaves nothing
/// half-written in the storage.
#[tokio::test]
async fn bad_input_is_refused_cleanly() {
    let reg = TestRegistry::start("").await;
    let c = client();
    let (_, _) = push_image(&reg, "ok/app", "v1", "base").await;
    let before = reg.files();
    let long_name = format!("{}/tags/list", "a".repeat(256));
    let good = digest(b"x");
    let big_manifest = vec![b' '; 4 * 1024 * 1024 + 1];
    let cases: Vec<BadCase> = vec![
        (
            Method::GET,
            "/v2/UPPER/tags/list".into(),
            vec![],
            vec![],
            StatusCode::BAD_REQUEST,
            "NAME_INVALID",
        ),
        (
            Method::GET,
            "/v2/a//b/tags/list".into(),
            vec![],
            vec![],
            StatusCode::BAD_REQUEST,
            "NAME_INVALID",
        ),
        (
            Method::GET,
            "/v2/a%2Fb/tags/list".into(),
            vec![],
            vec![],
            StatusCode::BAD_REQUEST,
            "NAME_INVALID",
        ),
        (
            Method::GET,
            format!("/v2/{long_name}"),
            vec![],
            vec![],
            StatusCode::BAD_REQUEST,
            "NAME_INVALID",
        ),
        (
            Method::POST,
            "/v2/Bad/blobs/uploads/".into(),
            vec![],
            vec![],
            StatusCode::BAD_REQUEST,
            "NAME_INVALID",
        ),
        (
            Method::GET,
            "/v2/ok/app/blobs/sha256:xyz".into(),
            vec![],
            vec![],
            StatusCode::BAD_REQUEST,
            "DIGEST_INVALID",
        ),
        (
            Method::GET,
            "/v2/ok/app/blobs/md5:d41d8cd98f00b204e9800998ecf8427e".into(),
            vec![],
            vec![],
            StatusCode::BAD_REQUEST,
            "DIGEST_INVALID",
        ),
        (
            Method::POST,
            format!("/v2/ok/app/blobs/uploads/?digest={good}"),
            vec![],
            b"not x".to_vec(),
            StatusCode::BAD_REQUEST,
            "DIGEST_INVALID",
        ),
        (
            Method::POST,
            "/v2/ok/app/blobs/uploads/?digest=sha256:00".into(),
            vec![],
            b"x".to_vec(),
            StatusCode::BAD_REQUEST,
            "DIGEST_INVALID",
        ),
        (
            Method::PATCH,
            "/v2/ok/app/blobs/uploads/00000000-0000-4000-8000-000000000000".into(),
            vec![],
            b"x".to_vec(),
            StatusCode::NOT_FOUND,
            "BLOB_UPLOAD_UNKNOWN",
        ),
        (
            Method::PUT,
            format!("/v2/ok/app/blobs/uploads/not-a-uuid?digest={good}"),
            vec![],
            b"x".to_vec(),
            StatusCode::NOT_FOUND,
            "BLOB_UPLOAD_UNKNOWN",
        ),
        (
            Method::GET,
            "/v2/ok/app/blobs/uploads/..%2F..%2Fetc".into(),
            vec![],
            vec![],
            StatusCode::NOT_FOUND,
            "BLOB_UPLOAD_UNKNOWN",
        ),
        (
            Method::PUT,
            "/v2/ok/app/manifests/v2".into(),
            vec![("content-type", OCI_MANIFEST.into())],
            b"{not json".to_vec(),
            StatusCode::BAD_REQUEST,
            "MANIFEST_INVALID",
        ),
        (
            Method::PUT,
            "/v2/ok/app/manifests/v2".into(),
            vec![(
                "content-type",
                "application/vnd.docker.distribution.manifest.v1+prettyjws".into(),
            )],
            br#"{"schemaVersion":1,"name":"ok/app","tag":"v2","fsLayers":[]}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "MANIFEST_INVALID",
        ),
        (
            Method::PUT,
            "/v2/ok/app/manifests/v2".into(),
            vec![("content-type", OCI_MANIFEST.into())],
            format!("{}{}", "[".repeat(10000), "]".repeat(10000)).into_bytes(),
            StatusCode::BAD_REQUEST,
            "MANIFEST_INVALID",
        ),
        (
            Method::PUT,
            "/v2/ok/app/manifests/v2".into(),
            vec![("content-type", OCI_MANIFEST.into())],
            big_manifest,
            StatusCode::PAYLOAD_TOO_LARGE,
            "SIZE_INVALID",
        ),
        (
            Method::PUT,
            "/v2/ok/app/manifests/-bad-tag".into(),
            vec![("content-type", OCI_MANIFEST.into())],
            b"{}".to_vec(),
            StatusCode::BAD_REQUEST,
            "TAG_INVALID",
        ),
        (
            Method::PUT,
            format!("/v2/ok/app/manifests/{}", "t".repeat(129)),
            vec![("content-type", OCI_MANIFEST.into())],
            b"{}".to_vec(),
            StatusCode::BAD_REQUEST,
            "TAG_INVALID",
        ),
        (
            Method::PUT,
            format!("/v2/ok/app/manifests/{good}"),
            vec![("content-type", OCI_MANIFEST.into())],
            serde_json::to_vec(&image_manifest(&good, 1, &[], None)).unwrap(),
            StatusCode::BAD_REQUEST,
            "DIGEST_INVALID",
        ),
        (
            Method::PUT,
            "/v2/ok/app/manifests/v3".into(),
            vec![("content-type", OCI_MANIFEST.into())],
            serde_json::to_vec(&image_manifest(&digest(b"missing config"), 1, &[], None)).unwrap(),
            StatusCode::BAD_REQUEST,
            "MANIFEST_BLOB_UNKNOWN",
        ),
        (
            Method::GET,
            "/v2/ok/app/manifests/.INVALID_MANIFEST_NAME".into(),
            vec![],
            vec![],
            StatusCode::NOT_FOUND,
            "MANIFEST_UNKNOWN",
        ),
        (
            Method::GET,
            "/v2/ok/app/manifests/nope".into(),
            vec![],
            vec![],
            StatusCode::NOT_FOUND,
            "MANIFEST_UNKNOWN",
        ),
        (
            Method::GET,
            format!("/v2/ok/app/referrers/{}", "sha256:abc"),
            vec![],
            vec![],
            StatusCode::BAD_REQUEST,
            "DIGEST_INVALID",
        ),
        (
            Method::GET,
            "/v2/_catalog?n=abc".into(),
            vec![],
            vec![],
            StatusCode::BAD_REQUEST,
            "PAGINATION_NUMBER_INVALID",
        ),
    ];
    for (method, path, headers, body, status, code) in cases {
        let mut rb = c
            .request(method.clone(), format!("{}{path}", reg.url))
            .body(body);
        for (k, v) in headers {
            rb = rb.header(k, v);
        }
        let resp = rb.send().await.unwrap();
        assert_eq!(resp.status(), status, "{method} {path}");
        assert_eq!(error_code(resp).await, code, "{method} {path}");
    }
    // Paths a client library would normalise, sent as written.
    for path in [
        "/v2/a/../b/tags/list",
        "/v2/../ok/app/tags/list",
        "/v2/ok/./app/manifests/v1",
        "/v2/ok/app%00/tags/list",
    ] {
        let (status, body) = common::raw_request(
            reg.addr,
            &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        )
        .await;
        assert_eq!(status, 400, "{path}");
        assert!(body.contains("NAME_INVALID"), "{path}: {body}");
    }
    // A chunk out of order, then a Content-Range that lies about its length.
    let resp = common::send(c.post(format!("{}/v2/ok/app/blobs/uploads/", reg.url))).await;
    let loc = resp.headers()["location"].to_str().unwrap().to_string();
    let resp = patch_range(&c, &reg, &loc, "10-19", vec![0u8; 10]).await;
    assert_eq!(resp.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    let resp = patch_range(&c, &reg, &loc, "0-99", vec![0u8; 10]).await;
    assert_eq!(error_code(resp).await, "BLOB_UPLOAD_INVALID");
    let resp = patch_range(&c, &reg, &loc, "zero-ten", vec![0u8; 10]).await;
    assert_eq!(error_code(resp).await, "BLOB_UPLOAD_INVALID");
    let resp = common::send(c.get(format!("{}{loc}", reg.url))).await;
    assert_eq!(
        resp.headers()["range"],
        "0-0",
        "refused chunks left nothing behind"
    );
    common::send(c.delete(format!("{}{loc}", reg.url))).await;
    // The registry is healthy and the storage holds exactly what it held.
    let resp = common::send(c.get(format!("{}/v2/ok/app/manifests/v1", reg.url))).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(reg.files(), before);
}

/// Many clients push the same blob and overwrite the same tag at once:
/// every push succeeds, the blob verifies, and the tag ends on a manifest
/// one of them pushed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_pushes_of_one_blob_and_one_tag() {
    let reg = std::sync::Arc::new(TestRegistry::start("").await);
    let shared: Vec<u8> = (0..2_000_000u32).map(|i| (i % 249) as u8).collect();
    let mut tasks = Vec::new();
    for i in 0..24 {
        let reg = reg.clone();
        let shared = shared.clone();
        tasks.push(tokio::spawn(async move {
            let layer = push_blob(&reg, "race/app", &shared).await;
            let config = format!("{{\"client\":{i}}}");
            let c = push_blob(&reg, "race/app", config.as_bytes()).await;
            let m = image_manifest(&c, config.len(), &[(&layer, shared.len())], None);
            let resp = put_manifest(&reg, "race/app", "latest", OCI_MANIFEST, &m).await;
            assert_eq!(resp.status(), StatusCode::CREATED);
            resp.headers()["docker-content-digest"]
                .to_str()
                .unwrap()
                .to_string()
        }));
    }
    let mut pushed = Vec::new();
    for t in tasks {
        pushed.push(t.await.unwrap());
    }
    let c = client();
    let resp = common::send(c.get(format!("{}/v2/race/app/manifests/latest", reg.url))).await;
    let current = resp.headers()["docker-content-digest"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(pushed.contains(&current));
    let body =
        common::body_of(c.get(format!("{}/v2/race/app/blobs/{}", reg.url, digest(&shared)))).await;
    assert_eq!(digest(&body), digest(&shared));
    for d in &pushed {
        let resp = common::send(c.head(format!("{}/v2/race/app/manifests/{d}", reg.url))).await;
        assert_eq!(resp.status(), StatusCode::OK);
    }
    assert!(
        !reg.files()
            .iter()
            .any(|f| f.contains("_uploads") || f.contains(".tmp-")),
        "{:?}",
        reg.files()
    );
}
