//! lab.yaml's `registry.mirrors`: the upstream registries labreg caches,
//! each under a repository prefix of its own name (`docker.io/nginx`), with
//! its URL, credentials (a `secret:` reference), tag TTL and allow list.
//! Model, defaults and decoding of that one list.
//!
//! ```yaml
//! mirrors:
//!   - docker.io                        # short form: anonymous, the usual URL
//!   - name: ghcr.io
//!     url: https://ghcr.io
//!     username: me
//!     password: secret:mirrors/ghcr
//!     ttl: 24h
//!     allow: ["me/*"]
//!   - name: harbor.lan:8443            # an upstream with a certificate of its own CA
//!     ca: certs/harbor-ca.crt          # relative to lab.yaml
//! ```

use schemars::JsonSchema;
use serde::Serialize;

use super::checks;
use super::decode::Decoder;
use super::lab_decode::{check, secret_ref, strings};
use super::model::SecretRef;
use super::node::{Node, Value};

pub const MIRROR_KEYS: &[&str] = &["name", "url", "username", "password", "ttl", "allow", "ca"];

/// An upstream registry labreg mirrors under the prefix `NAME/`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Mirror {
    /// The upstream's name as image references start with it: `docker.io`,
    /// `ghcr.io`, `quay.io`, `registry.k8s.io`. Its repositories are
    /// `REGISTRY/NAME/...` in labreg, and containerd's `?ns=NAME` selects it.
    pub name: String,
    /// The upstream's URL. Default: `https://registry-1.docker.io` for
    /// `docker.io`, else `https://NAME`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// User for the upstream (Basic, or the Bearer token flow).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The upstream password or token, `secret:NAME`; needs `username`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<SecretRef>,
    /// How long a pulled tag is served before the upstream is asked again
    /// (a HEAD). Default `5m`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl: Option<String>,
    /// Upstream repositories that may be pulled (`library/*`); empty: all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
    /// A PEM file (relative to lab.yaml) of the CA that signed the
    /// upstream's certificate, trusted beside the system's CAs for this
    /// upstream only: a private registry with its own CA.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca: Option<String>,
}

/// One entry as lab.yaml may write it: the name alone, or the whole entry.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum MirrorEntry {
    /// An anonymous upstream at its usual URL, e.g. `docker.io`.
    Name(String),
    Full(Mirror),
}

impl Mirror {
    /// The upstream's URL, the default filled in.
    pub fn url(&self) -> String {
        self.url
            .clone()
            .unwrap_or_else(|| crate::nodetrust::upstream_url(&self.name))
    }
}

/// An upstream registry name as image references write it: `docker.io`,
/// `registry.k8s.io`, `10.0.0.5:5000`.
pub(super) fn upstream_name(d: &mut Decoder, n: &Node, p: &str) -> Option<String> {
    let s = d.nonempty(n, p)?;
    let (name, port) = match s.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !port.is_empty() => {
            (h, Some(port))
        }
        _ => (s.as_str(), None),
    };
    let ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|v| v > 0))
        && (name.parse::<std::net::IpAddr>().is_ok() || checks::dns_subdomain(p, name).is_ok());
    if !ok || s.contains('/') {
        d.report(
            n.pos,
            format!("{p} \"{s}\" is not a registry name"),
            Some("write the name as image references start with it, e.g. docker.io or ghcr.io (no scheme, no path)".into()),
        );
        return None;
    }
    Some(s)
}

fn entry(d: &mut Decoder, n: &Node, p: &str) -> Option<Mirror> {
    if let Value::Str(_) = n.value {
        return Some(Mirror {
            name: upstream_name(d, n, p)?,
            url: None,
            username: None,
            password: None,
            ttl: None,
            allow: Vec::new(),
            ca: None,
        });
    }
    let m = d.map(n, p, MIRROR_KEYS)?;
    let name = m.req(d, "name", "docker.io", upstream_name);
    let url = m.opt(d, "url", |d, n, p| {
        let u = d.nonempty(n, p)?;
        check(d, n, checks::http_url(p, &u)).then_some(u)
    });
    let username = m.opt(d, "username", |d, n, p| d.nonempty(n, p));
    let password = m.opt(d, "password", secret_ref);
    if let (Some(pw), None) = (m.get("password"), m.get("username")) {
        d.report(
            pw.pos,
            format!("{p}.password is set without {p}.username"),
            Some("add username: (the upstream account the password or token belongs to)".into()),
        );
        return None;
    }
    let ttl = m.opt(d, "ttl", |d, n, p| {
        let s = d.nonempty(n, p)?;
        match labreg::config::parse_duration(&s) {
            Ok(_) => Some(s),
            Err(e) => {
                d.report(n.pos, format!("{p}: {e}"), None);
                None
            }
        }
    });
    let allow = m
        .opt(d, "allow", |d, n, p| Some(strings(d, n, p)))
        .unwrap_or_default();
    let ca = m.opt(d, "ca", |d, n, p| d.nonempty(n, p));
    let failed = |k: &str, ok: bool| m.get(k).is_some() && !ok;
    if failed("url", url.is_some())
        || failed("username", username.is_some())
        || failed("password", password.is_some())
        || failed("ttl", ttl.is_some())
        || failed("ca", ca.is_some())
    {
        return None;
    }
    Some(Mirror {
        name: name?,
        url,
        username,
        password,
        ttl,
        allow,
        ca,
    })
}

/// Decodes `registry.mirrors`; every name once.
pub(super) fn mirrors(d: &mut Decoder, n: &Node, p: &str) -> Option<Vec<Mirror>> {
    let items = d.seq(n, p)?;
    let mut out: Vec<Mirror> = Vec::new();
    for (i, it) in items.iter().enumerate() {
        let path = format!("{p}[{i}]");
        let Some(m) = entry(d, it, &path) else {
            continue;
        };
        if out.iter().any(|o| o.name == m.name) {
            d.report(
                it.pos,
                format!("{path}: the upstream {} is listed twice", m.name),
                Some("keep one entry per upstream".into()),
            );
            continue;
        }
        out.push(m);
    }
    (out.len() == items.len()).then_some(out)
}
