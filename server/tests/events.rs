//! Every change the API makes comes out as a typed outcome, handed to the
//! event sink once it is durable: a push by skopeo (a real client), a
//! mount, a second tag, deletes of a tag, a manifest and a blob. Failed
//! changes and reads record nothing.

mod common;

use std::sync::{Arc, Mutex};

use base64::Engine;
use common::oci::make_layout;
use common::tools::{htpasswd_file, run};
use common::{TestRegistry, client};
use labreg::auth::Principal;
use labreg::events::EventSink;
use labreg::registry::{Change, ChangeAction};
use serde_json::Value;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// A sink that keeps what it is given.
#[derive(Default)]
struct Recorder(Mutex<Vec<Change>>);

impl EventSink for Recorder {
    fn record(&self, change: &Change) {
        self.0.lock().unwrap().push(change.clone());
    }

    fn pulled(&self, _: &labreg::events::Pull) {}
}

impl Recorder {
    fn take(&self) -> Vec<Change> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// (action, repository, digest, size, media type, tag) of a change.
type Seen = (
    ChangeAction,
    String,
    String,
    Option<u64>,
    Option<String>,
    Option<String>,
);

fn seen(c: &Change) -> Seen {
    (
        c.action,
        c.repository.to_string(),
        c.digest.to_string(),
        c.size,
        c.media_type.clone(),
        c.tag.as_ref().map(|t| t.to_string()),
    )
}

fn blob(action: ChangeAction, repo: &str, digest: &str, size: Option<u64>) -> Seen {
    (action, repo.into(), digest.into(), size, None, None)
}

fn tagged(action: ChangeAction, digest: &str, tag: &str) -> Seen {
    (
        action,
        "app".into(),
        digest.into(),
        None,
        None,
        Some(tag.into()),
    )
}

#[tokio::test]
async fn a_push_and_delete_sequence_reports_each_change() {
    let dir = tempfile::tempdir().unwrap();
    let htpasswd = dir.path().join("htpasswd");
    htpasswd_file(&htpasswd, 10, &[("alice", "secret")]).await;
    let root = dir.path().join("data");
    let yaml = format!(
        "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nauth:\n  htpasswd:\n    realm: test\n    path: {}\n",
        root.display(),
        htpasswd.display()
    );
    let sink = Arc::new(Recorder::default());
    let reg = TestRegistry::start_yaml_with(&yaml, &root, Some(sink.clone())).await;
    let alice = Principal::User("alice".into());
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("alice:secret")
    );

    // A real client pushes an image: its two blobs, then its manifest.
    let layout = dir.path().join("layout");
    let md = make_layout(&layout, "v1", &[("linux", "amd64")], "events");
    let manifest = std::fs::read(layout.join("blobs/sha256").join(&md["sha256:".len()..])).unwrap();
    let m: Value = serde_json::from_slice(&manifest).unwrap();
    let (config, layer) = (&m["config"], &m["layers"][0]);
    let digest_of = |v: &Value| v["digest"].as_str().unwrap().to_string();
    let size_of = |v: &Value| v["size"].as_u64();
    let (src, dest) = (
        format!("oci:{}:v1", layout.display()),
        format!("docker://{}/app:v1", reg.host()),
    );
    let push = [
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds=alice:secret",
    ];
    run("skopeo", &[&push[..], &[&src, &dest]].concat()).await;
    let pushed = sink.take();
    let mut blobs: Vec<Seen> = pushed[..pushed.len() - 1].iter().map(seen).collect();
    blobs.sort();
    let mut want = vec![
        blob(
            ChangeAction::BlobPush,
            "app",
            &digest_of(config),
            size_of(config),
        ),
        blob(
            ChangeAction::BlobPush,
            "app",
            &digest_of(layer),
            size_of(layer),
        ),
    ];
    want.sort();
    assert_eq!(blobs, want, "{pushed:#?}");
    assert_eq!(
        seen(pushed.last().unwrap()),
        (
            ChangeAction::ManifestPush,
            "app".into(),
            md.clone(),
            Some(manifest.len() as u64),
            Some(OCI_MANIFEST.into()),
            Some("v1".into())
        )
    );
    assert!(pushed.iter().all(|c| c.actor == alice), "{pushed:#?}");
    let mut ids: Vec<_> = pushed.iter().map(|c| c.request_id.clone()).collect();
    ids.dedup();
    assert_eq!(ids.len(), pushed.len(), "one request each: {pushed:#?}");

    let send = |method: reqwest::Method, path: String| {
        client()
            .request(method, format!("{}{path}", reg.url))
            .header("authorization", &auth)
    };
    let status =
        |rb: reqwest::RequestBuilder| async move { rb.send().await.unwrap().status().as_u16() };

    // Reads change nothing.
    assert_eq!(
        status(send(reqwest::Method::GET, "/v2/app/manifests/v1".into())).await,
        200
    );
    assert_eq!(
        status(send(reqwest::Method::GET, "/v2/_catalog".into())).await,
        200
    );
    assert!(sink.take().is_empty());

    // A mount; a mount of what the source lacks falls back to an upload
    // and changes nothing.
    let layer_digest = digest_of(layer);
    let mount = format!("/v2/other/blobs/uploads/?mount={layer_digest}&from=app");
    assert_eq!(status(send(reqwest::Method::POST, mount)).await, 201);
    let missing = format!(
        "/v2/other/blobs/uploads/?mount={}&from=app",
        common::digest(b"none")
    );
    assert_eq!(status(send(reqwest::Method::POST, missing)).await, 202);
    assert_eq!(
        sink.take().iter().map(seen).collect::<Vec<_>>(),
        vec![blob(
            ChangeAction::BlobMount,
            "other",
            &layer_digest,
            size_of(layer)
        )]
    );

    // A second tag on the same manifest, then a delete of that tag.
    let put = send(reqwest::Method::PUT, "/v2/app/manifests/v2".into())
        .header("content-type", OCI_MANIFEST)
        .body(manifest.clone());
    assert_eq!(status(put).await, 201);
    assert_eq!(
        status(send(reqwest::Method::DELETE, "/v2/app/manifests/v2".into())).await,
        202
    );
    let changes = sink.take();
    assert_eq!(changes.len(), 2, "{changes:#?}");
    assert_eq!(changes[0].action, ChangeAction::ManifestPush);
    assert_eq!(changes[0].tag.as_ref().map(|t| t.as_str()), Some("v2"));
    assert_eq!(
        seen(&changes[1]),
        tagged(ChangeAction::TagDelete, &md, "v2")
    );

    // Deleting the manifest by digest removes its remaining tag too.
    let by_digest = format!("/v2/app/manifests/{md}");
    assert_eq!(
        status(send(reqwest::Method::DELETE, by_digest.clone())).await,
        202
    );
    assert_eq!(
        sink.take().iter().map(seen).collect::<Vec<_>>(),
        vec![
            tagged(ChangeAction::TagDelete, &md, "v1"),
            blob(ChangeAction::ManifestDelete, "app", &md, None),
        ]
    );

    // A blob delete; deleting it again fails and records nothing.
    let blob_path = format!("/v2/app/blobs/{layer_digest}");
    assert_eq!(
        status(send(reqwest::Method::DELETE, blob_path.clone())).await,
        202
    );
    assert_eq!(status(send(reqwest::Method::DELETE, blob_path)).await, 404);
    assert_eq!(status(send(reqwest::Method::DELETE, by_digest)).await, 404);
    let changes = sink.take();
    assert_eq!(
        changes.iter().map(seen).collect::<Vec<_>>(),
        vec![blob(ChangeAction::BlobDelete, "app", &layer_digest, None)]
    );
    assert!(changes.iter().all(|c| c.actor == alice));
    reg.stop().await;
}
