//! Upstreams labreg mirrors: registry:2's `proxy:` section (one upstream for
//! every repository; pushes refused, as registry:2 does) and labreg's own
//! `labreg.mirrors:` (several upstreams, each under a repository prefix;
//! everything else stays a normal registry). Both resolve into
//! [`UpstreamSettings`], checked at start with the key named.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::lenient::{opt_string, string};
use super::{ConfigError, invalid, parse_duration};

/// A password as written in a config: never shown by Debug.
#[derive(Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct Secret(#[serde(deserialize_with = "opt_string")] pub Option<String>);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() { "***" } else { "None" })
    }
}

/// registry:2's `proxy:` section.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct Proxy {
    #[serde(deserialize_with = "string")]
    pub remoteurl: String,
    #[serde(deserialize_with = "opt_string")]
    pub username: Option<String>,
    pub password: Secret,
    /// registry:2: how long cached content is kept. labreg keeps it until
    /// garbage collection; the value is checked and accepted.
    #[serde(deserialize_with = "opt_string")]
    pub ttl: Option<String>,
}

/// One entry of `labreg.mirrors`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Mirror {
    /// Repositories under this prefix are mirrored, e.g. `docker.io/`;
    /// containerd's `?ns=docker.io` selects it too.
    #[serde(deserialize_with = "string")]
    pub prefix: String,
    /// The upstream registry, e.g. `https://registry-1.docker.io`.
    #[serde(deserialize_with = "string")]
    pub url: String,
    #[serde(deserialize_with = "opt_string")]
    pub username: Option<String>,
    /// A file holding the password (a mounted Secret).
    #[serde(deserialize_with = "opt_string")]
    pub password_file: Option<String>,
    /// The name of an environment variable holding the password.
    #[serde(deserialize_with = "opt_string")]
    pub password_env: Option<String>,
    /// How long a tag is served without asking the upstream again.
    #[serde(deserialize_with = "opt_string")]
    pub ttl: Option<String>,
    /// Upstream repositories that may be pulled ("*" matches any run of
    /// characters); empty allows all.
    pub allow: Vec<String>,
    /// A PEM file of extra CAs (or the upstream's self-signed certificate).
    #[serde(deserialize_with = "opt_string")]
    pub ca: Option<String>,
}

/// Where an upstream's password comes from; read at start, never logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    None,
    /// Written in the config (registry:2's `proxy.password`).
    Inline,
    File(PathBuf),
    Env(String),
}

/// An upstream, checked.
#[derive(Debug, Clone)]
pub struct UpstreamSettings {
    /// The config key it came from (`proxy`, `labreg.mirrors[0]`), for errors.
    pub key: String,
    /// The repository prefix with its slash (`docker.io/`); empty for `proxy`.
    pub prefix: String,
    pub url: url::Url,
    pub username: Option<String>,
    pub password: PasswordSource,
    pub(crate) inline_password: Secret,
    /// Zero: every tag pull asks the upstream (HEAD), as registry:2 does.
    pub tag_ttl: Duration,
    pub allow: Vec<String>,
    pub ca: Option<PathBuf>,
}

impl UpstreamSettings {
    /// The password, read now from where the config says.
    pub fn read_password(&self) -> Result<Option<String>, ConfigError> {
        match &self.password {
            PasswordSource::None => Ok(None),
            PasswordSource::Inline => Ok(self.inline_password.0.clone()),
            PasswordSource::File(p) => std::fs::read_to_string(p)
                .map(|s| Some(s.trim_end_matches(['\n', '\r']).to_string()))
                .map_err(|e| {
                    invalid(
                        &format!("{}.password_file", self.key),
                        format!("cannot read {}: {e}", p.display()),
                    )
                }),
            PasswordSource::Env(name) => std::env::var(name).map(Some).map_err(|_| {
                invalid(
                    &format!("{}.password_env", self.key),
                    format!("the environment variable {name} is not set"),
                )
            }),
        }
    }
}

fn upstream_url(key: &str, s: &str) -> Result<url::Url, ConfigError> {
    let url = url::Url::parse(s).map_err(|e| {
        invalid(
            key,
            format!("{s:?} is not a URL ({e}): write e.g. https://registry-1.docker.io"),
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(invalid(
            key,
            format!("{s:?}: an upstream is http:// or https:// with a host"),
        ));
    }
    Ok(url)
}

fn ttl(key: &str, s: &Option<String>, default: Duration) -> Result<Duration, ConfigError> {
    match s {
        Some(s) => parse_duration(s).map_err(|m| invalid(key, m)),
        None => Ok(default),
    }
}

/// The upstreams a config names, checked; empty when it mirrors nothing.
pub fn upstreams(
    proxy: Option<&Proxy>,
    mirrors: &[Mirror],
) -> Result<Vec<UpstreamSettings>, ConfigError> {
    let mut out = Vec::new();
    if let Some(p) = proxy.filter(|p| !p.remoteurl.is_empty()) {
        if !mirrors.is_empty() {
            return Err(invalid(
                "proxy.remoteurl",
                "proxy mirrors every repository, so labreg.mirrors would never be used: use one or the other (labreg.mirrors with prefixes keeps pushes open)",
            ));
        }
        ttl("proxy.ttl", &p.ttl, Duration::ZERO)?;
        out.push(UpstreamSettings {
            key: "proxy".into(),
            prefix: String::new(),
            url: upstream_url("proxy.remoteurl", &p.remoteurl)?,
            username: p.username.clone().filter(|u| !u.is_empty()),
            password: match &p.password.0 {
                Some(_) => PasswordSource::Inline,
                None => PasswordSource::None,
            },
            inline_password: p.password.clone(),
            tag_ttl: Duration::ZERO,
            allow: Vec::new(),
            ca: None,
        });
    }
    for (i, m) in mirrors.iter().enumerate() {
        let key = format!("labreg.mirrors[{i}]");
        let prefix = m.prefix.trim_end_matches('/');
        if prefix.is_empty() || crate::registry::names::validate_name(prefix).is_err() {
            return Err(invalid(
                &format!("{key}.prefix"),
                format!(
                    "{:?} is not a repository prefix: write e.g. docker.io/ (the upstream's host, then a slash)",
                    m.prefix
                ),
            ));
        }
        let prefix = format!("{prefix}/");
        if out.iter().any(|u: &UpstreamSettings| {
            prefix.starts_with(&u.prefix) || u.prefix.starts_with(&prefix)
        }) {
            return Err(invalid(
                &format!("{key}.prefix"),
                format!(
                    "{prefix} overlaps another mirror's prefix: each repository has one upstream"
                ),
            ));
        }
        let password = match (&m.password_file, &m.password_env) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    &key,
                    "password_file and password_env both set: give one",
                ));
            }
            (Some(f), None) => PasswordSource::File(f.into()),
            (None, Some(e)) => PasswordSource::Env(e.clone()),
            (None, None) => PasswordSource::None,
        };
        if password != PasswordSource::None && m.username.is_none() {
            return Err(invalid(
                &format!("{key}.username"),
                "a password is configured without a username",
            ));
        }
        out.push(UpstreamSettings {
            url: upstream_url(&format!("{key}.url"), &m.url)?,
            tag_ttl: ttl(&format!("{key}.ttl"), &m.ttl, Duration::from_secs(300))?,
            prefix,
            username: m.username.clone(),
            password,
            inline_password: Secret(None),
            allow: m.allow.clone(),
            ca: m.ca.as_ref().map(PathBuf::from),
            key,
        });
    }
    Ok(out)
}
