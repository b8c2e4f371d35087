//! Trust: the system store plus the lab's CA (or `--ca`), in a rustls
//! config shared by the handshake check and the HTTP client. The verifier
//! is labreg's (a self-signed certificate given as the CA is accepted, as
//! Go and OpenSSL clients accept it), told to remember the certificate it was shown, so a failure
//! can say whose certificate it was, which names it holds and when it
//! expired.

use std::sync::{Arc, Mutex};

use labreg::trust::Anchors;
use rustls::ClientConfig;
use time::OffsetDateTime;

/// What matters about a server certificate, for messages.
#[derive(Clone, Debug)]
pub struct CertSummary {
    pub subject: String,
    pub issuer: String,
    pub sans: Vec<String>,
    pub not_after: OffsetDateTime,
    pub self_signed: bool,
    /// basicConstraints CA:TRUE (openssl req -x509's default).
    pub is_ca: bool,
}

impl CertSummary {
    pub fn parse(der: &[u8]) -> Option<CertSummary> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        let mut sans = Vec::new();
        if let Ok(Some(ext)) = cert.subject_alternative_name() {
            for name in &ext.value.general_names {
                use x509_parser::extensions::GeneralName;
                match name {
                    GeneralName::DNSName(d) => sans.push(d.to_string()),
                    GeneralName::IPAddress(b) => sans.push(match b.len() {
                        4 => std::net::IpAddr::from(<[u8; 4]>::try_from(*b).ok()?).to_string(),
                        16 => std::net::IpAddr::from(<[u8; 16]>::try_from(*b).ok()?).to_string(),
                        _ => continue,
                    }),
                    _ => {}
                }
            }
        }
        Some(CertSummary {
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            sans,
            not_after: cert.validity().not_after.to_datetime(),
            self_signed: cert.subject().as_raw() == cert.issuer().as_raw(),
            is_ca: cert.is_ca(),
        })
    }

    pub fn days_left(&self) -> i64 {
        (self.not_after - OffsetDateTime::now_utc()).whole_days()
    }

    /// `CN=reg.example.com, issued by CN=labctl CA homelab, valid until 2027-01-01`.
    pub fn describe(&self) -> String {
        let issuer = if self.self_signed {
            "self-signed".to_string()
        } else {
            format!("issued by {}", self.issuer)
        };
        format!(
            "{}, {issuer}, valid until {}",
            self.subject,
            self.not_after.date()
        )
    }
}

/// The trust this run uses.
#[derive(Clone)]
pub struct Trust {
    pub config: Arc<ClientConfig>,
    seen: Arc<Mutex<Option<Vec<u8>>>>,
}

pub use labreg::trust::TrustError;

impl Trust {
    /// The system store plus the CA certificates in `ca_file` (a CA, or a
    /// self-signed server certificate, which is its own CA).
    pub fn new(ca_file: Option<&std::path::Path>) -> Result<Trust, TrustError> {
        let mut anchors = Anchors::system();
        if let Some(path) = ca_file {
            anchors.add_pem_file(path)?;
        }
        let seen: Arc<Mutex<Option<Vec<u8>>>> = Arc::new(Mutex::new(None));
        let record = seen.clone();
        let verifier = anchors.observed_verifier(Arc::new(move |der: &[u8]| {
            if let Ok(mut s) = record.lock() {
                *s = Some(der.to_vec());
            }
        }))?;
        Ok(Trust {
            config: Arc::new(labreg::trust::client_config(verifier)?),
            seen,
        })
    }

    /// The last certificate a server presented.
    pub fn last_cert(&self) -> Option<CertSummary> {
        let der = self.seen.lock().ok()?.clone()?;
        CertSummary::parse(&der)
    }

    pub fn forget(&self) {
        if let Ok(mut s) = self.seen.lock() {
            *s = None;
        }
    }
}
