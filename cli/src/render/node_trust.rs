//! The node-trust app's part of the render context: the files every node
//! gets (from `nodetrust::node_files`), their ConfigMap keys, and the host
//! folders the DaemonSet mounts, each alone.

use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::RenderError;
use crate::manifest::Lab;
use crate::manifest::model::Tls;
use crate::manifest::nodes::NODES_IMAGE;
use crate::nodetrust::{self, Target};

/// The folder of the DaemonSet's record of what it wrote, on the node.
pub const STATE_DIR: &str = "/var/lib/labctl/node-trust";
/// Where the DaemonSet sees the node's folders.
pub const HOST_ROOT: &str = "/host";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeTrust {
    pub namespace: String,
    pub image: String,
    pub runtime: &'static str,
    pub files: Vec<File>,
    pub mounts: Vec<Mount>,
    /// The record's path as the container sees it.
    pub state: String,
    /// SHA-256 of the files: the pods restart (and sync at once) when it changes.
    pub checksum: String,
    pub notes: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct File {
    /// ConfigMap key.
    pub key: String,
    /// The path on the node.
    pub node_path: String,
    /// The path in the ConfigMap's volume (the node path without its `/`).
    pub item: String,
    pub contents: String,
}

/// A host folder the DaemonSet mounts (at the same path under /host).
#[derive(Serialize)]
pub struct Mount {
    pub name: String,
    pub path: String,
}

/// A ConfigMap key for a node path: `[-._a-zA-Z0-9]`, `/` as `_`.
fn key(path: &str) -> String {
    path.trim_start_matches('/')
        .chars()
        .map(|c| match c {
            '/' => '_',
            c if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' => c,
            _ => '-',
        })
        .collect()
}

/// A volume name (DNS label) for a host folder.
fn volume(path: &str) -> String {
    let mut s: String = path
        .trim_start_matches('/')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    s.truncate(58);
    format!("host-{}", s.trim_matches('-'))
}

pub fn context(lab: &Lab, root: &Path) -> Result<Option<NodeTrust>, RenderError> {
    let Some(nodes) = &lab.nodes else {
        return Ok(None);
    };
    let ca = if lab.registry.expose.tls == Tls::SelfSigned {
        let path = root.join("certs/ca.crt");
        Some(
            std::fs::read_to_string(&path).map_err(|e| RenderError::Missing {
                what: format!("certs/ca.crt ({e}), the CA the nodes must trust"),
                help: "run `labctl certs` to make the lab's CA".into(),
            })?,
        )
    } else {
        None
    };
    let target = Target::of(lab, ca.as_deref());
    let node_files = nodetrust::node_files(&target, nodes);
    let mut folders: Vec<String> = node_files.iter().map(|f| f.folder.clone()).collect();
    folders.push(STATE_DIR.to_string());
    folders.sort();
    folders.dedup();
    let mounts: Vec<Mount> = folders
        .into_iter()
        .map(|path| Mount {
            name: volume(&path),
            path,
        })
        .collect();
    let mut h = Sha256::new();
    let mut files = Vec::new();
    for f in node_files {
        h.update((f.path.len() as u64).to_be_bytes());
        h.update(f.path.as_bytes());
        h.update((f.contents.len() as u64).to_be_bytes());
        h.update(f.contents.as_bytes());
        files.push(File {
            key: key(&f.path),
            item: f.path.trim_start_matches('/').to_string(),
            node_path: f.path,
            contents: f.contents,
        });
    }
    let mut keys: Vec<&str> = files.iter().map(|f| f.key.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    if keys.len() != files.len() {
        return Err(RenderError::Lab(
            "two node-trust files map to one ConfigMap key\n  help: give nodes.paths folders that differ in more than punctuation".into(),
        ));
    }
    let changed: Vec<String> = files.iter().map(|f| f.node_path.clone()).collect();
    Ok(Some(NodeTrust {
        namespace: nodes.namespace.clone(),
        image: if nodes.image == NODES_IMAGE {
            super::context::LABREG_IMAGE_REF.to_string()
        } else {
            nodes.image.clone()
        },
        runtime: nodes.runtime.name(),
        files,
        mounts,
        state: format!("{HOST_ROOT}{STATE_DIR}/{}.json", lab.metadata.name),
        checksum: hex::encode(h.finalize()),
        notes: nodetrust::after_change(&changed),
    }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_and_volume_names() {
        assert_eq!(
            super::key("/etc/containerd/certs.d/reg.lan:30500/hosts.toml"),
            "etc_containerd_certs.d_reg.lan-30500_hosts.toml"
        );
        assert_eq!(
            super::volume("/var/lib/rancher/k3s/agent/etc/containerd/certs.d"),
            "host-var-lib-rancher-k3s-agent-etc-containerd-certs-d"
        );
    }
}
