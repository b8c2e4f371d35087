//! Images pushed and pulled over plain HTTP (monolithic and chunked
//! uploads), for tests that need content in a registry without a client.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{client, digest};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// Pushes a blob in one request with `c`; returns its digest, or why the
/// registry refused it (for tests where refusals are expected).
pub async fn try_push_blob(
    c: &reqwest::Client,
    url: &str,
    name: &str,
    data: &[u8],
) -> Result<String, String> {
    let d = digest(data);
    let resp = c
        .post(format!("{url}/v2/{name}/blobs/uploads/?digest={d}"))
        .body(data.to_vec())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let answered = created(resp, &format!("push blob to {name}")).await?;
    if answered != d {
        return Err(format!(
            "push blob to {name}: answered digest {answered:?}, not {d}"
        ));
    }
    Ok(d)
}

/// The digest a 201 answer names, or the answer's status and body.
async fn created(resp: reqwest::Response, what: &str) -> Result<String, String> {
    if resp.status() != StatusCode::CREATED {
        return Err(format!(
            "{what}: {}: {:?}",
            resp.status(),
            resp.text().await
        ));
    }
    let answered = resp.headers().get("docker-content-digest");
    Ok(answered
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string())
}

/// Pushes a blob in one request; returns its digest.
pub async fn push_blob(url: &str, name: &str, data: &[u8]) -> String {
    try_push_blob(&client(), url, name, data)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// PUTs manifest bytes with `c`; returns the digest the registry answers,
/// or why it refused them.
pub async fn try_put_manifest(
    c: &reqwest::Client,
    url: &str,
    name: &str,
    reference: &str,
    body: &[u8],
) -> Result<String, String> {
    let resp = c
        .put(format!("{url}/v2/{name}/manifests/{reference}"))
        .header("content-type", OCI_MANIFEST)
        .body(body.to_vec())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    created(resp, &format!("put manifest {name}:{reference}")).await
}

/// An image manifest over a config and layers (digest, size).
pub fn manifest(config: (&str, usize), layers: &[(&str, usize)]) -> Value {
    json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.0, "size": config.1},
        "layers": layers.iter().map(|(d, s)| json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": s})).collect::<Vec<_>>(),
    })
}

/// PUTs a manifest under a tag or digest; returns its digest.
pub async fn put_manifest(url: &str, name: &str, reference: &str, m: &Value) -> String {
    let body = serde_json::to_vec(m).unwrap();
    try_put_manifest(&client(), url, name, reference, &body)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    digest(&body)
}

/// Pushes an image (a config and the given layers) under `reference`;
/// returns (manifest digest, blob digests).
pub async fn push_image(
    url: &str,
    name: &str,
    reference: &str,
    layers: &[&[u8]],
) -> (String, Vec<String>) {
    let ids: Vec<String> = layers.iter().map(|l| digest(l)).collect();
    let config = serde_json::to_vec(&json!({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": ids}})).unwrap();
    let cd = push_blob(url, name, &config).await;
    let mut blobs = vec![cd.clone()];
    let mut descs = Vec::new();
    for l in layers {
        let d = push_blob(url, name, l).await;
        descs.push((d.clone(), l.len()));
        blobs.push(d);
    }
    let descs: Vec<(&str, usize)> = descs.iter().map(|(d, s)| (d.as_str(), *s)).collect();
    let md = put_manifest(url, name, reference, &manifest((&cd, config.len()), &descs)).await;
    (md, blobs)
}

/// GETs a blob with a client that follows redirects; returns its bytes.
pub async fn get_blob(url: &str, name: &str, d: &str) -> Result<Vec<u8>, StatusCode> {
    let resp = reqwest::get(format!("{url}/v2/{name}/blobs/{d}"))
        .await
        .unwrap();
    if !resp.status().is_success() {
        return Err(resp.status());
    }
    Ok(resp.bytes().await.unwrap().to_vec())
}

/// Pulls an image by reference: the manifest, then every blob it names,
/// each checked against its digest.
pub async fn pull_image(url: &str, name: &str, reference: &str) -> Result<String, String> {
    let resp = client()
        .get(format!("{url}/v2/{name}/manifests/{reference}"))
        .header("accept", OCI_MANIFEST)
        .send()
        .await
        .unwrap();
    if resp.status() != StatusCode::OK {
        return Err(format!("manifest {name}:{reference}: {}", resp.status()));
    }
    let body = resp.bytes().await.unwrap();
    let m: Value = serde_json::from_slice(&body).unwrap();
    let mut wanted = vec![m["config"]["digest"].as_str().unwrap().to_string()];
    for l in m["layers"].as_array().unwrap() {
        wanted.push(l["digest"].as_str().unwrap().to_string());
    }
    for d in wanted {
        let data = get_blob(url, name, &d)
            .await
            .map_err(|s| format!("blob {d}: {s}"))?;
        if digest(&data) != d {
            return Err(format!("blob {d} came back with other bytes"));
        }
    }
    Ok(digest(&body))
}
