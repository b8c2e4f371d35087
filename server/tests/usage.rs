//! The usage endpoint's access (an administrator when access rules are on,
//! users from Apache's `htpasswd`), its Prometheus gauges, and `labreg du`
//! on S3 (Garage): totals equal the bytes of the objects under `blobs/`.

mod common;

use std::sync::Arc;

use base64::Engine;
use common::images::{push_blob, push_image};
use common::process::run_own_labreg as run_labreg;
use common::s3::{fresh_root, s3};
use common::suite::pattern;
use common::tools::run;
use common::{TestRegistry, client};
use futures_util::TryStreamExt;
use labreg::registry::paths;
use serde_json::Value;

async fn usage_json(url: &str) -> Value {
    let resp = client()
        .get(format!("{url}/labreg/v1/usage"))
        .send()
        .await
        .unwrap();
    resp.json().await.unwrap()
}

fn basic(user: &str, pw: &str) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"));
    format!("Basic {token}")
}

#[tokio::test(flavor = "multi_thread")]
async fn usage_is_for_administrators_when_rules_are_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = String::new();
    for (u, p) in [("admin", "a-pass"), ("dev", "d-pass")] {
        lines.push_str(run("htpasswd", &["-Bbn", "-C", "5", u, p]).await.trim());
        lines.push('\n');
    }
    let htpasswd = dir.path().join("htpasswd");
    std::fs::write(&htpasswd, lines).unwrap();
    let extra = format!(
        "auth:\n  htpasswd:\n    realm: lab\n    path: {}\nlabreg:\n  access:\n    - users: [admin]\n      repositories: [\"*\"]\n      actions: [pull, push, delete]\n    - users: [dev]\n      repositories: [\"dev/*\"]\n      actions: [pull, push, delete]\n",
        htpasswd.display()
    );
    let reg = TestRegistry::start(&extra).await;
    let get = |auth: Option<String>| {
        let mut rb = client().get(format!("{}/labreg/v1/usage", reg.url));
        if let Some(a) = auth {
            rb = rb.header("authorization", a);
        }
        rb.send()
    };
    let anon = get(None).await.unwrap();
    assert_eq!(anon.status(), 401);
    assert!(anon.headers().contains_key("www-authenticate"));
    assert_eq!(
        get(Some(basic("admin", "wrong"))).await.unwrap().status(),
        401
    );
    let dev = get(Some(basic("dev", "d-pass"))).await.unwrap();
    assert_eq!(dev.status(), 403);
    let body = dev.text().await.unwrap();
    assert!(
        body.contains("DENIED") && body.contains("administrator"),
        "{body}"
    );
    let ok = get(Some(basic("admin", "a-pass"))).await.unwrap();
    assert_eq!(ok.status(), 200);
    let report: Value = ok.json().await.unwrap();
    assert_eq!(report["totals"]["repositories"], 0);
    reg.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn gauges_follow_pushes() {
    let port = common::process::free_port();
    let reg = TestRegistry::start(&format!(
        "http:\n  debug:\n    addr: 127.0.0.1:{port}\n    prometheus:\n      enabled: true\n"
    ))
    .await;
    push_image(&reg.url, "g/one", "v1", &[&pattern(5000, 1)]).await;
    push_blob(&reg.url, "g/one", &pattern(777, 2)).await;
    let report = usage_json(&reg.url).await;
    assert_eq!(report["totals"]["bytes_unreferenced"], 777, "{report}");
    assert_eq!(report["repositories"][0]["tags"], 1);
    // The debug server runs only under `labreg serve`; the gauges render
    // from the same index.
    let state_text = {
        let loaded = labreg::config::Config::from_yaml(
            &format!(
                "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\n",
                reg.root.display()
            ),
            Vec::new(),
        )
        .unwrap();
        let state = labreg::server::build_state(&loaded.config).unwrap();
        let index = state.usage.clone().unwrap();
        index.rebuild().await.unwrap();
        let mut text = String::new();
        index.render_gauges(&mut text).await;
        text
    };
    assert!(
        state_text.contains("labreg_storage_unreferenced_bytes 777"),
        "{state_text}"
    );
    assert!(state_text.contains("labreg_storage_tags 1"), "{state_text}");
    reg.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn du_on_s3_equals_the_bucket() {
    common::process::own_labreg();
    let root = fresh_root();
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!("version: 0.1\nstorage:\n{}", s3().yaml(&root));
    let config = dir.path().join("config.yml");
    std::fs::write(&config, &yaml).unwrap();
    let reg = TestRegistry::start_yaml(&yaml, std::path::Path::new(&root)).await;
    let shared = pattern(30_000, 9);
    for r in 0..3 {
        for t in 0..3 {
            let own = format!("s3/{r}:{t}").into_bytes().repeat(50);
            push_image(
                &reg.url,
                &format!("s3/r{r}"),
                &format!("t{t}"),
                &[&shared, &own],
            )
            .await;
        }
    }
    push_blob(&reg.url, "s3/r0", &pattern(1234, 3)).await;
    let (code, out, err) = run_labreg(&["du", "--output", "json", config.to_str().unwrap()], &[]);
    assert_eq!(code, 0, "{err}");
    let du: Value = serde_json::from_str(&out).unwrap();
    // The bucket's own listing of every object under blobs/.
    let driver: Arc<dyn labreg::storage::StorageDriver> = s3().driver(&root);
    let objects: Vec<_> = driver
        .walk(&paths::blobs_root())
        .try_collect()
        .await
        .unwrap();
    let bytes: u64 = objects
        .iter()
        .filter(|o| o.path.ends_with("/data"))
        .map(|o| o.size)
        .sum();
    assert_eq!(du["totals"]["bytes_stored"].as_u64(), Some(bytes));
    assert_eq!(du["totals"]["bytes_unreferenced"], 1234);
    assert_eq!(du["totals"]["repositories"], 3);
    assert_eq!(du["totals"]["tags"], 9);
    let r0 = &du["repositories"][0];
    assert_eq!(r0["bytes_shared"], 30_000, "the shared layer: {r0}");
    let index = usage_json(&reg.url).await;
    assert_eq!(
        index["totals"], du["totals"],
        "the index kept by pushes == a walk"
    );
    reg.stop().await;
}

async fn catalog(url: &str, query: &str) -> (Value, Option<String>) {
    let resp = common::send(client().get(format!("{url}/v2/_catalog{query}"))).await;
    let link = resp
        .headers()
        .get("link")
        .map(|l| l.to_str().unwrap().to_string());
    (
        resp.json::<Value>().await.unwrap()["repositories"].clone(),
        link,
    )
}

/// `_catalog` from the index only when asked (`labreg.catalog_index`): it
/// pages like the walk, misses what another writer of the same folder
/// pushed until a rebuild, which is why the walk stays the default.
#[tokio::test(flavor = "multi_thread")]
async fn catalog_from_the_index_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let indexed =
        TestRegistry::start_on(dir.path(), "labreg:\n  catalog_index:\n    enabled: true\n").await;
    let other = TestRegistry::start_on(dir.path(), "").await;
    for repo in ["c/one", "c/two"] {
        push_image(&indexed.url, repo, "v1", &[&pattern(300, 1)]).await;
    }
    push_image(&other.url, "c/three", "v1", &[&pattern(300, 2)]).await;
    // The walk (the default) sees every writer's repositories.
    let (all, _) = catalog(&other.url, "").await;
    assert_eq!(all, serde_json::json!(["c/one", "c/three", "c/two"]));
    // The index pages as the walk does, over what it was told of.
    let (first, link) = catalog(&indexed.url, "?n=1").await;
    assert_eq!(first, serde_json::json!(["c/one"]));
    assert_eq!(
        link.as_deref(),
        Some("</v2/_catalog?last=c/one&n=1>; rel=\"next\"")
    );
    let (rest, link) = catalog(&indexed.url, "?n=5&last=c/one").await;
    assert_eq!(
        rest,
        serde_json::json!(["c/two"]),
        "the other writer's push is not in the index"
    );
    assert_eq!(link, None);
    // A rebuild reads the store again.
    let resp =
        common::send(client().get(format!("{}/labreg/v1/usage?rebuild=true", indexed.url))).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(catalog(&indexed.url, "").await.0, all);
    indexed.stop().await;
    other.stop().await;
}
