//! `storage.s3`: distribution's S3 driver parameters, with its defaults, and
//! the AWS environment variables as the fallback for credentials and region.
//! The keys never appear in `Debug` output or in logs.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::lenient::opt_string;
use super::{ConfigError, invalid};

/// distribution's default part size for multipart uploads.
pub const DEFAULT_CHUNK_SIZE: u64 = 10 << 20;
/// S3's smallest part (all parts but the last).
pub const MIN_CHUNK_SIZE: u64 = 5 << 20;

#[derive(Clone, Deserialize, Default)]
#[serde(default)]
pub struct S3 {
    #[serde(deserialize_with = "opt_string")]
    pub accesskey: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub secretkey: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub region: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub regionendpoint: Option<String>,
    #[serde(deserialize_with = "opt_bool")]
    pub forcepathstyle: Option<bool>,
    #[serde(deserialize_with = "opt_string")]
    pub bucket: Option<String>,
    #[serde(deserialize_with = "opt_bool")]
    pub secure: Option<bool>,
    #[serde(deserialize_with = "opt_bool")]
    pub skipverify: Option<bool>,
    #[serde(deserialize_with = "opt_bool")]
    pub v4auth: Option<bool>,
    #[serde(deserialize_with = "opt_u64")]
    pub chunksize: Option<u64>,
    #[serde(deserialize_with = "opt_string")]
    pub rootdirectory: Option<String>,
    /// Accepted for compatibility; labreg leaves storage class and ACLs to
    /// the bucket's defaults.
    pub storageclass: Option<Value>,
    pub objectacl: Option<Value>,
    pub encrypt: Option<Value>,
    pub loglevel: Option<Value>,
    pub multipartcopychunksize: Option<Value>,
    pub multipartcopymaxconcurrency: Option<Value>,
    pub multipartcopythresholdsize: Option<Value>,
}

impl std::fmt::Debug for S3 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |o: &Option<String>| o.as_ref().map(|_| "<redacted>");
        f.debug_struct("S3")
            .field("accesskey", &hidden(&self.accesskey))
            .field("secretkey", &hidden(&self.secretkey))
            .field("region", &self.region)
            .field("regionendpoint", &self.regionendpoint)
            .field("bucket", &self.bucket)
            .field("rootdirectory", &self.rootdirectory)
            .finish_non_exhaustive()
    }
}

fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(b)),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        other => Err(serde::de::Error::custom(format!(
            "expected true or false, found {other}"
        ))),
    }
}

fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::Number(n) if n.as_u64().is_some() => Ok(n.as_u64()),
        Value::String(s) if s.trim().parse::<u64>().is_ok() => Ok(s.trim().parse().ok()),
        other => Err(serde::de::Error::custom(format!(
            "expected a number of bytes, found {other}"
        ))),
    }
}

/// Access and secret key: never logged, never printed.
#[derive(Clone)]
pub struct Credentials {
    pub access_key: String,
    pub secret_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials(<redacted>)")
    }
}

/// `storage.s3` resolved: defaults filled, environment consulted, checked.
#[derive(Debug, Clone)]
pub struct S3Settings {
    pub bucket: String,
    pub region: String,
    /// `http(s)://host[:port]`, the address requests and redirects go to.
    pub endpoint: String,
    pub path_style: bool,
    pub skip_verify: bool,
    /// `AWS_CA_BUNDLE`: PEM certificates trusted beside the system store
    /// (as the AWS SDKs, and so registry:2, read it).
    pub ca_bundle: Option<std::path::PathBuf>,
    pub chunk_size: u64,
    /// Key prefix without leading slash: "" or "some/dir/".
    pub root: String,
    pub credentials: Credentials,
}

fn env_var(vars: &dyn Fn(&str) -> Option<String>, names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| vars(n).filter(|v| !v.is_empty()))
}

impl S3 {
    /// Resolves the section with the process environment.
    pub fn settings(&self) -> Result<S3Settings, ConfigError> {
        self.settings_with(&|k| std::env::var(k).ok())
    }

    pub fn settings_with(
        &self,
        vars: &dyn Fn(&str) -> Option<String>,
    ) -> Result<S3Settings, ConfigError> {
        let nonempty = |o: &Option<String>| o.clone().filter(|s| !s.is_empty());
        let bucket = nonempty(&self.bucket).ok_or_else(|| {
            invalid(
                "storage.s3.bucket",
                "the bucket is required (REGISTRY_STORAGE_S3_BUCKET)",
            )
        })?;
        if self.v4auth == Some(false) {
            return Err(invalid(
                "storage.s3.v4auth",
                "AWS signature version 2 is not supported by labreg: remove v4auth or set it to true",
            ));
        }
        let secure = self.secure.unwrap_or(true);
        let endpoint_cfg = nonempty(&self.regionendpoint);
        let region = nonempty(&self.region)
            .or_else(|| env_var(vars, &["AWS_REGION", "AWS_DEFAULT_REGION"]))
            .or_else(|| endpoint_cfg.as_ref().map(|_| "us-east-1".to_string()))
            .ok_or_else(|| {
                invalid(
                    "storage.s3.region",
                    "a region is required when no regionendpoint is set (e.g. us-east-1)",
                )
            })?;
        let endpoint = match &endpoint_cfg {
            Some(e) if e.starts_with("http://") || e.starts_with("https://") => {
                e.trim_end_matches('/').to_string()
            }
            Some(e) => format!(
                "{}://{}",
                if secure { "https" } else { "http" },
                e.trim_end_matches('/')
            ),
            None => format!("https://s3.{region}.amazonaws.com"),
        };
        url_host(&endpoint).ok_or_else(|| {
            invalid(
                "storage.s3.regionendpoint",
                format!("{endpoint:?} is not a URL with a host: write e.g. http://minio.example.com:9000"),
            )
        })?;
        // distribution 2.8 talks path-style to custom endpoints (MinIO,
        // Garage, Ceph) unless told otherwise.
        let path_style = self.forcepathstyle.unwrap_or(endpoint_cfg.is_some());
        let chunk_size = self.chunksize.unwrap_or(DEFAULT_CHUNK_SIZE);
        if chunk_size < MIN_CHUNK_SIZE {
            return Err(invalid(
                "storage.s3.chunksize",
                format!("{chunk_size} is below S3's minimum part size of {MIN_CHUNK_SIZE} (5 MiB)"),
            ));
        }
        let credentials = match (nonempty(&self.accesskey), nonempty(&self.secretkey)) {
            (Some(a), Some(s)) => Credentials {
                access_key: a,
                secret_key: s,
                session_token: None,
            },
            (None, None) => match (
                env_var(vars, &["AWS_ACCESS_KEY_ID"]),
                env_var(vars, &["AWS_SECRET_ACCESS_KEY"]),
            ) {
                (Some(a), Some(s)) => Credentials {
                    access_key: a,
                    secret_key: s,
                    session_token: env_var(vars, &["AWS_SESSION_TOKEN"]),
                },
                _ => {
                    return Err(invalid(
                        "storage.s3.accesskey",
                        "no S3 credentials: set storage.s3.accesskey and secretkey (REGISTRY_STORAGE_S3_ACCESSKEY/SECRETKEY) or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
                    ));
                }
            },
            _ => {
                return Err(invalid(
                    "storage.s3.secretkey",
                    "accesskey and secretkey go together: set both or neither",
                ));
            }
        };
        let root = self
            .rootdirectory
            .as_deref()
            .unwrap_or("")
            .trim_matches('/')
            .to_string();
        let root = if root.is_empty() {
            root
        } else {
            format!("{root}/")
        };
        Ok(S3Settings {
            bucket,
            region,
            endpoint,
            path_style,
            skip_verify: self.skipverify.unwrap_or(false),
            ca_bundle: env_var(vars, &["AWS_CA_BUNDLE"]).map(std::path::PathBuf::from),
            chunk_size,
            root,
            credentials,
        })
    }
}

/// The host of a URL, without scheme, port or path.
pub fn url_host(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split('/').next()?;
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next()?
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    (!host.is_empty()).then_some(host)
}

/// Why clients outside the cluster may fail to reach `host`, if they may:
/// seed 003's trap, a redirect to a name only the cluster's DNS knows.
pub fn redirect_host_warning(host: &str) -> Option<String> {
    let h = host.to_ascii_lowercase();
    let why = if h == "localhost" || h.starts_with("127.") || h == "::1" {
        "a loopback address: only clients on the registry's own machine can follow the redirect"
    } else if h.parse::<std::net::IpAddr>().is_ok() {
        return None;
    } else if h.ends_with(".cluster.local") || h.ends_with(".svc") || h.contains(".svc.") {
        "a Kubernetes service name: only clients inside the cluster can resolve it"
    } else if !h.contains('.') {
        "a name without a dot: most likely a cluster-internal or local name clients cannot resolve"
    } else {
        return None;
    };
    Some(why.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s3(yaml: serde_json::Value) -> S3 {
        serde_json::from_value(yaml).unwrap()
    }

    #[test]
    fn seed_003_section_resolves() {
        let c = s3(serde_json::json!({
            "accesskey": "AK", "secretkey": "SK", "region": "us-east-1",
            "bucket": "container-repo", "regionendpoint": "minio-svc.minio.svc.homelab-k8s:9000",
            "secure": false, "v4auth": true, "chunksize": 5242880, "rootdirectory": "/",
        }));
        let s = c.settings_with(&|_| None).unwrap();
        assert_eq!(s.endpoint, "http://minio-svc.minio.svc.homelab-k8s:9000");
        assert!(s.path_style);
        assert_eq!(s.root, "");
        assert_eq!(s.chunk_size, 5 << 20);
        let dbg = format!("{c:?} {s:?}");
        assert!(!dbg.contains("AK") && !dbg.contains("SK"), "{dbg}");
        assert!(redirect_host_warning(url_host(&s.endpoint).unwrap()).is_some());
    }

    #[test]
    fn environment_and_errors() {
        let c = s3(
            serde_json::json!({"bucket": "b", "region": "r", "rootdirectory": "/a/b/", "chunksize": "6000000", "secure": "true"}),
        );
        let env = |k: &str| match k {
            "AWS_ACCESS_KEY_ID" => Some("id".to_string()),
            "AWS_SECRET_ACCESS_KEY" => Some("secret".to_string()),
            _ => None,
        };
        let s = c.settings_with(&env).unwrap();
        assert_eq!(s.credentials.access_key, "id");
        assert_eq!(s.root, "a/b/");
        assert_eq!(s.endpoint, "https://s3.r.amazonaws.com");
        assert!(!s.path_style);
        let err = c.settings_with(&|_| None).unwrap_err().to_string();
        assert!(err.contains("AWS_ACCESS_KEY_ID"), "{err}");
        let small = s3(serde_json::json!({"bucket": "b", "region": "r", "chunksize": 1000}));
        assert!(
            small
                .settings_with(&env)
                .unwrap_err()
                .to_string()
                .contains("chunksize")
        );
        let v2 = s3(serde_json::json!({"bucket": "b", "region": "r", "v4auth": false}));
        assert!(
            v2.settings_with(&env)
                .unwrap_err()
                .to_string()
                .contains("v4auth")
        );
    }

    #[test]
    fn cluster_internal_hosts_are_flagged() {
        for h in [
            "minio",
            "minio.minio.svc",
            "minio.ns.svc.cluster.local",
            "localhost",
            "127.0.0.1",
        ] {
            assert!(redirect_host_warning(h).is_some(), "{h}");
        }
        for h in [
            "s3.example.com",
            "192.168.1.10",
            "s3.us-east-1.amazonaws.com",
        ] {
            assert!(redirect_host_warning(h).is_none(), "{h}");
        }
        assert_eq!(url_host("http://[::1]:9000/x"), Some("::1"));
        assert_eq!(url_host("https://a.b:1"), Some("a.b"));
    }
}
