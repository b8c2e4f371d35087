//! The configuration: distribution's `config.yml` (version 0.1) with its
//! `REGISTRY_*` environment overrides, so that the files and `docker run -e`
//! lines written for registry:2 start labreg with the same meaning.
//!
//! Loading is: YAML → a JSON value tree → environment overrides → typed
//! structs. registry:2 settings labreg does not implement stop the start
//! (`compat`); keys labreg does not know are collected as warnings (with
//! their dotted path); a value of the wrong type fails with its path.

pub mod compat;
mod env;
pub(crate) mod lenient;
pub mod mirror;
pub mod s3;
pub mod sections;
pub mod settings;

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

pub use env::Applied;
use lenient::{opt_string, string};
pub use s3::S3;
pub use settings::Settings;

/// The configuration of the `registry:2` image (its /etc/docker/registry/config.yml):
/// what `labreg serve` uses with no CONFIG argument, and the file labreg's own
/// image ships at that path (server/Containerfile).
pub const DEFAULT_CONFIG: &str = include_str!("../../container/config.yml");

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config is not valid YAML: {0}")]
    Yaml(String),
    #[error("config key {key}: {message}")]
    Invalid { key: String, message: String },
}

pub(crate) fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        message: message.into(),
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct Config {
    pub version: Option<Value>,
    pub log: Log,
    /// Deprecated top-level log level of version 0.1, honoured when
    /// `log.level` is not set.
    #[serde(deserialize_with = "opt_string")]
    pub loglevel: Option<String>,
    pub storage: Storage,
    pub http: Http,
    pub catalog: Catalog,
    pub auth: Auth,
    /// labreg's own section; registry:2 ignores it.
    pub labreg: Labreg,
    /// registry:2's pull-through cache: one upstream for every repository.
    pub proxy: Option<mirror::Proxy>,
    /// Accepted for compatibility; labreg checks its storage on every request.
    pub health: Option<Value>,
    /// registry:2's webhooks.
    pub notifications: Option<crate::notify::config::Notifications>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct Log {
    #[serde(deserialize_with = "opt_string")]
    pub level: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub formatter: Option<String>,
    pub fields: BTreeMap<String, Value>,
    pub accesslog: AccessLog,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct AccessLog {
    pub disabled: bool,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct Storage {
    pub filesystem: Option<Filesystem>,
    pub s3: Option<S3>,
    pub inmemory: Option<Value>,
    pub azure: Option<Value>,
    pub gcs: Option<Value>,
    pub delete: Enabled,
    pub maintenance: Maintenance,
    pub redirect: Redirect,
    /// distribution's blob descriptor cache (`blobdescriptor`,
    /// `blobdescriptorsize`), resolved in `settings`.
    pub cache: Option<Value>,
    pub tag: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Filesystem {
    #[serde(deserialize_with = "string")]
    pub rootdirectory: String,
    pub maxthreads: Option<u64>,
}

impl Default for Filesystem {
    fn default() -> Self {
        Filesystem {
            rootdirectory: "/var/lib/registry".into(),
            maxthreads: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct Enabled {
    pub enabled: bool,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct Maintenance {
    pub readonly: Enabled,
    pub uploadpurging: UploadPurging,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct UploadPurging {
    pub enabled: bool,
    #[serde(deserialize_with = "string")]
    pub age: String,
    #[serde(deserialize_with = "string")]
    pub interval: String,
    pub dryrun: bool,
}

impl Default for UploadPurging {
    fn default() -> Self {
        // distribution's defaults: purge uploads older than a week, daily.
        UploadPurging {
            enabled: true,
            age: "168h".into(),
            interval: "24h".into(),
            dryrun: false,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct Redirect {
    pub disable: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Http {
    #[serde(deserialize_with = "string")]
    pub addr: String,
    #[serde(deserialize_with = "opt_string")]
    pub net: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub prefix: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub host: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub secret: Option<String>,
    pub relativeurls: bool,
    #[serde(deserialize_with = "opt_string")]
    pub draintimeout: Option<String>,
    pub headers: BTreeMap<String, Vec<String>>,
    pub tls: Option<Tls>,
    pub debug: Option<Debug>,
    pub http2: Option<Value>,
}

impl Default for Http {
    fn default() -> Self {
        Http {
            addr: ":5000".into(),
            net: None,
            prefix: None,
            host: None,
            secret: None,
            relativeurls: false,
            draintimeout: None,
            headers: BTreeMap::new(),
            tls: None,
            debug: None,
            http2: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct Auth {
    pub htpasswd: Option<HtpasswdAuth>,
    pub token: Option<Value>,
    pub silly: Option<Value>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct HtpasswdAuth {
    #[serde(deserialize_with = "string")]
    pub realm: String,
    #[serde(deserialize_with = "string")]
    pub path: String,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct Labreg {
    pub access: Option<Vec<crate::auth::Rule>>,
    /// Upstreams mirrored under repository prefixes.
    pub mirrors: Vec<mirror::Mirror>,
    /// The web UI at `/` (off unless enabled, so a registry:2 config
    /// serves exactly the API).
    pub ui: Enabled,
    /// Retention policies (`crate::retention::policy`).
    pub retention: Option<crate::retention::RetentionConfig>,
    /// Where notification queues live and how long they may grow.
    pub notifications: crate::notify::config::QueueSection,
    /// `_catalog` answered from the usage index instead of a walk of the
    /// store. Off by default: the index sees only what this process
    /// wrote, so turn it on only where this labreg is the storage's one
    /// writer (one replica; no registry:2 or other labreg on the same
    /// folder or bucket).
    pub catalog_index: Enabled,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct Tls {
    #[serde(deserialize_with = "string")]
    pub certificate: String,
    #[serde(deserialize_with = "string")]
    pub key: String,
    pub clientcas: Option<Vec<String>>,
    #[serde(deserialize_with = "opt_string")]
    pub minimumtls: Option<String>,
    pub letsencrypt: Option<Value>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct Debug {
    #[serde(deserialize_with = "string")]
    pub addr: String,
    pub prometheus: Prometheus,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Prometheus {
    pub enabled: bool,
    #[serde(deserialize_with = "string")]
    pub path: String,
}

impl Default for Prometheus {
    fn default() -> Self {
        Prometheus {
            enabled: false,
            path: "/metrics".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Catalog {
    pub maxentries: usize,
}

impl Default for Catalog {
    fn default() -> Self {
        Catalog { maxentries: 1000 }
    }
}

/// The one storage driver a config names.
#[derive(Debug, Clone, Copy)]
pub enum DriverConfig<'a> {
    Filesystem(&'a Filesystem),
    S3(&'a S3),
}

impl DriverConfig<'_> {
    /// The filesystem section, for callers that only handle that driver.
    pub fn filesystem(&self) -> Option<&Filesystem> {
        match self {
            DriverConfig::Filesystem(f) => Some(f),
            DriverConfig::S3(_) => None,
        }
    }
}

/// A loaded configuration, with what loading had to say about it.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    /// Keys labreg does not know, as dotted paths.
    pub unknown_keys: Vec<String>,
    /// Environment overrides applied.
    pub overrides: Vec<Applied>,
}

impl Config {
    /// Loads a config file, or the registry:2 image's defaults when `path`
    /// is None, then applies the `REGISTRY_*` variables of the process.
    pub fn load(path: Option<&Path>) -> Result<Loaded, ConfigError> {
        let text = match path {
            Some(p) => std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                path: p.to_path_buf(),
                source,
            })?,
            None => DEFAULT_CONFIG.to_string(),
        };
        Self::from_yaml(&text, std::env::vars())
    }

    /// Parses config text with the given environment.
    pub fn from_yaml(
        text: &str,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Loaded, ConfigError> {
        let mut tree: Value = if text.trim().is_empty() {
            Value::Object(Default::default())
        } else {
            serde_saphyr::from_str(text).map_err(|e| ConfigError::Yaml(e.to_string()))?
        };
        if !tree.is_object() {
            return Err(ConfigError::Yaml(
                "the config must be a YAML mapping".into(),
            ));
        }
        env::normalize(&mut tree);
        let overrides = env::apply(&mut tree, vars);
        compat::refuse_unimplemented(&tree)?;
        let mut unknown_keys = Vec::new();
        // serde_ignored writes "?" for the Option layers; they are not keys.
        let mut record =
            |p: serde_ignored::Path| unknown_keys.push(p.to_string().replace(".?", ""));
        let de = serde_ignored::Deserializer::new(tree, &mut record);
        let config: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            invalid(&key, e.into_inner().to_string())
        })?;
        // registry:2 never had a `labreg:` section, so a key labreg does
        // not know there is a typo, and a typo there must not silently
        // switch a feature off (`retenton:` would keep every tag).
        if let Some(key) = unknown_keys.iter().find(|k| k.starts_with("labreg.")) {
            return Err(invalid(
                key,
                "not a labreg setting: check its spelling (labreg's settings are access, mirrors, ui, retention, notifications and catalog_index)",
            ));
        }
        config.validate()?;
        Ok(Loaded {
            config,
            unknown_keys,
            overrides,
        })
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(v) = &self.version {
            let s = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if s != "0.1" {
                return Err(invalid(
                    "version",
                    format!("{s:?} is not supported: use 0.1"),
                ));
            }
        }
        self.storage_driver()?;
        self.listen_addr()?;
        self.upstreams()?;
        sections::AuthSettings::resolve(self)?;
        sections::TlsSettings::resolve(self)?;
        self.retention()?;
        if let Some(p) = &self.http.prefix
            && !p.is_empty()
            && p != "/"
        {
            return Err(invalid(
                "http.prefix",
                "serving under a path prefix is not supported by labreg",
            ));
        }
        if let Some(net) = &self.http.net
            && net != "tcp"
        {
            return Err(invalid(
                "http.net",
                format!("{net:?}: labreg listens on tcp only"),
            ));
        }
        // Durations, addresses, URLs, headers and the log section: parsed
        // and checked once.
        Settings::resolve(self)?;
        Ok(())
    }

    /// The retention policies of `labreg.retention`, checked; None without
    /// the section.
    pub fn retention(&self) -> Result<Option<crate::retention::Policies>, ConfigError> {
        self.labreg
            .retention
            .as_ref()
            .map(crate::retention::Policies::resolve)
            .transpose()
    }

    /// The upstreams mirrored (`proxy` or `labreg.mirrors`), checked.
    pub fn upstreams(&self) -> Result<Vec<mirror::UpstreamSettings>, ConfigError> {
        mirror::upstreams(self.proxy.as_ref(), &self.labreg.mirrors)
    }

    /// The effective log level name (lower case), if set.
    pub fn log_level_name(&self) -> Option<String> {
        self.log
            .level
            .as_ref()
            .or(self.loglevel.as_ref())
            .map(|l| l.to_ascii_lowercase())
    }

    /// The storage driver section, checked: exactly one, and one labreg has.
    pub fn storage_driver(&self) -> Result<DriverConfig<'_>, ConfigError> {
        let s = &self.storage;
        let mut named = Vec::new();
        for (name, present) in [
            ("filesystem", s.filesystem.is_some()),
            ("s3", s.s3.is_some()),
            ("inmemory", s.inmemory.is_some()),
            ("azure", s.azure.is_some()),
            ("gcs", s.gcs.is_some()),
        ] {
            if present {
                named.push(name);
            }
        }
        match named.as_slice() {
            [] => Err(invalid(
                "storage",
                "no storage driver configured: add storage.filesystem.rootdirectory (or REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY)",
            )),
            ["filesystem"] => Ok(DriverConfig::Filesystem(
                s.filesystem.as_ref().expect("checked above"),
            )),
            ["s3"] => {
                let s3 = s.s3.as_ref().expect("checked above");
                s3.settings()?;
                Ok(DriverConfig::S3(s3))
            }
            [one] => Err(invalid(
                &format!("storage.{one}"),
                format!(
                    "the {one} driver is not available in this labreg build: use storage.filesystem or storage.s3"
                ),
            )),
            many => Err(invalid(
                "storage",
                format!(
                    "exactly one storage driver may be configured, found {}",
                    many.join(", ")
                ),
            )),
        }
    }

    /// `http.addr` as a socket address; `:5000` means every interface.
    /// The notification endpoints, checked; None when none is enabled.
    pub fn notify_settings(&self) -> Result<Option<crate::notify::NotifySettings>, ConfigError> {
        let fs_root = match self.storage_driver()? {
            DriverConfig::Filesystem(f) => Some(f.rootdirectory.as_str()),
            DriverConfig::S3(_) => None,
        };
        crate::notify::config::resolve(
            self.notifications.as_ref(),
            &self.labreg.notifications,
            fs_root,
        )
    }

    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        parse_addr(&self.http.addr).map_err(|m| invalid("http.addr", m))
    }
}

pub fn parse_addr(addr: &str) -> Result<SocketAddr, String> {
    let full = if addr.starts_with(':') {
        format!("0.0.0.0{addr}")
    } else {
        addr.to_string()
    };
    full.to_socket_addrs()
        .map_err(|e| format!("{addr:?} is not a listen address ({e}): write host:port or :port"))?
        .next()
        .ok_or_else(|| format!("{addr:?} resolves to no address"))
}

/// Parses a Go-style duration such as `168h`, `10s` or `1h30m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("{s:?} is not a duration ({e}): write e.g. 30s, 10m, 24h"))
}

#[cfg(test)]
mod tests;
