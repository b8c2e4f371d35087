//! registry:2's `notifications:` section as distribution reads it, and
//! labreg's own `labreg.notifications` (where the queue lives, how long it
//! may grow), resolved at start into [`NotifySettings`]: URLs, headers and
//! durations checked once, each error naming its key.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use serde_json::Value;

use crate::config::lenient::{opt_string, string};
use crate::config::{ConfigError, invalid, parse_duration};

/// `notifications:` of config.yml.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct Notifications {
    pub events: EventsSection,
    pub endpoints: Vec<Endpoint>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct EventsSection {
    /// Manifest events list the manifest's references (config, layers,
    /// or an index's manifests).
    pub includereferences: bool,
}

/// One entry of `notifications.endpoints`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct Endpoint {
    #[serde(deserialize_with = "string")]
    pub name: String,
    pub disabled: bool,
    #[serde(deserialize_with = "string")]
    pub url: String,
    /// Header name → values, as registry:2 writes them (`Authorization:
    /// [Bearer x]`); a single string is accepted too.
    pub headers: Headers,
    /// A Go duration; a bare number is nanoseconds, as in registry:2.
    pub timeout: Option<Value>,
    pub threshold: Option<i64>,
    pub backoff: Option<Value>,
    pub ignoredmediatypes: Vec<String>,
    pub ignore: Ignore,
}

/// Header values as written: Debug shows the names only (a value may be
/// a token).
#[derive(Clone, Deserialize, Default)]
#[serde(transparent)]
pub struct Headers(pub serde_json::Map<String, Value>);

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct Ignore {
    pub mediatypes: Vec<String>,
    pub actions: Vec<String>,
}

/// `labreg.notifications`: labreg's additions for its persisted queue.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct QueueSection {
    /// Where each endpoint's queue is kept (a folder per endpoint). Default:
    /// `ROOTDIRECTORY/labreg/notifications` on filesystem storage, else
    /// `/tmp/labreg-notifications` (mount a volume there to keep events
    /// across a pod's restart).
    #[serde(deserialize_with = "opt_string")]
    pub queuedir: Option<String>,
    /// Events kept per endpoint while it cannot be reached (default 10000);
    /// beyond that new events are dropped, logged and counted.
    pub maxpending: Option<usize>,
}

/// The actions registry:2 sends.
pub const ACTIONS: [&str; 4] = ["push", "pull", "delete", "mount"];

/// One endpoint, checked.
#[derive(Clone)]
pub struct EndpointSettings {
    pub name: String,
    pub url: reqwest::Url,
    /// Every value marked sensitive: never shown by Debug or in logs.
    pub headers: HeaderMap,
    pub timeout: Duration,
    pub threshold: u32,
    pub backoff: Duration,
    /// `ignoredmediatypes` and `ignore.mediatypes` together.
    pub ignored_media_types: Vec<String>,
    pub ignored_actions: Vec<String>,
}

impl fmt::Debug for EndpointSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EndpointSettings")
            .field("name", &self.name)
            .field("url", &self.url.as_str())
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("timeout", &self.timeout)
            .field("threshold", &self.threshold)
            .field("backoff", &self.backoff)
            .finish()
    }
}

/// Everything the notifier needs; None when no endpoint is enabled.
#[derive(Debug, Clone)]
pub struct NotifySettings {
    pub endpoints: Vec<EndpointSettings>,
    pub include_references: bool,
    pub queue_dir: PathBuf,
    pub max_pending: usize,
}

/// A Go duration as registry:2 reads it: "500ms", "1m30s", or a bare
/// number of nanoseconds. Zero or absent means the default.
fn go_duration(key: &str, v: Option<&Value>, default: Duration) -> Result<Duration, ConfigError> {
    let d = match v {
        None | Some(Value::Null) => return Ok(default),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(ns) => Duration::from_nanos(ns),
            None => {
                return Err(invalid(
                    key,
                    format!("{n} is not a duration: write e.g. 1s or 500ms"),
                ));
            }
        },
        Some(Value::String(s)) if s.trim().chars().all(|c| c.is_ascii_digit()) => {
            Duration::from_nanos(s.trim().parse().map_err(|e| invalid(key, format!("{e}")))?)
        }
        Some(Value::String(s)) => parse_duration(s).map_err(|m| invalid(key, m))?,
        Some(other) => {
            return Err(invalid(
                key,
                format!("{other} is not a duration: write e.g. 1s"),
            ));
        }
    };
    Ok(if d.is_zero() { default } else { d })
}

fn header_values(key: &str, v: &Value) -> Result<Vec<String>, ConfigError> {
    let one = |v: &Value| match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(invalid(
            key,
            "a header value is a string, or a list of strings",
        )),
    };
    match v {
        Value::Array(items) => items.iter().map(one).collect(),
        other => Ok(vec![one(other)?]),
    }
}

fn endpoint(i: usize, e: &Endpoint) -> Result<EndpointSettings, ConfigError> {
    let at = |field: &str| format!("notifications.endpoints[{i}].{field}");
    if e.name.trim().is_empty() {
        return Err(invalid(
            &at("name"),
            "every endpoint needs a name (it names its queue and metrics)",
        ));
    }
    let url = reqwest::Url::parse(e.url.trim())
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
        .ok_or_else(|| {
            invalid(
                &at("url"),
                format!(
                    "{:?} is not an http(s) URL: write e.g. https://hooks.lan/registry",
                    e.url
                ),
            )
        })?;
    let mut headers = HeaderMap::new();
    for (name, values) in &e.headers.0 {
        let key = at(&format!("headers.{name}"));
        let hn =
            HeaderName::from_bytes(name.as_bytes()).map_err(|e| invalid(&key, e.to_string()))?;
        for v in header_values(&key, values)? {
            let mut hv = HeaderValue::from_str(&v)
                .map_err(|_| invalid(&key, "a header value must be visible ASCII"))?;
            hv.set_sensitive(true);
            headers.append(hn.clone(), hv);
        }
    }
    for a in &e.ignore.actions {
        if !ACTIONS.contains(&a.as_str()) {
            return Err(invalid(
                &at("ignore.actions"),
                format!("{a:?} is not an action: use {}", ACTIONS.join(", ")),
            ));
        }
    }
    let threshold = match e.threshold {
        Some(t) if t > 0 => u32::try_from(t).unwrap_or(u32::MAX),
        _ => 10,
    };
    Ok(EndpointSettings {
        name: e.name.trim().to_string(),
        url,
        headers,
        timeout: go_duration(&at("timeout"), e.timeout.as_ref(), Duration::from_secs(1))?,
        threshold,
        backoff: go_duration(&at("backoff"), e.backoff.as_ref(), Duration::from_secs(1))?,
        ignored_media_types: e
            .ignore
            .mediatypes
            .iter()
            .chain(&e.ignoredmediatypes)
            .cloned()
            .collect(),
        ignored_actions: e.ignore.actions.clone(),
    })
}

/// Resolves the sections; `fs_root` is the filesystem storage's root, if
/// that is the driver.
pub fn resolve(
    n: Option<&Notifications>,
    queue: &QueueSection,
    fs_root: Option<&str>,
) -> Result<Option<NotifySettings>, ConfigError> {
    let Some(n) = n else { return Ok(None) };
    let mut endpoints = Vec::new();
    for (i, e) in n.endpoints.iter().enumerate() {
        if e.disabled {
            continue;
        }
        let s = endpoint(i, e)?;
        if endpoints
            .iter()
            .any(|o: &EndpointSettings| o.name == s.name)
        {
            return Err(invalid(
                &format!("notifications.endpoints[{i}].name"),
                format!(
                    "{:?} names two endpoints: each needs its own name (it names its queue)",
                    s.name
                ),
            ));
        }
        endpoints.push(s);
    }
    if endpoints.is_empty() {
        return Ok(None);
    }
    let queue_dir = match (&queue.queuedir, fs_root) {
        (Some(d), _) if !d.trim().is_empty() => PathBuf::from(d.trim()),
        (_, Some(root)) => PathBuf::from(root).join("labreg").join("notifications"),
        _ => std::env::temp_dir().join("labreg-notifications"),
    };
    let max_pending = queue.maxpending.unwrap_or(10_000);
    if max_pending == 0 {
        return Err(invalid(
            "labreg.notifications.maxpending",
            "must be at least 1",
        ));
    }
    Ok(Some(NotifySettings {
        endpoints,
        include_references: n.events.includereferences,
        queue_dir,
        max_pending,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<Option<NotifySettings>, ConfigError> {
        let n: Notifications = serde_saphyr::from_str(yaml).unwrap();
        resolve(Some(&n), &QueueSection::default(), Some("/srv/registry"))
    }

    #[test]
    fn reads_an_endpoint_as_registry2_does() {
        let s = parse(
            "events:\n  includereferences: true\nendpoints:\n  - name: alistener\n    url: https://my.listener.com/event\n    headers:\n      Authorization: [Bearer abc]\n    timeout: 500ms\n    threshold: 5\n    backoff: 1000000000\n    ignoredmediatypes: [application/octet-stream]\n    ignore:\n      actions: [pull]\n",
        )
        .unwrap()
        .unwrap();
        let e = &s.endpoints[0];
        assert!(s.include_references);
        assert_eq!(e.timeout, Duration::from_millis(500));
        assert_eq!(e.backoff, Duration::from_secs(1));
        assert_eq!(e.threshold, 5);
        assert_eq!(e.headers["authorization"], "Bearer abc");
        assert!(!format!("{e:?}").contains("abc"), "{e:?}");
        assert_eq!(e.ignored_actions, ["pull"]);
        let raw: Notifications = serde_saphyr::from_str(
            "endpoints:\n  - name: a\n    url: http://h/\n    headers: {Authorization: [Bearer abc]}\n",
        )
        .unwrap();
        assert!(!format!("{raw:?}").contains("abc"), "{raw:?}");
        assert_eq!(
            s.queue_dir,
            PathBuf::from("/srv/registry/labreg/notifications")
        );
    }

    #[test]
    fn defaults_are_registry2s_and_disabled_endpoints_are_skipped() {
        let s = parse("endpoints:\n  - name: a\n    url: http://h/x\n")
            .unwrap()
            .unwrap();
        let e = &s.endpoints[0];
        assert_eq!(
            (e.timeout, e.threshold, e.backoff),
            (Duration::from_secs(1), 10, Duration::from_secs(1))
        );
        assert!(
            parse("endpoints:\n  - name: a\n    url: http://h/x\n    disabled: true\n")
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn each_bad_value_names_its_key() {
        for (yaml, key) in [
            (
                "endpoints:\n  - url: http://h/\n",
                "notifications.endpoints[0].name",
            ),
            (
                "endpoints:\n  - name: a\n    url: hooks.lan\n",
                "notifications.endpoints[0].url",
            ),
            (
                "endpoints:\n  - name: a\n    url: http://h/\n    timeout: soon\n",
                "notifications.endpoints[0].timeout",
            ),
            (
                "endpoints:\n  - name: a\n    url: http://h/\n    ignore:\n      actions: [pulled]\n",
                "notifications.endpoints[0].ignore.actions",
            ),
            (
                "endpoints:\n  - name: a\n    url: http://h/\n  - name: a\n    url: http://g/\n",
                "notifications.endpoints[1].name",
            ),
        ] {
            match parse(yaml).unwrap_err() {
                ConfigError::Invalid { key: found, .. } => assert_eq!(found, key, "{yaml}"),
                other => panic!("{other}"),
            }
        }
    }
}
