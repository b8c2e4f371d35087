//! Sealing as kubeseal does it, so that the Bitnami sealed-secrets
//! controller opens what labctl writes.
//!
//! Each value is encrypted on its own with a fresh 32-byte AES-256-GCM
//! session key and a zero nonce (the key is used once); the session key is
//! encrypted with RSA-OAEP (SHA-256) under the controller's public key, with
//! the scope's label as the OAEP label. The value in `encryptedData` is the
//! base64 (standard, padded) of
//!
//! ```text
//! u16 big-endian length of the RSA ciphertext || RSA ciphertext || AES-GCM ciphertext and tag
//! ```
//!
//! The label binds a value to where it may be unsealed: `namespace/name`
//! (strict, the default), `namespace` (namespace-wide) or empty
//! (cluster-wide); the controller finds the scope from the SealedSecret's
//! annotations.

use aes_gcm::aead::{Aead, KeyInit, OsRng};
use aes_gcm::{Aes256Gcm, Nonce};
use rsa::rand_core::RngCore;
use rsa::{Oaep, RsaPublicKey};
use sha2::Sha256;

pub const ANNOTATION_NAMESPACE_WIDE: &str = "sealedsecrets.bitnami.com/namespace-wide";
pub const ANNOTATION_CLUSTER_WIDE: &str = "sealedsecrets.bitnami.com/cluster-wide";

/// Where a sealed value may be unsealed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Scope {
    /// Only as a Secret of this name in this namespace.
    Strict,
    /// Under any name in this namespace.
    NamespaceWide,
    /// Under any name in any namespace.
    ClusterWide,
}

impl Scope {
    /// The RSA-OAEP label of the scope.
    pub fn label(self, namespace: &str, name: &str) -> String {
        match self {
            Scope::Strict => format!("{namespace}/{name}"),
            Scope::NamespaceWide => namespace.to_string(),
            Scope::ClusterWide => String::new(),
        }
    }

    /// The annotation (with value "true") that tells the controller the scope.
    pub fn annotation(self) -> Option<&'static str> {
        match self {
            Scope::Strict => None,
            Scope::NamespaceWide => Some(ANNOTATION_NAMESPACE_WIDE),
            Scope::ClusterWide => Some(ANNOTATION_CLUSTER_WIDE),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot seal: {0}")]
pub struct SealError(String);

/// kubeseal's hybrid encryption of one value.
pub fn hybrid_encrypt(
    key: &RsaPublicKey,
    plaintext: &[u8],
    label: &str,
) -> Result<Vec<u8>, SealError> {
    let mut session = [0u8; 32];
    OsRng.fill_bytes(&mut session);
    let rsa_ct = key
        .encrypt(
            &mut OsRng,
            Oaep::new_with_label::<Sha256, _>(label),
            &session,
        )
        .map_err(|e| SealError(format!("RSA-OAEP: {e}")))?;
    let len =
        u16::try_from(rsa_ct.len()).map_err(|_| SealError("the RSA key is too large".into()))?;
    let aead = Aes256Gcm::new_from_slice(&session).map_err(|e| SealError(e.to_string()))?;
    let aes_ct = aead
        .encrypt(Nonce::from_slice(&[0u8; 12]), plaintext)
        .map_err(|e| SealError(format!("AES-GCM: {e}")))?;
    let mut out = Vec::with_capacity(2 + rsa_ct.len() + aes_ct.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&rsa_ct);
    out.extend_from_slice(&aes_ct);
    Ok(out)
}

/// `hybrid_encrypt`, base64 as in `encryptedData`.
pub fn seal_value(key: &RsaPublicKey, plaintext: &[u8], label: &str) -> Result<String, SealError> {
    use base64::Engine;
    Ok(base64::engine::general_purpose::STANDARD.encode(hybrid_encrypt(key, plaintext, label)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::RsaPrivateKey;

    /// The inverse, written from the format above; the tests in
    /// cli/tests/render_seal.rs check against an independent implementation.
    fn open(key: &RsaPrivateKey, ct: &[u8], label: &str) -> Option<Vec<u8>> {
        let n = u16::from_be_bytes([ct[0], ct[1]]) as usize;
        let session = key
            .decrypt(Oaep::new_with_label::<Sha256, _>(label), &ct[2..2 + n])
            .ok()?;
        let aead = Aes256Gcm::new_from_slice(&session).ok()?;
        aead.decrypt(Nonce::from_slice(&[0u8; 12]), &ct[2 + n..])
            .ok()
    }

    #[test]
    fn layout_and_labels() {
        let key = RsaPrivateKey::new(&mut OsRng, 2048).unwrap();
        let public = key.to_public_key();
        for scope in [Scope::Strict, Scope::NamespaceWide, Scope::ClusterWide] {
            let label = scope.label("ns", "name");
            let ct = hybrid_encrypt(&public, b"hello", &label).unwrap();
            assert_eq!(u16::from_be_bytes([ct[0], ct[1]]), 256);
            assert_eq!(ct.len(), 2 + 256 + 5 + 16);
            assert_eq!(open(&key, &ct, &label).unwrap(), b"hello");
            if scope != Scope::ClusterWide {
                assert!(open(&key, &ct, &scope.label("other", "name")).is_none());
            }
        }
        assert_eq!(Scope::Strict.label("a", "b"), "a/b");
        assert_eq!(Scope::NamespaceWide.label("a", "b"), "a");
        assert_eq!(Scope::ClusterWide.label("a", "b"), "");
    }
}
