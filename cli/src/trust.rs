//! How clients come to trust the lab's CA: Docker, containerd, podman /
//! skopeo / buildah, and the Debian system store. Either printed as
//! commands or written as files under a root folder (`/` for this machine).

use std::path::{Path, PathBuf};

/// The registry's address as clients write it: `HOST` on 443, else `HOST:PORT`.
pub fn address(host: &str, port: u16) -> String {
    if port == 443 {
        host.to_string()
    } else {
        format!("{host}:{port}")
    }
}

/// `hosts.toml` for containerd's `config_path` (`/etc/containerd/certs.d`).
pub fn hosts_toml(addr: &str) -> String {
    format!(
        "# written by labctl certs\nserver = \"https://{addr}\"\n\n[host.\"https://{addr}\"]\n  capabilities = [\"pull\", \"resolve\", \"push\"]\n  ca = \"/etc/containerd/certs.d/{addr}/ca.crt\"\n"
    )
}

/// Files to install, relative to the root: (path, contents).
pub fn files(addr: &str, lab: &str, ca_pem: &str) -> Vec<(PathBuf, String)> {
    vec![
        (
            PathBuf::from(format!("etc/docker/certs.d/{addr}/ca.crt")),
            ca_pem.to_string(),
        ),
        (
            PathBuf::from(format!("etc/containerd/certs.d/{addr}/ca.crt")),
            ca_pem.to_string(),
        ),
        (
            PathBuf::from(format!("etc/containerd/certs.d/{addr}/hosts.toml")),
            hosts_toml(addr),
        ),
        (
            PathBuf::from(format!("etc/containers/certs.d/{addr}/ca.crt")),
            ca_pem.to_string(),
        ),
        (
            PathBuf::from(format!(
                "usr/local/share/ca-certificates/labctl-{lab}-ca.crt"
            )),
            ca_pem.to_string(),
        ),
    ]
}

/// The setup as shell commands, for each client machine.
pub fn instructions(addr: &str, lab: &str, ca_file: &Path) -> String {
    let ca = ca_file.display();
    format!(
        "# Trust the lab's CA for {addr} on each client (run as root).
# Or let labctl write these files: labctl certs --write-trust / (then run update-ca-certificates)

# Docker: /etc/docker/certs.d/{addr}/ca.crt (no daemon restart needed)
mkdir -p /etc/docker/certs.d/{addr}
cp {ca} /etc/docker/certs.d/{addr}/ca.crt

# containerd (Kubernetes nodes; config_path = \"/etc/containerd/certs.d\" in config.toml)
mkdir -p /etc/containerd/certs.d/{addr}
cp {ca} /etc/containerd/certs.d/{addr}/ca.crt
cat > /etc/containerd/certs.d/{addr}/hosts.toml <<'TOML'
{hosts}TOML

# podman, skopeo, buildah
mkdir -p /etc/containers/certs.d/{addr}
cp {ca} /etc/containers/certs.d/{addr}/ca.crt

# Debian/Ubuntu system store (curl, git, ...)
cp {ca} /usr/local/share/ca-certificates/labctl-{lab}-ca.crt
update-ca-certificates
",
        hosts = hosts_toml(addr)
    )
}

/// Writes the files under `root`; returns their paths.
pub fn write(root: &Path, addr: &str, lab: &str, ca_pem: &str) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for (rel, contents) in files(addr, lab, ca_pem) {
        let path = root.join(rel);
        crate::atomic::write(&path, contents.as_bytes(), 0o644)?;
        out.push(path);
    }
    Ok(out)
}
