//! Trust: the system store plus the lab's CA (or `--ca`), in a rustls
//! config shared by the handshake check and the HTTP client. The verifier
//! wraps webpki's and remembers the certificate it was shown, so a failure
//! can say whose certificate it was, which names it holds and when it
//! expired.

use std::sync::{Arc, Mutex};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use time::OffsetDateTime;

/// What matters about a server certificate, for messages.
#[derive(Clone, Debug)]
pub struct CertSummary {
    pub subject: String,
    pub issuer: String,
    pub sans: Vec<String>,
    pub not_after: OffsetDateTime,
    pub self_signed: bool,
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

#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("cannot read the CA file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "{path} holds no PEM certificate\n  help: pass the CA's certificate (-----BEGIN CERTIFICATE-----), e.g. the lab's certs/ca.crt"
    )]
    NoCert { path: String },
    #[error("cannot set up TLS: {0}")]
    Rustls(String),
}

impl Trust {
    /// The system store plus the CA certificates in `ca_file`.
    pub fn new(ca_file: Option<&std::path::Path>) -> Result<Trust, TrustError> {
        let mut roots = RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(native.certs);
        if roots.is_empty() {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        if let Some(path) = ca_file {
            let shown = path.display().to_string();
            let pem = std::fs::read(path).map_err(|source| TrustError::Read {
                path: shown.clone(),
                source,
            })?;
            let mut n = 0;
            for p in x509_parser::pem::Pem::iter_from_buffer(&pem).flatten() {
                if p.label == "CERTIFICATE" && roots.add(CertificateDer::from(p.contents)).is_ok() {
                    n += 1;
                }
            }
            if n == 0 {
                return Err(TrustError::NoCert { path: shown });
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| TrustError::Rustls(e.to_string()))?;
        let seen = Arc::new(Mutex::new(None));
        let verifier = Arc::new(Recording {
            inner,
            seen: seen.clone(),
        });
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TrustError::Rustls(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(Trust {
            config: Arc::new(config),
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

/// webpki's verifier, remembering the end-entity certificate.
#[derive(Debug)]
struct Recording {
    inner: Arc<WebPkiServerVerifier>,
    seen: Arc<Mutex<Option<Vec<u8>>>>,
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Ok(mut s) = self.seen.lock() {
            *s = Some(end_entity.to_vec());
        }
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
