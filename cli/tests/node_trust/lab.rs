//! A lab whose registry is this machine's loopback (host 127.0.0.1, a
//! NodePort the test listens on), rendered; the node-trust ConfigMap as the
//! kubelet mounts it; the DaemonSet's sync run on a fake host root; labreg
//! serving with the lab's certificate and htpasswd.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::TempLab;
use crate::common::render::{lab as render_lab, render};
use crate::support::{DistOptions, Labreg};

pub use crate::common::render::ADMIN;

/// A port in the NodePort range nothing listens on.
pub fn node_port() -> u16 {
    let seed =
        std::process::id() as u64 ^ std::time::UNIX_EPOCH.elapsed().unwrap().as_nanos() as u64;
    (0..2768u64)
        .map(|i| 30000 + ((seed + i * 7919) % 2768) as u16)
        .find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .expect("a free port from 30000 to 32767")
}

/// With `mirror:` under nodes, the registry mirrors docker.io (which
/// nodes.mirror must name).
pub fn manifest(port: u16, nodes: &str) -> String {
    let mirrors = if nodes.contains("mirror:") {
        "  mirrors: [docker.io]\n"
    } else {
        ""
    };
    format!(
        "apiVersion: labctl/v1alpha1
kind: Lab
metadata:
  name: nodelab
git:
  repoURL: https://git.example.com/me/nodelab.git
  path: apps
secrets:
  recipients:
    - {}
registry:
  host: 127.0.0.1
  users:
    admin: {{password: secret:registry/admin}}
  expose:
    nodePort: {port}
    tls: self-signed
{mirrors}nodes:
{nodes}",
        crate::common::DEMO_RECIPIENT
    )
}

/// The lab, with secrets, certificates and a sealing key, rendered.
/// A lab on a free NodePort whose nodes run `runtime` and mirror
/// docker.io: (the port, the lab).
pub fn mirroring_lab(runtime: &str) -> (u16, TempLab) {
    let port = node_port();
    let nodes = format!("  runtime: {runtime}\n  mirror: [docker.io]\n");
    (port, new_lab(port, &nodes))
}

pub fn new_lab(port: u16, nodes: &str) -> TempLab {
    let lab = render_lab(&manifest(port, nodes));
    lab.cmd().arg("certs").assert().success();
    render(&lab);
    lab
}

fn yaml(path: &Path) -> Value {
    serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The rendered DaemonSet's container.
pub fn container(lab: &TempLab) -> Value {
    let ds = yaml(&lab.root().join("apps/node-trust/daemonset.yaml"));
    ds["spec"]["template"]["spec"]["containers"][0].clone()
}

/// The node-trust ConfigMap mounted as the kubelet does: generation `gen`
/// of the files in `..GEN/`, `..data` pointing at it, and one link per top
/// folder through `..data`. Returns the files (node path → contents).
pub fn kubelet_volume(lab: &TempLab, vol: &Path, generation: u32) -> Vec<(String, String)> {
    let cm = yaml(&lab.root().join("apps/node-trust/configmap.yaml"));
    let ds = yaml(&lab.root().join("apps/node-trust/daemonset.yaml"));
    let volumes = ds["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .unwrap();
    let files = volumes.iter().find(|v| v["name"] == "files").unwrap();
    let gen_dir = format!("..{generation}");
    std::fs::create_dir_all(vol.join(&gen_dir)).unwrap();
    let mut out = Vec::new();
    for item in files["configMap"]["items"].as_array().unwrap() {
        let key = item["key"].as_str().unwrap();
        let rel = item["path"].as_str().unwrap();
        let contents = cm["data"][key].as_str().unwrap().to_string();
        let p = vol.join(&gen_dir).join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, &contents).unwrap();
        out.push((format!("/{rel}"), contents));
    }
    let tmp = vol.join("..data_tmp");
    std::os::unix::fs::symlink(&gen_dir, &tmp).unwrap();
    std::fs::rename(&tmp, vol.join("..data")).unwrap();
    for e in std::fs::read_dir(vol.join(&gen_dir)).unwrap() {
        let name = e.unwrap().file_name();
        let link = vol.join(&name);
        if link.symlink_metadata().is_err() {
            std::os::unix::fs::symlink(Path::new("..data").join(&name), link).unwrap();
        }
    }
    out
}

/// What one `labctl node-trust sync` printed and returned.
pub struct Synced {
    pub code: i32,
    pub stdout: String,
}

/// Runs the rendered DaemonSet's command once (no --interval) with the
/// ConfigMap volume at `vol` and the node at `host`.
pub fn sync(lab: &TempLab, vol: &Path, host: &Path) -> Synced {
    let c = container(lab);
    let args: Vec<String> = c["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    let interval = args.iter().position(|a| a == "--interval").unwrap();
    let args: Vec<String> = args[..interval]
        .iter()
        .chain(&args[interval + 2..])
        .map(|a| {
            if a == "/etc/labctl/node-trust" {
                vol.display().to_string()
            } else if let Some(rest) = a.strip_prefix("/host") {
                format!("{}{rest}", host.display())
            } else {
                a.clone()
            }
        })
        .collect();
    let out = lab.cmd().args(&args).output().unwrap();
    Synced {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr),
    }
}

/// labreg on `port` with the lab's server certificate and its admin user.
pub async fn labreg(lab: &TempLab, port: u16) -> Labreg {
    let cert = std::fs::read_to_string(lab.root().join("certs/127.0.0.1.crt")).unwrap();
    let out = lab.get_secret("certs/127.0.0.1.key");
    let key = String::from_utf8(out.stdout).unwrap();
    Labreg::start_with(&DistOptions {
        user: Some(("admin", ADMIN)),
        tls: Some((cert, key)),
        port: Some(port),
        ..Default::default()
    })
    .await
}

/// Pushes a one-layer image to `dest` (docker://...) with skopeo, trusting
/// the CA in `cert_dir`; returns the manifest digest.
pub fn push(dir: &Path, cert_dir: &Path, text: &str, dest: &str) -> String {
    let img = crate::up_support::image(dir, text);
    let creds = format!("admin:{ADMIN}");
    skopeo_push(&img, &creds, cert_dir, &dir.join("digest"), dest)
}

/// `skopeo copy` of the layout `img` (tag demo) to `dest` as `creds`
/// (USER:PASSWORD), trusting the CA in `cert_dir`; the manifest digest,
/// as skopeo wrote it to `digest_file`.
pub fn skopeo_push(
    img: &Path,
    creds: &str,
    cert_dir: &Path,
    digest_file: &Path,
    dest: &str,
) -> String {
    crate::up_support::skopeo(&[
        "copy",
        "--quiet",
        "--dest-creds",
        creds,
        "--dest-cert-dir",
        &cert_dir.display().to_string(),
        "--digestfile",
        &digest_file.display().to_string(),
        &format!("oci:{}:demo", img.display()),
        dest,
    ]);
    std::fs::read_to_string(digest_file)
        .unwrap()
        .trim()
        .to_string()
}

pub fn under(host: &Path, node_path: &str) -> PathBuf {
    host.join(node_path.trim_start_matches('/'))
}
