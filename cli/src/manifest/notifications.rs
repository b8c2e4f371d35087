//! `registry.notifications` of lab.yaml: the webhooks the registry calls on
//! every push, pull and delete, rendered into registry:2's own
//! `notifications:` section (which labreg reads too). Header values that
//! carry credentials must be `secret:` references: the value is read from
//! secrets/ at render time and lands only in the sealed config.yml.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Serialize;

use super::decode::Decoder;
use super::lab_decode::{check, secret_ref, strings};
use super::model::SecretRef;
use super::node::Node;

pub const NOTIFICATIONS_KEYS: &[&str] = &["includeReferences", "endpoints"];
pub const ENDPOINT_KEYS: &[&str] = &[
    "name",
    "url",
    "headers",
    "timeout",
    "threshold",
    "backoff",
    "ignore",
];
pub const IGNORE_KEYS: &[&str] = &["actions", "mediaTypes"];

/// Webhooks called with registry:2's event JSON.
#[derive(Clone, Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Notifications {
    /// Manifest events list the manifest's references (config and layers,
    /// or an index's manifests). Default false.
    #[serde(default)]
    pub include_references: bool,
    pub endpoints: Vec<NotifyEndpoint>,
}

/// One receiver of events.
#[derive(Clone, Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NotifyEndpoint {
    /// Names the endpoint in the registry's log and metrics.
    pub name: String,
    /// Where events are POSTed, e.g. `https://ci.lan/hooks/registry`.
    pub url: String,
    /// Header name → value. Credentials (Authorization, tokens) must be
    /// `secret:NAME` references.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, HeaderValue>,
    /// How long one delivery may take, e.g. `5s`. Default 1s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Failures in a row before retries wait `backoff`. Default 10.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<u32>,
    /// The wait between retries once `threshold` is reached. Default 1s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backoff: Option<String>,
    #[serde(default)]
    pub ignore: NotifyIgnore,
}

/// Events not sent to this endpoint.
#[derive(Clone, Debug, Default, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NotifyIgnore {
    /// Of push, pull, delete, mount.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
    /// Target media types, e.g. `application/octet-stream` (every blob).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub media_types: Vec<String>,
}

/// A header's value: written in lab.yaml, or a secret's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeaderValue {
    Plain(String),
    Secret(SecretRef),
}

impl Serialize for HeaderValue {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            HeaderValue::Plain(v) => s.serialize_str(v),
            HeaderValue::Secret(r) => r.serialize(s),
        }
    }
}

impl JsonSchema for HeaderValue {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "HeaderValue".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "a value, or secret:NAME (required for credentials)"
        })
    }
}

/// Header names whose values are credentials: never written in lab.yaml.
fn is_credential(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "authorization",
        "cookie",
        "token",
        "secret",
        "key",
        "password",
        "auth",
    ]
    .iter()
    .any(|w| n.contains(w))
}

/// A string value `valid` accepts; otherwise "{p} "VALUE" is not {what}".
fn accepted(
    d: &mut Decoder,
    n: &Node,
    p: &str,
    what: &str,
    example: &str,
    valid: impl Fn(&str) -> bool,
) -> Option<String> {
    let s = d.nonempty(n, p)?;
    let bad = (
        format!("{p} {s:?} is not {what}"),
        format!("write e.g. {example}"),
    );
    check(d, n, if valid(&s) { Ok(()) } else { Err(bad) }).then_some(s)
}

fn duration(d: &mut Decoder, n: &Node, p: &str) -> Option<String> {
    accepted(d, n, p, "a duration", "5s, 500ms or 1m", |s| {
        labreg::config::parse_duration(s).is_ok_and(|t| !t.is_zero())
    })
}

fn url(d: &mut Decoder, n: &Node, p: &str) -> Option<String> {
    accepted(
        d,
        n,
        p,
        "an http(s) URL",
        "https://ci.lan/hooks/registry",
        |s| {
            reqwest::Url::parse(s)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
        },
    )
}

fn headers(d: &mut Decoder, n: &Node, p: &str) -> Option<BTreeMap<String, HeaderValue>> {
    let m = d.entries(n, p)?;
    let mut out = BTreeMap::new();
    for (name, k, v) in &m.entries {
        let path = m.child(name);
        let token = name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b));
        if name.is_empty() || !token {
            d.report(
                k.pos,
                format!("{path}: {name:?} is not a header name"),
                Some("use letters, digits and dashes, e.g. Authorization".into()),
            );
            continue;
        }
        let Some(text) = d.string(v, &path) else {
            continue;
        };
        let value = if text.starts_with("secret:") {
            secret_ref(d, v, &path).map(HeaderValue::Secret)
        } else if is_credential(name) {
            d.report(
                v.pos,
                format!("{path} holds a credential written in lab.yaml"),
                Some(format!(
                    "store it with `labctl secrets set hooks/{}` and write {name}: secret:hooks/{}; remove the plaintext from lab.yaml and its git history",
                    name.to_ascii_lowercase(),
                    name.to_ascii_lowercase()
                )),
            );
            None
        } else {
            Some(HeaderValue::Plain(text))
        };
        if let Some(value) = value {
            out.insert(name.to_string(), value);
        }
    }
    Some(out)
}

fn endpoint(d: &mut Decoder, n: &Node, p: &str) -> Option<NotifyEndpoint> {
    let m = d.map(n, p, ENDPOINT_KEYS)?;
    let name = m.req(d, "name", "ci", |d, n, p| d.nonempty(n, p));
    let url = m.req(d, "url", "https://ci.lan/hooks/registry", url);
    let headers = m.opt(d, "headers", headers).unwrap_or_default();
    let timeout = m.opt(d, "timeout", duration);
    let threshold = m
        .opt(d, "threshold", |d, n, p| d.int_in(n, p, 1, 1000))
        .map(|t| t as u32);
    let backoff = m.opt(d, "backoff", duration);
    let ignore = m
        .opt(d, "ignore", |d, n, p| {
            let i = d.map(n, p, IGNORE_KEYS)?;
            let actions = i
                .opt(d, "actions", |d, n, p| {
                    let list = strings(d, n, p);
                    for a in &list {
                        if !["push", "pull", "delete", "mount"].contains(&a.as_str()) {
                            d.report(
                                n.pos,
                                format!("{p}: unknown action {a:?}"),
                                Some("use push, pull, delete or mount".into()),
                            );
                        }
                    }
                    Some(list)
                })
                .unwrap_or_default();
            let media_types = i
                .opt(d, "mediaTypes", |d, n, p| Some(strings(d, n, p)))
                .unwrap_or_default();
            Some(NotifyIgnore {
                actions,
                media_types,
            })
        })
        .unwrap_or_default();
    Some(NotifyEndpoint {
        name: name?,
        url: url?,
        headers,
        timeout,
        threshold,
        backoff,
        ignore,
    })
}

pub(super) fn notifications(d: &mut Decoder, n: &Node, p: &str) -> Option<Notifications> {
    let m = d.map(n, p, NOTIFICATIONS_KEYS)?;
    let include_references = m
        .opt(d, "includeReferences", |d, n, p| d.boolean(n, p))
        .unwrap_or(false);
    let endpoints = m.req(
        d,
        "endpoints",
        "[{name: ci, url: https://ci.lan/hooks}]",
        |d, n, p| {
            let items = d.seq(n, p)?;
            let mut out: Vec<NotifyEndpoint> = Vec::new();
            for (i, it) in items.iter().enumerate() {
                let Some(e) = endpoint(d, it, &format!("{p}[{i}]")) else {
                    continue;
                };
                if out.iter().any(|o| o.name == e.name) {
                    d.report(
                        it.pos,
                        format!(
                            "{p}[{i}]: the name {:?} is taken by another endpoint",
                            e.name
                        ),
                        Some("give each endpoint its own name".into()),
                    );
                }
                out.push(e);
            }
            Some(out)
        },
    )?;
    Some(Notifications {
        include_references,
        endpoints,
    })
}
