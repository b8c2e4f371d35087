//! lab.yaml's `nodes:` section: which container runtime the cluster's
//! nodes run, the host folders it reads, and what the node-trust DaemonSet
//! writes there. Model, defaults and decoding of that one section.

use schemars::JsonSchema;
use serde::Serialize;

use super::decode::Decoder;
use super::lab_decode::{image, label};
use super::mirrors::upstream_name;
use super::node::Node;

/// `nodes.image: labreg` (the default): labreg's own image, which carries
/// labctl too (`labctl image build`, the release image).
pub const NODES_IMAGE: &str = "labreg";

pub const NODES_KEYS: &[&str] = &[
    "runtime",
    "namespace",
    "image",
    "mirror",
    "registriesYaml",
    "systemTrust",
    "paths",
];
pub const NODE_PATHS_KEYS: &[&str] = &[
    "certsD",
    "containersCertsD",
    "registriesConfD",
    "registriesYaml",
    "caAnchors",
];

/// What the nodes get: the lab's CA and registry host written where their
/// container runtime reads them, by a DaemonSet on every node.
#[derive(Clone, Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Nodes {
    /// The nodes' container runtime. Default `containerd`.
    #[serde(default = "default_runtime")]
    pub runtime: Runtime,
    /// Namespace of the node-trust DaemonSet. Default `node-trust`.
    #[serde(default = "default_nodes_namespace")]
    pub namespace: String,
    /// Image of the DaemonSet: `labreg` (default: labreg's image, as
    /// `registry.image: labreg` means it, which holds
    /// `/usr/local/bin/labctl` too) or another image with labctl there.
    #[serde(default = "default_nodes_image")]
    pub image: String,
    /// Upstream registries (e.g. `docker.io`, `ghcr.io`) the nodes pull
    /// through the lab's registry first, falling back to the upstream.
    /// Default: every name of `registry.mirrors`; each must be one of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mirror: Vec<String>,
    /// k3s and rke2: also write their `registries.yaml`. Off by default:
    /// k3s reads it only when it starts, so every node's agent must be
    /// restarted; the certs.d files work without a restart.
    #[serde(default)]
    pub registries_yaml: bool,
    /// Also put the CA into the node's system trust folder (then
    /// `update-ca-certificates` on the node). Default false.
    #[serde(default)]
    pub system_trust: bool,
    /// Host folders; the defaults follow the runtime.
    #[serde(default)]
    pub paths: NodePaths,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Runtime {
    /// containerd with `config_path = "/etc/containerd/certs.d"`.
    Containerd,
    /// k3s's embedded containerd.
    K3s,
    /// rke2's embedded containerd.
    Rke2,
    /// CRI-O (containers/image: registries.conf.d and certs.d).
    CriO,
}

impl Runtime {
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Containerd => "containerd",
            Runtime::K3s => "k3s",
            Runtime::Rke2 => "rke2",
            Runtime::CriO => "cri-o",
        }
    }

    /// containerd's hosts folder (`config_path`) for this runtime.
    pub fn certs_d(self) -> &'static str {
        match self {
            Runtime::K3s => "/var/lib/rancher/k3s/agent/etc/containerd/certs.d",
            Runtime::Rke2 => "/var/lib/rancher/rke2/agent/etc/containerd/certs.d",
            Runtime::Containerd | Runtime::CriO => "/etc/containerd/certs.d",
        }
    }

    /// k3s/rke2's registries.yaml.
    pub fn registries_yaml(self) -> &'static str {
        match self {
            Runtime::Rke2 => "/etc/rancher/rke2/registries.yaml",
            _ => "/etc/rancher/k3s/registries.yaml",
        }
    }

    pub fn uses_containerd(self) -> bool {
        self != Runtime::CriO
    }
}

/// Absolute folders on the node. Each defaults by runtime.
#[derive(Clone, Debug, Default, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodePaths {
    /// containerd's hosts folder: `/etc/containerd/certs.d`; k3s
    /// `/var/lib/rancher/k3s/agent/etc/containerd/certs.d`; rke2 the same
    /// under `/var/lib/rancher/rke2`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certs_d: Option<String>,
    /// CRI-O / podman CA folder. Default `/etc/containers/certs.d`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub containers_certs_d: Option<String>,
    /// CRI-O drop-ins. Default `/etc/containers/registries.conf.d`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registries_conf_d: Option<String>,
    /// k3s: `/etc/rancher/k3s/registries.yaml`; rke2:
    /// `/etc/rancher/rke2/registries.yaml`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registries_yaml: Option<String>,
    /// System trust anchors. Default `/usr/local/share/ca-certificates`
    /// (Debian, Ubuntu); `/etc/pki/ca-trust/source/anchors` on Fedora/RHEL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_anchors: Option<String>,
}

impl Nodes {
    /// The runtime's defaults for the nodes of a lab without a `nodes:`
    /// section (used by `labctl certs --write-trust`).
    pub fn defaults() -> Nodes {
        Nodes {
            runtime: default_runtime(),
            namespace: default_nodes_namespace(),
            image: default_nodes_image(),
            mirror: Vec::new(),
            registries_yaml: false,
            system_trust: false,
            paths: NodePaths::default(),
        }
    }
    pub fn certs_d(&self) -> &str {
        self.paths
            .certs_d
            .as_deref()
            .unwrap_or(self.runtime.certs_d())
    }
    pub fn containers_certs_d(&self) -> &str {
        self.paths
            .containers_certs_d
            .as_deref()
            .unwrap_or("/etc/containers/certs.d")
    }
    pub fn registries_conf_d(&self) -> &str {
        self.paths
            .registries_conf_d
            .as_deref()
            .unwrap_or("/etc/containers/registries.conf.d")
    }
    pub fn registries_yaml_path(&self) -> &str {
        self.paths
            .registries_yaml
            .as_deref()
            .unwrap_or(self.runtime.registries_yaml())
    }
    pub fn ca_anchors(&self) -> &str {
        self.paths
            .ca_anchors
            .as_deref()
            .unwrap_or("/usr/local/share/ca-certificates")
    }
}

pub fn default_runtime() -> Runtime {
    Runtime::Containerd
}
pub fn default_nodes_namespace() -> String {
    "node-trust".into()
}
pub fn default_nodes_image() -> String {
    NODES_IMAGE.into()
}

fn runtime(d: &mut Decoder, n: &Node, p: &str) -> Option<Runtime> {
    let s = d.string(n, p)?;
    let all = [
        Runtime::Containerd,
        Runtime::K3s,
        Runtime::Rke2,
        Runtime::CriO,
    ];
    let found = all.into_iter().find(|r| r.name() == s);
    if found.is_none() {
        let help = match s.to_ascii_lowercase().as_str() {
            "crio" | "cri_o" => "write runtime: cri-o".to_string(),
            "docker" | "dockerd" => "Kubernetes nodes pull with containerd (also under Docker Engine since dockershim went away): write runtime: containerd".to_string(),
            _ => "write one of containerd, k3s, rke2, cri-o".to_string(),
        };
        d.report(
            n.pos,
            format!("{p} \"{s}\" is not one of containerd, k3s, rke2, cri-o"),
            Some(help),
        );
    }
    found
}

fn abs_path(d: &mut Decoder, n: &Node, p: &str) -> Option<String> {
    let s = d.nonempty(n, p)?;
    if !s.starts_with('/') || s.split('/').any(|c| c == "..") || s.len() < 2 {
        d.report(
            n.pos,
            format!("{p} \"{s}\" must be an absolute folder on the node, without \"..\""),
            Some(format!("e.g. {p}: /etc/containerd/certs.d")),
        );
        return None;
    }
    Some(s.trim_end_matches('/').to_string())
}

/// Decodes `nodes:`; `mirrored` are the names of `registry.mirrors`, which
/// `mirror` defaults to and must be among (a node sent to labreg for an
/// upstream labreg does not mirror would find nothing there).
pub fn nodes(d: &mut Decoder, n: &Node, p: &str, mirrored: &[String]) -> Option<Nodes> {
    let m = d.map(n, p, NODES_KEYS)?;
    let runtime = m.opt(d, "runtime", runtime);
    let namespace = m
        .opt(d, "namespace", label)
        .unwrap_or_else(default_nodes_namespace);
    let image = m
        .opt(d, "image", image("labreg"))
        .unwrap_or_else(default_nodes_image);
    let mirror = m
        .opt(d, "mirror", |d, n, p| {
            let items = d.seq(n, p)?;
            let out: Vec<String> = items
                .iter()
                .enumerate()
                .filter_map(|(i, it)| {
                    let path = format!("{p}[{i}]");
                    let name = upstream_name(d, it, &path)?;
                    if !mirrored.contains(&name) {
                        d.report(
                            it.pos,
                            format!("{path} \"{name}\" is not in registry.mirrors: labreg would not mirror it, so the nodes would find nothing there"),
                            Some(format!("add {name} to registry.mirrors, or remove it here")),
                        );
                        return None;
                    }
                    Some(name)
                })
                .collect();
            (out.len() == items.len()).then_some(out)
        });
    let registries_yaml = m.opt(d, "registriesYaml", |d, n, p| {
        let b = d.boolean(n, p)?;
        Some((b, n.pos))
    });
    let system_trust = m
        .opt(d, "systemTrust", |d, n, p| d.boolean(n, p))
        .unwrap_or(false);
    let paths = m
        .opt(d, "paths", |d, n, p| {
            let f = d.map(n, p, NODE_PATHS_KEYS)?;
            Some(NodePaths {
                certs_d: f.opt(d, "certsD", abs_path),
                containers_certs_d: f.opt(d, "containersCertsD", abs_path),
                registries_conf_d: f.opt(d, "registriesConfD", abs_path),
                registries_yaml: f.opt(d, "registriesYaml", |d, n, p| {
                    let s = abs_path(d, n, p)?;
                    if !s.ends_with(".yaml") {
                        d.report(
                            n.pos,
                            format!("{p} \"{s}\" must be the file, not its folder"),
                            Some(format!("e.g. {p}: /etc/rancher/k3s/registries.yaml")),
                        );
                        return None;
                    }
                    Some(s)
                }),
                ca_anchors: f.opt(d, "caAnchors", abs_path),
            })
        })
        .unwrap_or_default();
    if m.get("mirror").is_some() && mirror.is_none() {
        return None;
    }
    let mirror = mirror.unwrap_or_else(|| mirrored.to_vec());
    let runtime = match (m.get("runtime"), runtime) {
        (Some(_), None) => return None,
        (_, r) => r.unwrap_or_else(default_runtime),
    };
    let registries_yaml = match registries_yaml {
        Some((true, pos)) if !matches!(runtime, Runtime::K3s | Runtime::Rke2) => {
            d.report(
                pos,
                format!(
                    "{p}.registriesYaml is for k3s and rke2, and {p}.runtime is {}",
                    runtime.name()
                ),
                Some(format!(
                    "remove registriesYaml, or write {p}.runtime: k3s (or rke2)"
                )),
            );
            return None;
        }
        Some((b, _)) => b,
        None => false,
    };
    Some(Nodes {
        runtime,
        namespace,
        image,
        mirror,
        registries_yaml,
        system_trust,
        paths,
    })
}
