//! What the pages say about a manifest, read through the repository
//! service: its platforms, its size (config and layers, summed over an
//! index's images), when it was built, and which tags point at it.

use futures_util::TryStreamExt;
use serde_json::Value;

use crate::api::AppState;
use crate::registry::{
    BlobContent, Context, Digest, Reference, RegistryError, RepoName, Result, StoredManifest,
};

/// Config blobs larger than this are not read (image configs are a few KiB).
const MAX_CONFIG: u64 = 1024 * 1024;

pub struct Summary {
    pub digest: String,
    /// `linux/amd64`, ... (an index's images; one for an image).
    pub platforms: Vec<String>,
    /// Config and layers; for an index, summed over its images.
    pub size: u64,
    /// The image config's `created`, if the config says.
    pub created: Option<String>,
}

pub fn json(m: &StoredManifest) -> Value {
    serde_json::from_slice(&m.content).unwrap_or(Value::Null)
}

pub fn is_index(v: &Value) -> bool {
    v.get("manifests").is_some_and(Value::is_array)
}

/// `os/architecture[/variant]` of a descriptor's or config's platform.
pub fn platform_label(p: &Value) -> String {
    let part = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or("");
    let mut label = format!("{}/{}", part("os"), part("architecture"));
    if !part("variant").is_empty() {
        label.push('/');
        label.push_str(part("variant"));
    }
    label
}

/// BuildKit stores provenance and SBOM attestations in an index as images of
/// platform unknown/unknown.
pub fn is_attestation(d: &Value) -> bool {
    d.pointer("/annotations/vnd.docker.reference.type")
        .is_some_and(|t| t == "attestation-manifest")
}

fn descriptor_size(d: &Value) -> u64 {
    d.get("size").and_then(Value::as_u64).unwrap_or(0)
}

/// An image manifest's config plus layers.
pub fn image_size(v: &Value) -> u64 {
    let layers: u64 = v
        .get("layers")
        .and_then(Value::as_array)
        .map(|ls| ls.iter().map(descriptor_size).sum())
        .unwrap_or(0);
    layers + v.get("config").map(descriptor_size).unwrap_or(0)
}

/// A small JSON blob (an image config) read through the service; None when
/// it is missing, too large, served by redirect (S3) or not JSON.
pub async fn read_json_blob(
    state: &AppState,
    cx: &Context,
    repo: &RepoName,
    digest: &str,
) -> Option<Value> {
    let digest: Digest = digest.parse().ok()?;
    let size = state.service.blob_size(cx, repo, &digest).await.ok()?;
    if size > MAX_CONFIG {
        return None;
    }
    let BlobContent::Bytes(stream) = state
        .service
        .open_blob(cx, repo, &digest, 0, size)
        .await
        .ok()?
    else {
        return None;
    };
    let chunks: Vec<bytes::Bytes> = stream.try_collect().await.ok()?;
    serde_json::from_slice(&chunks.concat()).ok()
}

/// The config of an image manifest.
pub async fn config_of(
    state: &AppState,
    cx: &Context,
    repo: &RepoName,
    manifest: &Value,
) -> Option<Value> {
    let digest = manifest.pointer("/config/digest")?.as_str()?;
    read_json_blob(state, cx, repo, digest).await
}

pub async fn manifest(
    state: &AppState,
    cx: &Context,
    repo: &RepoName,
    reference: &str,
) -> Result<StoredManifest> {
    let reference = Reference::parse(reference).map_err(RegistryError::from)?;
    state.service.get_manifest(cx, repo, &reference).await
}

pub async fn summarize(
    state: &AppState,
    cx: &Context,
    repo: &RepoName,
    reference: &str,
) -> Result<Summary> {
    let stored = manifest(state, cx, repo, reference).await?;
    let v = json(&stored);
    let mut s = Summary {
        digest: stored.digest.to_string(),
        platforms: Vec::new(),
        size: 0,
        created: None,
    };
    if !is_index(&v) {
        s.size = image_size(&v);
        let config = config_of(state, cx, repo, &v).await;
        if let Some(c) = &config {
            s.created = c.get("created").and_then(Value::as_str).map(str::to_string);
            if c.get("architecture").is_some() {
                s.platforms.push(platform_label(c));
            }
        }
        return Ok(s);
    }
    for child in v["manifests"].as_array().into_iter().flatten() {
        if is_attestation(child) {
            continue;
        }
        if let Some(p) = child.get("platform") {
            s.platforms.push(platform_label(p));
        }
        let Some(d) = child.get("digest").and_then(Value::as_str) else {
            continue;
        };
        // A child missing from this repository counts for nothing.
        let Ok(c) = manifest(state, cx, repo, d).await else {
            continue;
        };
        let cv = json(&c);
        s.size += image_size(&cv);
        if s.created.is_none() {
            s.created = config_of(state, cx, repo, &cv)
                .await
                .and_then(|c| c.get("created").and_then(Value::as_str).map(str::to_string));
        }
    }
    Ok(s)
}

/// Every tag of `repo` with the digest it points at, sorted by tag.
pub async fn tags_with_digests(
    state: &AppState,
    cx: &Context,
    repo: &RepoName,
) -> Result<Vec<(String, String)>> {
    let page = state.service.tags(cx, repo, None, None).await?;
    let mut out = Vec::new();
    for tag in page.items {
        if let Ok(m) = manifest(state, cx, repo, &tag).await {
            out.push((tag, m.digest.to_string()));
        }
    }
    Ok(out)
}
