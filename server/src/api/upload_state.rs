//! Upload URLs signed with `http.secret`, in the spirit of distribution's
//! `_state` parameter. labreg keeps an upload's state in the storage, so any
//! replica can continue it; the signature is there so that replicas that do
//! not share a secret fail loudly on the first request that crosses them,
//! instead of behaving differently in silence.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{ApiError, ErrorCode};

pub const STATE_PARAM: &str = "_state";

pub struct UploadSigner {
    secret: Option<Vec<u8>>,
}

impl UploadSigner {
    pub fn new(secret: Option<&str>) -> UploadSigner {
        UploadSigner {
            secret: secret
                .filter(|s| !s.is_empty())
                .map(|s| s.as_bytes().to_vec()),
        }
    }

    pub fn has_secret(&self) -> bool {
        self.secret.is_some()
    }

    fn mac(secret: &[u8], name: &str, id: &str) -> String {
        let mut m = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
        m.update(b"labreg upload\0");
        m.update(name.as_bytes());
        m.update(b"\0");
        m.update(id.as_bytes());
        URL_SAFE_NO_PAD.encode(m.finalize().into_bytes())
    }

    /// The query string to append to an upload's URL ("" without a secret).
    pub fn query(&self, name: &str, id: &str) -> String {
        match &self.secret {
            Some(s) => format!("?{STATE_PARAM}={}", Self::mac(s, name, id)),
            None => String::new(),
        }
    }

    /// Checks the `_state` a request carries against this replica's secret.
    pub fn verify(&self, name: &str, id: &str, state: Option<&str>) -> Result<(), ApiError> {
        let why = match (&self.secret, state) {
            (None, None) => return Ok(()),
            (Some(s), Some(got)) => {
                let want = Self::mac(s, name, id);
                // Both are MACs of public data; compare in constant time anyway.
                let same = want.len() == got.len()
                    && want
                        .bytes()
                        .zip(got.bytes())
                        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                        == 0;
                if same {
                    return Ok(());
                }
                "its _state signature does not verify with this replica's http.secret"
            }
            (Some(_), None) => {
                "its URL carries no _state signature, but this replica has an http.secret"
            }
            (None, Some(_)) => {
                "its URL carries a _state signature, but this replica has no http.secret"
            }
        };
        Err(ApiError::new(
            ErrorCode::BlobUploadInvalid,
            format!(
                "upload {id} was not started by a replica sharing this one's secret: {why}. Every replica behind one address must have the same http.secret (REGISTRY_HTTP_SECRET); restart the upload"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_cross_only_equal_secrets() {
        let a = UploadSigner::new(Some("one"));
        let b = UploadSigner::new(Some("two"));
        let none = UploadSigner::new(None);
        let q = a.query("repo", "id");
        let tok = q.strip_prefix("?_state=").unwrap();
        assert!(a.verify("repo", "id", Some(tok)).is_ok());
        assert!(a.verify("other", "id", Some(tok)).is_err());
        let e = b.verify("repo", "id", Some(tok)).unwrap_err();
        assert!(e.message.contains("http.secret"), "{}", e.message);
        assert!(none.verify("repo", "id", Some(tok)).is_err());
        assert!(a.verify("repo", "id", None).is_err());
        assert!(none.verify("repo", "id", None).is_ok());
        assert_eq!(none.query("repo", "id"), "");
    }
}
