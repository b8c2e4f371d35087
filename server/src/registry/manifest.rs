//! Manifests: the four kinds a registry stores (OCI image manifest and index,
//! Docker schema2 manifest and manifest list), parsed only as far as the
//! registry needs: what they reference, their subject, their media type.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::digest::Digest;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";

/// The largest manifest accepted, as the OCI distribution spec suggests.
pub const MAX_MANIFEST_SIZE: usize = 4 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Image,
    Index,
}

pub fn kind_of(media_type: &str) -> Option<Kind> {
    match media_type {
        OCI_MANIFEST | DOCKER_MANIFEST => Some(Kind::Image),
        OCI_INDEX | DOCKER_LIST => Some(Kind::Index),
        _ => None,
    }
}

/// A content descriptor, as it appears in manifests and referrers lists.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    schema_version: Option<i64>,
    media_type: Option<String>,
    artifact_type: Option<String>,
    config: Option<Descriptor>,
    layers: Option<Vec<Descriptor>>,
    manifests: Option<Vec<Descriptor>>,
    subject: Option<Descriptor>,
    annotations: Option<Map<String, Value>>,
}

/// What the registry knows of a stored manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub media_type: String,
    pub kind: Kind,
    pub artifact_type: Option<String>,
    pub config: Option<Descriptor>,
    /// Blobs the manifest needs in the same repository (config and layers,
    /// without foreign layers that carry `urls`).
    pub blobs: Vec<Digest>,
    /// Manifests an index needs in the same repository.
    pub children: Vec<Descriptor>,
    pub subject: Option<Digest>,
    pub annotations: Option<Map<String, Value>>,
}

fn digest_of(d: &Descriptor, field: &str) -> Result<Digest, String> {
    d.digest.parse().map_err(|e| format!("{field}: {e}"))
}

/// Parses a manifest pushed with `content_type` (the request's Content-Type).
pub fn parse(content: &[u8], content_type: Option<&str>) -> Result<Manifest, String> {
    let value: Value =
        serde_json::from_slice(content).map_err(|e| format!("not valid JSON: {e}"))?;
    if !value.is_object() {
        return Err("a manifest is a JSON object".into());
    }
    let raw: Raw =
        serde_json::from_value(value).map_err(|e| format!("unexpected structure: {e}"))?;
    let content_type = content_type
        .map(|c| c.split(';').next().unwrap_or("").trim())
        .filter(|c| !c.is_empty());
    if raw.schema_version == Some(1)
        || matches!(content_type, Some(DOCKER_SCHEMA1 | DOCKER_SCHEMA1_SIGNED))
    {
        return Err("Docker schema1 manifests are not supported (deprecated since 2017, removed from Docker 20.10 on): \
                    push the image again with a current client, which writes schema2 or OCI"
            .into());
    }
    if raw.schema_version != Some(2) {
        return Err("schemaVersion must be 2".into());
    }
    let known_content_type = content_type.filter(|c| kind_of(c).is_some());
    let media_type = match (&raw.media_type, known_content_type) {
        (Some(m), Some(c)) if m != c => {
            return Err(format!(
                "the manifest's mediaType {m:?} differs from the request's Content-Type {c:?}"
            ));
        }
        (Some(m), _) => m.clone(),
        (None, Some(c)) => c.to_string(),
        (None, None) if raw.manifests.is_some() => OCI_INDEX.to_string(),
        (None, None) if raw.config.is_some() => OCI_MANIFEST.to_string(),
        (None, None) => {
            return Err(
                "cannot tell the manifest's media type: set mediaType or Content-Type".into(),
            );
        }
    };
    let kind = kind_of(&media_type).ok_or_else(|| {
        format!(
            "unsupported manifest media type {media_type:?}: expected one of {OCI_MANIFEST}, {OCI_INDEX}, {DOCKER_MANIFEST}, {DOCKER_LIST}"
        )
    })?;
    let subject = match &raw.subject {
        Some(s) => Some(digest_of(s, "subject")?),
        None => None,
    };
    let mut blobs = Vec::new();
    let mut children = Vec::new();
    match kind {
        Kind::Image => {
            let config = raw
                .config
                .as_ref()
                .ok_or("an image manifest needs a config descriptor")?;
            blobs.push(digest_of(config, "config")?);
            let layers = raw
                .layers
                .as_ref()
                .ok_or("an image manifest needs a layers list")?;
            for (i, l) in layers.iter().enumerate() {
                let d = digest_of(l, &format!("layers[{i}]"))?;
                if l.urls.as_ref().is_none_or(|u| u.is_empty()) {
                    blobs.push(d);
                }
            }
        }
        Kind::Index => {
            let manifests = raw
                .manifests
                .as_ref()
                .ok_or("an index needs a manifests list")?;
            for (i, m) in manifests.iter().enumerate() {
                digest_of(m, &format!("manifests[{i}]"))?;
                children.push(m.clone());
            }
        }
    }
    Ok(Manifest {
        media_type,
        kind,
        artifact_type: raw.artifact_type,
        config: raw.config,
        blobs,
        children,
        subject,
        annotations: raw.annotations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> String {
        Digest::sha256_of(s.as_bytes()).to_string()
    }

    #[test]
    fn image_manifest() {
        let m = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}",
                "config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":2}},
                "layers":[{{"mediaType":"x","digest":"{}","size":1}},
                          {{"mediaType":"x","digest":"{}","size":1,"urls":["https://example.com/l"]}}],
                "subject":{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":3}}}}"#,
            d("c"),
            d("l"),
            d("foreign"),
            d("s")
        );
        let p = parse(m.as_bytes(), Some(OCI_MANIFEST)).unwrap();
        assert_eq!(p.kind, Kind::Image);
        assert_eq!(p.blobs.len(), 2, "foreign layers are not required");
        assert_eq!(p.subject.unwrap().to_string(), d("s"));
        let err = parse(m.as_bytes(), Some(DOCKER_MANIFEST)).unwrap_err();
        assert!(err.contains("differs"), "{err}");
    }

    #[test]
    fn rejects() {
        for (body, ct, want) in [
            ("{", None, "JSON"),
            ("[]", None, "object"),
            (r#"{"schemaVersion":1,"name":"x"}"#, None, "schema1"),
            (r#"{"schemaVersion":2}"#, None, "media type"),
            (
                r#"{"schemaVersion":2,"mediaType":"text/plain"}"#,
                None,
                "unsupported",
            ),
            (
                r#"{"schemaVersion":2,"manifests":[{"mediaType":"x","digest":"bad","size":1}]}"#,
                None,
                "manifests[0]",
            ),
            (
                r#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:00","size":1},"layers":[]}"#,
                None,
                "config",
            ),
            (
                r#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"x","size":-1},"layers":[]}"#,
                None,
                "structure",
            ),
        ] {
            let err = parse(body.as_bytes(), ct).unwrap_err();
            assert!(err.contains(want), "{body}: {err}");
        }
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert!(parse(deep.as_bytes(), None).is_err());
    }
}
