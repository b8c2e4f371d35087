//! TLS with rustls: the certificate and key from `http.tls`, reloaded when
//! their files change (cert-manager rotates them in place; registry:2 needs a
//! restart), HTTP/2 and HTTP/1.1 by ALPN, and a plain-text answer to plain
//! HTTP sent to the TLS port instead of a silent handshake failure.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::sections::MinTls;

/// How often the certificate files are checked for changes.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(1);

/// What a client gets when it speaks plain HTTP to the TLS port; the same
/// words Go's server uses, which clients and people recognise.
pub const PLAIN_HTTP_ANSWER: &[u8] = b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {what} {path} (http.tls.{what}): {source}")]
    Read {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path} (http.tls.certificate) holds no PEM certificate")]
    NoCertificate { path: PathBuf },
    #[error("{path} (http.tls.key) holds no PEM private key (PKCS#8, PKCS#1 or SEC1)")]
    NoKey { path: PathBuf },
    #[error(
        "the key {key} does not match the certificate {cert}: point http.tls.key at the key the certificate was issued for"
    )]
    Mismatch { cert: PathBuf, key: PathBuf },
    #[error("the key {path} cannot be used: {message}")]
    BadKey { path: PathBuf, message: String },
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Loads and checks a certificate chain and its key.
pub fn load(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let read = |what: &'static str, path: &Path| {
        std::fs::read(path).map_err(|source| TlsError::Read {
            what,
            path: path.to_path_buf(),
            source,
        })
    };
    let cert_pem = read("certificate", cert)?;
    let key_pem = read("key", key)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .filter_map(Result::ok)
        .collect();
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: cert.to_path_buf(),
        });
    }
    let der = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| TlsError::NoKey {
        path: key.to_path_buf(),
    })?;
    CertifiedKey::from_der(chain, der, &provider()).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => TlsError::Mismatch {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
        },
        other => TlsError::BadKey {
            path: key.to_path_buf(),
            message: other.to_string(),
        },
    })
}

type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &Path) -> Stamp {
    let md = std::fs::metadata(path).ok()?;
    Some((md.modified().ok()?, md.len()))
}

/// Serves the current certificate; `reload_if_changed` swaps in a new one.
#[derive(Debug)]
pub struct ReloadingCert {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<(Arc<CertifiedKey>, Stamp, Stamp)>,
}

impl ReloadingCert {
    pub fn open(cert: &Path, key: &Path) -> Result<ReloadingCert, TlsError> {
        let loaded = load(cert, key)?;
        Ok(ReloadingCert {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            current: RwLock::new((Arc::new(loaded), stamp(cert), stamp(key))),
        })
    }

    /// Reloads when either file changed. A pair that fails to load (say, the
    /// certificate written but not yet its key) keeps the previous one and
    /// is retried at the next check.
    pub fn reload_if_changed(&self) {
        let (c, k) = (stamp(&self.cert), stamp(&self.key));
        {
            let cur = self.current.read().expect("tls lock poisoned");
            if cur.1 == c && cur.2 == k {
                return;
            }
        }
        match load(&self.cert, &self.key) {
            Ok(new) => {
                *self.current.write().expect("tls lock poisoned") = (Arc::new(new), c, k);
                tracing::info!(certificate = %self.cert.display(), "TLS certificate reloaded");
            }
            Err(e) => {
                tracing::warn!(error = %e, "TLS certificate changed but does not load yet; serving the previous one")
            }
        }
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().expect("tls lock poisoned").0.clone())
    }
}

/// The rustls server config: HTTP/2 and HTTP/1.1, TLS 1.2+ (or 1.3 only).
pub fn server_config(cert: Arc<ReloadingCert>, minimum: MinTls) -> Arc<ServerConfig> {
    let versions: &[&rustls::SupportedProtocolVersion] = match minimum {
        MinTls::Tls13 => &[&rustls::version::TLS13],
        MinTls::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
    };
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .expect("ring supports TLS 1.2 and 1.3")
        .with_no_client_auth()
        .with_cert_resolver(cert);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(config)
}

/// Checks the files every second for as long as the returned task runs.
pub fn spawn_reloader(cert: Arc<ReloadingCert>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(RELOAD_INTERVAL);
        loop {
            tick.tick().await;
            let c = cert.clone();
            let _ = tokio::task::spawn_blocking(move || c.reload_if_changed()).await;
        }
    })
}
