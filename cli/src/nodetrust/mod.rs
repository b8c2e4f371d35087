//! Node trust: the files that make a machine's container runtime trust the
//! lab's CA and pull from its registry, for the node-trust DaemonSet
//! (rendered into a ConfigMap, written by `labctl node-trust sync`) and for
//! one machine (`labctl certs --write-trust ROOT`). Both write through
//! `sync::apply`, which keeps a record of what it wrote.
//!
//! What lands where (folders from lab.yaml's `nodes.paths`):
//!
//! ```text
//! containerd, k3s, rke2   CERTS_D/ADDR/hosts.toml + ca.crt    read per pull, no restart
//!                         CERTS_D/UPSTREAM/hosts.toml         nodes.mirror: labreg first
//! k3s, rke2 (asked)       registries.yaml + labctl-LAB-ca.crt  read at start: restart the agent
//! cri-o                   REGISTRIES_CONF_D/50-labctl-LAB.conf read on `systemctl reload crio`
//!                         CONTAINERS_CERTS_D/ADDR/ca.crt      read per pull, no restart
//! system trust (asked)    CA_ANCHORS/labctl-LAB-ca.crt        then update-ca-certificates
//! docker (one machine)    /etc/docker/certs.d/ADDR/ca.crt     read per pull, no restart
//! ```

pub mod sync;

use crate::manifest::Lab;
use crate::manifest::model::Tls;
use crate::manifest::nodes::{Nodes, Runtime};

/// One file for a node: its absolute path there, its contents, and the
/// host folder it belongs to (what the DaemonSet mounts).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct NodeFile {
    pub path: String,
    pub folder: String,
    pub contents: String,
}

/// The lab's registry as the nodes reach it.
pub struct Target<'a> {
    pub lab: &'a str,
    /// `host` or `host:port`, as image references write it.
    pub addr: String,
    /// The CA to trust (self-signed TLS); None for a public CA or plain HTTP.
    pub ca_pem: Option<&'a str>,
    /// The registry speaks plain HTTP.
    pub plain_http: bool,
}

impl<'a> Target<'a> {
    pub fn of(lab: &'a Lab, ca_pem: Option<&'a str>) -> Target<'a> {
        let tls = lab.registry.expose.tls;
        Target {
            lab: &lab.metadata.name,
            addr: crate::render::context::address(lab),
            ca_pem: if tls == Tls::SelfSigned { ca_pem } else { None },
            plain_http: tls == Tls::None,
        }
    }
    fn url(&self) -> String {
        let scheme = if self.plain_http { "http" } else { "https" };
        format!("{scheme}://{}", self.addr)
    }
}

const HEADER: &str = "Written by labctl for the lab";

fn header(lab: &str, comment: &str) -> String {
    format!(
        "{comment} {HEADER} {lab} (lab.yaml nodes:); labctl rewrites or removes it, do not edit.\n"
    )
}

/// The address an upstream's name stands for: Docker Hub's API is not at
/// `docker.io`.
pub fn upstream_url(name: &str) -> String {
    match name {
        "docker.io" => "https://registry-1.docker.io".into(),
        _ => format!("https://{name}"),
    }
}

/// containerd's `hosts.toml` for the lab's registry. The `ca` path is
/// relative to the file's folder (containerd resolves it there), so the
/// file is the same under any `config_path`.
pub fn hosts_toml(t: &Target) -> String {
    let mut out = header(t.lab, "#");
    out.push_str(&format!(
        "server = \"{url}\"\n\n[host.\"{url}\"]\n  capabilities = [\"pull\", \"resolve\", \"push\"]\n",
        url = t.url()
    ));
    if t.ca_pem.is_some() {
        out.push_str("  ca = \"ca.crt\"\n");
    }
    out
}

/// containerd's `hosts.toml` for an upstream: the lab's registry first,
/// under the upstream's name as repository prefix, then the upstream.
pub fn mirror_hosts_toml(t: &Target, upstream: &str) -> String {
    let mut out = header(t.lab, "#");
    out.push_str(&format!(
        "server = \"{}\"\n\n[host.\"{}/v2/{upstream}\"]\n  capabilities = [\"pull\", \"resolve\"]\n  override_path = true\n",
        upstream_url(upstream),
        t.url()
    ));
    if t.ca_pem.is_some() {
        out.push_str(&format!("  ca = \"../{}/ca.crt\"\n", t.addr));
    }
    out
}

/// CRI-O's (containers-registries.conf v2) drop-in.
pub fn crio_conf(t: &Target, mirror: &[String]) -> String {
    let mut out = header(t.lab, "#");
    out.push_str(&format!(
        "[[registry]]\nlocation = \"{}\"\ninsecure = {}\n",
        t.addr, t.plain_http
    ));
    for up in mirror {
        out.push_str(&format!(
            "\n[[registry]]\nprefix = \"{up}\"\nlocation = \"{up}\"\n\n[[registry.mirror]]\nlocation = \"{}/{up}\"\ninsecure = {}\n",
            t.addr, t.plain_http
        ));
    }
    out
}

/// k3s/rke2's `registries.yaml`: the lab's registry and the mirrors.
pub fn registries_yaml(t: &Target, mirror: &[String], ca_file: &str) -> String {
    let q = |s: &str| serde_json::to_string(s).expect("a string");
    let mut out = header(t.lab, "#");
    out.push_str("# k3s and rke2 read this file only when they start: restart k3s (or k3s-agent, rke2-server, rke2-agent) after a change.\nmirrors:\n");
    out.push_str(&format!(
        "  {}:\n    endpoint:\n      - {}\n",
        q(&t.addr),
        q(&t.url())
    ));
    for up in mirror {
        out.push_str(&format!(
            "  {}:\n    endpoint:\n      - {}\n    rewrite:\n      {}: {}\n",
            q(up),
            q(&t.url()),
            q("^(.*)$"),
            q(&format!("{up}/$1"))
        ));
    }
    if t.ca_pem.is_some() {
        out.push_str(&format!(
            "configs:\n  {}:\n    tls:\n      ca_file: {}\n",
            q(&t.addr),
            q(ca_file)
        ));
    }
    out
}

/// Every file a node of `nodes` gets.
pub fn node_files(t: &Target, nodes: &Nodes) -> Vec<NodeFile> {
    let mut out = Vec::new();
    let mut add = |folder: &str, rel: String, contents: String| {
        out.push(NodeFile {
            path: format!("{folder}/{rel}"),
            folder: folder.to_string(),
            contents,
        });
    };
    let addr = &t.addr;
    if nodes.runtime.uses_containerd() {
        let certs_d = nodes.certs_d();
        add(certs_d, format!("{addr}/hosts.toml"), hosts_toml(t));
        if let Some(ca) = t.ca_pem {
            add(certs_d, format!("{addr}/ca.crt"), ca.to_string());
        }
        for up in &nodes.mirror {
            add(
                certs_d,
                format!("{up}/hosts.toml"),
                mirror_hosts_toml(t, up),
            );
        }
    }
    if nodes.registries_yaml && matches!(nodes.runtime, Runtime::K3s | Runtime::Rke2) {
        let file = nodes.registries_yaml_path();
        let (folder, name) = file.rsplit_once('/').unwrap_or(("/", file));
        let folder = if folder.is_empty() { "/" } else { folder };
        let ca_file = format!("{folder}/labctl-{}-ca.crt", t.lab);
        if let Some(ca) = t.ca_pem {
            add(folder, format!("labctl-{}-ca.crt", t.lab), ca.to_string());
        }
        add(
            folder,
            name.to_string(),
            registries_yaml(t, &nodes.mirror, &ca_file),
        );
    }
    if nodes.runtime == Runtime::CriO {
        add(
            nodes.registries_conf_d(),
            format!("50-labctl-{}.conf", t.lab),
            crio_conf(t, &nodes.mirror),
        );
        if let Some(ca) = t.ca_pem {
            add(
                nodes.containers_certs_d(),
                format!("{addr}/ca.crt"),
                ca.to_string(),
            );
        }
    }
    if nodes.system_trust
        && let Some(ca) = t.ca_pem
    {
        add(
            nodes.ca_anchors(),
            format!("labctl-{}-ca.crt", t.lab),
            ca.to_string(),
        );
    }
    for f in &mut out {
        f.path = f.path.replace("//", "/");
    }
    out
}

/// The files for one machine (`labctl certs --write-trust`): every
/// runtime's at once (Docker, containerd, podman/skopeo/CRI-O, the system
/// store), in the lab's `nodes.paths` where it sets them, plus k3s/rke2's
/// registries.yaml when the lab asks for it.
pub fn machine_files(t: &Target, nodes: &Nodes) -> Vec<NodeFile> {
    let mut all = Nodes {
        runtime: Runtime::CriO,
        system_trust: true,
        registries_yaml: false,
        ..nodes.clone()
    };
    let mut out = node_files(t, &all);
    all.runtime = if nodes.runtime == Runtime::CriO {
        Runtime::Containerd
    } else {
        nodes.runtime
    };
    all.system_trust = false;
    all.registries_yaml = nodes.registries_yaml;
    out.extend(node_files(t, &all));
    if let Some(ca) = t.ca_pem {
        let folder = "/etc/docker/certs.d";
        out.push(NodeFile {
            path: format!("{folder}/{}/ca.crt", t.addr),
            folder: folder.into(),
            contents: ca.to_string(),
        });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// What a machine must do after these files changed, beyond nothing
/// (containerd reads certs.d on every pull).
pub fn after_change(changed: &[String]) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(p) = changed.iter().find(|p| p.ends_with("/registries.yaml")) {
        notes.push(format!(
            "{p} changed: k3s and rke2 read it only when they start; restart them on this machine (systemctl restart k3s, k3s-agent, rke2-server or rke2-agent)"
        ));
    }
    if changed.iter().any(|p| p.contains("/registries.conf.d/")) {
        notes.push("the CRI-O drop-in changed: CRI-O reads it on `systemctl reload crio`".into());
    }
    if changed
        .iter()
        .any(|p| p.contains("/ca-certificates/") || p.contains("/anchors/"))
    {
        notes.push(
            "the CA in the system trust folder changed: run update-ca-certificates (Debian, Ubuntu) or update-ca-trust (Fedora, RHEL) on this machine".into(),
        );
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(ca: Option<&str>) -> Target<'_> {
        Target {
            lab: "homelab",
            addr: "reg.lan:30500".into(),
            ca_pem: ca,
            plain_http: false,
        }
    }

    #[test]
    fn files_per_runtime() {
        let t = target(Some("CA"));
        let mut n = Nodes::defaults();
        let paths =
            |n: &Nodes| -> Vec<String> { node_files(&t, n).into_iter().map(|f| f.path).collect() };
        assert_eq!(
            paths(&n),
            [
                "/etc/containerd/certs.d/reg.lan:30500/hosts.toml",
                "/etc/containerd/certs.d/reg.lan:30500/ca.crt"
            ]
        );
        n.runtime = Runtime::K3s;
        n.registries_yaml = true;
        n.mirror = vec!["docker.io".into()];
        assert_eq!(
            paths(&n),
            [
                "/var/lib/rancher/k3s/agent/etc/containerd/certs.d/reg.lan:30500/hosts.toml",
                "/var/lib/rancher/k3s/agent/etc/containerd/certs.d/reg.lan:30500/ca.crt",
                "/var/lib/rancher/k3s/agent/etc/containerd/certs.d/docker.io/hosts.toml",
                "/etc/rancher/k3s/labctl-homelab-ca.crt",
                "/etc/rancher/k3s/registries.yaml",
            ]
        );
        n.runtime = Runtime::CriO;
        n.registries_yaml = false;
        n.system_trust = true;
        assert_eq!(
            paths(&n),
            [
                "/etc/containers/registries.conf.d/50-labctl-homelab.conf",
                "/etc/containers/certs.d/reg.lan:30500/ca.crt",
                "/usr/local/share/ca-certificates/labctl-homelab-ca.crt",
            ]
        );
        // A public CA: no ca.crt anywhere, hosts.toml without `ca`.
        let t = target(None);
        let files = node_files(&t, &Nodes::defaults());
        assert_eq!(files.len(), 1);
        assert!(!files[0].contents.contains("ca ="));
    }

    #[test]
    fn registries_yaml_is_yaml_k3s_reads() {
        let t = target(Some("CA"));
        let text = registries_yaml(&t, &["docker.io".into()], "/etc/rancher/k3s/ca.crt");
        let v: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(
            v["mirrors"]["reg.lan:30500"]["endpoint"][0],
            "https://reg.lan:30500"
        );
        assert_eq!(
            v["mirrors"]["docker.io"]["rewrite"]["^(.*)$"],
            "docker.io/$1"
        );
        assert_eq!(
            v["configs"]["reg.lan:30500"]["tls"]["ca_file"],
            "/etc/rancher/k3s/ca.crt"
        );
    }
}
