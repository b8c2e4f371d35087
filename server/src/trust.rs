//! Trust for the TLS clients of the project (labreg's S3 client, labctl's
//! `verify push`): the system store plus the CA files a user names, checked
//! the way Go and OpenSSL clients check them.
//!
//! The one difference from plain webpki: a server certificate that is
//! itself one of the trust anchors is accepted, with its validity period
//! and its names (SAN) still checked. That is what docker, skopeo, curl and
//! containerd do with a self-signed certificate given as the CA, and the
//! certificates the seeds make with `openssl req -x509` are of that kind
//! (and carry `CA:TRUE`, which webpki refuses as an end entity).

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{WebPkiServerVerifier, verify_server_name};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

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

/// The certificates a client trusts: the system store (`SSL_CERT_FILE`,
/// `SSL_CERT_DIR` and the usual bundle paths; Mozilla's roots when the
/// machine has none) plus the user's CA files.
#[derive(Clone, Default)]
pub struct Anchors {
    certs: Vec<CertificateDer<'static>>,
}

impl Anchors {
    /// The system store alone.
    pub fn system() -> Anchors {
        let native = rustls_native_certs::load_native_certs();
        Anchors {
            certs: native.certs,
        }
    }

    /// Adds every certificate of a PEM file (a CA bundle, a lab's
    /// `ca.crt`, or a self-signed server certificate).
    pub fn add_pem_file(&mut self, path: &Path) -> Result<usize, TrustError> {
        let shown = path.display().to_string();
        let pem = std::fs::read(path).map_err(|source| TrustError::Read {
            path: shown.clone(),
            source,
        })?;
        let n = self.add_pem(&pem);
        if n == 0 {
            return Err(TrustError::NoCert { path: shown });
        }
        Ok(n)
    }

    /// Adds the certificates of PEM text; returns how many it held.
    pub fn add_pem(&mut self, pem: &[u8]) -> usize {
        let before = self.certs.len();
        for p in x509_parser::pem::Pem::iter_from_buffer(pem).flatten() {
            if p.label == "CERTIFICATE" {
                self.certs.push(CertificateDer::from(p.contents));
            }
        }
        self.certs.len() - before
    }

    /// A verifier over these anchors that shows every server certificate
    /// it is given to `observer` (for messages about a failed handshake).
    pub fn observed_verifier(
        &self,
        observer: Observer,
    ) -> Result<Arc<AnchoredVerifier>, TrustError> {
        self.build(Some(observer)).map(Arc::new)
    }

    /// A verifier over these anchors.
    pub fn verifier(&self) -> Result<Arc<AnchoredVerifier>, TrustError> {
        self.build(None).map(Arc::new)
    }

    fn build(&self, observer: Option<Observer>) -> Result<AnchoredVerifier, TrustError> {
        let mut roots = RootCertStore::empty();
        roots.add_parsable_certificates(self.certs.iter().cloned());
        if roots.is_empty() {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| TrustError::Rustls(e.to_string()))?;
        Ok(AnchoredVerifier {
            inner,
            anchors: self.certs.iter().map(|c| c.to_vec()).collect(),
            observer,
        })
    }

    /// A rustls client config (TLS 1.2 and 1.3, ring) over these anchors.
    pub fn client_config(&self) -> Result<ClientConfig, TrustError> {
        client_config(self.verifier()?)
    }
}

/// A client config using `verifier`.
pub fn client_config(verifier: Arc<dyn ServerCertVerifier>) -> Result<ClientConfig, TrustError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TrustError::Rustls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

/// Called with each end-entity certificate (DER) a server presents.
pub type Observer = Arc<dyn Fn(&[u8]) + Send + Sync>;

/// webpki's verifier, plus: a server certificate that is itself a trust
/// anchor is accepted when it is valid now and names the server.
pub struct AnchoredVerifier {
    inner: Arc<WebPkiServerVerifier>,
    anchors: HashSet<Vec<u8>>,
    observer: Option<Observer>,
}

impl std::fmt::Debug for AnchoredVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnchoredVerifier")
            .field("anchors", &self.anchors.len())
            .finish_non_exhaustive()
    }
}

impl AnchoredVerifier {
    /// Whether `cert` is byte for byte one of the trust anchors.
    pub fn is_anchor(&self, cert: &[u8]) -> bool {
        self.anchors.contains(cert)
    }
}

impl ServerCertVerifier for AnchoredVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(observe) = &self.observer {
            observe(end_entity);
        }
        if !self.is_anchor(end_entity) {
            return self.inner.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp,
                now,
            );
        }
        check_period(end_entity, now)?;
        verify_server_name(&ParsedCertificate::try_from(end_entity)?, server_name)?;
        Ok(ServerCertVerified::assertion())
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

/// notBefore <= now <= notAfter, with the same errors webpki gives.
fn check_period(der: &[u8], now: UnixTime) -> Result<(), rustls::Error> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
    let v = cert.validity();
    let secs = |t: &x509_parser::time::ASN1Time| {
        UnixTime::since_unix_epoch(std::time::Duration::from_secs(t.timestamp().max(0) as u64))
    };
    let (not_before, not_after) = (secs(&v.not_before), secs(&v.not_after));
    if now.as_secs() < not_before.as_secs() {
        return Err(rustls::Error::InvalidCertificate(
            CertificateError::NotValidYetContext {
                time: now,
                not_before,
            },
        ));
    }
    if now.as_secs() > not_after.as_secs() {
        return Err(rustls::Error::InvalidCertificate(
            CertificateError::ExpiredContext {
                time: now,
                not_after,
            },
        ));
    }
    Ok(())
}
