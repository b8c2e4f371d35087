//! A corpus of malformed requests at the HTTP layer. Each gets a 4xx (with
//! the spec's JSON error whenever the request reached the registry API), and
//! the server stays healthy and its storage unchanged.

mod common;

use common::{TestRegistry, digest, raw_request};

fn req(method: &str, path: &str, headers: &[&str], body: &[u8]) -> Vec<u8> {
    let mut h = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    for line in headers {
        h.push_str(line);
        h.push_str("\r\n");
    }
    if !headers.iter().any(|l| {
        l.to_ascii_lowercase().starts_with("content-length")
            || l.to_ascii_lowercase().starts_with("transfer-encoding")
    }) {
        h.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    h.push_str("\r\n");
    [h.into_bytes(), body.to_vec()].concat()
}

#[tokio::test(flavor = "multi_thread")]
async fn sixty_plus_malformed_requests() {
    let reg = TestRegistry::start("  delete:\n    enabled: true\n").await;
    // Content to aim at.
    let c = common::client();
    let layer = b"corpus layer".to_vec();
    let d = digest(&layer);
    common::send(
        c.post(format!("{}/v2/ok/app/blobs/uploads/?digest={d}", reg.url))
            .body(layer.clone()),
    )
    .await;
    let resp = common::send(c.post(format!("{}/v2/ok/app/blobs/uploads/", reg.url))).await;
    let upload = resp.headers()["location"].to_str().unwrap().to_string();
    common::send(c.patch(format!("{}{upload}", reg.url)).body(vec![1u8; 10])).await;
    let before = reg.files();

    let huge_header = format!("X-Big: {}", "a".repeat(100 * 1024));
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let deep_obj = format!("{}1{}", "{\"a\":".repeat(3000), "}".repeat(3000));
    let mt = "Content-Type: application/vnd.oci.image.manifest.v1+json";
    let missing = digest(b"absent");
    let self_index = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"{missing}","size":1}}]}}"#
    );
    let cfg_missing = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"x","digest":"{missing}","size":1}},"layers":[]}}"#
    );
    let up = upload.as_str();
    let cases: Vec<(Vec<u8>, bool)> = vec![
        // (raw request, reaches the API and so must carry the JSON error)
        (req("GET", "/v2/../../etc/passwd/tags/list", &[], b""), true),
        (req("GET", "/v2/ok/../app/tags/list", &[], b""), true),
        (req("GET", "/v2/ok/%2e%2e/app/tags/list", &[], b""), true),
        (req("GET", "/v2/ok%2Fapp/tags/list", &[], b""), true),
        (req("GET", "/v2/ok%2fapp/manifests/latest", &[], b""), true),
        (req("GET", "/v2/ok/app%00/tags/list", &[], b""), true),
        (req("GET", "/v2/ok/app%252F/tags/list", &[], b""), true),
        (req("GET", "/v2/ok\\app/tags/list", &[], b""), true),
        (req("GET", "/v2/OK/app/tags/list", &[], b""), true),
        (req("GET", "/v2/ok//app/tags/list", &[], b""), true),
        (req("GET", "/v2/ok/app./tags/list", &[], b""), true),
        (req("GET", "/v2/-ok/app/tags/list", &[], b""), true),
        (
            req(
                "GET",
                &format!("/v2/{}/tags/list", "a/".repeat(200)),
                &[],
                b"",
            ),
            true,
        ),
        (req("GET", "/v2/ok/app/manifests/..", &[], b""), true),
        (req("GET", "/v2/ok/app/manifests/%2e%2e", &[], b""), true),
        (
            req("GET", "/v2/ok/app/manifests/sha256:..%2F..%2F", &[], b""),
            true,
        ),
        (
            req(
                "GET",
                "/v2/ok/app/blobs/sha256:../../../../etc/passwd",
                &[],
                b"",
            ),
            true,
        ),
        (req("GET", "/v2/ok/app/blobs/sha256%3Aabc", &[], b""), true),
        (req("GET", "/v2/ok/app/blobs/SHA256:00", &[], b""), true),
        (
            req(
                "GET",
                &format!("/v2/ok/app/blobs/{}", d.to_uppercase()),
                &[],
                b"",
            ),
            true,
        ),
        (
            req("GET", "/v2/ok/app/blobs/uploads/../../../x", &[], b""),
            true,
        ),
        (
            req(
                "GET",
                "/v2/ok/app/blobs/uploads/00000000-0000-0000-0000-00000000000G",
                &[],
                b"",
            ),
            true,
        ),
        (req("PATCH", "/v2/ok/app/blobs/uploads/..", &[], b"x"), true),
        (
            req("DELETE", "/v2/ok/app/blobs/uploads/%2e%2e", &[], b""),
            true,
        ),
        (
            req("GET", "/v2/ok/app/referrers/notadigest", &[], b""),
            true,
        ),
        (req("GET", "/v2/_catalog?n=-5", &[], b""), true),
        (
            req("GET", "/v2/_catalog?n=99999999999999999999999", &[], b""),
            true,
        ),
        (req("GET", "/v2/ok/app/tags/list?n=x", &[], b""), true),
        (
            req(
                "POST",
                "/v2/ok/app/blobs/uploads/?digest=sha256:zz",
                &[],
                b"x",
            ),
            true,
        ),
        (
            req(
                "POST",
                "/v2/ok/app/blobs/uploads/?mount=bad&from=ok/app",
                &[],
                b"",
            ),
            true,
        ),
        (
            req(
                "POST",
                &format!("/v2/ok/app/blobs/uploads/?mount={d}&from=../x"),
                &[],
                b"",
            ),
            true,
        ),
        (
            req(
                "POST",
                &format!("/v2/ok/app/blobs/uploads/?digest={missing}"),
                &[],
                b"wrong content",
            ),
            true,
        ),
        (
            req("PATCH", up, &["Content-Range: 100-200"], &[0u8; 101]),
            true,
        ),
        (req("PATCH", up, &["Content-Range: 5-1"], b""), true),
        (req("PATCH", up, &["Content-Range: 10-19"], b"short"), true),
        (req("PATCH", up, &["Content-Range: a-b"], b"x"), true),
        (req("PATCH", up, &["Content-Range: -1-3"], b"xxxx"), true),
        (
            req(
                "PATCH",
                up,
                &["Content-Range: 18446744073709551615-18446744073709551615"],
                b"x",
            ),
            true,
        ),
        (req("PUT", up, &[], b""), true),
        (
            req("PUT", &format!("{up}?digest=sha256:00"), &[], b""),
            true,
        ),
        (
            req(
                "PUT",
                &format!("{up}?digest={missing}"),
                &["Content-Range: 0-3"],
                b"abcd",
            ),
            true,
        ),
        (
            req("PUT", "/v2/ok/app/manifests/v1", &[mt], b"{not json"),
            true,
        ),
        (req("PUT", "/v2/ok/app/manifests/v1", &[mt], b""), true),
        (req("PUT", "/v2/ok/app/manifests/v1", &[mt], b"[]"), true),
        (req("PUT", "/v2/ok/app/manifests/v1", &[mt], b"null"), true),
        (
            req("PUT", "/v2/ok/app/manifests/v1", &[mt], deep.as_bytes()),
            true,
        ),
        (
            req("PUT", "/v2/ok/app/manifests/v1", &[mt], deep_obj.as_bytes()),
            true,
        ),
        (
            req(
                "PUT",
                "/v2/ok/app/manifests/v1",
                &[mt],
                b"{\"schemaVersion\":\"2\"}",
            ),
            true,
        ),
        (
            req("PUT", "/v2/ok/app/manifests/v1", &[mt], b"\xff\xfe{}"),
            true,
        ),
        (
            req(
                "PUT",
                "/v2/ok/app/manifests/v1",
                &["Content-Type: text/plain"],
                b"{\"schemaVersion\":2}",
            ),
            true,
        ),
        (
            req(
                "PUT",
                "/v2/ok/app/manifests/v1",
                &["Content-Type: application/vnd.docker.distribution.manifest.v2+json"],
                cfg_missing
                    .replace(
                        "application/vnd.oci.image.manifest.v1+json",
                        "application/vnd.oci.image.index.v1+json",
                    )
                    .as_bytes(),
            ),
            true,
        ),
        (
            req(
                "PUT",
                "/v2/ok/app/manifests/v1",
                &[mt],
                cfg_missing.as_bytes(),
            ),
            true,
        ),
        (
            req(
                "PUT",
                "/v2/ok/app/manifests/self",
                &["Content-Type: application/vnd.oci.image.index.v1+json"],
                self_index.as_bytes(),
            ),
            true,
        ),
        (
            req("PUT", "/v2/ok/app/manifests/bad:tag", &[mt], b"{}"),
            true,
        ),
        (
            req(
                "PUT",
                &format!("/v2/ok/app/manifests/{}", "x".repeat(300)),
                &[mt],
                b"{}",
            ),
            true,
        ),
        (
            req(
                "PUT",
                "/v2/ok/app/manifests/v1",
                &[mt, "Content-Length: 99999999"],
                b"",
            ),
            true,
        ),
        (
            req("DELETE", "/v2/ok/app/manifests/nonexistent", &[], b""),
            true,
        ),
        (
            req("DELETE", &format!("/v2/ok/app/blobs/{missing}"), &[], b""),
            true,
        ),
        (req("POST", "/v2/ok/app/manifests/v1", &[], b""), true),
        (req("PATCH", "/v2/_catalog", &[], b""), true),
        (req("BREW", "/v2/", &[], b""), true),
        // Rejected by the HTTP parser before the API: a 4xx, no JSON.
        (req("GET", "/v2/", &[&huge_header], b""), false),
        (
            req(
                "PUT",
                "/v2/ok/app/manifests/v1",
                &["Content-Length: 99999999999999999999999"],
                b"",
            ),
            false,
        ),
        (
            req(
                "PUT",
                "/v2/ok/app/manifests/v1",
                &["Content-Length: -1"],
                b"",
            ),
            false,
        ),
        (
            req(
                "PUT",
                "/v2/ok/app/manifests/v1",
                &["Content-Length: 3", "Content-Length: 4"],
                b"abcd",
            ),
            false,
        ),
        (
            req(
                "PUT",
                "/v2/ok/app/manifests/v1",
                &["Content-Length: 3", "Transfer-Encoding: chunked"],
                b"0\r\n\r\n",
            ),
            false,
        ),
        (b"GET /v2/\0 HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), false),
        (
            b"GET /v2/ HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n".to_vec(),
            false,
        ),
        (b"\x16\x03\x01\x00\x05hello".to_vec(), false),
    ];
    assert!(cases.len() >= 60, "{} cases", cases.len());
    for (raw, api) in &cases {
        let (status, body) = raw_request(reg.addr, raw).await;
        let shown = String::from_utf8_lossy(&raw[..raw.len().min(120)]).to_string();
        assert!((400..500).contains(&status), "{shown}: status {status}");
        if *api {
            let v: serde_json::Value =
                serde_json::from_str(&body).unwrap_or_else(|e| panic!("{shown}: {e}: {body}"));
            assert!(v["errors"][0]["code"].is_string(), "{shown}: {body}");
        }
    }
    // Healthy, and nothing stored changed (the refused chunks were rolled back).
    let resp = common::send(c.get(format!("{}/v2/ok/app/blobs/{d}", reg.url))).await;
    assert_eq!(resp.bytes().await.unwrap().as_ref(), &layer[..]);
    assert_eq!(reg.files(), before);
    assert_eq!(common::store::verify(&reg.root), Vec::<String>::new());
}
