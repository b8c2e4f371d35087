//! How clients come to trust the lab's CA: Docker, containerd, podman /
//! skopeo / buildah / CRI-O, k3s, and the system store. Either printed as
//! commands or written under a root folder (`/` for this machine) through
//! `nodetrust::sync`, the same code the node-trust DaemonSet runs.

use std::collections::BTreeMap;
use std::path::Path;

use crate::manifest::nodes::Nodes;
use crate::nodetrust::{self, NodeFile, Target, sync};

/// The registry's address as clients write it: `HOST` on 443, else `HOST:PORT`.
pub fn address(host: &str, port: u16) -> String {
    if port == 443 {
        host.to_string()
    } else {
        format!("{host}:{port}")
    }
}

/// The files for one machine with the default folders.
fn default_files(addr: &str, lab: &str, ca_pem: &str) -> Vec<NodeFile> {
    let t = Target {
        lab,
        addr: addr.to_string(),
        ca_pem: Some(ca_pem),
        plain_http: false,
    };
    nodetrust::machine_files(&t, &Nodes::defaults())
}

/// The setup as shell commands, for each client machine.
pub fn instructions(addr: &str, lab: &str, ca_file: &Path) -> String {
    const CA: &str = "\u{0}CA\u{0}";
    let mut out = format!(
        "# Trust the lab's CA for {addr} on each client (run as root).\n# Or let labctl write these files: labctl certs --write-trust / (it keeps a record, so a new CA or host replaces them)\n# Cluster nodes get them from the node-trust app (lab.yaml nodes:, labctl render).\n"
    );
    for f in default_files(addr, lab, CA) {
        let dir = f.path.rsplit_once('/').map_or("/", |(d, _)| d);
        out.push_str(&format!("\nmkdir -p {dir}\n"));
        if f.contents == CA {
            out.push_str(&format!("cp {} {}\n", ca_file.display(), f.path));
        } else {
            out.push_str(&format!("cat > {} <<'EOF'\n{}EOF\n", f.path, f.contents));
        }
    }
    out.push_str("\n# then, for the system store: update-ca-certificates\n");
    out
}

/// Writes the files for one machine under `root` (through the record in
/// ROOT/var/lib/labctl/node-trust/, like the DaemonSet); returns the
/// report of what changed.
pub fn write(root: &Path, t: &Target, nodes: &Nodes) -> std::io::Result<sync::Report> {
    let files: BTreeMap<String, Vec<u8>> = nodetrust::machine_files(t, nodes)
        .into_iter()
        .map(|f| (f.path, f.contents.into_bytes()))
        .collect();
    let state = root.join(format!("var/lib/labctl/node-trust/certs-{}.json", t.lab));
    sync::apply(root, &files, &state)
}
