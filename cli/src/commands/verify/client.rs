//! The registry's client: labreg-oci's, on reqwest with the run's rustls
//! trust (whose verifier remembers the certificate the server presented),
//! never following redirects by itself (labreg-oci follows a blob's, and
//! says where it went), Basic credentials sent only to the registry's own
//! origin. What labreg-oci reports as an error (`OciError`: the status and
//! the answer's `Server`, `WWW-Authenticate` and body; the transport error
//! with its source chain and the bytes sent) becomes a diagnosis here.

use labreg_oci::{OciError, Problem};
use reqwest::{StatusCode, Url};

use super::diagnose::{self, Diagnosis, Peer, TrustHelp};
use super::target::{Credentials, Target};
use super::tls::Trust;

pub struct Client {
    pub oci: labreg_oci::Client,
    http: reqwest::Client,
    pub base: Url,
    pub host: String,
    pub port: u16,
    pub trust: Trust,
    pub trust_help: TrustHelp,
    logged_in: bool,
}

impl Client {
    pub fn new(target: &Target, trust: Trust) -> anyhow::Result<Client> {
        let http = reqwest::Client::builder()
            .use_preconfigured_tls((*trust.config).clone())
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(super::net::CONNECT_TIMEOUT)
            .read_timeout(std::time::Duration::from_secs(60))
            .user_agent(concat!("labctl-verify/", env!("CARGO_PKG_VERSION")))
            .build()?;
        // A probe: verify reads each 401 itself (it speaks Basic only).
        let oci = labreg_oci::Client::new(target.base.clone(), http.clone(), None).probe();
        Ok(Client {
            oci,
            http,
            base: target.base.clone(),
            host: target.host.clone(),
            port: target.port,
            trust,
            trust_help: TrustHelp {
                ca_file: target.ca_file.as_ref().map(|p| p.display().to_string()),
                commands: target.trust_commands.clone(),
            },
            logged_in: false,
        })
    }

    /// Sends the credentials with every later request to the registry.
    pub fn login(&mut self, creds: &Credentials) {
        let creds = labreg_oci::Credentials {
            username: creds.user.clone(),
            password: creds.password.clone(),
        };
        self.oci = labreg_oci::Client::new(self.base.clone(), self.http.clone(), Some(creds))
            .assume_basic()
            .probe();
        self.logged_in = true;
    }

    pub fn logged_in(&self) -> bool {
        self.logged_in
    }

    pub fn peer(&self) -> Peer<'_> {
        Peer {
            host: &self.host,
            port: self.port,
        }
    }

    /// Why a request to `what` (e.g. "the manifest PUT") failed.
    pub fn failed(&self, what: &str, e: &OciError) -> Diagnosis {
        match e {
            OciError::Transport { .. } => self.transport(e),
            OciError::Status { status, answer, .. } => self.status(what, *status, &answer.body),
            OciError::Protocol {
                problem: Problem::Json(j),
                ..
            } => Diagnosis::new(
                "protocol",
                format!("{what} did not return JSON: {j}"),
                "a proxy in front of the registry may answer for it: check its configuration",
            ),
            OciError::Protocol {
                problem: Problem::NoLocation { status },
                ..
            } => Diagnosis::new(
                "protocol",
                format!("{what} was answered {status} without a Location header"),
                "the registry or a proxy in front drops the Location header: check the proxy's configuration",
            ),
            other => Diagnosis::new(
                "protocol",
                format!("{what}: {other}"),
                "a proxy in front of the registry may answer for it: check its configuration",
            ),
        }
    }

    /// Why a request to the registry failed below HTTP.
    pub fn transport(&self, err: &OciError) -> Diagnosis {
        diagnose::transport(
            &self.peer(),
            diagnose::classify_oci(err),
            self.trust.last_cert().as_ref(),
            &self.trust_help,
        )
    }

    /// Why the registry answered `status` (with `body`) to `what`.
    pub fn status(&self, what: &str, status: StatusCode, body: &str) -> Diagnosis {
        let detail = registry_errors(body);
        let said = format!("{what} was answered {status}{detail}");
        match status {
            StatusCode::UNAUTHORIZED if self.logged_in() => Diagnosis::new(
                "unauthorized",
                format!("{said}: the user may log in but not do this"),
                "give the user the right (lab.yaml registry.access: actions [pull, push]) and render and sync",
            ),
            StatusCode::UNAUTHORIZED => Diagnosis::new(
                "unauthorized",
                format!("{said}: the registry wants credentials for this"),
                "pass --user and --password-stdin, or add registry.users to lab.yaml",
            ),
            StatusCode::FORBIDDEN => Diagnosis::new(
                "forbidden",
                format!("{said}: this user or client may not do it"),
                "check the registry's access rules (lab.yaml registry.access) and that it is not read-only (storage.maintenance.readonly)",
            ),
            StatusCode::PAYLOAD_TOO_LARGE => body_too_large(what, None),
            StatusCode::BAD_GATEWAY
            | StatusCode::SERVICE_UNAVAILABLE
            | StatusCode::GATEWAY_TIMEOUT => Diagnosis::new(
                "gateway",
                format!("{said}: a proxy or ingress in front of the registry cannot reach it"),
                "check the registry pods are ready and the Service's port matches the registry's (`kubectl -n registry get pods,endpoints`)",
            ),
            s if s.is_server_error() => Diagnosis::new(
                "server-error",
                format!("{said}: the registry failed internally"),
                "read the registry's log (`kubectl -n registry logs deploy/registry`); storage errors (S3 credentials, full volume) are the usual cause",
            ),
            _ => Diagnosis::new(
                "unexpected-status",
                said,
                "check the registry's log for this request; a proxy in front may also rewrite or block it",
            ),
        }
    }
}

/// `: CODE message` from an OCI error body, if it is one.
pub fn registry_errors(body: &str) -> String {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(body) else {
        let t = body.trim();
        return if t.is_empty() || t.len() > 200 || t.starts_with('<') {
            String::new()
        } else {
            format!(" ({t})")
        };
    };
    let parts: Vec<String> = v["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| {
                    format!(
                        "{} {}",
                        e["code"].as_str().unwrap_or("?"),
                        e["message"].as_str().unwrap_or("")
                    )
                    .trim()
                    .to_string()
                })
                .collect()
        })
        .unwrap_or_default();
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join("; "))
    }
}

/// A body-size limit hit by an upload (`what` says which).
pub fn body_too_large(what: &str, server: Option<&str>) -> Diagnosis {
    let by = server
        .map(|s| format!(" (the answer comes from {s})"))
        .unwrap_or_default();
    Diagnosis::new(
        "body-too-large",
        format!(
            "{what} was refused with 413 Request Entity Too Large{by}: a proxy in front of the registry limits request bodies (nginx ingress allows 1 MiB by default), so `docker push` of any real layer fails the same way"
        ),
        "lift the limit: annotate the Ingress with nginx.ingress.kubernetes.io/proxy-body-size: \"0\" (lab.yaml registry.expose.ingress.proxyBodySize: \"0\", the default, then render and sync), or client_max_body_size 0; in a plain nginx",
    )
}
