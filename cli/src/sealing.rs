//! The sealed-secrets controller's certificate: where render finds it,
//! what it checks, and the key pair labctl can own for a lab.
//!
//! Render needs only the public certificate, `certs/sealing.crt` in the
//! lab's root unless `--cert` names another file. It gets there by
//! `labctl sealing init` (labctl makes and owns the key pair; the private
//! key is kept as the age secret `sealing/tls.key`) or by
//! `labctl sealing fetch-cert` (the running controller's certificate).

use std::path::{Path, PathBuf};

use rsa::pkcs8::{DecodePublicKey, EncodePrivateKey, LineEnding};
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// The certificate file render reads by default, relative to the lab's root.
pub const CERT_FILE: &str = "certs/sealing.crt";
/// The age secret holding the private key of a key pair labctl owns.
pub const KEY_SECRET: &str = "sealing/tls.key";

#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error(
        "no sealed-secrets certificate: {} does not exist\n  help: run `labctl sealing init` to make a key pair this lab owns, `labctl sealing fetch-cert` to use the cluster's controller, or pass --cert FILE", .0.display()
    )]
    Missing(PathBuf),
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not a PEM certificate with an RSA public key: {reason}\n  help: use the controller's cert.pem (`kubeseal --fetch-cert` or `labctl sealing fetch-cert`)", path.display())]
    Bad { path: PathBuf, reason: String },
    #[error(
        "the sealed-secrets certificate {} expired on {date}\n  help: get the controller's current certificate with `labctl sealing fetch-cert`, or renew the lab's own with `labctl sealing init --renew`; apps/ was not changed", path.display()
    )]
    Expired { path: PathBuf, date: String },
}

/// A usable controller certificate.
pub struct SealingCert {
    pub pem: String,
    pub key: RsaPublicKey,
    /// SHA-256 of the SubjectPublicKeyInfo: identifies the key in fingerprints.
    pub spki_sha256: [u8; 32],
    pub not_after: OffsetDateTime,
}

/// Reads and checks a certificate: PEM, RSA, not expired.
pub fn load(path: &Path) -> Result<SealingCert, CertError> {
    let pem = match std::fs::read_to_string(path) {
        Ok(p) => p,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(CertError::Missing(path.to_path_buf()));
        }
        Err(source) => {
            return Err(CertError::Read {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    parse(path, pem)
}

pub fn parse(path: &Path, pem: String) -> Result<SealingCert, CertError> {
    let bad = |reason: String| CertError::Bad {
        path: path.to_path_buf(),
        reason,
    };
    let info =
        crate::pki::inspect(&path.display().to_string(), &pem).map_err(|e| bad(e.to_string()))?;
    let key = RsaPublicKey::from_public_key_der(&info.spki_der).map_err(|e| bad(e.to_string()))?;
    let not_after = info.not_after;
    if not_after < OffsetDateTime::now_utc() {
        return Err(CertError::Expired {
            path: path.to_path_buf(),
            date: not_after.date().to_string(),
        });
    }
    Ok(SealingCert {
        spki_sha256: Sha256::digest(&info.spki_der).into(),
        pem,
        key,
        not_after,
    })
}

/// A new controller key pair: (certificate PEM, PKCS#8 private key PEM).
/// The certificate is self-signed, like the one the controller makes.
pub fn generate(bits: usize, days: i64) -> anyhow::Result<(String, String)> {
    let key = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, bits)?;
    let key_pem = key.to_pkcs8_pem(LineEnding::LF)?.to_string();
    let pair = rcgen::KeyPair::from_pkcs8_pem_and_sign_algo(&key_pem, &rcgen::PKCS_RSA_SHA256)?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "sealed-secret");
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "sealed-secret");
    let now = OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(days);
    let cert = params.self_signed(&pair)?;
    Ok((cert.pem(), key_pem))
}

/// The Secret the controller loads its key from (kubernetes.io/tls,
/// labelled as an active sealing key), as YAML.
pub fn bootstrap_secret(namespace: &str, name: &str, cert_pem: &str, key_pem: &str) -> String {
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    format!(
        "# The sealed-secrets controller's key pair, owned by labctl. Contains a
# private key: apply it, never commit it.
#   labctl sealing bootstrap | kubectl apply -f -
apiVersion: v1
kind: Secret
metadata:
  name: {name}
  namespace: {namespace}
  labels:
    sealedsecrets.bitnami.com/sealed-secrets-key: active
type: kubernetes.io/tls
data:
  tls.crt: {}
  tls.key: {}
",
        b64(cert_pem),
        b64(key_pem)
    )
}
