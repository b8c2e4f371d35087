//! registry:2's event JSON, built from labreg's typed outcomes: the fields,
//! their names and which appear for which action follow what Debian's
//! docker-registry 2.8 sends (checked side by side in
//! `server/tests/notify.rs`).
//!
//! ```text
//! {"events": [{"id", "timestamp", "action": "push|pull|delete|mount",
//!   "target": {"mediaType", "size", "digest", "length", "repository",
//!              "fromRepository", "url", "tag", "references"},
//!   "request": {"id", "addr", "host", "method", "useragent"},
//!   "actor": {"name"}, "source": {"addr", "instanceID"}}]}
//! ```

use serde_json::{Map, Value, json};

use crate::auth::Principal;
use crate::events::Pull;
use crate::registry::{Change, ChangeAction, RequestId, RequestInfo};

/// The envelope's media type, sent as Content-Type.
pub const MEDIA_TYPE: &str = "application/vnd.docker.distribution.events.v1+json";

/// What a blob's events say its media type is (registry:2 knows no better).
const BLOB_MEDIA_TYPE: &str = "application/octet-stream";

/// Which registry sent an event: `hostname:port` and an id per process.
#[derive(Debug, Clone)]
pub struct Source {
    pub addr: String,
    pub instance_id: String,
}

impl Source {
    /// This machine's name with the port labreg listens on.
    pub fn here(port: u16) -> Source {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".into());
        Source {
            addr: format!("{host}:{port}"),
            instance_id: uuid::Uuid::new_v4().to_string(),
        }
    }
}

/// The part of every event that is not the target.
struct Common<'a> {
    action: &'a str,
    actor: &'a Principal,
    request_id: &'a RequestId,
    request: &'a RequestInfo,
}

fn event(c: Common<'_>, target: Map<String, Value>, source: &Source) -> Value {
    let actor = match c.actor {
        Principal::User(u) => json!({ "name": u.as_str() }),
        Principal::Anonymous => json!({}),
    };
    json!({
        "id": uuid::Uuid::new_v4().to_string(),
        "timestamp": humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string(),
        "action": c.action,
        "target": target,
        "request": {
            "id": c.request_id.as_str(),
            "addr": c.request.addr,
            "host": c.request.host,
            "method": c.request.method,
            "useragent": c.request.useragent,
        },
        "actor": actor,
        "source": { "addr": source.addr, "instanceID": source.instance_id },
    })
}

/// mediaType, size, digest, length, repository, url: a pushed, pulled or
/// mounted blob or manifest.
fn described(
    media_type: &str,
    size: u64,
    digest: &str,
    repository: &str,
    url: String,
) -> Map<String, Value> {
    let mut t = Map::new();
    t.insert("mediaType".into(), media_type.into());
    t.insert("size".into(), size.into());
    t.insert("digest".into(), digest.into());
    t.insert("length".into(), size.into());
    t.insert("repository".into(), repository.into());
    t.insert("url".into(), url.into());
    t
}

/// What a manifest refers to, as registry:2's `references`: an index's
/// manifests, else the config then the layers (and a subject, if any).
pub fn references(content: &[u8]) -> Vec<Value> {
    let Ok(v) = serde_json::from_slice::<Value>(content) else {
        return Vec::new();
    };
    let pick = |d: &Value| {
        let mut out = Map::new();
        for k in [
            "mediaType",
            "size",
            "digest",
            "urls",
            "annotations",
            "platform",
        ] {
            if let Some(x) = d.get(k) {
                out.insert(k.into(), x.clone());
            }
        }
        Value::Object(out)
    };
    if let Some(list) = v.get("manifests").and_then(Value::as_array) {
        return list.iter().map(pick).collect();
    }
    let config = v.get("config").into_iter();
    let layers = v
        .get("layers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    config.chain(layers).map(pick).collect()
}

fn url(request: &RequestInfo, repository: &str, kind: &str, digest: &str) -> String {
    format!("{}/v2/{repository}/{kind}/{digest}", request.base_url)
}

/// The event of one change.
pub fn from_change(c: &Change, source: &Source, include_references: bool) -> Value {
    let repo = c.repository.to_string();
    let digest = c.digest.to_string();
    let req = &c.request;
    let (action, target) = match c.action {
        ChangeAction::BlobPush | ChangeAction::BlobMount => {
            let mut t = described(
                BLOB_MEDIA_TYPE,
                c.size.unwrap_or(0),
                &digest,
                &repo,
                url(req, &repo, "blobs", &digest),
            );
            let action = match &c.from {
                Some(from) => {
                    t.insert("fromRepository".into(), from.to_string().into());
                    "mount"
                }
                None => "push",
            };
            (action, t)
        }
        ChangeAction::ManifestPush => {
            let mut t = described(
                c.media_type.as_deref().unwrap_or(""),
                c.size.unwrap_or(0),
                &digest,
                &repo,
                url(req, &repo, "manifests", &digest),
            );
            if let Some(tag) = &c.tag {
                t.insert("tag".into(), tag.to_string().into());
            }
            if include_references && let Some(content) = &c.content {
                t.insert("references".into(), references(content).into());
            }
            ("push", t)
        }
        ChangeAction::ManifestDelete | ChangeAction::BlobDelete => {
            let mut t = Map::new();
            t.insert("digest".into(), digest.into());
            t.insert("repository".into(), repo.into());
            ("delete", t)
        }
        ChangeAction::TagDelete => {
            let mut t = Map::new();
            t.insert("repository".into(), repo.into());
            if let Some(tag) = &c.tag {
                t.insert("tag".into(), tag.to_string().into());
            }
            ("delete", t)
        }
    };
    let common = Common {
        action,
        actor: &c.actor,
        request_id: &c.request_id,
        request: req,
    };
    event(common, target, source)
}

/// The event of one pull.
pub fn from_pull(p: &Pull, source: &Source, include_references: bool) -> Value {
    let repo = p.repository.to_string();
    let digest = p.digest.to_string();
    let target = match &p.manifest {
        Some(m) => {
            let mut t = described(
                &m.media_type,
                p.size,
                &digest,
                &repo,
                url(&p.request, &repo, "manifests", &digest),
            );
            if let Some(tag) = &p.tag {
                t.insert("tag".into(), tag.to_string().into());
            }
            if include_references {
                t.insert("references".into(), references(&m.content).into());
            }
            t
        }
        None => described(
            BLOB_MEDIA_TYPE,
            p.size,
            &digest,
            &repo,
            url(&p.request, &repo, "blobs", &digest),
        ),
    };
    let common = Common {
        action: "pull",
        actor: &p.actor,
        request_id: &p.request_id,
        request: &p.request,
    };
    event(common, target, source)
}

/// The envelope registry:2 posts: one event each.
pub fn envelope(event: &Value) -> Vec<u8> {
    serde_json::to_vec(&json!({ "events": [event] })).expect("JSON values serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_list_config_then_layers_or_an_index_manifests() {
        let m = br#"{"config":{"mediaType":"c","size":1,"digest":"sha256:a"},"layers":[{"mediaType":"l","size":2,"digest":"sha256:b","annotations":{"k":"v"}}]}"#;
        let r = references(m);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0]["mediaType"], "c");
        assert_eq!(r[1]["annotations"]["k"], "v");
        let i = br#"{"manifests":[{"mediaType":"m","size":3,"digest":"sha256:c","platform":{"os":"linux"}}]}"#;
        assert_eq!(references(i)[0]["platform"]["os"], "linux");
        assert!(references(b"not json").is_empty());
    }
}
