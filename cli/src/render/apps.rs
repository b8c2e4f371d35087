//! The lab's apps, declared once: each app's folder in apps/, its Argo CD
//! sync wave, when the lab has it, and its objects (template, kind, when).
//! Render walks this table; the embedded template list and `labctl diff`'s
//! prune kinds are checked against it (see the tests).

use crate::manifest::Lab;
use crate::manifest::model::Storage;

/// A Kubernetes kind render writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kind {
    /// API group; empty for the core group.
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
}

const fn k(group: &'static str, version: &'static str, kind: &'static str) -> Kind {
    Kind {
        group,
        version,
        kind,
    }
}

pub const NAMESPACE: Kind = k("", "v1", "Namespace");
pub const SERVICE: Kind = k("", "v1", "Service");
pub const PVC: Kind = k("", "v1", "PersistentVolumeClaim");
pub const CONFIG_MAP: Kind = k("", "v1", "ConfigMap");
pub const DEPLOYMENT: Kind = k("apps", "v1", "Deployment");
pub const DAEMON_SET: Kind = k("apps", "v1", "DaemonSet");
pub const INGRESS: Kind = k("networking.k8s.io", "v1", "Ingress");
pub const JOB: Kind = k("batch", "v1", "Job");
pub const SEALED_SECRET: Kind = k("bitnami.com", "v1alpha1", "SealedSecret");
pub const APPLICATION: Kind = k("argoproj.io", "v1alpha1", "Application");

/// One object of an app: `templates/APP/NAME.yaml.tera` → `apps/APP/NAME.yaml`.
pub struct Object {
    pub name: &'static str,
    pub kind: Kind,
    pub when: fn(&Lab) -> bool,
}

pub struct App {
    /// Its folder under apps/ and templates/, and its Application's name.
    pub name: &'static str,
    /// Argo CD sync wave of its Application: lower syncs first.
    pub wave: i32,
    pub enabled: fn(&Lab) -> bool,
    pub namespace: fn(&Lab) -> String,
    pub objects: &'static [Object],
}

fn always(_: &Lab) -> bool {
    true
}

const fn obj(name: &'static str, kind: Kind) -> Object {
    Object {
        name,
        kind,
        when: always,
    }
}

/// Every app, in the order of their waves. node-trust comes first: nodes
/// must trust the registry before anything pulls from it.
pub const APPS: &[App] = &[
    App {
        name: "node-trust",
        wave: -1,
        enabled: |l| l.nodes.is_some(),
        namespace: |l| {
            l.nodes
                .as_ref()
                .map_or_else(String::new, |n| n.namespace.clone())
        },
        objects: &[
            obj("namespace", NAMESPACE),
            obj("configmap", CONFIG_MAP),
            obj("daemonset", DAEMON_SET),
        ],
    },
    App {
        name: "minio",
        wave: 0,
        enabled: |l| l.minio.is_some(),
        namespace: |l| {
            l.minio
                .as_ref()
                .map_or_else(String::new, |m| m.namespace.clone())
        },
        objects: &[
            obj("namespace", NAMESPACE),
            obj("pvc", PVC),
            obj("deployment", DEPLOYMENT),
            obj("service", SERVICE),
            obj("bucket-job", JOB),
        ],
    },
    App {
        name: "registry",
        wave: 1,
        enabled: always,
        namespace: |l| l.registry.namespace.clone(),
        objects: &[
            obj("namespace", NAMESPACE),
            obj("deployment", DEPLOYMENT),
            obj("service", SERVICE),
            Object {
                name: "ingress",
                kind: INGRESS,
                when: |l| l.registry.expose.ingress.is_some(),
            },
            Object {
                name: "pvc",
                kind: PVC,
                when: |l| matches!(l.registry.storage, Storage::Filesystem(_)),
            },
        ],
    },
];

/// Templates outside the apps' objects: the registry's config.yml, the
/// SealedSecret, the Argo CD Applications.
pub const OTHER_TEMPLATES: &[&str] = &[
    "registry/config.yml.tera",
    "sealedsecret.yaml.tera",
    "argocd/application.yaml.tera",
    "argocd/root.yaml.tera",
];

/// Kinds written outside the apps' objects.
pub const OTHER_KINDS: &[Kind] = &[SEALED_SECRET, APPLICATION];

/// Every template render may use.
pub fn templates() -> Vec<String> {
    let mut out: Vec<String> = APPS
        .iter()
        .flat_map(|a| {
            a.objects
                .iter()
                .map(move |o| format!("{}/{}.yaml.tera", a.name, o.name))
        })
        .chain(OTHER_TEMPLATES.iter().map(|s| s.to_string()))
        .collect();
    out.sort();
    out
}

/// Every kind render may write, each once (for the prune preview of diff).
pub fn kinds() -> Vec<Kind> {
    let mut out: Vec<Kind> = Vec::new();
    for kind in APPS
        .iter()
        .flat_map(|a| a.objects.iter().map(|o| o.kind))
        .chain(OTHER_KINDS.iter().copied())
    {
        if !out.contains(&kind) {
            out.push(kind);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The embedded templates are exactly the table's.
    #[test]
    fn table_names_every_embedded_template() {
        let mut embedded: Vec<String> = super::super::templates::EMBEDDED
            .iter()
            .map(|(n, _)| n.to_string())
            .collect();
        embedded.sort();
        assert_eq!(embedded, templates());
    }

    /// Each object's template writes the kind the table says.
    #[test]
    fn templates_write_their_kinds() {
        for a in APPS {
            for o in a.objects {
                let name = format!("{}/{}.yaml.tera", a.name, o.name);
                let text = super::super::templates::EMBEDDED
                    .iter()
                    .find(|(n, _)| *n == name)
                    .unwrap()
                    .1;
                assert!(
                    text.contains(&format!("\nkind: {}\n", o.kind.kind)),
                    "{name} is not a {}",
                    o.kind.kind
                );
            }
        }
        assert!(kinds().contains(&DAEMON_SET) && kinds().contains(&CONFIG_MAP));
    }
}
