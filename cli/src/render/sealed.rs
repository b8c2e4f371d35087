//! The Secrets of a lab, each written as a SealedSecret.
//!
//! A SealedSecret whose plaintext did not change is written again with its
//! previous `encryptedData`: sealing is randomized, so re-sealing would
//! change the file at every render. The file carries a keyed fingerprint
//! (`labctl.io/sealed-hmac`) of what was sealed: the scope label, the
//! type, every key and value, and the controller's public key. When it
//! matches, the old ciphertexts are kept.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine;
use serde_json::{Value, json};

use super::seal::{Scope, seal_value};
use super::values::{Values, mac};
use super::{RenderError, context};
use crate::manifest::Lab;
use crate::sealing::SealingCert;

pub const CONFIG_SECRET: &str = "registry-config";
pub const HMAC_ANNOTATION: &str = "labctl.io/sealed-hmac";

/// One Secret to seal.
pub struct SecretSpec {
    /// Path under apps/.
    pub file: String,
    pub name: String,
    pub namespace: String,
    pub type_: &'static str,
    pub scope: Scope,
    pub data: BTreeMap<String, Vec<u8>>,
}

fn spec(
    app: &str,
    name: &str,
    namespace: &str,
    type_: &'static str,
    data: &[(&str, &[u8])],
) -> SecretSpec {
    SecretSpec {
        file: format!("{app}/sealedsecret-{name}.yaml"),
        name: name.to_string(),
        namespace: namespace.to_string(),
        type_,
        scope: Scope::Strict,
        data: data
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_vec()))
            .collect(),
    }
}

/// The Secrets the lab needs, in a stable order.
pub fn specs(lab: &Lab, vals: &Values, config: String) -> Result<Vec<SecretSpec>, RenderError> {
    let reg = &lab.registry;
    let ns = reg.namespace.as_str();
    // The mirrors' CAs beside config.yml: a changed CA changes the Secret's
    // HMAC, which restarts the pods as a changed config does.
    let mut config_files: Vec<(&str, &[u8])> = vec![("config.yml", config.as_bytes())];
    config_files.extend(
        vals.mirror_cas
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_bytes())),
    );
    let mut out = vec![spec("registry", CONFIG_SECRET, ns, "Opaque", &config_files)];
    if !vals.passwords.is_empty() {
        out.push(spec(
            "registry",
            "registry-htpasswd",
            ns,
            "Opaque",
            &[("htpasswd", vals.htpasswd.as_bytes())],
        ));
    }
    if let Some((crt, key)) = &vals.tls {
        out.push(spec(
            "registry",
            context::TLS_SECRET,
            ns,
            "kubernetes.io/tls",
            &[("tls.crt", crt.as_bytes()), ("tls.key", key.as_bytes())],
        ));
    }
    if !vals.mirror_passwords.is_empty() {
        let data: Vec<(&str, &[u8])> = vals
            .mirror_passwords
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_bytes()))
            .collect();
        out.push(spec(
            "registry",
            context::MIRRORS_SECRET,
            ns,
            "Opaque",
            &data,
        ));
    }
    let addr = context::address(lab);
    for ps in &reg.pull_secrets {
        let user = match &ps.user {
            Some(u) => u.clone(),
            None => vals.passwords.keys().next().cloned().ok_or_else(|| {
                RenderError::Lab(format!(
                    "pull secret {}/{} needs a registry user, and registry.users is empty\n  help: add a user under registry.users",
                    ps.namespace, ps.name
                ))
            })?,
        };
        let password = vals.passwords.get(&user).ok_or_else(|| {
            RenderError::Lab(format!(
                "pull secret {}/{} names user {user}, who is not in registry.users",
                ps.namespace, ps.name
            ))
        })?;
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let config = json!({"auths": {addr.clone(): {"username": user, "password": password, "auth": auth}}});
        let mut s = spec(
            "registry",
            &ps.name,
            &ps.namespace,
            "kubernetes.io/dockerconfigjson",
            &[(".dockerconfigjson", config.to_string().as_bytes())],
        );
        s.file = format!("registry/pullsecret-{}-{}.yaml", ps.namespace, ps.name);
        out.push(s);
    }
    if let (Some(m), Some((access, secret))) = (&lab.minio, &vals.minio) {
        out.push(spec(
            "minio",
            "minio-credentials",
            &m.namespace,
            "Opaque",
            &[
                ("rootUser", access.as_bytes()),
                ("rootPassword", secret.as_bytes()),
            ],
        ));
    }
    Ok(out)
}

/// The fingerprint of what a SealedSecret holds, for this controller key.
fn fingerprint(s: &SecretSpec, cert: &SealingCert, key: &[u8]) -> String {
    let label = s.scope.label(&s.namespace, &s.name);
    let mut parts: Vec<&[u8]> = vec![
        b"sealed",
        &cert.spki_sha256,
        label.as_bytes(),
        s.type_.as_bytes(),
    ];
    for (k, v) in &s.data {
        parts.push(k.as_bytes());
        parts.push(v);
    }
    hex::encode(mac(key, &parts))
}

/// The previous file's ciphertexts, if it sealed the same plaintext.
fn previous(
    apps: &Path,
    file: &str,
    hmac: &str,
    keys: &[&String],
) -> Option<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(apps.join(file)).ok()?;
    let doc: Value = serde_saphyr::from_multiple::<Value>(&text)
        .ok()?
        .into_iter()
        .find(|d| !d.is_null())?;
    if doc
        .pointer(&format!(
            "/metadata/annotations/{}",
            HMAC_ANNOTATION.replace('/', "~1")
        ))?
        .as_str()?
        != hmac
    {
        return None;
    }
    let data = doc.pointer("/spec/encryptedData")?.as_object()?;
    let out: BTreeMap<String, String> = data
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
        .collect();
    (out.keys().collect::<Vec<_>>() == keys).then_some(out)
}

/// Seals a Secret (or keeps its previous sealing): the template's `sealed`
/// context, and the fingerprint.
pub fn seal(
    s: &SecretSpec,
    cert: &SealingCert,
    key: &[u8],
    apps: &Path,
) -> Result<(Value, String), RenderError> {
    let hmac = fingerprint(s, cert, key);
    let keys: Vec<&String> = s.data.keys().collect();
    let encrypted = match previous(apps, &s.file, &hmac, &keys) {
        Some(old) => old,
        None => {
            let label = s.scope.label(&s.namespace, &s.name);
            let mut out = BTreeMap::new();
            for (k, v) in &s.data {
                out.insert(k.clone(), seal_value(&cert.key, v, &label)?);
            }
            out
        }
    };
    let mut annotations = BTreeMap::new();
    annotations.insert(HMAC_ANNOTATION.to_string(), hmac.clone());
    if let Some(a) = s.scope.annotation() {
        annotations.insert(a.to_string(), "true".to_string());
    }
    let obj = json!({
        "name": s.name,
        "namespace": s.namespace,
        "type": s.type_,
        "annotations": annotations,
        "scopeAnnotation": s.scope.annotation(),
        "encryptedData": encrypted,
    });
    Ok((obj, hmac))
}
