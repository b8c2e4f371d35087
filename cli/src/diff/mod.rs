//! `labctl diff`'s engine: rendered objects against live ones.
//!
//! Both sources (a cluster in `cluster.rs`, apps/ in `git.rs`) give pairs
//! of (live, desired) objects; `compare` cleans both of server-managed
//! noise (`normalize.rs`), masks Secret values, and turns each pair into
//! an `Entry` with a unified YAML diff. `print.rs` shows the `Report`.

pub mod cluster;
pub mod git;
pub mod normalize;
pub mod print;

use serde::Serialize;
use serde_json::Value;

use crate::render::{Plan, RenderError, check};

/// Which object: `apiVersion`, kind, namespace (None when cluster-scoped),
/// name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ObjKey {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjKey {
    pub fn of(obj: &Value) -> ObjKey {
        let s = |p: &str| obj.pointer(p).and_then(Value::as_str).map(str::to_string);
        ObjKey {
            api_version: s("/apiVersion").unwrap_or_default(),
            kind: s("/kind").unwrap_or_default(),
            namespace: s("/metadata/namespace"),
            name: s("/metadata/name").unwrap_or_default(),
        }
    }

    /// The API group (empty for the core group).
    pub fn group(&self) -> &str {
        self.api_version.rsplit_once('/').map_or("", |(g, _)| g)
    }

    /// The same object whatever version names it.
    pub fn same(&self, other: &ObjKey) -> bool {
        self.group() == other.group()
            && self.kind == other.kind
            && self.namespace == other.namespace
            && self.name == other.name
    }

    /// `apps.v1.Deployment.registry.registry`, as kubectl diff names files.
    pub fn file_name(&self) -> String {
        let mut parts = vec![self.api_version.replace('/', "."), self.kind.clone()];
        parts.extend(self.namespace.clone());
        parts.push(self.name.clone());
        parts.join(".")
    }
}

impl std::fmt::Display for ObjKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    Added,
    Changed,
    Deleted,
    Unchanged,
    /// Not compared: `error` says why.
    Error,
}

/// One object's outcome.
#[derive(Debug, Serialize)]
pub struct Entry {
    #[serde(flatten)]
    pub key: ObjKey,
    pub change: Change,
    /// The unified diff (Secret values masked); empty when unchanged.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub diff: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Entry {
    pub fn error(key: ObjKey, message: String) -> Entry {
        Entry {
            key,
            change: Change::Error,
            diff: String::new(),
            error: Some(message),
        }
    }
}

#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub added: usize,
    pub changed: usize,
    pub deleted: usize,
    pub unchanged: usize,
    pub errors: usize,
}

/// Everything `labctl diff` found.
#[derive(Debug, Serialize)]
pub struct Report {
    /// `cluster` or `git`.
    pub against: &'static str,
    pub summary: Summary,
    pub objects: Vec<Entry>,
}

impl Report {
    pub fn new(against: &'static str, objects: Vec<Entry>) -> Report {
        let mut summary = Summary::default();
        for e in &objects {
            *match e.change {
                Change::Added => &mut summary.added,
                Change::Changed => &mut summary.changed,
                Change::Deleted => &mut summary.deleted,
                Change::Unchanged => &mut summary.unchanged,
                Change::Error => &mut summary.errors,
            } += 1;
        }
        Report {
            against,
            summary,
            objects,
        }
    }

    pub fn differs(&self) -> bool {
        let s = &self.summary;
        s.added + s.changed + s.deleted > 0
    }
}

/// Every object render would write, in the order of its files.
pub fn rendered(plan: &Plan) -> Result<Vec<Value>, RenderError> {
    let mut out = Vec::new();
    for (path, bytes) in &plan.files {
        let text = String::from_utf8_lossy(bytes);
        out.extend(check::objects(path, &text)?);
    }
    Ok(out)
}

/// Compares one object: `live` as it is (None: it does not exist),
/// `desired` as it would be (None: it would be deleted). `side` names the
/// live side in the diff's header (`live`, `git`).
pub fn compare(side: &str, key: ObjKey, live: Option<&Value>, desired: Option<&Value>) -> Entry {
    let (mut live, mut desired) = (live.map(normalize::clean), desired.map(normalize::clean));
    if let (Some(l), Some(d)) = (&live, &mut desired) {
        normalize::keep_sealed(l, d);
    }
    normalize::mask_secret(&key, live.as_mut(), desired.as_mut());
    let yaml = |v: &Option<Value>| {
        v.as_ref()
            .map(|v| serde_saphyr::to_string(v).unwrap_or_else(|e| format!("# {e}\n")))
            .unwrap_or_default()
    };
    let (old, new) = (yaml(&live), yaml(&desired));
    let change = match (&live, &desired) {
        (None, _) => Change::Added,
        (_, None) => Change::Deleted,
        _ if old == new => Change::Unchanged,
        _ => Change::Changed,
    };
    let diff = if change == Change::Unchanged {
        String::new()
    } else {
        let name = key.file_name();
        let from = if live.is_some() {
            format!("{side}/{name}")
        } else {
            "/dev/null".into()
        };
        let to = if desired.is_some() {
            format!("rendered/{name}")
        } else {
            "/dev/null".into()
        };
        similar::TextDiff::from_lines(&old, &new)
            .unified_diff()
            .context_radius(3)
            .header(&from, &to)
            .to_string()
    };
    Entry {
        key,
        change,
        diff,
        error: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deploy(replicas: u32) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "r", "namespace": "n", "uid": "1", "resourceVersion": "9"},
               "spec": {"replicas": replicas}, "status": {"ready": 1}})
    }

    #[test]
    fn noise_is_no_change_and_a_field_is() {
        let key = ObjKey::of(&deploy(1));
        let e = compare("live", key.clone(), Some(&deploy(1)), Some(&deploy(1)));
        assert_eq!(e.change, Change::Unchanged);
        let e = compare("live", key, Some(&deploy(1)), Some(&deploy(2)));
        assert_eq!(e.change, Change::Changed);
        assert!(
            e.diff.contains("-  replicas: 1\n+  replicas: 2\n"),
            "{}",
            e.diff
        );
        assert!(!e.diff.contains("uid"), "{}", e.diff);
    }

    #[test]
    fn keys_name_objects_like_kubectl() {
        let k = ObjKey::of(&deploy(1));
        assert_eq!(k.file_name(), "apps.v1.Deployment.n.r");
        assert_eq!(k.to_string(), "Deployment n/r");
        assert_eq!(k.group(), "apps");
    }
}
