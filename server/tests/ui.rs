//! The web UI against a real labreg: images pushed by skopeo, users from
//! Apache's htpasswd, access rules; the browser cases run in headless
//! Chromium (Debian's) driven by Playwright (`server/ui-tests/test.mjs`),
//! which also takes the README's screenshots (docs/ui/, rewritten with
//! `UPDATE_UI_SCREENSHOTS=1`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use base64::Engine;
use common::oci::{make_layout, platform_digest};
use common::tools::{require, run, skopeo_copy_with};
use common::{TestRegistry, client, digest};
use serde_json::{Value, json};

const USERS: [(&str, &str); 3] = [
    ("admin", "admin-pw"),
    ("alice", "alice-pw"),
    ("bob", "bob-pw"),
];

fn basic(user: &str, pw: &str) -> String {
    let raw = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"));
    format!("Basic {raw}")
}

/// htpasswd from Apache's `htpasswd -Bbn`, access rules as the README
/// documents them, deletes on, the UI on.
async fn config(dir: &Path, ui: bool) -> String {
    let mut htpasswd = String::new();
    for (u, p) in USERS {
        htpasswd.push_str(run("htpasswd", &["-Bbn", "-C", "5", u, p]).await.trim());
        htpasswd.push('\n');
    }
    let path = dir.join("htpasswd");
    std::fs::write(&path, htpasswd).unwrap();
    format!(
        "  delete:\n    enabled: true\nauth:\n  htpasswd:\n    realm: homelab\n    path: {}\n\
         labreg:\n  ui:\n    enabled: {ui}\n  access:\n\
         \x20   - users: [admin]\n      repositories: ['*']\n      actions: [pull, push, delete]\n\
         \x20   - users: [alice]\n      repositories: ['team/*']\n      actions: [pull, delete]\n\
         \x20   - users: [bob]\n      repositories: ['team/*']\n      actions: [pull]\n",
        path.display()
    )
}

async fn skopeo_push(layout: &Path, tag: &str, dest: &str) {
    skopeo_copy_with(
        &[
            "--all",
            "--dest-tls-verify=false",
            "--dest-creds",
            "admin:admin-pw",
        ],
        &format!("oci:{}:{tag}", layout.display()),
        &format!("docker://{dest}"),
    )
    .await;
}

/// An SBOM referrer of `subject` (no client here pushes referrers; this is
/// the OCI 1.1 artifact manifest a tool like oras writes).
async fn push_sbom(reg: &TestRegistry, name: &str, subject: &str) {
    let auth = basic("admin", "admin-pw");
    let mut descs = Vec::new();
    for (data, media_type) in [
        (&b"{}"[..], "application/vnd.oci.empty.v1+json"),
        (
            &br#"{"spdxVersion":"SPDX-2.3"}"#[..],
            "application/spdx+json",
        ),
    ] {
        let d = digest(data);
        let resp = common::send(
            client()
                .post(format!("{}/v2/{name}/blobs/uploads/?digest={d}", reg.url))
                .header("authorization", &auth)
                .body(data.to_vec()),
        )
        .await;
        assert_eq!(resp.status(), 201);
        descs.push(json!({"mediaType": media_type, "digest": d, "size": data.len()}));
    }
    let subject_size = common::send(
        client()
            .head(format!("{}/v2/{name}/manifests/{subject}", reg.url))
            .header("authorization", &auth)
            .header("accept", "application/vnd.oci.image.index.v1+json"),
    )
    .await
    .headers()["content-length"]
        .to_str()
        .unwrap()
        .parse::<u64>()
        .unwrap();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/spdx+json",
        "config": descs[0],
        "layers": [descs[1]],
        "subject": {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": subject, "size": subject_size},
        "annotations": {"org.opencontainers.image.created": "2026-01-02T03:04:05Z"},
    });
    let body = serde_json::to_vec(&manifest).unwrap();
    let resp = common::send(
        client()
            .put(format!("{}/v2/{name}/manifests/{}", reg.url, digest(&body)))
            .header("authorization", &auth)
            .header("content-type", "application/vnd.oci.image.manifest.v1+json")
            .body(body),
    )
    .await;
    assert_eq!(resp.status(), 201, "{:?}", resp.text().await);
}

fn ui_tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("ui-tests")
}

/// `npm ci` from the committed lockfile when node_modules is missing.
async fn install_playwright() {
    let dir = ui_tests_dir();
    if dir.join("node_modules/playwright-core").is_dir() {
        return;
    }
    require("npm");
    let out = tokio::process::Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(&dir)
        .output()
        .await
        .expect("npm runs");
    assert!(
        out.status.success(),
        "npm ci failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn browser_end_to_end() {
    for tool in ["skopeo", "htpasswd", "chromium", "node"] {
        require(tool);
    }
    install_playwright().await;
    let dir = tempfile::tempdir().unwrap();
    let reg = TestRegistry::start(&config(dir.path(), true).await).await;
    let host = reg.host();

    let multi = dir.path().join("multi");
    let app = make_layout(
        &multi,
        "v1",
        &[("linux", "amd64"), ("linux", "arm64")],
        "team app",
    );
    skopeo_push(&multi, "v1", &format!("{host}/team/app:v1")).await;
    skopeo_push(&multi, "v1", &format!("{host}/team/app:latest")).await;
    let single = dir.path().join("single");
    make_layout(&single, "1.0", &[("linux", "amd64")], "tool");
    skopeo_push(&single, "1.0", &format!("{host}/team/tool:1.0")).await;
    skopeo_push(&single, "1.0", &format!("{host}/other/secret:1.0")).await;
    push_sbom(&reg, "team/app", &app).await;
    let index: Value =
        serde_json::from_slice(&std::fs::read(multi.join("blobs/sha256").join(&app[7..])).unwrap())
            .unwrap();
    let arm64 = platform_digest(&index, "arm64");

    let users: serde_json::Map<String, Value> = USERS
        .iter()
        .map(|(u, p)| (u.to_string(), json!(p)))
        .collect();
    // The browser always takes its screenshots; they replace the README's
    // (docs/ui/) only when asked, so a test run leaves the tree clean.
    let shots = match std::env::var_os("UPDATE_UI_SCREENSHOTS") {
        Some(_) => Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/ui"),
        None => dir.path().join("screenshots"),
    };
    let out = tokio::process::Command::new("node")
        .arg("test.mjs")
        .current_dir(ui_tests_dir())
        .env("LABREG_URL", &reg.url)
        .env("UI_USERS", Value::Object(users).to_string())
        .env(
            "UI_DIGESTS",
            json!({"app": app, "arm64": arm64}).to_string(),
        )
        .env("SHOTS_DIR", &shots)
        .stdin(Stdio::null())
        .output()
        .await
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: Value = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no JSON report from test.mjs:\n{stdout}\n{stderr}"));
    println!("{report:#}");
    assert_eq!(
        report["failed"],
        json!([]),
        "browser checks failed:\n{report:#}\n{stderr}"
    );
    assert!(out.status.success(), "{stderr}");
    assert!(report["passed"].as_u64().unwrap() >= 25, "{report:#}");
    for shot in [
        "repositories",
        "tags",
        "image-index",
        "image-platform",
        "delete-confirm",
        "health",
    ] {
        let png = std::fs::read(shots.join(format!("{shot}.png"))).unwrap();
        assert!(
            png.starts_with(b"\x89PNG") && png.len() > 10_000,
            "{shot}.png"
        );
    }

    // What the browser did, seen from the API: latest is gone, v1 stays.
    let tags: Value = common::json_of(
        client()
            .get(format!("{}/v2/team/app/tags/list", reg.url))
            .header("authorization", basic("admin", "admin-pw")),
    )
    .await;
    assert_eq!(tags["tags"], json!(["v1"]));
    reg.stop().await;
}

/// The headers every page carries, gzip'd assets with hashed names, and a
/// plain POST without a token refused.
#[tokio::test]
async fn headers_assets_and_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let reg = TestRegistry::start(&config(dir.path(), true).await).await;
    let auth = basic("alice", "alice-pw");
    let resp = common::send(
        client()
            .get(format!("{}/", reg.url))
            .header("authorization", &auth),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let h = resp.headers().clone();
    assert_eq!(
        h["content-security-policy"],
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    );
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "same-origin");
    assert!(h.get("set-cookie").is_none());
    let html = resp.text().await.unwrap();
    assert!(
        !html.contains("<script>") && !html.contains("style="),
        "inline code in {html}"
    );
    let mut total = 0;
    // The stylesheet's link comes first in the page, the script's last.
    let first = html.find("/ui/assets/ui.").unwrap();
    let last = html.rfind("/ui/assets/ui.").unwrap();
    for (ext, at) in [("css", first), ("js", last)] {
        let href = html[at..].split('"').next().unwrap();
        assert!(href.ends_with(ext), "{href}");
        let plain = common::send(client().get(format!("{}{href}", reg.url))).await;
        assert_eq!(plain.status(), 200);
        assert!(
            plain.headers()["cache-control"]
                .to_str()
                .unwrap()
                .contains("immutable")
        );
        let plain = plain.bytes().await.unwrap();
        let gz = common::send(
            client()
                .get(format!("{}{href}", reg.url))
                .header("accept-encoding", "gzip"),
        )
        .await;
        assert_eq!(gz.headers()["content-encoding"], "gzip");
        let gz = gz.bytes().await.unwrap();
        assert!(
            gz.len() < plain.len(),
            "{href}: gzip {} >= {}",
            gz.len(),
            plain.len()
        );
        total += plain.len() + gz.len();
    }
    assert!(total < 64 * 1024, "assets are {total} bytes");
    // An old hash is not served.
    let stale = common::send(client().get(format!("{}/ui/assets/ui.00000000.css", reg.url))).await;
    assert_eq!(stale.status(), 404);

    // curl-style POST (no Origin, no Sec-Fetch-Site) without the token.
    let resp = common::send(
        client()
            .post(format!("{}/ui/delete", reg.url))
            .header("authorization", &auth)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("name=team%2Fapp&ref=v1"),
    )
    .await;
    assert_eq!(resp.status(), 403);
    assert!(resp.text().await.unwrap().contains("token is missing"));
    reg.stop().await;
}

/// With `labreg.ui.enabled` off (the default of a registry:2 config), no UI
/// route answers: they are the API's 404 as before.
#[tokio::test]
async fn disabled_ui_has_no_routes() {
    let dir = tempfile::tempdir().unwrap();
    for extra in [config(dir.path(), false).await, String::new()] {
        let reg = TestRegistry::start(&extra).await;
        for path in [
            "/",
            "/ui",
            "/ui/health",
            "/ui/repo?name=team/app",
            "/ui/delete",
        ] {
            let resp = common::send(
                client()
                    .get(format!("{}{path}", reg.url))
                    .header("authorization", basic("admin", "admin-pw")),
            )
            .await;
            assert_eq!(resp.status(), 404, "{path}");
            assert!(
                resp.headers().get("content-security-policy").is_none(),
                "{path}"
            );
        }
        reg.stop().await;
    }
}
