//! Why a step failed and what to change: each failure the seeds and their
//! readers met, told in one sentence of cause and one of fix. Transport
//! errors are classified by walking the error's source chain down to the
//! io and rustls errors underneath.

use std::error::Error as StdError;
use std::io;

use rustls::CertificateError;
use serde::Serialize;

use super::tls::CertSummary;

#[derive(Clone, Debug, Serialize)]
pub struct Diagnosis {
    /// A stable name for scripts: `unknown-authority`, `body-too-large`, ...
    pub kind: &'static str,
    pub cause: String,
    pub fix: String,
    /// Commands to run, when there are some.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

impl Diagnosis {
    pub fn new(kind: &'static str, cause: impl Into<String>, fix: impl Into<String>) -> Self {
        Diagnosis {
            kind,
            cause: cause.into(),
            fix: fix.into(),
            help: None,
        }
    }
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// What went wrong below HTTP.
#[derive(Debug)]
pub enum Transport {
    Dns(String),
    Refused,
    Timeout,
    Reset,
    /// The peer closed the connection (or answered something not HTTP).
    Closed(String),
    Tls(rustls::Error),
    Other(String),
}

/// The whole chain as one line: `a: b: c`.
pub fn chain(err: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur = Some(err);
    while let Some(e) = cur {
        let s = e.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = e.source();
    }
    parts.join(": ")
}

/// Classifies a transport error (reqwest's, tokio-rustls's or io's).
pub fn classify(err: &(dyn StdError + 'static)) -> Transport {
    let text = chain(err);
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(t) = e.downcast_ref::<rustls::Error>() {
            return Transport::Tls(t.clone());
        }
        if let Some(ioe) = e.downcast_ref::<io::Error>() {
            // io::Error's source() skips the error it wraps: look inside.
            if let Some(t) = ioe
                .get_ref()
                .and_then(|i| i.downcast_ref::<rustls::Error>())
            {
                return Transport::Tls(t.clone());
            }
            match ioe.kind() {
                io::ErrorKind::ConnectionRefused => return Transport::Refused,
                io::ErrorKind::TimedOut => return Transport::Timeout,
                io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe => {
                    return Transport::Reset;
                }
                io::ErrorKind::UnexpectedEof => return Transport::Closed(text),
                _ => {}
            }
        }
        if let Some(r) = e.downcast_ref::<reqwest::Error>()
            && r.is_timeout()
        {
            return Transport::Timeout;
        }
        cur = e.source();
    }
    let lower = text.to_lowercase();
    if lower.contains("dns error") || lower.contains("failed to lookup address") {
        return Transport::Dns(text);
    }
    if lower.contains("connection closed")
        || lower.contains("invalid http")
        || lower.contains("invalid status")
        || lower.contains("parse")
    {
        return Transport::Closed(text);
    }
    Transport::Other(text)
}

/// Classifies labreg-oci's transport error by the reqwest error it keeps.
pub fn classify_oci(err: &labreg_oci::OciError) -> Transport {
    match err.cause() {
        Some(e) => classify(e),
        None => Transport::Other(err.to_string()),
    }
}

/// A short phrase for a transport failure: "refuses connections".
pub fn phrase(t: &Transport) -> String {
    match t {
        Transport::Dns(_) => "does not resolve".into(),
        Transport::Refused => "refuses connections".into(),
        Transport::Timeout => "does not answer (timed out)".into(),
        Transport::Reset => "reset the connection".into(),
        Transport::Closed(s) => format!("closed the connection ({s})"),
        Transport::Tls(e) => format!("fails TLS ({e})"),
        Transport::Other(s) => format!("fails ({s})"),
    }
}

/// Where the failing connection went, for messages.
pub struct Peer<'a> {
    pub host: &'a str,
    pub port: u16,
}

pub fn dns(p: &Peer, detail: &str) -> Diagnosis {
    Diagnosis::new(
        "dns",
        format!(
            "the name {} does not resolve from this machine ({detail})",
            p.host
        ),
        "check the spelling, then add a DNS record for it (pointing at the ingress or node IP), or an /etc/hosts line such as `192.168.1.10 HOST` on every client",
    )
}

pub fn refused(p: &Peer, addr: &str) -> Diagnosis {
    let local = matches!(p.host, "127.0.0.1" | "localhost" | "::1" | "[::1]");
    let fix = if local {
        format!(
            "on this machine: start the lab's registry with `labctl up --detach --port {}` (in the lab's folder), or check the port `labctl up` printed",
            p.port
        )
    } else {
        "check the port (443 for an ingress, the NodePort 30000-32767 otherwise), that the registry pod runs (`kubectl -n registry get pods,svc,ingress`), and the address it listens on (http.addr)".into()
    };
    Diagnosis::new(
        "connection-refused",
        format!(
            "nothing listens on {}:{} ({addr} refused the connection)",
            p.host, p.port
        ),
        fix,
    )
}

pub fn timeout(p: &Peer) -> Diagnosis {
    Diagnosis::new(
        "timeout",
        format!(
            "{}:{} does not answer: packets are dropped or the address cannot be reached from here",
            p.host, p.port
        ),
        "check that the address is right and routable from this machine, and that no firewall (node, cloud security group, NetworkPolicy) drops the port",
    )
}

/// A transport failure talking to the registry itself.
pub fn transport(
    p: &Peer,
    t: Transport,
    cert: Option<&CertSummary>,
    trust: &TrustHelp,
) -> Diagnosis {
    match t {
        Transport::Dns(d) => dns(p, &d),
        Transport::Refused => refused(p, "the server"),
        Transport::Timeout => timeout(p),
        Transport::Tls(e) => tls(p, &e, cert, trust),
        other => Diagnosis::new(
            "transport",
            format!(
                "the connection to {}:{} failed: it {}",
                p.host,
                p.port,
                phrase(&other)
            ),
            "check that a registry (not another service) answers on this address, and for a proxy or ingress in front, its logs",
        ),
    }
}

/// How to make this machine trust the registry's CA.
#[derive(Default)]
pub struct TrustHelp {
    /// The CA file verify was given (--ca or the lab's certs/ca.crt).
    pub ca_file: Option<String>,
    /// `labctl certs` commands for the lab, when verify runs on a lab.
    pub commands: Option<String>,
}

/// A TLS failure during the handshake.
pub fn tls(
    p: &Peer,
    e: &rustls::Error,
    cert: Option<&CertSummary>,
    trust: &TrustHelp,
) -> Diagnosis {
    let host = p.host;
    let who = cert
        .map(|c| format!(" ({})", c.describe()))
        .unwrap_or_default();
    let rustls::Error::InvalidCertificate(ce) = e else {
        return match e {
            rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
                https_to_http(p)
            }
            _ => Diagnosis::new(
                "tls",
                format!("the TLS handshake with {host}:{} failed: {e}", p.port),
                "check that this port serves TLS for the registry, and the registry's or ingress's TLS settings",
            ),
        };
    };
    match ce {
        CertificateError::UnknownIssuer | CertificateError::BadSignature => {
            unknown_authority(p, cert, trust)
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            match cert {
                Some(c) if c.sans.is_empty() => Diagnosis::new(
                    "no-san",
                    format!(
                        "the certificate{who} has no subjectAltName, only the common name; clients ignore the CN (Go since 1.15, rustls always), so it is valid for no name at all"
                    ),
                    format!(
                        "issue it again with a SAN for {host}: `labctl certs --san {host}` with the lab's CA, or `openssl req -x509 ... -addext \"subjectAltName={}:{host}\"` (an edited openssl.cnf is not used unless -extensions names its section)",
                        san_kind(host)
                    ),
                ),
                _ => Diagnosis::new(
                    "name-mismatch",
                    format!(
                        "the certificate{who} is not valid for {host}: it names {}",
                        cert.map(|c| c.sans.join(", "))
                            .unwrap_or_else(|| "other names".into())
                    ),
                    format!(
                        "use one of the names it holds, or issue it again with {}:{host} among its SANs (`labctl certs --san {host}`)",
                        san_kind(host)
                    ),
                ),
            }
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => Diagnosis::new(
            "expired",
            format!(
                "the certificate{who} expired{}",
                cert.map(|c| format!(
                    " on {} ({} days ago)",
                    c.not_after.date(),
                    c.days_left().abs()
                ))
                .unwrap_or_default()
            ),
            "renew it: `labctl certs --renew` then render and sync for the lab's own CA, `kubectl describe certificate -n registry` for cert-manager; and check this machine's clock",
        ),
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            Diagnosis::new(
                "not-yet-valid",
                format!(
                    "the certificate{who} is not valid yet: this machine's clock or the issuer's is wrong"
                ),
                "set the clocks right (NTP) on this machine and where the certificate was made",
            )
        }
        // webpki refuses a CA certificate (openssl req -x509's default) as
        // the server's own, unless it is itself trusted (then the anchored
        // verifier accepted it before webpki saw it).
        CertificateError::Other(_) if cert.is_some_and(|c| c.is_ca) => ca_as_leaf(p, cert, trust),
        _ => Diagnosis::new(
            "bad-certificate",
            format!("the certificate{who} was rejected: {e}"),
            format!("issue a new certificate for {host} (`labctl certs --renew`)"),
        ),
    }
}

/// A CA certificate (`CA:TRUE`) served as the server's certificate and not
/// itself trusted: self-signed, that is an unknown authority; issued by
/// another CA, the certificate is the wrong kind.
fn ca_as_leaf(p: &Peer, cert: Option<&CertSummary>, trust: &TrustHelp) -> Diagnosis {
    if cert.is_some_and(|c| c.self_signed) {
        return unknown_authority(p, cert, trust);
    }
    let who = cert
        .map(|c| format!(" ({})", c.describe()))
        .unwrap_or_default();
    Diagnosis::new(
        "ca-as-leaf",
        format!(
            "{} presents a CA certificate{who} (basicConstraints CA:TRUE) as its own; clients accept that only when that very certificate is trusted",
            p.host
        ),
        format!(
            "issue the registry a server certificate (CA:FALSE) for {} from that CA (`labctl certs --renew` for the lab's CA), or pass this certificate itself with --ca",
            p.host
        ),
    )
}

fn san_kind(host: &str) -> &'static str {
    if host.parse::<std::net::IpAddr>().is_ok() {
        "IP"
    } else {
        "DNS"
    }
}

fn unknown_authority(p: &Peer, cert: Option<&CertSummary>, trust: &TrustHelp) -> Diagnosis {
    let who = cert
        .map(|c| format!(" ({})", c.describe()))
        .unwrap_or_default();
    let fake = cert.is_some_and(|c| {
        c.subject
            .contains("Kubernetes Ingress Controller Fake Certificate")
    });
    if fake {
        return Diagnosis::new(
            "unknown-authority",
            format!(
                "{} serves the ingress controller's built-in fake certificate: the Ingress has no valid TLS secret for this host",
                p.host
            ),
            format!(
                "make the Ingress's tls.hosts list {} and its secret exist (`kubectl -n registry describe ingress,certificate`)",
                p.host
            ),
        );
    }
    let self_signed = if cert.is_some_and(|c| c.self_signed) {
        " a self-signed certificate,"
    } else {
        ""
    };
    let self_signed_fix = cert.filter(|c| c.self_signed).map(|c| {
        format!(
            "the registry serves a self-signed certificate ({}): it is its own CA, so pass that certificate file itself with --ca (the file the registry's http.tls.certificate names); or issue the registry a certificate from the lab's CA (`labctl certs`)",
            c.subject
        )
    });
    let d = match &trust.ca_file {
        Some(ca) if self_signed_fix.is_some() => Diagnosis::new(
            "unknown-authority",
            format!(
                "{} presents{self_signed} a certificate{who} that is not {ca} nor in the system store",
                p.host
            ),
            self_signed_fix.unwrap_or_default(),
        ),
        None if self_signed_fix.is_some() => Diagnosis::new(
            "unknown-authority",
            format!(
                "{} presents{self_signed} a certificate{who} that this machine does not trust",
                p.host
            ),
            self_signed_fix.unwrap_or_default(),
        ),
        Some(ca) => Diagnosis::new(
            "unknown-authority",
            format!(
                "{} presents{self_signed} a certificate{who} that neither {ca} nor the system store signed",
                p.host
            ),
            format!(
                "the registry serves a certificate from another CA: pass the CA that issued it with --ca, or re-issue the registry's certificate from {ca} (`labctl certs --renew`, then render and sync)"
            ),
        ),
        None => Diagnosis::new(
            "unknown-authority",
            format!(
                "{} presents{self_signed} a certificate{who} signed by an authority this machine does not trust",
                p.host
            ),
            "pass the registry's CA with --ca FILE to check it, then make every client trust it (the lab's CA: `labctl certs` prints the commands)",
        ),
    };
    match &trust.commands {
        Some(cmds) => d.help(cmds.clone()),
        None => d,
    }
}

pub fn https_to_http(p: &Peer) -> Diagnosis {
    Diagnosis::new(
        "https-to-http",
        format!(
            "{}:{} answers plain HTTP, but verify spoke HTTPS to it",
            p.host, p.port
        ),
        format!(
            "either serve TLS there (registry http.tls, or an ingress with tls), or if plain HTTP is intended, run with --insecure (http://{}:{}) and mark it insecure on every client",
            p.host, p.port
        ),
    )
}

pub fn http_to_https(p: &Peer) -> Diagnosis {
    Diagnosis::new(
        "http-to-https",
        format!(
            "{}:{} speaks HTTPS, but verify spoke plain HTTP to it (--insecure or an http:// URL)",
            p.host, p.port
        ),
        format!(
            "drop --insecure and use https://{}:{} (with --ca FILE when its CA is your own)",
            p.host, p.port
        ),
    )
}
