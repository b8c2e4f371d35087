//! Node tree → `Lab`, filling defaults and reporting every problem.

use super::checks::{self, Bad};
use super::decode::Decoder;
use super::model::*;
use super::node::Node;
use super::registry_decode::registry;

pub const LAB_KEYS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "git",
    "secrets",
    "registry",
    "minio",
    "nodes",
];
pub const METADATA_KEYS: &[&str] = &["name"];
pub const GIT_KEYS: &[&str] = &["repoURL", "revision", "path"];
pub const SECRETS_KEYS: &[&str] = &["recipients", "sealing"];
pub const SEALING_KEYS: &[&str] = &["controller"];
pub const CONTROLLER_KEYS: &[&str] = &["namespace", "name"];
pub const REGISTRY_KEYS: &[&str] = &[
    "namespace",
    "host",
    "image",
    "replicas",
    "users",
    "storage",
    "delete",
    "redirect",
    "expose",
    "pullSecrets",
    "access",
    "retention",
    "notifications",
    "mirrors",
];
pub const USER_KEYS: &[&str] = &["password"];
pub const STORAGE_KEYS: &[&str] = &["filesystem", "s3"];
pub const FILESYSTEM_KEYS: &[&str] = &["size", "storageClassName"];
pub const S3_KEYS: &[&str] = &["endpoint", "bucket", "region", "accessKey", "secretKey"];
pub const EXPOSE_KEYS: &[&str] = &["ingress", "nodePort", "tls"];
pub const INGRESS_KEYS: &[&str] = &["className", "clusterIssuer", "proxyBodySize"];
pub const PULL_SECRET_KEYS: &[&str] = &["namespace", "name", "user"];
pub const ACCESS_KEYS: &[&str] = &["users", "repositories", "actions"];
pub const MINIO_KEYS: &[&str] = &["namespace", "bucket"];

/// Records a failed single-value check at `node`.
pub(super) fn check(d: &mut Decoder, node: &Node, r: Result<(), Bad>) -> bool {
    match r {
        Ok(()) => true,
        Err((message, help)) => {
            d.report(node.pos, message, Some(help));
            false
        }
    }
}

pub(super) fn label(d: &mut Decoder, n: &Node, path: &str) -> Option<String> {
    let s = d.nonempty(n, path)?;
    check(d, n, checks::dns_label(path, &s)).then_some(s)
}

pub(super) fn subdomain(d: &mut Decoder, n: &Node, path: &str) -> Option<String> {
    let s = d.nonempty(n, path)?;
    check(d, n, checks::dns_subdomain(path, &s)).then_some(s)
}

/// An image reference; `short` lists the short names the key also takes.
pub(super) fn image(short: &'static str) -> impl Fn(&mut Decoder, &Node, &str) -> Option<String> {
    move |d, n, p| {
        let s = d.nonempty(n, p)?;
        check(d, n, checks::image(p, &s, short)).then_some(s)
    }
}

pub(super) fn secret_ref(d: &mut Decoder, n: &Node, path: &str) -> Option<SecretRef> {
    let s = d.string(n, path)?;
    let Some(name) = s.strip_prefix("secret:") else {
        d.report(
            n.pos,
            format!("{path} must be a secret reference, not a literal value"),
            Some(format!(
                "store the value with `labctl secrets set NAME` and write {path}: secret:NAME; remove the plaintext from lab.yaml and its git history"
            )),
        );
        return None;
    };
    let r = check(d, n, checks::secret_name(name)).then(|| SecretRef {
        name: name.to_string(),
        pos: n.pos,
    })?;
    d.secret_refs.push(r.clone());
    Some(r)
}

pub(super) fn strings(d: &mut Decoder, n: &Node, path: &str) -> Vec<String> {
    let Some(items) = d.seq(n, path) else {
        return Vec::new();
    };
    items
        .iter()
        .enumerate()
        .filter_map(|(i, it)| d.nonempty(it, &format!("{path}[{i}]")))
        .collect()
}

/// Decodes a whole manifest. `None` when something required is missing or
/// wrong; the decoder then holds the problems.
pub fn lab(d: &mut Decoder, root: &Node) -> Option<Lab> {
    let f = d.map(root, "", LAB_KEYS)?;
    let api_version = f.req(d, "apiVersion", API_VERSION, |d, n, p| {
        let s = d.string(n, p)?;
        if s != API_VERSION {
            d.report(
                n.pos,
                format!("apiVersion \"{s}\" is not supported"),
                Some(format!("write apiVersion: {API_VERSION}")),
            );
            return None;
        }
        Some(s)
    });
    let kind = f.req(d, "kind", KIND, |d, n, p| {
        let s = d.string(n, p)?;
        if s != KIND {
            d.report(
                n.pos,
                format!("kind \"{s}\" is not supported"),
                Some(format!("write kind: {KIND}")),
            );
            return None;
        }
        Some(s)
    });
    let metadata = f.req(d, "metadata", "{name: homelab}", |d, n, p| {
        let m = d.map(n, p, METADATA_KEYS)?;
        Some(Metadata {
            name: m.req(d, "name", "homelab", label)?,
        })
    });
    let git = f.opt(d, "git", git);
    let secrets = f.req(d, "secrets", "{recipients: [age1...]}", secrets);
    let registry = f.req(d, "registry", "{host: registry.example.com, ...}", registry);
    let minio = f.opt(d, "minio", |d, n, p| {
        let m = d.map(n, p, MINIO_KEYS)?;
        let namespace = m
            .opt(d, "namespace", label)
            .unwrap_or_else(default_minio_namespace);
        Some(Minio {
            namespace,
            bucket: m.req(d, "bucket", "container-repo", bucket)?,
        })
    });
    let mirrored: Vec<String> = registry
        .as_ref()
        .map(|r| r.mirrors.iter().map(|m| m.name.clone()).collect())
        .unwrap_or_default();
    let nodes = f.opt(d, "nodes", |d, n, p| {
        super::nodes::nodes(d, n, p, &mirrored)
    });
    if f.get("nodes").is_some() && nodes.is_none() {
        return None;
    }
    Some(Lab {
        api_version: api_version?,
        kind: kind?,
        metadata: metadata?,
        git,
        secrets: secrets?,
        registry: registry?,
        minio,
        nodes,
    })
}

pub(super) fn bucket(d: &mut Decoder, n: &Node, p: &str) -> Option<String> {
    let s = d.nonempty(n, p)?;
    let ok = (3..=63).contains(&s.len()) && s.split('.').all(|l| checks::dns_label(p, l).is_ok());
    if !ok {
        d.report(
            n.pos,
            format!("{p} \"{s}\" is not a valid bucket name"),
            Some("use 3 to 63 lowercase letters, digits, '-' and '.'".into()),
        );
        return None;
    }
    Some(s)
}

fn git(d: &mut Decoder, n: &Node, p: &str) -> Option<Git> {
    let m = d.map(n, p, GIT_KEYS)?;
    let repo_url = m.req(
        d,
        "repoURL",
        "https://github.com/me/homelab.git",
        |d, n, p| {
            let s = d.nonempty(n, p)?;
            let ok = s.starts_with("https://")
                || s.starts_with("http://")
                || s.starts_with("ssh://")
                || s.starts_with("git@");
            if !ok {
                d.report(
                    n.pos,
                    format!("{p} \"{s}\" is not a git URL"),
                    Some("use an https://, ssh:// or git@host:path URL".into()),
                );
                return None;
            }
            Some(s)
        },
    );
    let revision = m
        .opt(d, "revision", |d, n, p| d.nonempty(n, p))
        .unwrap_or_else(default_revision);
    let path = m
        .opt(d, "path", |d, n, p| {
            let s = d.nonempty(n, p)?;
            if s.starts_with('/') || s.split('/').any(|s| s == "..") {
                d.report(
                    n.pos,
                    format!("{p} \"{s}\" must be a relative folder inside the repository"),
                    Some("e.g. path: apps".into()),
                );
                return None;
            }
            Some(s)
        })
        .unwrap_or_else(default_path);
    Some(Git {
        repo_url: repo_url?,
        revision,
        path,
    })
}

pub fn secrets(d: &mut Decoder, n: &Node, p: &str) -> Option<Secrets> {
    let m = d.map(n, p, SECRETS_KEYS)?;
    let recipients = m.req(d, "recipients", "[age1...]", |d, n, p| {
        let items = d.seq(n, p)?;
        if items.is_empty() {
            d.report(
                n.pos,
                format!("{p} is empty: nobody could decrypt the secrets"),
                Some(
                    "add your recipient, printed by `labctl init` or `age-keygen -y KEYFILE`"
                        .into(),
                ),
            );
            return None;
        }
        let mut out = Vec::new();
        for (i, it) in items.iter().enumerate() {
            if let Some(s) = d.string(it, &format!("{p}[{i}]"))
                && check(d, it, checks::recipient(&s))
            {
                out.push(s);
            }
        }
        (out.len() == items.len()).then_some(out)
    });
    let sealing = m
        .opt(d, "sealing", |d, n, p| {
            let s = d.map(n, p, SEALING_KEYS)?;
            let controller = s
                .opt(d, "controller", controller)
                .unwrap_or_else(default_controller);
            Some(Sealing { controller })
        })
        .unwrap_or_else(|| Sealing {
            controller: default_controller(),
        });
    Some(Secrets {
        recipients: recipients?,
        sealing,
    })
}

fn controller(d: &mut Decoder, n: &Node, p: &str) -> Option<Controller> {
    let m = d.map(n, p, CONTROLLER_KEYS)?;
    let def = default_controller();
    Some(Controller {
        namespace: m.opt(d, "namespace", label).unwrap_or(def.namespace),
        name: m.opt(d, "name", subdomain).unwrap_or(def.name),
    })
}

/// Keys of a decoded mapping, for the schema-drift test.
#[cfg(test)]
pub fn all_key_lists() -> Vec<(&'static str, &'static [&'static str])> {
    vec![
        ("Lab", LAB_KEYS),
        ("Metadata", METADATA_KEYS),
        ("Git", GIT_KEYS),
        ("Secrets", SECRETS_KEYS),
        ("Sealing", SEALING_KEYS),
        ("Controller", CONTROLLER_KEYS),
        ("Registry", REGISTRY_KEYS),
        ("User", USER_KEYS),
        ("Filesystem", FILESYSTEM_KEYS),
        ("S3", S3_KEYS),
        ("Expose", EXPOSE_KEYS),
        ("Ingress", INGRESS_KEYS),
        ("PullSecret", PULL_SECRET_KEYS),
        ("AccessRule", ACCESS_KEYS),
        ("Retention", super::retention_decode::RETENTION_KEYS),
        ("RetentionPolicy", super::retention_decode::POLICY_KEYS),
        ("Minio", MINIO_KEYS),
        ("Notifications", super::notifications::NOTIFICATIONS_KEYS),
        ("NotifyEndpoint", super::notifications::ENDPOINT_KEYS),
        ("NotifyIgnore", super::notifications::IGNORE_KEYS),
        ("Mirror", super::mirrors::MIRROR_KEYS),
        ("Nodes", super::nodes::NODES_KEYS),
        ("NodePaths", super::nodes::NODE_PATHS_KEYS),
    ]
}
