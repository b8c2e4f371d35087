//! What is not a difference: fields the API server or Argo CD manage,
//! SealedSecret ciphertexts render reused, and Secret values (never shown).

use serde_json::{Map, Value};

use super::ObjKey;
use crate::render::sealed::HMAC_ANNOTATION;

/// Fields of `metadata` the API server sets.
const SERVER_METADATA: &[&str] = &[
    "managedFields",
    "resourceVersion",
    "uid",
    "generation",
    "creationTimestamp",
    "selfLink",
];

/// Annotations other tools set on live objects.
const TOOL_ANNOTATIONS: &[&str] = &[
    "argocd.argoproj.io/tracking-id",
    "kubectl.kubernetes.io/last-applied-configuration",
];

/// The object without server-managed noise: `status`, the metadata the
/// server sets, Argo CD's tracking and kubectl's last-applied annotations.
pub fn clean(obj: &Value) -> Value {
    let mut obj = obj.clone();
    if let Some(map) = obj.as_object_mut() {
        map.remove("status");
    }
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in SERVER_METADATA {
            meta.remove(*k);
        }
        if let Some(a) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            for k in TOOL_ANNOTATIONS {
                a.remove(*k);
            }
        }
        for k in ["annotations", "labels"] {
            if meta
                .get(k)
                .is_some_and(|v| v.is_null() || v.as_object().is_some_and(Map::is_empty))
            {
                meta.remove(k);
            }
        }
    }
    obj
}

fn hmac(obj: &Value) -> Option<&str> {
    obj.pointer(&format!(
        "/metadata/annotations/{}",
        HMAC_ANNOTATION.replace('/', "~1")
    ))?
    .as_str()
}

/// A SealedSecret whose fingerprint (`labctl.io/sealed-hmac`) is the live
/// one's seals the same plaintext: its ciphertexts are taken as the live
/// ones (sealing is randomized; render reuses them when it can).
pub fn keep_sealed(live: &Value, desired: &mut Value) {
    if desired.get("kind").and_then(Value::as_str) != Some("SealedSecret") {
        return;
    }
    match (hmac(live), hmac(desired)) {
        (Some(a), Some(b)) if a == b => {}
        _ => return,
    }
    if let (Some(old), Some(spec)) = (
        live.pointer("/spec/encryptedData"),
        desired.get_mut("spec").and_then(Value::as_object_mut),
    ) {
        spec.insert("encryptedData".into(), old.clone());
    }
}

/// Secret values masked as kubectl diff does: `***` where both sides hold
/// the same value, `*** (before)` / `*** (after)` where it changed.
pub fn mask_secret(key: &ObjKey, mut live: Option<&mut Value>, mut desired: Option<&mut Value>) {
    if key.kind != "Secret" || !key.group().is_empty() {
        return;
    }
    for field in ["data", "stringData"] {
        let get = |v: &Option<&mut Value>| -> Map<String, Value> {
            v.as_ref()
                .and_then(|v| v.get(field))
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default()
        };
        let (old, new) = (get(&live), get(&desired));
        let masked = |this: &Map<String, Value>, other: &Map<String, Value>, tag: &str| {
            this.iter()
                .map(|(k, v)| {
                    let m = match other.get(k) {
                        Some(o) if o != v => format!("*** ({tag})"),
                        _ => "***".to_string(),
                    };
                    (k.clone(), Value::String(m))
                })
                .collect::<Map<_, _>>()
        };
        let (old_m, new_m) = (masked(&old, &new, "before"), masked(&new, &old, "after"));
        for (side, m) in [
            (live.as_deref_mut(), old_m),
            (desired.as_deref_mut(), new_m),
        ] {
            if let Some(obj) = side.and_then(Value::as_object_mut)
                && obj.contains_key(field)
            {
                obj.insert(field.into(), Value::Object(m));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn server_and_argo_noise_goes() {
        let live = json!({"kind": "Service", "metadata": {"name": "s", "uid": "u",
            "managedFields": [{}], "annotations": {"argocd.argoproj.io/tracking-id": "x"}},
            "status": {"loadBalancer": {}}});
        assert_eq!(
            clean(&live),
            json!({"kind": "Service", "metadata": {"name": "s"}})
        );
    }

    #[test]
    fn same_fingerprint_keeps_the_live_ciphertext() {
        let s = |h: &str, c: &str| {
            json!({"kind": "SealedSecret", "metadata": {"annotations": {HMAC_ANNOTATION: h}},
                   "spec": {"encryptedData": {"k": c}}})
        };
        let live = s("h1", "old");
        let mut same = s("h1", "new");
        keep_sealed(&live, &mut same);
        assert_eq!(same, live);
        let mut other = s("h2", "new");
        keep_sealed(&live, &mut other);
        assert_eq!(other, s("h2", "new"));
    }

    #[test]
    fn secret_values_never_show() {
        let key = ObjKey {
            api_version: "v1".into(),
            kind: "Secret".into(),
            namespace: Some("n".into()),
            name: "s".into(),
        };
        let mut live = json!({"data": {"a": "c2VjcmV0MQ==", "b": "c2FtZQ==", "gone": "eA=="}});
        let mut desired = json!({"data": {"a": "c2VjcmV0Mg==", "b": "c2FtZQ==", "new": "eQ=="}});
        mask_secret(&key, Some(&mut live), Some(&mut desired));
        assert_eq!(
            live,
            json!({"data": {"a": "*** (before)", "b": "***", "gone": "***"}})
        );
        assert_eq!(
            desired,
            json!({"data": {"a": "*** (after)", "b": "***", "new": "***"}})
        );
    }
}
