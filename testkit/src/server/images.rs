//! Images pushed and pulled through the workspace's OCI client
//! (`labreg-oci`), for tests that need content in a registry without an
//! outside client.

use bytes::Bytes;
use futures_util::TryStreamExt;
use labreg_oci::{Client, OciError};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{client, digest};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// The OCI client of the registry at `url`, anonymous, on `http`.
pub fn oci(http: &reqwest::Client, url: &str) -> Client {
    Client::new(url.parse().expect("registry URL"), http.clone(), None)
}

/// Pushes a blob in one request (POST `?digest=`) with `c`; returns its
/// digest, or why the registry refused it (for tests where refusals are
/// expected).
pub async fn try_push_blob(
    c: &reqwest::Client,
    url: &str,
    name: &str,
    data: &[u8],
) -> Result<String, String> {
    oci(c, url)
        .push_blob_single(name, Bytes::copy_from_slice(data))
        .await
        .map_err(|e| format!("push blob to {name}: {e}"))
}

/// Pushes a blob in one request; returns its digest.
pub async fn push_blob(url: &str, name: &str, data: &[u8]) -> String {
    try_push_blob(&client(), url, name, data)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// PUTs manifest bytes with `c`; returns the digest the registry stored,
/// or why it refused them.
pub async fn try_put_manifest(
    c: &reqwest::Client,
    url: &str,
    name: &str,
    reference: &str,
    body: &[u8],
) -> Result<String, String> {
    oci(c, url)
        .put_manifest(name, reference, OCI_MANIFEST, Bytes::copy_from_slice(body))
        .await
        .map_err(|e| format!("put manifest {name}:{reference}: {e}"))
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
        .unwrap_or_else(|e| panic!("{e}"))
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

/// GETs a blob, following redirects to storage; returns its bytes.
pub async fn get_blob(url: &str, name: &str, d: &str) -> Result<Vec<u8>, StatusCode> {
    let blob = oci(&reqwest::Client::new(), url)
        .get_blob(name, d)
        .await
        .map_err(status)?;
    let chunks: Vec<Bytes> = blob.stream.try_collect().await.map_err(status)?;
    Ok(chunks.concat())
}

fn status(e: OciError) -> StatusCode {
    e.status()
        .unwrap_or_else(|| panic!("no answer from the registry: {e}"))
}

/// Pulls an image by reference: the manifest, then every blob it names,
/// each checked against its digest.
pub async fn pull_image(url: &str, name: &str, reference: &str) -> Result<String, String> {
    let (_, body) = oci(&client(), url)
        .get_manifest(name, reference)
        .await
        .map_err(|e| format!("manifest {name}:{reference}: {e}"))?;
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
