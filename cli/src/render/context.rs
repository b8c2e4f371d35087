//! What the templates see: the lab, with everything derived (URLs, ports,
//! images, names) worked out here once. Secret values are never in it,
//! except for the registry's config.yml, which is sealed.

use serde_json::{Value, json};

use super::RenderError;
use crate::manifest::Lab;
use crate::manifest::model::{LABREG_IMAGE, Storage, Tls};

/// The image of labreg that `image: labreg` means.
pub const LABREG_IMAGE_REF: &str = concat!("ghcr.io/labctl/labreg:", env!("CARGO_PKG_VERSION"));
pub const MINIO_IMAGE: &str = "quay.io/minio/minio:RELEASE.2025-04-22T22-12-26Z";
pub const MC_IMAGE: &str = "quay.io/minio/mc:RELEASE.2025-04-16T18-13-26Z";
pub const TLS_SECRET: &str = "registry-tls";

/// Whether the registry itself serves TLS (no ingress in front of it).
pub fn serves_tls(lab: &Lab) -> bool {
    lab.registry.expose.ingress.is_none() && lab.registry.expose.tls != Tls::None
}

/// The address clients write in image names: `host` or `host:nodePort`.
pub fn address(lab: &Lab) -> String {
    crate::trust::address(
        &lab.registry.host,
        lab.registry.expose.node_port.unwrap_or(443),
    )
}

pub fn base(lab: &Lab) -> Result<Value, RenderError> {
    let reg = &lab.registry;
    let tls = match reg.expose.tls {
        Tls::SelfSigned => "self-signed",
        Tls::ClusterIssuer => "cluster-issuer",
        Tls::None => "none",
    };
    let scheme = if reg.expose.tls == Tls::None {
        "http"
    } else {
        "https"
    };
    let storage = match &reg.storage {
        Storage::Filesystem(fs) => json!({
            "kind": "filesystem",
            "size": fs.size,
            "storageClassName": fs.storage_class_name,
        }),
        Storage::S3(s3) => json!({
            "kind": "s3",
            "s3": {
                "endpoint": s3.endpoint,
                "bucket": s3.bucket,
                "region": s3.region,
                "secure": s3.endpoint.starts_with("https://"),
            },
        }),
    };
    let image = if reg.image == LABREG_IMAGE {
        LABREG_IMAGE_REF.to_string()
    } else {
        reg.image.clone()
    };
    let serves = serves_tls(lab);
    if !reg.access.is_empty() && reg.image != LABREG_IMAGE {
        return Err(RenderError::Lab(format!(
            "registry.access needs labreg, and registry.image is {}\n  help: use image: labreg, or remove registry.access (registry:2 has no per-user rules)",
            reg.image
        )));
    }
    let ingress = reg.expose.ingress.as_ref().map(|i| {
        json!({
            "className": i.class_name,
            "clusterIssuer": i.cluster_issuer,
            "proxyBodySize": nginx_size(&i.proxy_body_size),
        })
    });
    let git = lab
        .git
        .as_ref()
        .map(|g| json!({"repoURL": g.repo_url, "revision": g.revision, "path": g.path}));
    Ok(json!({
        "lab": {"name": lab.metadata.name},
        "git": git,
        "registry": {
            "namespace": reg.namespace,
            "host": reg.host,
            "address": address(lab),
            "url": format!("{scheme}://{}", address(lab)),
            "image": image,
            "replicas": reg.replicas,
            "users": reg.users.keys().collect::<Vec<_>>(),
            "access": reg.access,
            "realm": format!("{} registry", lab.metadata.name),
            "delete": reg.delete,
            "redirect": reg.redirect,
            "storage": storage,
            "expose": {
                "ingress": ingress,
                "nodePort": reg.expose.node_port,
                "tls": tls,
            },
            "servesTls": serves,
            "tlsSecret": TLS_SECRET,
            "portName": if serves { "https" } else { "http" },
            "port": if reg.expose.node_port.is_some() || serves { 5000 } else { 80 },
        },
        "minio": minio(lab)?,
    }))
}

/// MinIO's part of the context; its Service must be the S3 endpoint's host.
fn minio(lab: &Lab) -> Result<Value, RenderError> {
    let Some(m) = &lab.minio else {
        return Ok(Value::Null);
    };
    let Storage::S3(s3) = &lab.registry.storage else {
        // The registry keeps its filesystem volume; MinIO is there for
        // other uses, under its usual name.
        return Ok(minio_json(m, "minio", 9000));
    };
    let rest = s3.endpoint.split_once("://").map_or("", |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or("");
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().unwrap_or(9000)),
        None => (
            authority,
            if s3.endpoint.starts_with("https") {
                443
            } else {
                80
            },
        ),
    };
    let mut labels = host.split('.');
    let (service, ns) = (labels.next().unwrap_or(""), labels.next().unwrap_or(""));
    if ns != m.namespace || s3.bucket != m.bucket {
        return Err(RenderError::Lab(format!(
            "registry.storage.s3 (endpoint {}, bucket {}) does not point at the MinIO of this lab (namespace {}, bucket {})\n  help: use endpoint http://minio.{}.svc:9000 and bucket {}",
            s3.endpoint, s3.bucket, m.namespace, m.bucket, m.namespace, m.bucket
        )));
    }
    Ok(minio_json(m, service, port))
}

fn minio_json(m: &crate::manifest::model::Minio, service: &str, port: u16) -> Value {
    json!({
        "namespace": m.namespace,
        "bucket": m.bucket,
        "service": service,
        "port": port,
        "image": MINIO_IMAGE,
        "mcImage": MC_IMAGE,
        "size": "20Gi",
    })
}

/// A Kubernetes quantity (lab.yaml's proxyBodySize) in nginx's size syntax:
/// `0` stays `0` (no limit), `500Mi` is `500m`, `2Gi` is `2g`, decimal
/// units become bytes.
pub fn nginx_size(q: &str) -> String {
    let split = q
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(q.len());
    let (num, unit) = q.split_at(split);
    let binary = |p: u32| (1u64 << (10 * p)) as f64;
    let factor = match unit {
        "" => 1.0,
        "Ki" => binary(1),
        "Mi" => binary(2),
        "Gi" => binary(3),
        "Ti" => binary(4),
        "Pi" => binary(5),
        "Ei" => binary(6),
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        _ => return q.to_string(),
    };
    let bytes = num.parse::<f64>().unwrap_or(0.0) * factor;
    for (suffix, size) in [("g", binary(3)), ("m", binary(2)), ("k", binary(1))] {
        if bytes >= size && (bytes / size).fract() == 0.0 {
            return format!("{}{suffix}", (bytes / size) as u64);
        }
    }
    format!("{}", bytes.round() as u64)
}

#[cfg(test)]
mod tests {
    /// `image: labreg` must name what .github/workflows/release.yml pushes:
    /// its IMAGE, tagged with this version (the workflow strips the tag's
    /// `v` and refuses a tag that is not the workspace version).
    #[test]
    fn labreg_image_is_what_the_release_workflow_pushes() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let text = std::fs::read_to_string(root.join(".github/workflows/release.yml")).unwrap();
        let wf: serde_json::Value =
            serde_saphyr::from_str(&text).expect("release.yml is valid YAML");
        let image = wf["env"]["IMAGE"].as_str().expect("env.IMAGE");
        assert_eq!(
            super::LABREG_IMAGE_REF,
            format!("{image}:{}", env!("CARGO_PKG_VERSION"))
        );
        let platforms = wf["env"]["PLATFORMS"].as_str().expect("env.PLATFORMS");
        assert_eq!(platforms, "linux/amd64,linux/arm64");
        assert_eq!(wf["on"]["push"]["tags"][0], "v*");
        let runs: Vec<&str> = wf["jobs"]["image"]["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .filter_map(|s| s["run"].as_str())
            .collect();
        let runs = runs.join("\n");
        for needle in [
            "version=\"${GITHUB_REF_NAME#v}\"",
            "--file server/Containerfile",
            "--platform \"${PLATFORMS}\"",
            "--tag \"${IMAGE}:${{ steps.version.outputs.version }}\"",
            "--push",
        ] {
            assert!(runs.contains(needle), "release.yml lacks {needle}");
        }
        assert!(root.join("server/Containerfile").is_file());
    }

    #[test]
    fn nginx_sizes() {
        for (q, want) in [
            ("0", "0"),
            ("500Mi", "500m"),
            ("2Gi", "2g"),
            ("1Ti", "1024g"),
            ("1k", "1000"),
            ("1.5Gi", "1536m"),
            ("64Ki", "64k"),
        ] {
            assert_eq!(super::nginx_size(q), want, "{q}");
        }
    }
}
