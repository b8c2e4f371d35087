//! A fake Kubernetes API server that speaks the wire protocol for what
//! `labctl diff` uses (no real API server can be installed here):
//! discovery (`/api`, `/apis`, `/api/v1`, `/apis/GROUP/VERSION`), GET of an
//! object, LIST with an equality `labelSelector`, and server-side apply
//! (`PATCH`, `application/apply-patch+yaml`, `dryRun=All`, `fieldManager`),
//! which answers the merged object with server defaults and stores nothing.
//! Errors are `Status` objects: 404 for a missing object, 403 for a kind
//! set as forbidden, 401 for a bearer token other than the good one.
//!
//! Its apply merges maps and replaces lists; it does not track field
//! ownership, so a field removed from an applied object stays.

use std::collections::BTreeMap;
use std::path::Path;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

pub const TOKEN: &str = "good-token";

mod objects;
// Not every test file uses every helper.
#[allow(unused_imports)]
pub use objects::{Cluster, Shared, as_live, key_of, seed_from};
use objects::{RESOURCES, defaults, merge};

fn status(code: StatusCode, reason: &str, message: String) -> Response {
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code.as_u16()});
    (
        code,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn ok(v: Value) -> Response {
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        v.to_string(),
    )
        .into_response()
}

fn discovery(parts: &[&str]) -> Option<Value> {
    let gv = |g: &str, v: &str| {
        if g.is_empty() {
            v.to_string()
        } else {
            format!("{g}/{v}")
        }
    };
    let list = |g: &str, v: &str| {
        let resources: Vec<Value> = RESOURCES
            .iter()
            .filter(|r| r.0 == g && r.1 == v)
            .map(|r| json!({"name": r.3, "singularName": r.2.to_lowercase(), "namespaced": r.4, "kind": r.2,
                "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]}))
            .collect();
        (!resources.is_empty()).then(|| {
            json!({"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": gv(g, v), "resources": resources})
        })
    };
    match parts {
        ["api"] => Some(json!({"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]})),
        ["apis"] => {
            let mut groups: Vec<Value> = Vec::new();
            for r in RESOURCES.iter().filter(|r| !r.0.is_empty()) {
                if groups.iter().any(|g| g["name"] == r.0) {
                    continue;
                }
                let v = json!({"groupVersion": gv(r.0, r.1), "version": r.1});
                groups.push(json!({"name": r.0, "versions": [v.clone()], "preferredVersion": v}));
            }
            Some(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}))
        }
        ["api", v] => list("", v),
        ["apis", g, v] => list(g, v),
        _ => None,
    }
}

fn query(uri: &Uri) -> BTreeMap<String, String> {
    uri.query()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.replace("%3D", "=").replace("%2F", "/")))
        .collect()
}

async fn handle(
    State(cluster): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut c = cluster.lock().unwrap();
    c.requests.push(format!("{method} {uri}"));
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    if auth != Some(&format!("Bearer {TOKEN}")) {
        return status(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "Unauthorized".into(),
        );
    }
    let parts: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
    if method == Method::GET
        && let Some(v) = discovery(&parts)
    {
        return ok(v);
    }
    let (group, version, rest) = match parts.as_slice() {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => {
            return status(
                StatusCode::NOT_FOUND,
                "NotFound",
                "the server could not find the requested resource".into(),
            );
        }
    };
    let (ns, plural, name) = match rest {
        [p] => (None, *p, None),
        [p, n] => (None, *p, Some(*n)),
        ["namespaces", ns, p] => (Some(*ns), *p, None),
        ["namespaces", ns, p, n] => (Some(*ns), *p, Some(*n)),
        _ => return status(StatusCode::NOT_FOUND, "NotFound", "no such path".into()),
    };
    let Some(res) = RESOURCES
        .iter()
        .find(|r| r.0 == group && r.1 == version && r.3 == plural)
    else {
        return status(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("the server could not find the requested resource ({plural})"),
        );
    };
    let gr = if group.is_empty() {
        plural.to_string()
    } else {
        format!("{plural}.{group}")
    };
    if c.forbidden.iter().any(|f| f == plural) {
        let verb = match (&method, name) {
            (&Method::PATCH, _) => "patch",
            (_, Some(_)) => "get",
            _ => "list",
        };
        return status(
            StatusCode::FORBIDDEN,
            "Forbidden",
            format!(
                "{gr} is forbidden: User \"test\" cannot {verb} resource \"{plural}\" in API group \"{group}\""
            ),
        );
    }
    let key = |n: &str| format!("{group}/{plural}/{}/{n}", ns.unwrap_or(""));
    match (method, name) {
        (Method::GET, Some(n)) => match c.objects.get(&key(n)) {
            Some(o) => ok(o.clone()),
            None => status(
                StatusCode::NOT_FOUND,
                "NotFound",
                format!("{gr} \"{n}\" not found"),
            ),
        },
        (Method::GET, None) => {
            let q = query(&uri);
            let want: Vec<(String, String)> = q
                .get("labelSelector")
                .map(|s| {
                    s.split(',')
                        .filter_map(|kv| kv.split_once('='))
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect()
                })
                .unwrap_or_default();
            let prefix = format!(
                "{group}/{plural}/{}",
                ns.map_or(String::new(), |n| format!("{n}/"))
            );
            let items: Vec<Value> = c
                .objects
                .iter()
                .filter(|(k, _)| k.starts_with(&prefix))
                .map(|(_, o)| o)
                .filter(|o| {
                    want.iter()
                        .all(|(k, v)| o["metadata"]["labels"][k].as_str() == Some(v))
                })
                .map(|o| {
                    let mut o = o.clone();
                    let m = o.as_object_mut().unwrap();
                    m.remove("apiVersion");
                    m.remove("kind");
                    o
                })
                .collect();
            let gv = if group.is_empty() {
                version.to_string()
            } else {
                format!("{group}/{version}")
            };
            ok(
                json!({"kind": format!("{}List", res.2), "apiVersion": gv, "metadata": {"resourceVersion": "4711"}, "items": items}),
            )
        }
        (Method::PATCH, Some(n)) => {
            let q = query(&uri);
            let ctype = headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if ctype != "application/apply-patch+yaml"
                || q.get("dryRun").map(String::as_str) != Some("All")
                || q.get("fieldManager").map(String::as_str) != Some("labctl")
            {
                return status(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    format!("the fake takes only dry-run applies by labctl, got {ctype} {q:?}"),
                );
            }
            let text = String::from_utf8_lossy(&body);
            let applied: Value = match serde_saphyr::from_str(&text) {
                Ok(v) => v,
                Err(e) => {
                    return status(StatusCode::BAD_REQUEST, "BadRequest", format!("body: {e}"));
                }
            };
            let mut merged = c.objects.get(&key(n)).cloned().unwrap_or_else(|| json!({}));
            merge(&mut merged, &applied);
            defaults(&mut merged);
            merged["metadata"]["managedFields"] =
                json!([{"manager": "labctl", "operation": "Apply"}]);
            ok(merged)
        }
        _ => status(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "the fake does not do that".into(),
        ),
    }
}

/// Serves `cluster` on 127.0.0.1, port 0; returns the URL.
pub fn serve(cluster: Shared) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let app = axum::Router::new().fallback(handle).with_state(cluster);
            axum::serve(listener, app).await.unwrap();
        });
    });
    url
}

/// A kubeconfig for `server` with a bearer token.
pub fn kubeconfig(dir: &Path, server: &str, token: &str) -> std::path::PathBuf {
    let port = server.rsplit(':').next().unwrap_or("");
    let path = dir.join(format!("kubeconfig-{port}-{token}"));
    std::fs::write(&path, format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {server}\nusers:\n- name: test\n  user:\n    token: {token}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: test\n    namespace: default\ncurrent-context: fake\n")).unwrap();
    path
}

/// The output with what differs per run (ciphertexts, fingerprints, the
/// fake's port) replaced.
pub fn redact(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let t = line.trim_start_matches([' ', '+', '-']);
        let head = &line[..line.len() - t.len()];
        match t.split_once(": ") {
            Some((k, v)) if k.contains("hmac") || (v.len() > 60 && !v.contains(' ')) => {
                out.push_str(&format!("{head}{k}: <redacted>\n"));
            }
            // A ciphertext folded onto its own line.
            None if t.len() > 60 && !t.contains(' ') => {
                out.push_str(&format!("{head}<redacted>\n"));
            }
            _ => {
                let mut l = line.to_string();
                if let Some(i) = l.find("127.0.0.1:") {
                    let end = l[i + 10..]
                        .find(|c: char| !c.is_ascii_digit())
                        .map_or(l.len(), |e| i + 10 + e);
                    l.replace_range(i..end, "127.0.0.1:<port>");
                }
                out.push_str(&l);
                out.push('\n');
            }
        }
    }
    out
}
