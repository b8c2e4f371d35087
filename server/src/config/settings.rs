//! The config tree resolved once, at start, into typed settings: durations,
//! addresses, URLs and headers are parsed and checked here, each error
//! naming its key, so the code that runs never parses a string again. Each
//! part has one reader: [`ApiSettings`] the HTTP API, [`registry::Options`]
//! the registry layer, [`ServeSettings`] the listener and its shutdown,
//! [`PurgeSettings`] the upload purger; the `http.tls`, `log` and `auth`
//! sections' own settings are in [`super::sections`].

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue};

use super::sections::{AuthSettings, LogSettings, TlsSettings};
use super::{Config, ConfigError, invalid, parse_addr, parse_duration};
use crate::registry;
use crate::registry::descriptors::{DEFAULT_DESCRIPTORS, DescriptorCache};

/// What the HTTP API needs.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// `http.headers`: added to every response.
    pub headers: HeaderMap,
    /// `http.host`, an absolute http(s) URL without a trailing `/`: when
    /// set, Location headers are absolute URLs on it.
    pub base_url: Option<String>,
    /// `catalog.maxentries`: the largest catalog page.
    pub catalog_max: usize,
}

/// How the server listens and stops.
#[derive(Debug, Clone)]
pub struct ServeSettings {
    /// `http.addr`
    pub addr: SocketAddr,
    /// `http.draintimeout` (30 s when unset): how long requests in flight
    /// may run after SIGTERM.
    pub drain_timeout: Duration,
    /// `http.debug.addr`, when set.
    pub debug_addr: Option<SocketAddr>,
    /// `http.debug.prometheus.path`, when metrics are enabled.
    pub prometheus_path: Option<String>,
    /// Not `log.accesslog.disabled`.
    pub access_log: bool,
}

/// `storage.maintenance.uploadpurging`, when it runs (enabled and the
/// storage is not read-only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeSettings {
    pub age: Duration,
    pub interval: Duration,
    pub dry_run: bool,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub api: ApiSettings,
    pub registry: registry::Options,
    pub serve: ServeSettings,
    pub purging: Option<PurgeSettings>,
    pub tls: Option<TlsSettings>,
    pub log: LogSettings,
    pub auth: AuthSettings,
}

impl Settings {
    pub fn resolve(c: &Config) -> Result<Settings, ConfigError> {
        let debug = c.http.debug.as_ref().filter(|d| !d.addr.is_empty());
        let debug_addr = debug
            .map(|d| parse_addr(&d.addr).map_err(|m| invalid("http.debug.addr", m)))
            .transpose()?;
        let drain_timeout = match &c.http.draintimeout {
            Some(d) => duration("http.draintimeout", d)?,
            None => Duration::from_secs(30),
        };
        Ok(Settings {
            api: ApiSettings {
                headers: headers(c)?,
                base_url: base_url(c.http.host.as_deref())?,
                catalog_max: c.catalog.maxentries,
            },
            registry: registry::Options {
                delete_enabled: c.storage.delete.enabled,
                read_only: c.storage.maintenance.readonly.enabled,
                redirect: !c.storage.redirect.disable,
                cache: descriptor_cache(c.storage.cache.as_ref())?,
            },
            serve: ServeSettings {
                addr: c.listen_addr()?,
                drain_timeout,
                debug_addr,
                prometheus_path: debug
                    .filter(|d| d.prometheus.enabled)
                    .map(|d| d.prometheus.path.clone()),
                access_log: !c.log.accesslog.disabled,
            },
            purging: purging(c)?,
            tls: TlsSettings::resolve(c)?,
            log: LogSettings::resolve(c)?,
            auth: AuthSettings::resolve(c)?,
        })
    }
}

fn duration(key: &str, value: &str) -> Result<Duration, ConfigError> {
    parse_duration(value).map_err(|m| invalid(key, m))
}

fn headers(c: &Config) -> Result<HeaderMap, ConfigError> {
    let mut out = HeaderMap::new();
    let bad = |name: &str, e: &dyn std::fmt::Display| {
        invalid(&format!("http.headers.{name}"), e.to_string())
    };
    for (name, values) in &c.http.headers {
        let key = HeaderName::from_bytes(name.as_bytes()).map_err(|e| bad(name, &e))?;
        for v in values {
            out.append(
                key.clone(),
                HeaderValue::from_str(v).map_err(|e| bad(name, &e))?,
            );
        }
    }
    Ok(out)
}

fn base_url(host: Option<&str>) -> Result<Option<String>, ConfigError> {
    let Some(host) = host.map(str::trim).filter(|h| !h.is_empty()) else {
        return Ok(None);
    };
    match url::Url::parse(host) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => {
            Ok(Some(host.trim_end_matches('/').to_string()))
        }
        _ => Err(invalid(
            "http.host",
            format!(
                "{host:?} is not an absolute http(s) URL: write e.g. https://registry.example.com"
            ),
        )),
    }
}

fn purging(c: &Config) -> Result<Option<PurgeSettings>, ConfigError> {
    let p = &c.storage.maintenance.uploadpurging;
    if !p.enabled {
        return Ok(None);
    }
    let settings = PurgeSettings {
        age: duration("storage.maintenance.uploadpurging.age", &p.age)?,
        interval: duration("storage.maintenance.uploadpurging.interval", &p.interval)?,
        dry_run: p.dryrun,
    };
    Ok((!c.storage.maintenance.readonly.enabled).then_some(settings))
}

/// `storage.cache`: `blobdescriptor` (`layerinfo`, its old name) is
/// `inmemory`, `redis` (labreg keeps no shared cache: it reads from the
/// storage, as safe for replicas as redis) or empty; `blobdescriptorsize`
/// bounds the inmemory entries (0: the default).
fn descriptor_cache(cache: Option<&serde_json::Value>) -> Result<DescriptorCache, ConfigError> {
    use serde_json::Value;
    let Some(cache) = cache.filter(|v| !v.is_null()) else {
        return Ok(DescriptorCache::Off);
    };
    let Some(map) = cache.as_object() else {
        return Err(invalid(
            "storage.cache",
            "not a map: write `blobdescriptor: inmemory` under it, or remove it",
        ));
    };
    let Some((name, value)) = ["blobdescriptor", "layerinfo"]
        .iter()
        .find_map(|k| map.get(*k).map(|v| (*k, v)))
    else {
        return Ok(DescriptorCache::Off);
    };
    let key = format!("storage.cache.{name}");
    let kind = match value {
        Value::Null => String::new(),
        Value::String(s) => s.trim().to_ascii_lowercase(),
        other => other.to_string(),
    };
    match kind.as_str() {
        "" | "redis" => Ok(DescriptorCache::Off),
        "inmemory" => {
            let key = "storage.cache.blobdescriptorsize";
            let entries = match map.get("blobdescriptorsize") {
                None | Some(Value::Null) => 0,
                Some(v) => v
                    .as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                    .ok_or_else(|| invalid(key, format!("{v} is not a count of entries")))?,
            };
            let entries = match usize::try_from(entries) {
                Ok(0) => DEFAULT_DESCRIPTORS,
                Ok(n) => n,
                Err(_) => return Err(invalid(key, format!("{entries} is too large"))),
            };
            Ok(DescriptorCache::InMemory { entries })
        }
        other => Err(invalid(
            &key,
            format!(
                "unknown cache {other:?}: use inmemory (a cache in this process), redis (labreg then caches nothing, as safe for replicas) or remove the key"
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(yaml: &str) -> Result<Settings, ConfigError> {
        let base = "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /tmp/x\n";
        Config::from_yaml(&format!("{base}{yaml}"), Vec::new())
            .and_then(|l| Settings::resolve(&l.config))
    }

    fn key_of(e: ConfigError) -> String {
        match e {
            ConfigError::Invalid { key, .. } => key,
            other => panic!("not a key error: {other}"),
        }
    }

    #[test]
    fn defaults_are_distributions() {
        let s = resolve("").unwrap();
        assert_eq!(s.serve.drain_timeout, Duration::from_secs(30));
        assert_eq!(s.serve.addr.port(), 5000);
        assert_eq!(
            s.purging,
            Some(PurgeSettings {
                age: Duration::from_secs(168 * 3600),
                interval: Duration::from_secs(24 * 3600),
                dry_run: false
            })
        );
        assert_eq!(s.api.catalog_max, 1000);
        assert!(s.api.base_url.is_none() && s.serve.debug_addr.is_none());
    }

    #[test]
    fn values_are_parsed_once() {
        let s = resolve(
            "http:\n  host: https://reg.example.com/\n  draintimeout: 1m30s\n  headers:\n    X-Frame-Options: [DENY]\n  debug:\n    addr: 127.0.0.1:5001\n    prometheus:\n      enabled: true\n",
        )
        .unwrap();
        assert_eq!(s.api.base_url.as_deref(), Some("https://reg.example.com"));
        assert_eq!(s.serve.drain_timeout, Duration::from_secs(90));
        assert_eq!(s.api.headers["x-frame-options"], "DENY");
        assert_eq!(s.serve.debug_addr.unwrap().port(), 5001);
        assert_eq!(s.serve.prometheus_path.as_deref(), Some("/metrics"));
        let ro = resolve("  maintenance:\n    readonly:\n      enabled: true\n");
        assert!(
            ro.unwrap().purging.is_none(),
            "a read-only registry purges nothing"
        );
    }

    #[test]
    fn the_blob_descriptor_cache_is_registry_2s_setting() {
        let cache = |yaml: &str| resolve(yaml).map(|s| s.registry.cache);
        assert_eq!(cache("").unwrap(), DescriptorCache::Off);
        assert_eq!(
            cache("  cache:\n    blobdescriptor: inmemory\n").unwrap(),
            DescriptorCache::InMemory {
                entries: DEFAULT_DESCRIPTORS
            }
        );
        assert_eq!(
            cache("  cache:\n    layerinfo: inmemory\n    blobdescriptorsize: 500\n").unwrap(),
            DescriptorCache::InMemory { entries: 500 }
        );
        assert_eq!(
            cache("  cache:\n    blobdescriptor: redis\n").unwrap(),
            DescriptorCache::Off
        );
        let e = cache("  cache:\n    blobdescriptor: memcached\n").unwrap_err();
        assert!(e.to_string().contains("memcached"), "{e}");
        assert_eq!(key_of(e), "storage.cache.blobdescriptor");
        let e = cache("  cache:\n    blobdescriptor: inmemory\n    blobdescriptorsize: lots\n");
        assert_eq!(key_of(e.unwrap_err()), "storage.cache.blobdescriptorsize");
    }

    #[test]
    fn each_bad_value_names_its_key() {
        for (yaml, key) in [
            ("http:\n  draintimeout: soon\n", "http.draintimeout"),
            ("http:\n  host: registry.lan:5000\n", "http.host"),
            (
                "http:\n  headers:\n    \"Bad Name\": [x]\n",
                "http.headers.Bad Name",
            ),
            ("http:\n  debug:\n    addr: nowhere\n", "http.debug.addr"),
            (
                "  maintenance:\n    uploadpurging:\n      interval: daily\n",
                "storage.maintenance.uploadpurging.interval",
            ),
        ] {
            assert_eq!(key_of(resolve(yaml).unwrap_err()), key, "{yaml}");
        }
    }
}
