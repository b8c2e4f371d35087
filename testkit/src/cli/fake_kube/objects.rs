//! The fake's objects: the kinds it serves, how it keys and stores them,
//! the defaults it adds, and its apply (maps merged, lists replaced).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

/// (group, version, kind, plural, namespaced), one resource a line.
#[rustfmt::skip]
pub(super) const RESOURCES: &[(&str, &str, &str, &str, bool)] = &[
    ("", "v1", "Namespace", "namespaces", false),
    ("", "v1", "Service", "services", true),
    ("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", true),
    ("", "v1", "Secret", "secrets", true),
    ("", "v1", "ConfigMap", "configmaps", true),
    ("apps", "v1", "Deployment", "deployments", true),
    ("apps", "v1", "DaemonSet", "daemonsets", true),
    ("networking.k8s.io", "v1", "Ingress", "ingresses", true),
    ("batch", "v1", "Job", "jobs", true),
    ("bitnami.com", "v1alpha1", "SealedSecret", "sealedsecrets", true),
    ("argoproj.io", "v1alpha1", "Application", "applications", true),
];

#[derive(Default)]
pub struct Cluster {
    /// `group/plural/namespace/name` → the stored object.
    pub objects: BTreeMap<String, Value>,
    /// Plurals every request about gets 403.
    pub forbidden: Vec<String>,
    /// `METHOD path?query` of every request.
    pub requests: Vec<String>,
}

pub type Shared = Arc<Mutex<Cluster>>;

fn resource_of_kind(api_version: &str, kind: &str) -> (&'static str, &'static str, bool) {
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    let r = RESOURCES
        .iter()
        .find(|r| r.0 == group && r.2 == kind)
        .unwrap_or_else(|| panic!("the fake does not serve {api_version} {kind}"));
    (r.0, r.3, r.4)
}

pub fn key_of(obj: &Value) -> String {
    let s = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or("");
    let (group, plural, namespaced) = resource_of_kind(s("/apiVersion"), s("/kind"));
    let ns = if namespaced {
        s("/metadata/namespace")
    } else {
        ""
    };
    format!("{group}/{plural}/{ns}/{}", s("/metadata/name"))
}

/// What the API server adds on its own.
pub fn defaults(obj: &mut Value) {
    let kind = obj["kind"].as_str().unwrap_or("").to_string();
    let spec = obj
        .as_object_mut()
        .unwrap()
        .entry("spec")
        .or_insert(json!({}));
    let mut set = |k: &str, v: Value| {
        spec.as_object_mut().unwrap().entry(k).or_insert(v);
    };
    match kind.as_str() {
        "Deployment" => {
            set("revisionHistoryLimit", json!(10));
            set("progressDeadlineSeconds", json!(600));
        }
        "Service" => {
            set("clusterIP", json!("10.96.0.42"));
            set("clusterIPs", json!(["10.96.0.42"]));
            set("sessionAffinity", json!("None"));
        }
        _ => {}
    }
    if spec.as_object().is_some_and(|m| m.is_empty()) && kind == "Namespace" {
        obj.as_object_mut().unwrap().remove("spec");
    }
}

/// An object as the server keeps it: defaults, server metadata, status,
/// Argo CD's tracking annotation.
pub fn as_live(mut obj: Value) -> Value {
    defaults(&mut obj);
    let meta = obj["metadata"].as_object_mut().unwrap();
    meta.insert("uid".into(), json!("0b7c1a52-5f4e-4c47-9d1e-8c1c0e6f2a11"));
    meta.insert("resourceVersion".into(), json!("4711"));
    meta.insert("generation".into(), json!(3));
    meta.insert("creationTimestamp".into(), json!("2025-01-02T03:04:05Z"));
    meta.insert(
        "managedFields".into(),
        json!([{"manager": "argocd-controller", "operation": "Apply", "apiVersion": "v1"}]),
    );
    let ann = meta
        .entry("annotations")
        .or_insert(json!({}))
        .as_object_mut()
        .unwrap();
    ann.insert(
        "argocd.argoproj.io/tracking-id".into(),
        json!("registry:apps/Deployment:registry/registry"),
    );
    obj["status"] = json!({"observedGeneration": 3});
    obj
}

/// Every object of the rendered files under `apps`, stored as live.
pub fn seed_from(cluster: &Shared, apps: &Path) {
    let mut c = cluster.lock().unwrap();
    for (_, bytes) in super::super::render::files(apps) {
        let text = String::from_utf8(bytes).unwrap();
        for doc in serde_saphyr::from_multiple::<Value>(&text).unwrap() {
            if doc.is_object() {
                c.objects.insert(key_of(&doc), as_live(doc));
            }
        }
    }
}

/// Maps merged recursively, everything else replaced.
pub(super) fn merge(live: &mut Value, applied: &Value) {
    match (live, applied) {
        (Value::Object(l), Value::Object(a)) => {
            for (k, v) in a {
                match l.get_mut(k) {
                    Some(old) => merge(old, v),
                    None => {
                        l.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (l, a) => *l = a.clone(),
    }
}
