//! The secret values render needs, decrypted in memory: the users'
//! passwords, the S3 keys, the self-signed TLS key, and the values labctl
//! generates once and keeps in secrets/ (the registry's `http.secret`, the
//! key of the fingerprints, the bcrypt hashes).
//!
//! Determinism comes from here. bcrypt salts are random, so the hashes are
//! kept (age-encrypted) in `registry/htpasswd` with a keyed fingerprint of
//! the password each was made from; a hash is reused while its password is
//! unchanged (or while it still verifies). Fingerprints are HMAC-SHA256
//! keyed by `render/hmac-key`, a random secret of the lab: without it they
//! reveal nothing about a password.

use std::collections::BTreeMap;
use std::path::Path;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{RenderError, StoreWrite};
use crate::identity::Identities;
use crate::manifest::Lab;
use crate::manifest::model::{Storage, Tls};
use crate::manifest::notifications::HeaderValue;
use crate::store::{Store, StoreError};

pub const HTTP_SECRET: &str = "registry/http-secret";
pub const HMAC_KEY: &str = "render/hmac-key";
pub const HTPASSWD: &str = "registry/htpasswd";
pub const MINIO_USER: &str = "minio/root-user";
pub const MINIO_PASSWORD: &str = "minio/root-password";
const BCRYPT_COST: u32 = 10;

pub struct Values {
    pub passwords: BTreeMap<String, String>,
    pub http_secret: String,
    pub hmac_key: Vec<u8>,
    /// (access key, secret key) of S3 storage.
    pub s3: Option<(String, String)>,
    /// MinIO's root (user, password): the S3 keys, or generated ones when
    /// the registry does not store in S3.
    pub minio: Option<(String, String)>,
    /// (certificate chain PEM, key PEM) of the self-signed TLS.
    pub tls: Option<(String, String)>,
    /// The htpasswd file, one `user:$2y$...` line per user.
    pub htpasswd: String,
    /// Each notification endpoint's headers, secret references read.
    pub notify_headers: Vec<BTreeMap<String, String>>,
    /// Each mirror's upstream password, by its key in the mirrors Secret.
    pub mirror_passwords: BTreeMap<String, String>,
    /// The mirrors' own CAs (PEM), by their file name in the config Secret.
    pub mirror_cas: BTreeMap<String, String>,
}

/// HMAC-SHA256 of length-prefixed parts.
pub fn mac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key");
    for p in parts {
        m.update(&(p.len() as u64).to_be_bytes());
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

fn text(store: &Store, ids: &Identities, name: &str) -> Result<String, RenderError> {
    store.get_text(name, ids).map_err(RenderError::from)
}

/// A generated secret: read it, or make it now and note the write.
fn generated(
    store: &Store,
    ids: &Identities,
    name: &str,
    writes: &mut Vec<StoreWrite>,
) -> Result<String, RenderError> {
    match store.get_text(name, ids) {
        Ok(v) => Ok(v),
        Err(StoreError::NotFound { .. }) => {
            let v = crate::commands::secrets::generate(48);
            writes.push(StoreWrite {
                name: name.to_string(),
                value: v.clone().into_bytes(),
                why: "generated once, kept for the next renders",
            });
            Ok(v)
        }
        Err(e) => Err(e.into()),
    }
}

pub fn load(
    lab: &Lab,
    root: &Path,
    store: &Store,
    ids: &Identities,
    writes: &mut Vec<StoreWrite>,
) -> Result<Values, RenderError> {
    let reg = &lab.registry;
    let mut passwords = BTreeMap::new();
    for (user, u) in &reg.users {
        passwords.insert(user.clone(), text(store, ids, &u.password.name)?);
    }
    let s3 = match &reg.storage {
        Storage::S3(s3) => Some((
            text(store, ids, &s3.access_key.name)?,
            text(store, ids, &s3.secret_key.name)?,
        )),
        Storage::Filesystem(_) => None,
    };
    let tls = if reg.expose.tls == Tls::SelfSigned {
        Some(self_signed(lab, root, store, ids)?)
    } else {
        None
    };
    let minio = match (&lab.minio, &s3) {
        (None, _) => None,
        (Some(_), Some(keys)) => Some(keys.clone()),
        (Some(_), None) => Some((
            generated(store, ids, MINIO_USER, writes)?,
            generated(store, ids, MINIO_PASSWORD, writes)?,
        )),
    };
    let mut notify_headers = Vec::new();
    for e in reg.notifications.iter().flat_map(|n| &n.endpoints) {
        let mut headers = BTreeMap::new();
        for (name, v) in &e.headers {
            let value = match v {
                HeaderValue::Plain(p) => p.clone(),
                HeaderValue::Secret(r) => text(store, ids, &r.name)?.trim_end().to_string(),
            };
            headers.insert(name.clone(), value);
        }
        notify_headers.push(headers);
    }
    let mut mirror_passwords = BTreeMap::new();
    for m in &reg.mirrors {
        if let Some(p) = &m.password {
            mirror_passwords.insert(
                super::context::mirror_secret_key(&m.name),
                text(store, ids, &p.name)?,
            );
        }
    }
    let mut mirror_cas = BTreeMap::new();
    for m in &reg.mirrors {
        if let Some(ca) = &m.ca {
            mirror_cas.insert(
                super::context::mirror_ca_key(&m.name),
                mirror_ca(root, &m.name, ca)?,
            );
        }
    }
    let http_secret = generated(store, ids, HTTP_SECRET, writes)?;
    let hmac_key = generated(store, ids, HMAC_KEY, writes)?.into_bytes();
    let htpasswd = htpasswd(store, ids, &passwords, &hmac_key, writes)?;
    Ok(Values {
        passwords,
        http_secret,
        hmac_key,
        s3,
        minio,
        tls,
        htpasswd,
        notify_headers,
        mirror_passwords,
        mirror_cas,
    })
}

/// A mirror's `ca:` file: read, and checked to hold a certificate.
fn mirror_ca(root: &Path, name: &str, rel: &str) -> Result<String, RenderError> {
    let at = format!("registry.mirrors {name}: ca {rel}");
    let pem = std::fs::read_to_string(root.join(rel)).map_err(|e| RenderError::Missing {
        what: format!("{at} ({e})"),
        help: "give the path (relative to lab.yaml) of the PEM file of the CA that signed the upstream's certificate, e.g. the ca.crt that `openssl req -x509` made".into(),
    })?;
    if labreg::trust::Anchors::default().add_pem(pem.as_bytes()) == 0 {
        return Err(RenderError::Lab(format!(
            "{at} holds no PEM certificate\n  help: the file must contain -----BEGIN CERTIFICATE----- (the CA's certificate, not its key or a DER file: `openssl x509 -in ca.der -inform der -out ca.crt` converts one)"
        )));
    }
    Ok(pem)
}

/// The certificate `labctl certs` made (with the CA after it) and its key.
fn self_signed(
    lab: &Lab,
    root: &Path,
    store: &Store,
    ids: &Identities,
) -> Result<(String, String), RenderError> {
    let host = &lab.registry.host;
    let read = |rel: String| {
        std::fs::read_to_string(root.join(&rel)).map_err(|e| RenderError::Missing {
            what: format!("{rel} ({e})"),
            help: "run `labctl certs` to make the lab's CA and the registry's certificate (or set registry.expose.tls)".into(),
        })
    };
    let cert = read(format!("certs/{}.crt", host.replace(':', "-")))?;
    let ca = read("certs/ca.crt".to_string())?;
    let key = text(store, ids, &crate::commands::certs::server_key_name(host))?;
    Ok((format!("{}\n{ca}", cert.trim_end()), key))
}

/// One bcrypt line per user, reusing the kept hashes.
fn htpasswd(
    store: &Store,
    ids: &Identities,
    passwords: &BTreeMap<String, String>,
    key: &[u8],
    writes: &mut Vec<StoreWrite>,
) -> Result<String, RenderError> {
    #[derive(serde::Serialize, serde::Deserialize, PartialEq)]
    struct Kept {
        hash: String,
        mac: String,
    }
    let old_text = match store.get_text(HTPASSWD, ids) {
        Ok(t) => t,
        Err(StoreError::NotFound { .. }) => "{}".to_string(),
        Err(e) => return Err(e.into()),
    };
    // An unreadable cache only costs new hashes.
    let old: BTreeMap<String, Kept> = serde_json::from_str(&old_text).unwrap_or_default();
    let mut new = BTreeMap::new();
    let mut lines = String::new();
    for (user, password) in passwords {
        let fp = hex::encode(mac(
            key,
            &[b"htpasswd", user.as_bytes(), password.as_bytes()],
        ));
        let hash = match old.get(user) {
            Some(k) if k.mac == fp => k.hash.clone(),
            Some(k) if bcrypt::verify(password, &k.hash).unwrap_or(false) => k.hash.clone(),
            _ => bcrypt::hash_with_result(password, BCRYPT_COST)
                .map_err(|e| RenderError::Other(format!("bcrypt failed: {e}")))?
                .format_for_version(bcrypt::Version::TwoY),
        };
        lines.push_str(&format!("{user}:{hash}\n"));
        new.insert(user.clone(), Kept { hash, mac: fp });
    }
    if new != old {
        writes.push(StoreWrite {
            name: HTPASSWD.to_string(),
            value: serde_json::to_vec_pretty(&new).expect("serializable"),
            why: "bcrypt hashes, kept so the next render reuses them",
        });
    }
    Ok(lines)
}
