//! Webhook notifications against a real HTTP receiver (common/receiver.rs):
//! the same pushes (skopeo), pulls, mounts and deletes against labreg and
//! Debian's docker-registry 2.8, both configured with the same
//! `notifications:` section, give the same events field by field (ids,
//! timestamps and addresses aside); a receiver down for 30 s gets every
//! event once, in order; events pending at a restart are still sent; a
//! receiver that hangs slows no push, and a full queue drops and counts.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::TestRegistry;
use common::oci::make_layout;
use common::process::{Process, free_port};
use common::receiver::Receiver;
use common::tools::{Distribution, htpasswd_file, skopeo_copy_with, skopeo_push_layout};
use serde_json::{Value, json};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const TOKEN: &str = "Bearer n0t-in-any-log";

fn notifications(url: &str, extra: &str) -> String {
    format!(
        "notifications:\n  events:\n    includereferences: true\n  endpoints:\n    - name: hook\n      url: {url}\n      headers:\n        Authorization: [\"{TOKEN}\"]\n      timeout: 2s\n      threshold: 3\n      backoff: 1s\n{extra}"
    )
}

/// An event without what differs between two registries or two runs: ids,
/// timestamps, client addresses and ports, the sender.
fn normalize(e: &Value, host: &str) -> Value {
    let mut target = e["target"].clone();
    if let Some(url) = target.get_mut("url") {
        *url = url.as_str().unwrap().replace(host, "HOST").into();
    }
    json!({
        "action": e["action"],
        "target": target,
        "method": e["request"]["method"],
        "useragent": e["request"]["useragent"],
        "actor": e["actor"],
    })
}

/// The layer and config digests of the image `manifest` in a layout.
fn blobs_of(layout: &Path, manifest: &str) -> (String, String) {
    let m: Value = serde_json::from_slice(
        &std::fs::read(
            layout
                .join("blobs/sha256")
                .join(&manifest["sha256:".len()..]),
        )
        .unwrap(),
    )
    .unwrap();
    (
        m["layers"][0]["digest"].as_str().unwrap().into(),
        m["config"]["digest"].as_str().unwrap().into(),
    )
}

/// Push, pull, HEADs, a mount, a blob delete and a manifest delete, as
/// alice.
async fn exercise(host: &str, layout: &Path, manifest: &str, out: &Path) {
    let creds = "alice:secret";
    skopeo_push_layout(
        &["-q", "--dest-tls-verify=false", "--dest-creds", creds],
        layout,
        "v1",
        &format!("docker://{host}/app:v1"),
    )
    .await;
    skopeo_copy_with(
        &["-q", "--src-tls-verify=false", "--src-creds", creds],
        &format!("docker://{host}/app:v1"),
        &format!("oci:{}:x", out.display()),
    )
    .await;
    let (layer, _) = blobs_of(layout, manifest);
    let http = common::client();
    let base = format!("http://{host}/v2");
    let mount = format!("{base}/other/blobs/uploads/?mount={layer}&from=app");
    use reqwest::Method as M;
    for (method, url, status) in [
        (M::HEAD, format!("{base}/app/manifests/v1"), 200),
        (M::HEAD, format!("{base}/app/blobs/{layer}"), 200),
        (M::POST, mount, 201),
        (M::DELETE, format!("{base}/other/blobs/{layer}"), 202),
        (M::DELETE, format!("{base}/app/manifests/{manifest}"), 202),
    ] {
        let r = http
            .request(method, url)
            .basic_auth("alice", Some("secret"))
            .header("accept", OCI_MANIFEST)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), status, "{}", r.url());
    }
}

fn sorted(mut v: Vec<Value>) -> Vec<Value> {
    v.sort_by_key(|e| e.to_string());
    v
}

#[tokio::test]
async fn labreg_sends_what_registry2_sends() {
    let dir = tempfile::tempdir().unwrap();
    let htpasswd = dir.path().join("htpasswd");
    htpasswd_file(&htpasswd, 5, &[("alice", "secret")]).await;
    let auth = format!(
        "auth:\n  htpasswd:\n    realm: test\n    path: {}\n",
        htpasswd.display()
    );
    let layout = dir.path().join("layout");
    let manifest = make_layout(&layout, "v1", &[("linux", "amd64")], "events");

    let to_labreg = Receiver::start().await;
    let yaml = format!(
        "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n{auth}{}",
        dir.path().join("labreg").display(),
        notifications(&to_labreg.url(), "")
    );
    let labreg = TestRegistry::start_yaml(&yaml, &dir.path().join("labreg")).await;
    let to_distribution = Receiver::start().await;
    let storage = format!(
        "  filesystem: {{rootdirectory: {}}}\n",
        dir.path().join("d").display()
    );
    let extra = format!("{auth}{}", notifications(&to_distribution.url(), ""));
    let distribution = Distribution::start_with(&storage, "", &extra).await;

    exercise(&labreg.host(), &layout, &manifest, &dir.path().join("out1")).await;
    exercise(
        &distribution.host,
        &layout,
        &manifest,
        &dir.path().join("out2"),
    )
    .await;
    let theirs = to_distribution
        .wait_for(usize::MAX, Duration::from_secs(3))
        .await;
    let ours = to_labreg
        .wait_for(theirs.len(), Duration::from_secs(20))
        .await;

    // Each POST: registry:2's media type, the configured header, one event.
    for (who, r) in [("labreg", &to_labreg), ("registry:2", &to_distribution)] {
        for p in r.posts() {
            assert_eq!(
                p.headers["content-type"], "application/vnd.docker.distribution.events.v1+json",
                "{who}"
            );
            assert_eq!(p.headers["authorization"], TOKEN, "{who}");
            assert_eq!(p.body["events"].as_array().unwrap().len(), 1, "{who}");
        }
    }
    // What registry:2 sent is what it is known to send for these requests.
    let actions: Vec<&str> = theirs
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in ["push", "pull", "mount", "delete"] {
        assert!(actions.contains(&a), "registry:2 sent no {a}: {actions:?}");
    }
    assert!(theirs.len() >= 11, "{theirs:#?}");
    let want = sorted(
        theirs
            .iter()
            .map(|e| normalize(e, &distribution.host))
            .collect(),
    );
    let got = sorted(ours.iter().map(|e| normalize(e, &labreg.host())).collect());
    assert_eq!(
        got, want,
        "labreg (left) and registry:2 (right) sent different events"
    );
    // The fields set aside above are there and well formed.
    for e in &ours {
        assert_eq!(e["request"]["host"], labreg.host());
        assert!(
            e["request"]["addr"]
                .as_str()
                .unwrap()
                .starts_with("127.0.0.1:"),
            "{e}"
        );
        assert!(!e["request"]["id"].as_str().unwrap().is_empty());
        assert_eq!(e["id"].as_str().unwrap().len(), 36, "{e}");
        assert!(
            humantime::parse_rfc3339(e["timestamp"].as_str().unwrap()).is_ok(),
            "{e}"
        );
        // hostname:port of http.addr, as registry:2 (the test's listener is
        // bound apart from the config, whose address is the default :5000).
        let source = e["source"]["addr"].as_str().unwrap();
        assert!(source.ends_with(":5000") && source.len() > 5, "{e}");
        assert_eq!(e["source"]["instanceID"].as_str().unwrap().len(), 36);
    }
    distribution.stop().await;
    labreg.stop().await;
}

/// The tags of manifest pushes, in order of arrival.
fn pushed_tags(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["action"] == "push" && e["target"]["mediaType"] == OCI_MANIFEST)
        .map(|e| e["target"]["tag"].as_str().unwrap().to_string())
        .collect()
}

/// Every event once: no id twice, and as many as expected.
fn assert_once(events: &[Value], n: usize) {
    let mut ids: Vec<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), events.len(), "an event arrived twice");
    assert_eq!(events.len(), n, "{events:#?}");
}

/// Pushes `n` images tagged v0.. to `host`; returns each push's duration.
async fn push_images(host: &str, dir: &Path, from: usize, n: usize) -> Vec<Duration> {
    let mut took = Vec::new();
    for i in from..from + n {
        let layout = dir.join(format!("img{i}"));
        make_layout(&layout, "v", &[("linux", "amd64")], &format!("image {i}"));
        let started = Instant::now();
        skopeo_push_layout(
            &["-q", "--dest-tls-verify=false"],
            &layout,
            "v",
            &format!("docker://{host}/app:v{i}"),
        )
        .await;
        took.push(started.elapsed());
    }
    took
}

#[tokio::test]
async fn a_receiver_down_for_30_s_gets_every_event_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut receiver = Receiver::start().await;
    let yaml = format!(
        "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\n{}",
        dir.path().join("data").display(),
        notifications(&receiver.url(), "")
    );
    let labreg = TestRegistry::start_yaml(&yaml, &dir.path().join("data")).await;
    push_images(&labreg.host(), dir.path(), 0, 2).await;
    receiver.wait_for(6, Duration::from_secs(10)).await;
    receiver.down().await;
    let down = Instant::now();
    let took = push_images(&labreg.host(), dir.path(), 2, 4).await;
    assert!(took.iter().all(|t| *t < Duration::from_secs(5)), "{took:?}");
    tokio::time::sleep(Duration::from_secs(30).saturating_sub(down.elapsed())).await;
    assert_eq!(
        receiver.events().len(),
        6,
        "nothing arrives while the receiver is down"
    );
    receiver.up().await;
    let events = receiver.wait_for(18, Duration::from_secs(30)).await;
    assert_once(&events, 18);
    assert_eq!(pushed_tags(&events), ["v0", "v1", "v2", "v3", "v4", "v5"]);
    // Each image's blobs arrive before its manifest, and time only goes on.
    for chunk in events.chunks(3) {
        assert_eq!(chunk[2]["target"]["mediaType"], OCI_MANIFEST, "{chunk:#?}");
        let refs: Vec<&Value> = chunk[2]["target"]["references"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| &r["digest"])
            .collect();
        assert!(
            chunk[..2]
                .iter()
                .all(|b| refs.contains(&&b["target"]["digest"])),
            "{chunk:#?}"
        );
    }
    let times: Vec<_> = events
        .iter()
        .map(|e| humantime::parse_rfc3339(e["timestamp"].as_str().unwrap()).unwrap())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "out of order: {times:?}"
    );
    labreg.stop().await;
}

/// The labreg binary with a config file, its debug server on another port.
async fn serve(dir: &Path, receiver: &Receiver, extra_labreg: &str) -> (Process, String) {
    let debug = free_port();
    let config = dir.join("config.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  debug:\n    addr: 127.0.0.1:{debug}\n    prometheus:\n      enabled: true\nlabreg:\n  notifications:\n    queuedir: {}\n{extra_labreg}{}",
            dir.join("data").display(),
            dir.join("queue").display(),
            notifications(&receiver.url(), "")
        ),
    )
    .unwrap();
    let p = Process::serve(Some(&config), &[], dir).await;
    (p, format!("http://127.0.0.1:{debug}/metrics"))
}

/// One endpoint counter from the Prometheus text.
async fn metric(url: &str, name: &str) -> u64 {
    let text = reqwest::get(url).await.unwrap().text().await.unwrap();
    let line = format!("{name}{{endpoint=\"hook\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&line))
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn events_pending_at_a_restart_are_still_sent() {
    let dir = tempfile::tempdir().unwrap();
    let mut receiver = Receiver::start().await;
    receiver.down().await;
    let (labreg, metrics) = serve(dir.path(), &receiver, "").await;
    push_images(&labreg.host, dir.path(), 0, 2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(metric(&metrics, "labreg_notifications_pending").await, 6);
    assert!(metric(&metrics, "labreg_notifications_failed_total").await >= 1);
    let log = labreg.log();
    assert!(labreg.terminate().await.success());
    assert!(
        !log.contains("n0t-in-any-log"),
        "the header's secret was logged:\n{log}"
    );
    assert!(log.contains("notification not delivered"), "{log}");

    receiver.up().await;
    let (labreg, metrics) = serve(dir.path(), &receiver, "").await;
    let events = receiver.wait_for(6, Duration::from_secs(20)).await;
    assert_once(&events, 6);
    assert_eq!(pushed_tags(&events), ["v0", "v1"]);
    assert_eq!(metric(&metrics, "labreg_notifications_sent_total").await, 6);
    assert_eq!(metric(&metrics, "labreg_notifications_pending").await, 0);
    assert!(!labreg.log().contains("n0t-in-any-log"));
    labreg.terminate().await;
}

#[tokio::test]
async fn a_hanging_receiver_slows_no_push_and_a_full_queue_counts_drops() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start().await;
    receiver.hang(true);
    let baseline = {
        let plain = TestRegistry::start("").await;
        let took = push_images(&plain.host(), &dir.path().join("a"), 0, 5).await;
        plain.stop().await;
        took
    };
    let (labreg, metrics) = serve(dir.path(), &receiver, "    maxpending: 4\n").await;
    let took = push_images(&labreg.host, &dir.path().join("b"), 0, 5).await;
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (base, hung) = (median(baseline), median(took.clone()));
    assert!(
        hung < base * 2 + Duration::from_millis(300),
        "pushes with a hanging receiver took {took:?}, without one {base:?}"
    );
    // 15 events, 4 queued (the first of them in flight): the other 11
    // dropped, counted and logged.
    assert_eq!(metric(&metrics, "labreg_notifications_pending").await, 4);
    assert_eq!(
        metric(&metrics, "labreg_notifications_dropped_total").await,
        11
    );
    assert!(
        labreg.log().contains("notification event dropped"),
        "{}",
        labreg.log()
    );
    labreg.terminate().await;
}
