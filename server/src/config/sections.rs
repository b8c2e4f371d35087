//! Typed settings of the `http.tls`, `log` and `auth` sections, each
//! resolved from the config tree once at start (with the key of anything
//! wrong) and read by the one part that uses it: the listener's TLS
//! (`server::tls_config`), the log subscriber (`logging::init`), the
//! authentication layer (`server::build_state_with`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

use super::{Config, ConfigError, invalid};

/// The oldest TLS version the listener accepts (`http.tls.minimumtls`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MinTls {
    Tls12,
    Tls13,
}

/// `http.tls`: the listener's certificate and key files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    pub certificate: PathBuf,
    pub key: PathBuf,
    pub minimum: MinTls,
}

impl TlsSettings {
    pub fn resolve(c: &Config) -> Result<Option<TlsSettings>, ConfigError> {
        let Some(tls) = &c.http.tls else {
            return Ok(None);
        };
        if tls.certificate.is_empty() || tls.key.is_empty() {
            return Err(invalid(
                "http.tls",
                "both http.tls.certificate and http.tls.key are required",
            ));
        }
        if tls.clientcas.as_ref().is_some_and(|c| !c.is_empty()) {
            return Err(invalid(
                "http.tls.clientcas",
                "client certificate auth is not supported by labreg",
            ));
        }
        if tls.letsencrypt.is_some() {
            return Err(invalid(
                "http.tls.letsencrypt",
                "not supported: use cert-manager or `labctl certs` and point certificate/key at the files",
            ));
        }
        let minimum = match tls.minimumtls.as_deref() {
            None | Some("tls1.2") => MinTls::Tls12,
            Some("tls1.3") => MinTls::Tls13,
            Some(m) => {
                return Err(invalid(
                    "http.tls.minimumtls",
                    format!("{m:?}: use tls1.2 or tls1.3"),
                ));
            }
        };
        Ok(Some(TlsSettings {
            certificate: tls.certificate.clone().into(),
            key: tls.key.clone().into(),
            minimum,
        }))
    }
}

/// `log`: the level (`log.level`, or registry:2's old top-level
/// `loglevel`), JSON lines or text, and fields added to every line.
#[derive(Debug, Clone, PartialEq)]
pub struct LogSettings {
    /// error, warn, info or debug.
    pub level: &'static str,
    pub json: bool,
    pub fields: BTreeMap<String, Value>,
}

impl LogSettings {
    pub fn resolve(c: &Config) -> Result<LogSettings, ConfigError> {
        let named = c.log_level_name().unwrap_or_else(|| "info".into());
        let level = ["error", "warn", "info", "debug"]
            .into_iter()
            .find(|l| *l == named)
            .ok_or_else(|| {
                invalid(
                    "log.level",
                    format!("{named:?} is not a level: use error, warn, info or debug"),
                )
            })?;
        let json = match c.log.formatter.as_deref() {
            None | Some("text") => false,
            Some("json" | "logstash") => true,
            Some(f) => return Err(invalid("log.formatter", format!("{f:?}: use text or json"))),
        };
        Ok(LogSettings {
            level,
            json,
            fields: c.log.fields.clone(),
        })
    }
}

/// `auth.htpasswd`: the password file and the realm of the challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HtpasswdSettings {
    pub path: PathBuf,
    pub realm: String,
}

/// `auth`: what authenticates (htpasswd only; none means open).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSettings {
    pub htpasswd: Option<HtpasswdSettings>,
}

impl AuthSettings {
    pub fn resolve(c: &Config) -> Result<AuthSettings, ConfigError> {
        // Refuse rather than serve in the open what the operator meant to
        // protect.
        if c.auth.token.is_some() || c.auth.silly.is_some() {
            return Err(invalid(
                "auth",
                "only auth.htpasswd is supported by labreg (token and silly auth are not)",
            ));
        }
        let htpasswd = match &c.auth.htpasswd {
            Some(h) if h.path.is_empty() => {
                return Err(invalid(
                    "auth.htpasswd.path",
                    "the htpasswd file's path is required",
                ));
            }
            Some(h) => Some(HtpasswdSettings {
                path: h.path.clone().into(),
                realm: h.realm.clone(),
            }),
            None => None,
        };
        if c.labreg.access.is_some() && htpasswd.is_none() {
            return Err(invalid(
                "labreg.access",
                "access rules need authentication: configure auth.htpasswd",
            ));
        }
        Ok(AuthSettings { htpasswd })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(yaml: &str) -> Config {
        let base = "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /tmp/x\n";
        Config::from_yaml(&format!("{base}{yaml}"), Vec::new())
            .unwrap()
            .config
    }

    #[test]
    fn resolved_once_into_types() {
        let c = config(
            "http:\n  tls:\n    certificate: /c.pem\n    key: /k.pem\n    minimumtls: tls1.3\nlog:\n  level: DEBUG\n  formatter: logstash\n  fields:\n    service: registry\nauth:\n  htpasswd:\n    realm: lab\n    path: /auth/htpasswd\n",
        );
        let tls = TlsSettings::resolve(&c).unwrap().unwrap();
        assert_eq!(
            (tls.certificate, tls.key, tls.minimum),
            ("/c.pem".into(), "/k.pem".into(), MinTls::Tls13)
        );
        let log = LogSettings::resolve(&c).unwrap();
        assert_eq!((log.level, log.json), ("debug", true));
        assert_eq!(log.fields["service"], "registry");
        let auth = AuthSettings::resolve(&c).unwrap();
        assert_eq!(
            auth.htpasswd,
            Some(HtpasswdSettings {
                path: "/auth/htpasswd".into(),
                realm: "lab".into()
            })
        );
        let none = config("");
        assert_eq!(TlsSettings::resolve(&none).unwrap(), None);
        let log = LogSettings::resolve(&none).unwrap();
        assert_eq!((log.level, log.json), ("info", false));
        assert_eq!(AuthSettings::resolve(&none).unwrap().htpasswd, None);
    }
}
