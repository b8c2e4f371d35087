//! One mirrored upstream: where its repositories live here (a prefix), how
//! to reach it (the shared OCI client, with `labreg::trust` for TLS and the
//! credentials the config points at), and its counters.

use std::fmt::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use labreg_oci::{Client, Credentials, OciError};

use crate::auth::glob_match;
use crate::config::ConfigError;
use crate::config::mirror::UpstreamSettings;
use crate::registry::{Context, RegistryError, RepoName};
use crate::trust::Anchors;

/// Hits, misses, bytes and errors of one upstream, for Prometheus.
#[derive(Default)]
pub struct UpstreamMetrics {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub upstream_bytes: AtomicU64,
    pub upstream_errors: AtomicU64,
}

impl UpstreamMetrics {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

pub struct Upstream {
    /// The config key it came from, e.g. `labreg.mirrors[0]`.
    pub key: String,
    /// `docker.io/`; empty for registry:2's `proxy` (every repository).
    pub prefix: String,
    pub client: Client,
    pub tag_ttl: Duration,
    allow: Vec<String>,
    /// Docker Hub's official images live under `library/`.
    docker_hub: bool,
    pub metrics: UpstreamMetrics,
}

/// A repository request routed to an upstream.
pub struct Routed<'a> {
    pub upstream: &'a Upstream,
    /// The repository's name at the upstream (`library/nginx`).
    pub remote: String,
    /// Where it is cached here (`docker.io/library/nginx`).
    pub local: RepoName,
}

impl Upstream {
    /// Builds an upstream from its settings: the password is read now (from
    /// the config, a file or the environment) and kept only in memory.
    pub fn build(s: &UpstreamSettings) -> Result<Upstream, ConfigError> {
        let mut anchors = Anchors::system();
        if let Some(ca) = &s.ca {
            anchors
                .add_pem_file(Path::new(ca))
                .map_err(|e| ConfigError::Invalid {
                    key: format!("{}.ca", s.key),
                    message: e.to_string(),
                })?;
        }
        let tls = anchors.client_config().map_err(|e| ConfigError::Invalid {
            key: s.key.clone(),
            message: e.to_string(),
        })?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("labreg/", env!("CARGO_PKG_VERSION"), " (mirror)"))
            .build()
            .map_err(|e| ConfigError::Invalid {
                key: s.key.clone(),
                message: e.to_string(),
            })?;
        let creds = match (&s.username, s.read_password()?) {
            (Some(username), password) => Some(Credentials {
                username: username.clone(),
                password: password.unwrap_or_default(),
            }),
            (None, _) => None,
        };
        let host = s.url.host_str().unwrap_or_default();
        Ok(Upstream {
            key: s.key.clone(),
            prefix: s.prefix.clone(),
            docker_hub: s.prefix == "docker.io/" || host.ends_with("docker.io"),
            client: Client::new(s.url.clone(), http, creds),
            tag_ttl: s.tag_ttl,
            allow: s.allow.clone(),
            metrics: UpstreamMetrics::default(),
        })
    }

    /// The upstream's URL, as errors and logs name it.
    pub fn url(&self) -> &str {
        self.client.base().as_str().trim_end_matches('/')
    }

    /// Whether a request for `repo` goes to this upstream, and as what:
    /// by containerd's `ns` (the repository is the upstream's own name), or
    /// by prefix.
    pub fn route(
        &self,
        cx: &Context,
        repo: &RepoName,
    ) -> Option<Result<Routed<'_>, RegistryError>> {
        // containerd sends `ns` with the upstream's own repository name
        // (`/v2/library/nginx?ns=docker.io`), or with the prefix already in
        // the path when its hosts.toml says `override_path` (what labctl's
        // node-trust writes: `/v2/docker.io/library/nginx?ns=docker.io`).
        // registry:2's `proxy` (no prefix) mirrors every repository
        // whatever the `ns`.
        let ns = cx.namespace.as_ref().filter(|_| !self.prefix.is_empty());
        let remote = match ns {
            Some(ns) if format!("{ns}/") == self.prefix => repo
                .as_str()
                .strip_prefix(&self.prefix)
                .unwrap_or(repo.as_str()),
            Some(_) => return None,
            None => repo.as_str().strip_prefix(&self.prefix)?,
        };
        if remote.is_empty() {
            return None;
        }
        let remote = if self.docker_hub && !remote.contains('/') {
            format!("library/{remote}")
        } else {
            remote.to_string()
        };
        if !self.allow.is_empty() && !self.allow.iter().any(|p| glob_match(p, &remote)) {
            return Some(Err(RegistryError::Denied(format!(
                "{remote} is not in the allow list of the mirror of {} ({}.allow)",
                self.url(),
                self.key
            ))));
        }
        Some(
            RepoName::parse(&format!("{}{remote}", self.prefix))
                .map(|local| Routed {
                    upstream: self,
                    remote,
                    local,
                })
                .map_err(RegistryError::from),
        )
    }

    /// An upstream failure as the client sees it, counted.
    pub fn failure(&self, e: &OciError) -> RegistryError {
        UpstreamMetrics::add(&self.metrics.upstream_errors, 1);
        let (status, answer) = match e {
            OciError::Status { status, .. } => (Some(status.as_u16()), e.to_string()),
            other => (None, format!("is unreachable: {other}")),
        };
        RegistryError::Upstream {
            upstream: self.url().to_string(),
            status,
            answer,
        }
    }

    /// Prometheus lines for this upstream.
    pub fn render(&self, out: &mut String) {
        let m = &self.metrics;
        for (name, c) in [
            ("labreg_mirror_hits_total", &m.hits),
            ("labreg_mirror_misses_total", &m.misses),
            ("labreg_mirror_upstream_bytes_total", &m.upstream_bytes),
            ("labreg_mirror_upstream_errors_total", &m.upstream_errors),
        ] {
            let _ = writeln!(
                out,
                "{name}{{upstream=\"{}\"}} {}",
                self.url(),
                c.load(Ordering::Relaxed)
            );
        }
    }
}
