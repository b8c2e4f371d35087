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
    let ingress = reg.expose.ingress.as_ref().map(|i| {
        json!({
            "className": i.class_name,
            "clusterIssuer": i.cluster_issuer,
            "proxyBodySize": i.proxy_body_size,
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
