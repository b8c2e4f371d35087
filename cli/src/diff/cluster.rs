//! The live side from a Kubernetes API server (kube-rs): kubeconfig or
//! in-cluster config, API discovery of the groups render uses, then per
//! rendered object a GET and a server-side apply with `dryRun=All` (field
//! manager `labctl`); the merged object it returns is what the cluster
//! would hold. A LIST by the lab's label per kind finds what would be
//! pruned.

use std::path::PathBuf;
use std::time::Duration;

use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiResource, Discovery, Scope};
use kube::{Client, Config};
use serde_json::Value;

use super::{Entry, ObjKey, compare};

/// The label render puts on every object it writes, valued the lab's name.
pub const LAB_LABEL: &str = "labctl.io/lab";
pub const FIELD_MANAGER: &str = "labctl";

/// Where the cluster is.
#[derive(Debug, Default)]
pub struct Access {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(
        "cannot load the cluster's configuration: {0}\n  help: set KUBECONFIG or pass --kubeconfig PATH (and --context NAME), or run inside a pod with a service account"
    )]
    Config(String),
    #[error(
        "cannot reach the API server at {server}: {cause}\n  help: check that the cluster runs and that KUBECONFIG, --kubeconfig or --context point at it"
    )]
    Unreachable { server: String, cause: String },
    #[error(
        "the API server at {server} refused the credentials (401 Unauthorized: {message})\n  help: the token or client certificate in the kubeconfig has expired or is wrong; log in to the cluster again, then rerun"
    )]
    Unauthorized { server: String, message: String },
    #[error("the API server at {server} answered {code}: {message}")]
    Api {
        server: String,
        code: u16,
        message: String,
    },
}

/// The message of an error and all its causes.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let s = c.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = c.source();
    }
    out
}

struct Conn {
    client: Client,
    server: String,
}

impl Conn {
    fn fail(&self, e: kube::Error) -> ClusterError {
        let server = self.server.clone();
        match e {
            kube::Error::Api(s) if s.code == 401 => ClusterError::Unauthorized {
                server,
                message: s.message,
            },
            kube::Error::Api(s) => ClusterError::Api {
                server,
                code: s.code,
                message: s.message,
            },
            other => ClusterError::Unreachable {
                server,
                cause: chain(&other),
            },
        }
    }

    /// An error that stops only this object (or kind), else the whole run.
    fn local(&self, e: kube::Error, what: &str) -> Result<String, ClusterError> {
        match &e {
            kube::Error::Api(s) if s.code == 403 => Ok(format!(
                "{}\n  help: the kubeconfig's user may not {what}; grant it in RBAC or use another --context",
                s.message
            )),
            kube::Error::Api(s) if s.code != 401 && s.code < 500 => Ok(format!(
                "the API server refused ({}): {}",
                s.code, s.message
            )),
            _ => Err(self.fail(e)),
        }
    }
}

async fn connect(a: &Access) -> Result<Conn, ClusterError> {
    let opts = KubeConfigOptions {
        context: a.context.clone(),
        ..Default::default()
    };
    let bad = |e: &dyn std::error::Error| ClusterError::Config(chain(e));
    let mut config = if let Some(path) = &a.kubeconfig {
        let kc = Kubeconfig::read_from(path)
            .map_err(|e| ClusterError::Config(format!("{}: {}", path.display(), chain(&e))))?;
        Config::from_custom_kubeconfig(kc, &opts)
            .await
            .map_err(|e| bad(&e))?
    } else if a.context.is_some() {
        Config::from_kubeconfig(&opts).await.map_err(|e| bad(&e))?
    } else {
        Config::infer().await.map_err(|e| bad(&e))?
    };
    config.connect_timeout = Some(Duration::from_secs(10));
    config.read_timeout = Some(Duration::from_secs(60));
    let server = config.cluster_url.to_string();
    let client = Client::try_from(config).map_err(|e| bad(&e))?;
    Ok(Conn { client, server })
}

fn gvk(key: &ObjKey) -> GroupVersionKind {
    let (group, version) = key
        .api_version
        .rsplit_once('/')
        .unwrap_or(("", &key.api_version));
    GroupVersionKind::gvk(group, version, &key.kind)
}

/// A live object as JSON, with its apiVersion and kind (list items lack them).
fn value(obj: DynamicObject, ar: &ApiResource) -> Value {
    let mut v = serde_json::to_value(obj).unwrap_or_default();
    v["apiVersion"] = Value::String(ar.api_version.clone());
    v["kind"] = Value::String(ar.kind.clone());
    v
}

/// The live and would-be state of one rendered object.
async fn one(
    c: &Conn,
    api: &Api<DynamicObject>,
    ar: &ApiResource,
    key: ObjKey,
    obj: &Value,
) -> Result<Entry, ClusterError> {
    let live = match api.get_opt(&key.name).await {
        Ok(Some(live)) => value(live, ar),
        Ok(None) => return Ok(compare("live", key, None, Some(obj))),
        Err(e) => {
            let msg = c.local(e, &format!("get {}", ar.plural))?;
            return Ok(Entry::error(key, msg));
        }
    };
    let params = PatchParams::apply(FIELD_MANAGER).force().dry_run();
    match api.patch(&key.name, &params, &Patch::Apply(obj)).await {
        Ok(merged) => Ok(compare("live", key, Some(&live), Some(&value(merged, ar)))),
        Err(e) => {
            let msg = c.local(e, &format!("patch {}", ar.plural))?;
            Ok(Entry::error(key, msg))
        }
    }
}

/// Compares every rendered object with the cluster and previews what a
/// prune would delete: objects labelled `labctl.io/lab=<lab>` that render
/// no longer writes (objects owned by another, like the Secret a
/// SealedSecret makes, are the owner's business).
pub async fn diff(a: &Access, lab: &str, rendered: Vec<Value>) -> Result<Vec<Entry>, ClusterError> {
    let c = connect(a).await?;
    // Every kind render may write (the apps table), listed for the prune
    // preview even when the lab no longer renders any object of them.
    let mut kinds: Vec<ObjKey> = crate::render::apps::kinds()
        .into_iter()
        .map(|k| ObjKey {
            api_version: if k.group.is_empty() {
                k.version.to_string()
            } else {
                format!("{}/{}", k.group, k.version)
            },
            kind: k.kind.to_string(),
            namespace: None,
            name: "*".into(),
        })
        .collect();
    for obj in &rendered {
        let mut k = ObjKey::of(obj);
        (k.namespace, k.name) = (None, "*".into());
        if !kinds.iter().any(|x| x.same(&k)) {
            kinds.push(k);
        }
    }
    let mut groups: Vec<&str> = kinds.iter().map(ObjKey::group).collect();
    groups.sort_unstable();
    groups.dedup();
    let discovery = Discovery::new(c.client.clone())
        .filter(&groups)
        .run()
        .await
        .map_err(|e| c.fail(e))?;

    let mut entries = Vec::new();
    let mut seen = Vec::new();
    for mut obj in rendered {
        let mut key = ObjKey::of(&obj);
        let Some((ar, caps)) = discovery.resolve_gvk(&gvk(&key)) else {
            let msg = format!(
                "the cluster does not serve {} ({})\n  help: install what provides it (Argo CD for Application, the sealed-secrets controller for SealedSecret) or check --context",
                key.kind, key.api_version
            );
            entries.push(Entry::error(key, msg));
            continue;
        };
        let api = if caps.scope == Scope::Namespaced {
            let ns = key
                .namespace
                .get_or_insert_with(|| "default".into())
                .clone();
            obj["metadata"]["namespace"] = Value::String(ns.clone());
            Api::namespaced_with(c.client.clone(), &ns, &ar)
        } else {
            key.namespace = None;
            Api::all_with(c.client.clone(), &ar)
        };
        seen.push(key.clone());
        entries.push(one(&c, &api, &ar, key, &obj).await?);
    }

    let selector = format!("{LAB_LABEL}={lab}");
    for kind in kinds {
        let Some((ar, _)) = discovery.resolve_gvk(&gvk(&kind)) else {
            continue; // not served: nothing of it can exist
        };
        let api: Api<DynamicObject> = Api::all_with(c.client.clone(), &ar);
        let list = match api.list(&ListParams::default().labels(&selector)).await {
            Ok(list) => list,
            Err(e) => {
                let what = format!("list {} (for the prune preview)", ar.plural);
                entries.push(Entry::error(kind, c.local(e, &what)?));
                continue;
            }
        };
        for item in list.items {
            if item
                .metadata
                .owner_references
                .as_ref()
                .is_some_and(|o| !o.is_empty())
            {
                continue;
            }
            let live = value(item, &ar);
            let key = ObjKey::of(&live);
            if !seen.iter().any(|s| s.same(&key)) {
                entries.push(compare("live", key, Some(&live), None));
            }
        }
    }
    Ok(entries)
}
