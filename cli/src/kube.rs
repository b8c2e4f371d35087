//! The little labctl asks of a cluster, through `kubectl` (which reads
//! KUBECONFIG, contexts and credentials as the user expects).

use anyhow::Context;

/// The controller's certificate, as `kubeseal --fetch-cert` gets it: the
/// controller's /v1/cert.pem through the API server's service proxy.
pub fn fetch_cert(namespace: &str, name: &str) -> anyhow::Result<String> {
    let path = format!("/api/v1/namespaces/{namespace}/services/http:{name}:/proxy/v1/cert.pem");
    let out = std::process::Command::new("kubectl")
        .args(["get", "--raw", &path])
        .output()
        .context("cannot run kubectl\n  help: install kubectl and point KUBECONFIG at the cluster, or copy the controller's cert.pem to certs/sealing.crt")?;
    anyhow::ensure!(
        out.status.success(),
        "kubectl get --raw {path} failed: {}\n  help: check that the sealed-secrets controller runs as service {name} in namespace {namespace} (lab.yaml secrets.sealing.controller)",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    String::from_utf8(out.stdout).context("the controller's certificate is not text")
}
