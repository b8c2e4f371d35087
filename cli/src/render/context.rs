//! What the templates see: the lab, with everything derived (URLs, ports,
//! images, names) worked out here once, as a typed `Context`. Secret values are never in it,
//! except for the registry's config.yml, which is sealed.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::RenderError;
use crate::manifest::Lab;
use crate::manifest::model::{AccessRule, LABREG_IMAGE, Storage, Tls};

/// The image of labreg that `image: labreg` means.
pub const LABREG_IMAGE_REF: &str = concat!("ghcr.io/labctl/labreg:", env!("CARGO_PKG_VERSION"));
pub const MINIO_IMAGE: &str = "quay.io/minio/minio:RELEASE.2025-04-22T22-12-26Z";
pub const MC_IMAGE: &str = "quay.io/minio/mc:RELEASE.2025-04-16T18-13-26Z";
pub const TLS_SECRET: &str = "registry-tls";
/// The Secret of the mirrors' upstream passwords, one key per mirror,
/// mounted at [`MIRRORS_DIR`].
pub const MIRRORS_SECRET: &str = "registry-mirrors";
pub const MIRRORS_DIR: &str = "/etc/labreg/mirrors";

/// The key of a mirror's password in [`MIRRORS_SECRET`] (Secret keys take
/// no `:`, which a registry name with a port has).
pub fn mirror_secret_key(name: &str) -> String {
    name.replace(':', "_")
}

/// Where the config Secret (config.yml, and the mirrors' own CAs) is
/// mounted.
pub const CONFIG_DIR: &str = "/etc/docker/registry";

/// The file of a mirror's own CA in the config Secret.
pub fn mirror_ca_key(name: &str) -> String {
    format!("mirror-ca-{}.crt", mirror_secret_key(name))
}

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

/// Everything the templates see, typed; serialized as the templates read
/// it (camelCase keys).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Context {
    pub lab: LabCtx,
    pub git: Option<GitCtx>,
    pub registry: RegistryCtx,
    pub minio: Option<MinioCtx>,
    /// The node-trust app's files and mounts, when lab.yaml has `nodes`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_trust: Option<super::node_trust::NodeTrust>,
    /// Secret values: only while rendering config.yml, which is sealed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<SecretCtx>,
}

#[derive(Serialize)]
pub struct LabCtx {
    pub name: String,
}

#[derive(Serialize)]
pub struct GitCtx {
    #[serde(rename = "repoURL")]
    pub repo_url: String,
    pub revision: String,
    pub path: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryCtx {
    pub namespace: String,
    pub host: String,
    pub address: String,
    pub url: String,
    pub image: String,
    pub replicas: u32,
    pub users: Vec<String>,
    pub access: Vec<AccessRule>,
    /// `labreg.mirrors` entries, as config.yml writes them.
    pub mirrors: Vec<MirrorCtx>,
    /// Whether some mirror has a password (the mirrors Secret is mounted).
    pub mirror_passwords: bool,
    pub mirrors_secret: &'static str,
    pub mirrors_dir: &'static str,
    pub retention: Option<crate::manifest::model::Retention>,
    pub realm: String,
    pub delete: bool,
    pub redirect: bool,
    pub storage: StorageCtx,
    pub expose: ExposeCtx,
    pub serves_tls: bool,
    pub tls_secret: &'static str,
    pub port_name: &'static str,
    pub port: u16,
    /// Keyed fingerprint of config.yml, once it is sealed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_hmac: Option<String>,
    /// Keyed fingerprint of the mirrors' passwords (labreg reads them at
    /// start, so a new one restarts the pods).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mirrors_hmac: Option<String>,
}

/// One `labreg.mirrors` entry of config.yml.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MirrorCtx {
    pub prefix: String,
    pub url: String,
    pub username: Option<String>,
    /// Where the mounted Secret puts the password.
    pub password_file: Option<String>,
    /// Where the mounted config Secret puts the mirror's own CA.
    pub ca_file: Option<String>,
    pub ttl: Option<String>,
    pub allow: Vec<String>,
}

#[derive(Serialize)]
#[serde(untagged)]
pub enum StorageCtx {
    Filesystem {
        kind: &'static str,
        size: String,
        #[serde(rename = "storageClassName")]
        storage_class_name: Option<String>,
    },
    S3 {
        kind: &'static str,
        s3: S3Ctx,
    },
}

#[derive(Serialize)]
pub struct S3Ctx {
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    pub secure: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExposeCtx {
    pub ingress: Option<IngressCtx>,
    pub node_port: Option<u16>,
    pub tls: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IngressCtx {
    pub class_name: String,
    pub cluster_issuer: Option<String>,
    pub proxy_body_size: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MinioCtx {
    pub namespace: String,
    pub bucket: String,
    pub service: String,
    pub port: u16,
    pub image: &'static str,
    pub mc_image: &'static str,
    pub size: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretCtx {
    pub http_secret: String,
    pub s3_access_key: Option<String>,
    pub s3_secret_key: Option<String>,
    /// `registry.notifications`, header values read from secrets/: only
    /// config.yml (sealed) sees it.
    pub notifications: Option<NotificationsCtx>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationsCtx {
    pub include_references: bool,
    pub endpoints: Vec<EndpointCtx>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointCtx {
    pub name: String,
    pub url: String,
    pub headers: BTreeMap<String, String>,
    pub timeout: Option<String>,
    pub threshold: Option<u32>,
    pub backoff: Option<String>,
    pub ignore_actions: Vec<String>,
    pub ignore_media_types: Vec<String>,
}

/// The notifications part of the secret context.
pub fn notifications(lab: &Lab, headers: &[BTreeMap<String, String>]) -> Option<NotificationsCtx> {
    let n = lab.registry.notifications.as_ref()?;
    let endpoints = n
        .endpoints
        .iter()
        .zip(headers)
        .map(|(e, h)| EndpointCtx {
            name: e.name.clone(),
            url: e.url.clone(),
            headers: h.clone(),
            timeout: e.timeout.clone(),
            threshold: e.threshold,
            backoff: e.backoff.clone(),
            ignore_actions: e.ignore.actions.clone(),
            ignore_media_types: e.ignore.media_types.clone(),
        })
        .collect();
    Some(NotificationsCtx {
        include_references: n.include_references,
        endpoints,
    })
}

impl Context {
    /// The context as Tera takes it.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("the context serializes")
    }
}

pub fn base(lab: &Lab) -> Result<Context, RenderError> {
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
        Storage::Filesystem(fs) => StorageCtx::Filesystem {
            kind: "filesystem",
            size: fs.size.clone(),
            storage_class_name: fs.storage_class_name.clone(),
        },
        Storage::S3(s3) => StorageCtx::S3 {
            kind: "s3",
            s3: S3Ctx {
                endpoint: s3.endpoint.clone(),
                bucket: s3.bucket.clone(),
                region: s3.region.clone(),
                secure: s3.endpoint.starts_with("https://"),
            },
        },
    };
    let image = if reg.image == LABREG_IMAGE {
        LABREG_IMAGE_REF.to_string()
    } else {
        reg.image.clone()
    };
    let serves = serves_tls(lab);
    if !reg.mirrors.is_empty() && reg.image != LABREG_IMAGE {
        return Err(RenderError::Lab(format!(
            "registry.mirrors needs labreg, and registry.image is {}\n  help: use image: labreg, or remove registry.mirrors (registry:2 caches one upstream and then refuses every push: you would need one registry:2 per upstream plus one for your own images); apps/ was not changed",
            reg.image
        )));
    }
    if !reg.access.is_empty() && reg.image != LABREG_IMAGE {
        return Err(RenderError::Lab(format!(
            "registry.access needs labreg, and registry.image is {}\n  help: use image: labreg, or remove registry.access (registry:2 has no per-user rules)",
            reg.image
        )));
    }
    let mirrors: Vec<MirrorCtx> = reg
        .mirrors
        .iter()
        .map(|m| MirrorCtx {
            prefix: format!("{}/", m.name),
            url: m.url(),
            username: m.username.clone(),
            password_file: m
                .password
                .as_ref()
                .map(|_| format!("{MIRRORS_DIR}/{}", mirror_secret_key(&m.name))),
            ca_file: m
                .ca
                .as_ref()
                .map(|_| format!("{CONFIG_DIR}/{}", mirror_ca_key(&m.name))),
            ttl: m.ttl.clone(),
            allow: m.allow.clone(),
        })
        .collect();
    if reg.retention.is_some() && reg.image != LABREG_IMAGE {
        return Err(RenderError::Lab(format!(
            "registry.retention needs labreg, and registry.image is {}\n  help: use image: labreg, or remove registry.retention (registry:2 has no retention)",
            reg.image
        )));
    }
    let ingress = reg.expose.ingress.as_ref().map(|i| IngressCtx {
        class_name: i.class_name.clone(),
        cluster_issuer: i.cluster_issuer.clone(),
        proxy_body_size: nginx_size(&i.proxy_body_size),
    });
    let git = lab.git.as_ref().map(|g| GitCtx {
        repo_url: g.repo_url.clone(),
        revision: g.revision.clone(),
        path: g.path.clone(),
    });
    Ok(Context {
        lab: LabCtx {
            name: lab.metadata.name.clone(),
        },
        git,
        registry: RegistryCtx {
            namespace: reg.namespace.clone(),
            host: reg.host.clone(),
            address: address(lab),
            url: format!("{scheme}://{}", address(lab)),
            image,
            replicas: reg.replicas,
            users: reg.users.keys().cloned().collect(),
            access: reg.access.clone(),
            mirror_passwords: mirrors.iter().any(|m| m.password_file.is_some()),
            mirrors,
            mirrors_secret: MIRRORS_SECRET,
            mirrors_dir: MIRRORS_DIR,
            retention: reg.retention.clone(),
            realm: format!("{} registry", lab.metadata.name),
            delete: reg.delete,
            redirect: reg.redirect,
            storage,
            expose: ExposeCtx {
                ingress,
                node_port: reg.expose.node_port,
                tls,
            },
            serves_tls: serves,
            tls_secret: TLS_SECRET,
            port_name: if serves { "https" } else { "http" },
            port: if reg.expose.node_port.is_some() || serves {
                5000
            } else {
                80
            },
            config_hmac: None,
            mirrors_hmac: None,
        },
        minio: minio(lab)?,
        node_trust: None,
        secret: None,
    })
}

/// MinIO's part of the context; its Service must be the S3 endpoint's host.
fn minio(lab: &Lab) -> Result<Option<MinioCtx>, RenderError> {
    let Some(m) = &lab.minio else {
        return Ok(None);
    };
    let Storage::S3(s3) = &lab.registry.storage else {
        // The registry keeps its filesystem volume; MinIO is there for
        // other uses, under its usual name.
        return Ok(Some(minio_ctx(m, "minio", 9000)));
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
    Ok(Some(minio_ctx(m, service, port)))
}

fn minio_ctx(m: &crate::manifest::model::Minio, service: &str, port: u16) -> MinioCtx {
    MinioCtx {
        namespace: m.namespace.clone(),
        bucket: m.bucket.clone(),
        service: service.to_string(),
        port,
        image: MINIO_IMAGE,
        mc_image: MC_IMAGE,
        size: "20Gi",
    }
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
