//! The typed model of `lab.yaml`, with every default filled in.
//!
//! The doc comments become the descriptions of `labctl schema`. Decoding is
//! in `lab_decode.rs`; the key lists there are checked against this schema by
//! a test so the two cannot drift apart.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Serialize;

use super::node::Pos;

pub const API_VERSION: &str = "labctl/v1alpha1";
pub const KIND: &str = "Lab";
pub const LABREG_IMAGE: &str = "labreg";

/// A homelab: its git repository, its secrets and its private registry.
#[derive(Clone, Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(title = "labctl Lab manifest (lab.yaml)")]
pub struct Lab {
    /// Always `labctl/v1alpha1`.
    #[schemars(regex(pattern = r"^labctl/v1alpha1$"))]
    pub api_version: String,
    /// Always `Lab`.
    #[schemars(regex(pattern = r"^Lab$"))]
    pub kind: String,
    pub metadata: Metadata,
    /// Where Argo CD finds the rendered objects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub git: Option<Git>,
    pub secrets: Secrets,
    pub registry: Registry,
    /// A MinIO installation that holds the registry's bucket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minio: Option<Minio>,
    /// The cluster's nodes: a DaemonSet makes their container runtime trust
    /// the lab's CA (and use the registry as a mirror).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nodes: Option<super::nodes::Nodes>,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Metadata {
    /// The lab's name, a DNS-1123 label such as `homelab`.
    pub name: String,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Git {
    /// The repository Argo CD pulls, e.g. `https://github.com/me/homelab.git`.
    #[serde(rename = "repoURL")]
    pub repo_url: String,
    /// Branch, tag or commit. Default `HEAD`.
    #[serde(default = "default_revision")]
    pub revision: String,
    /// Folder of the rendered objects in the repository. Default `apps`.
    #[serde(default = "default_path")]
    pub path: String,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Secrets {
    /// age recipients (`age1...`) every secret in secrets/ is encrypted to.
    pub recipients: Vec<String>,
    #[serde(default = "default_sealing")]
    pub sealing: Sealing,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Sealing {
    #[serde(default = "default_controller")]
    pub controller: Controller,
}

/// The sealed-secrets controller. Default kube-system/sealed-secrets-controller.
#[derive(Clone, Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Controller {
    #[serde(default = "default_controller_namespace")]
    pub namespace: String,
    #[serde(default = "default_controller_name")]
    pub name: String,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Registry {
    /// Namespace of the registry. Default `registry`.
    #[serde(default = "default_registry_namespace")]
    pub namespace: String,
    /// DNS name (or IP address) clients use, e.g. `docker.registry.example.com`.
    pub host: String,
    /// `labreg` (default), `registry:2`, or another image reference.
    #[serde(default = "default_image")]
    pub image: String,
    /// Default 1. More than 1 needs s3 storage.
    #[schemars(range(min = 1, max = 100))]
    #[serde(default = "default_replicas")]
    pub replicas: u32,
    /// Users allowed to log in, each with a password kept in secrets/.
    #[serde(default)]
    pub users: BTreeMap<String, User>,
    #[serde(default = "default_storage")]
    pub storage: Storage,
    /// Allow deleting manifests and blobs. Default false.
    #[serde(default)]
    pub delete: bool,
    /// Redirect blob downloads to presigned S3 URLs. Default false (clients
    /// often cannot reach the bucket).
    #[serde(default)]
    pub redirect: bool,
    pub expose: Expose,
    /// Image pull secrets to create, so pods can pull from the registry.
    #[serde(default)]
    pub pull_secrets: Vec<PullSecret>,
    /// Per-user access rules. Without any, every user may pull and push.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub access: Vec<AccessRule>,
    /// Retention policies (labreg only): which tags and manifests to delete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Retention>,
    /// Webhooks called on every push, pull and delete (registry:2's
    /// notifications, which labreg reads too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notifications: Option<super::notifications::Notifications>,
    /// Upstream registries labreg caches, each under the prefix of its
    /// name (`docker.io/nginx`); everything else takes pushes as before.
    /// A name alone (`docker.io`) is an anonymous upstream at its usual URL.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(with = "Vec<super::mirrors::MirrorEntry>")]
    pub mirrors: Vec<super::mirrors::Mirror>,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Retention {
    /// How often the registry applies the policies, e.g. `24h`. Without it,
    /// only `labreg retention` by hand applies them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// Blobs and manifests younger than this are never deleted. Default 1h.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace: Option<String>,
    /// The first policy whose repositories match applies.
    pub policies: Vec<RetentionPolicy>,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RetentionPolicy {
    /// Repository names or globs, e.g. `ci/*`.
    pub repositories: Vec<String>,
    /// Keep the N most recently pushed tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_latest: Option<u64>,
    /// Keep tags matching these globs, or `semver`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keep_tags: Vec<String>,
    /// Delete tags pushed longer ago than this, e.g. `30d`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_tags_older_than: Option<String>,
    /// Delete untagged manifests older than this, e.g. `7d`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_untagged_older_than: Option<String>,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct User {
    /// A secret reference such as `secret:registry/admin`.
    pub password: SecretRef,
}

/// Exactly one of `filesystem` or `s3`. Default: filesystem of 10Gi.
#[derive(Clone, Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum Storage {
    Filesystem(Filesystem),
    S3(S3),
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Filesystem {
    /// Size of the volume as a Kubernetes quantity, e.g. `20Gi`.
    #[schemars(regex(pattern = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$"))]
    #[serde(default = "default_size")]
    pub size: String,
    /// Storage class of the volume; the cluster's default when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct S3 {
    /// http(s) URL of the S3 API, e.g. `http://minio-svc.minio.svc:9000`.
    pub endpoint: String,
    pub bucket: String,
    /// Default `us-east-1`.
    #[serde(default = "default_region")]
    pub region: String,
    pub access_key: SecretRef,
    pub secret_key: SecretRef,
}

/// How clients reach the registry: exactly one of `ingress` or `nodePort`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Expose {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ingress: Option<Ingress>,
    /// A NodePort from 30000 to 32767.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 30000, max = 32767))]
    pub node_port: Option<u16>,
    /// Who makes the TLS certificate. Default: `cluster-issuer` when the
    /// ingress names one, else `self-signed` (see `labctl certs`).
    #[serde(default = "default_tls")]
    pub tls: Tls,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Ingress {
    /// Default `nginx`.
    #[serde(default = "default_class_name")]
    pub class_name: String,
    /// cert-manager ClusterIssuer for the certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_issuer: Option<String>,
    /// nginx `proxy-body-size`; `"0"` (default) means no limit, so big
    /// layers do not fail with 413.
    #[serde(default = "default_proxy_body_size")]
    pub proxy_body_size: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Tls {
    /// labctl's own CA and certificate (`labctl certs`).
    SelfSigned,
    /// cert-manager, with the ingress's clusterIssuer.
    ClusterIssuer,
    /// Plain HTTP (clients must mark the registry insecure).
    None,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PullSecret {
    pub namespace: String,
    /// Default `regcred`.
    #[serde(default = "default_pull_secret_name")]
    pub name: String,
    /// Whose credentials the secret holds. Default: the first user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccessRule {
    /// Users the rule applies to: names of registry.users, `anonymous`
    /// (no credentials, e.g. nodes pulling through a mirror) or `*` (any
    /// signed-in user).
    pub users: Vec<String>,
    /// Repository names or globs, e.g. `team/*`. Default: all.
    #[serde(default = "default_repositories")]
    pub repositories: Vec<String>,
    /// Allowed actions.
    pub actions: Vec<Action>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Pull,
    Push,
    Delete,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Minio {
    /// Default `minio`.
    #[serde(default = "default_minio_namespace")]
    pub namespace: String,
    pub bucket: String,
}

// Defaults, shared by the decoder and the schema.
fn s(v: &str) -> String {
    v.to_string()
}
pub fn default_revision() -> String {
    s("HEAD")
}
pub fn default_path() -> String {
    s("apps")
}
pub fn default_sealing() -> Sealing {
    Sealing {
        controller: default_controller(),
    }
}
pub fn default_controller() -> Controller {
    Controller {
        namespace: default_controller_namespace(),
        name: default_controller_name(),
    }
}
pub fn default_controller_namespace() -> String {
    s("kube-system")
}
pub fn default_controller_name() -> String {
    s("sealed-secrets-controller")
}
pub fn default_registry_namespace() -> String {
    s("registry")
}
pub fn default_image() -> String {
    s(LABREG_IMAGE)
}
pub fn default_replicas() -> u32 {
    1
}
pub fn default_storage() -> Storage {
    Storage::Filesystem(Filesystem {
        size: default_size(),
        storage_class_name: None,
    })
}
pub fn default_size() -> String {
    s("10Gi")
}
pub fn default_region() -> String {
    s("us-east-1")
}
/// `self-signed`, or `cluster-issuer` when the ingress names a clusterIssuer.
pub fn default_tls() -> Tls {
    Tls::SelfSigned
}
pub fn default_class_name() -> String {
    s("nginx")
}
pub fn default_proxy_body_size() -> String {
    s("0")
}
pub fn default_pull_secret_name() -> String {
    s("regcred")
}
pub fn default_repositories() -> Vec<String> {
    vec![s("*")]
}
pub fn default_minio_namespace() -> String {
    s("minio")
}

/// A reference to a secret in secrets/: `secret:NAME` for `secrets/NAME.age`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretRef {
    pub name: String,
    /// Where the reference is written in lab.yaml.
    pub pos: Pos,
}

impl Serialize for SecretRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("secret:{}", self.name))
    }
}

impl JsonSchema for SecretRef {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SecretRef".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^secret:[a-z0-9][a-z0-9._-]*(/[a-z0-9][a-z0-9._-]*)*$",
            "description": "secret:NAME, the value of secrets/NAME.age (labctl secrets set NAME)"
        })
    }
}

impl Lab {
    /// Every secret the manifest refers to.
    pub fn secret_refs(&self) -> Vec<&SecretRef> {
        let mut refs: Vec<&SecretRef> = self.registry.users.values().map(|u| &u.password).collect();
        if let Storage::S3(s3) = &self.registry.storage {
            refs.push(&s3.access_key);
            refs.push(&s3.secret_key);
        }
        let endpoints = self
            .registry
            .notifications
            .iter()
            .flat_map(|n| &n.endpoints);
        for v in endpoints.flat_map(|e| e.headers.values()) {
            if let super::notifications::HeaderValue::Secret(r) = v {
                refs.push(r);
            }
        }
        refs.extend(
            self.registry
                .mirrors
                .iter()
                .filter_map(|m| m.password.as_ref()),
        );
        refs
    }
}
