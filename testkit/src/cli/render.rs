//! Labs for the render tests: three manifests (each with another node
//! runtime), their secrets, a sealing
//! key pair, and helpers to read what render wrote.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{TempLab, lab_head, run_ok, tool};

pub const ADMIN: &str = "Render-Admin-Password-41x";
pub const CI: &str = "Render-Ci-Password-93q";
pub const ACCESS: &str = "Render-Access-Key-17b";
pub const SECRET: &str = "Render-Secret-Key-58z";
pub const GHCR: &str = "Render-Ghcr-Token-26m";

fn manifest(registry: &str, extra: &str) -> String {
    lab_head("testlab", "https://git.example.com/me/testlab.git") + registry + extra
}

/// Filesystem storage, a NodePort, labctl's self-signed TLS.
pub fn nodeport_self_signed() -> String {
    manifest(
        "  namespace: registry
  host: reg.lab.internal
  users:
    admin: {password: secret:registry/admin}
  storage:
    filesystem: {size: 5Gi}
  expose:
    nodePort: 30500
    tls: self-signed
  pullSecrets:
    - {namespace: default}
  access:
    - {users: [admin], actions: [pull, push, delete]}
  mirrors:
    - docker.io
    - name: ghcr.io
      username: me
      password: secret:mirrors/ghcr
      ttl: 24h
      allow: [\"me/*\"]
  retention:
    schedule: 24h
    policies:
      - repositories: [\"ci/*\"]
        keepLatest: 10
        keepTags: [latest, semver]
        deleteTagsOlderThan: 30d
        deleteUntaggedOlderThan: 7d
      - repositories: [\"*\"]
        deleteUntaggedOlderThan: 30d
",
        "nodes:\n  runtime: containerd\n  systemTrust: true\n",
    )
}

/// S3 on the lab's MinIO, an nginx ingress with a cert-manager issuer.
pub fn minio_ingress() -> String {
    manifest(
        "  namespace: registry
  host: docker.registry.example.com
  image: registry:2
  users:
    admin: {password: secret:registry/admin}
    ci: {password: secret:registry/ci}
  storage:
    s3:
      endpoint: http://minio.minio.svc:9000
      bucket: container-repo
      accessKey: secret:minio/access-key
      secretKey: secret:minio/secret-key
  delete: true
  expose:
    ingress: {className: nginx, clusterIssuer: letsencrypt-prod, proxyBodySize: 2Gi}
  pullSecrets:
    - {namespace: default}
    - {namespace: ci, name: registry-ci, user: ci}
",
        "minio: {namespace: minio, bucket: container-repo}\nnodes: {runtime: k3s, registriesYaml: true}\n",
    )
}

/// Two replicas on an external S3, ingress with the self-signed certificate.
pub fn two_replicas() -> String {
    manifest(
        "  namespace: images
  host: registry.home.arpa
  replicas: 2
  users:
    admin: {password: secret:registry/admin}
  storage:
    s3:
      endpoint: https://s3.home.arpa
      bucket: images
      region: eu-west-1
      accessKey: secret:minio/access-key
      secretKey: secret:minio/secret-key
  redirect: true
  expose:
    ingress: {className: traefik}
  mirrors: [registry.k8s.io]
",
        "nodes: {runtime: cri-o, namespace: kube-system, image: reg.home.arpa/labctl:0.1.0}\n",
    )
}

pub fn labs() -> Vec<(&'static str, String)> {
    vec![
        ("nodeport_self_signed", nodeport_self_signed()),
        ("minio_ingress", minio_ingress()),
        ("two_replicas", two_replicas()),
    ]
}

/// A lab with its secrets, certificates and a 2048-bit sealing key pair.
pub fn lab(manifest: &str) -> TempLab {
    let lab = TempLab::new(manifest);
    for (name, value) in [
        ("registry/admin", ADMIN),
        ("registry/ci", CI),
        ("minio/access-key", ACCESS),
        ("minio/secret-key", SECRET),
        ("mirrors/ghcr", GHCR),
    ] {
        lab.cmd()
            .args(["secrets", "set", name])
            .write_stdin(value)
            .assert()
            .success();
    }
    if manifest.contains("host: reg.lab.internal") || manifest.contains("registry.home.arpa") {
        lab.cmd().arg("certs").assert().success();
    }
    lab.cmd()
        .args(["sealing", "init", "--bits", "2048"])
        .assert()
        .success();
    lab
}

pub fn render(lab: &TempLab) {
    let out = lab.cmd().arg("render").output().unwrap();
    assert!(
        out.status.success(),
        "render failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A lab of `manifest` (see [`lab`]), rendered once: the lab, its `apps/`
/// folder and what render wrote there.
pub fn rendered(manifest: &str) -> (TempLab, PathBuf, BTreeMap<String, Vec<u8>>) {
    let lab = lab(manifest);
    render(&lab);
    let apps = lab.root().join("apps");
    let written = files(&apps);
    (lab, apps, written)
}

/// Every file under `dir`: relative path → bytes.
pub fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                let rel = p.strip_prefix(base).unwrap().display().to_string();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    if dir.is_dir() {
        walk(dir, dir, &mut out);
    }
    out
}

pub fn secret(lab: &TempLab, name: &str) -> String {
    let out = lab.cmd().args(["secrets", "get", name]).output().unwrap();
    assert!(out.status.success(), "secrets get {name}");
    String::from_utf8(out.stdout).unwrap()
}

/// Python 3 with the packages the independent checks use.
pub fn python() -> Command {
    let mut check = tool("python3");
    let ok = check
        .args([
            "-c",
            "import cryptography, jsonschema, kubernetes_validate, yaml",
        ])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "the Python packages cryptography, jsonschema, kubernetes-validate and PyYAML are missing: run scripts/setup.sh"
    );
    tool("python3")
}

pub fn py_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../cli/tests/py")
        .join(name)
}

/// The CRDs of Application and SealedSecret (shared/ beside the repository).
pub fn crd_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/crds");
    assert!(
        dir.join("sealedsecret-crd.yaml").is_file(),
        "{} is missing: the tests need shared/crds beside the repository",
        dir.display()
    );
    dir
}

/// Opens sealed values with the private key through Python: one result
/// per value, None when it does not open.
pub fn unseal(key_pem: &Path, label: &str, values: &[String]) -> Vec<Option<Vec<u8>>> {
    use base64::Engine;
    let mut cmd = python();
    cmd.arg(py_script("unseal.py")).arg(key_pem).arg(label);
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        for v in values {
            writeln!(stdin, "{v}").unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "unseal.py failed");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            (l != "ERROR").then(|| base64::engine::general_purpose::STANDARD.decode(l).unwrap())
        })
        .collect()
}

/// Validates files with the Kubernetes and CRD schemas; returns the report.
pub fn validate(files: &[PathBuf]) -> String {
    let mut cmd = python();
    cmd.arg(py_script("validate.py")).arg(crd_dir()).args(files);
    run_ok(&mut cmd)
}
