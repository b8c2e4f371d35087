//! Node tree → `Lab`, filling defaults and reporting every problem.

use std::collections::BTreeMap;

use super::checks::{self, Bad};
use super::decode::Decoder;
use super::model::*;
use super::node::{Node, Value};

pub const LAB_KEYS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "git",
    "secrets",
    "registry",
    "minio",
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
fn check(d: &mut Decoder, node: &Node, r: Result<(), Bad>) -> bool {
    match r {
        Ok(()) => true,
        Err((message, help)) => {
            d.report(node.pos, message, Some(help));
            false
        }
    }
}

fn label(d: &mut Decoder, n: &Node, path: &str) -> Option<String> {
    let s = d.nonempty(n, path)?;
    check(d, n, checks::dns_label(path, &s)).then_some(s)
}

fn subdomain(d: &mut Decoder, n: &Node, path: &str) -> Option<String> {
    let s = d.nonempty(n, path)?;
    check(d, n, checks::dns_subdomain(path, &s)).then_some(s)
}

fn secret_ref(d: &mut Decoder, n: &Node, path: &str) -> Option<SecretRef> {
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
    check(d, n, checks::secret_name(name)).then(|| SecretRef {
        name: name.to_string(),
        pos: n.pos,
    })
}

fn strings(d: &mut Decoder, n: &Node, path: &str) -> Vec<String> {
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
            .unwrap_or_else(|| "minio".into());
        Some(Minio {
            namespace,
            bucket: m.req(d, "bucket", "container-repo", bucket)?,
        })
    });
    Some(Lab {
        api_version: api_version?,
        kind: kind?,
        metadata: metadata?,
        git,
        secrets: secrets?,
        registry: registry?,
        minio,
    })
}

fn bucket(d: &mut Decoder, n: &Node, p: &str) -> Option<String> {
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
        .unwrap_or_else(|| "HEAD".into());
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
        .unwrap_or_else(|| "apps".into());
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

fn default_controller() -> Controller {
    Controller {
        namespace: "kube-system".into(),
        name: "sealed-secrets-controller".into(),
    }
}

fn controller(d: &mut Decoder, n: &Node, p: &str) -> Option<Controller> {
    let m = d.map(n, p, CONTROLLER_KEYS)?;
    let def = default_controller();
    Some(Controller {
        namespace: m.opt(d, "namespace", label).unwrap_or(def.namespace),
        name: m.opt(d, "name", subdomain).unwrap_or(def.name),
    })
}

fn registry(d: &mut Decoder, n: &Node, p: &str) -> Option<Registry> {
    let m = d.map(n, p, REGISTRY_KEYS)?;
    let namespace = m
        .opt(d, "namespace", label)
        .unwrap_or_else(|| "registry".into());
    let host = m.req(d, "host", "registry.example.com", |d, n, p| {
        let s = d.nonempty(n, p)?;
        check(d, n, checks::host(&s)).then_some(s)
    });
    let image = m
        .opt(d, "image", |d, n, p| {
            let s = d.nonempty(n, p)?;
            if s.contains(char::is_whitespace) || s.contains("://") {
                d.report(
                    n.pos,
                    format!("{p} \"{s}\" is not an image reference"),
                    Some("use labreg, registry:2 or NAME[:TAG]".into()),
                );
                return None;
            }
            Some(s)
        })
        .unwrap_or_else(|| LABREG_IMAGE.into());
    let replicas = m
        .opt(d, "replicas", |d, n, p| d.int_in(n, p, 1, 100))
        .map_or(1, |r| r as u32);
    let users = m.opt(d, "users", users).unwrap_or_default();
    let storage_node = m.get("storage");
    let storage = match storage_node {
        Some(n) => storage(d, n, &m.child("storage")),
        None => Some(Storage::Filesystem(Filesystem {
            size: "10Gi".into(),
            storage_class_name: None,
        })),
    };
    if replicas > 1
        && let (Some(Storage::Filesystem(_)), Some(n)) = (&storage, m.get("replicas"))
    {
        d.report(n.pos, format!("registry.replicas is {replicas} but the storage is a filesystem volume, which only one replica can use"), Some("use registry.storage.s3 or replicas: 1".into()));
    }
    let delete = m
        .opt(d, "delete", |d, n, p| d.boolean(n, p))
        .unwrap_or(false);
    let redirect = m
        .opt(d, "redirect", |d, n, p| d.boolean(n, p))
        .unwrap_or(false);
    let expose = m.req(d, "expose", "{ingress: {className: nginx}}", expose);
    let pull_secrets = m.opt(d, "pullSecrets", pull_secrets).unwrap_or_default();
    for ps in &pull_secrets {
        if let Some((user, n)) = ps.1.as_ref().zip(ps.2)
            && !users.contains_key(user)
        {
            d.report(
                n.pos,
                format!("pull secret user \"{user}\" is not in registry.users"),
                Some(format!(
                    "add it to registry.users or use one of: {}",
                    users.keys().cloned().collect::<Vec<_>>().join(", ")
                )),
            );
        }
    }
    let access = m
        .opt(d, "access", |d, n, p| access(d, n, p, &users))
        .unwrap_or_default();
    Some(Registry {
        namespace,
        host: host?,
        image,
        replicas,
        users,
        storage: storage?,
        delete,
        redirect,
        expose: expose?,
        pull_secrets: pull_secrets.into_iter().map(|p| p.0).collect(),
        access,
    })
}

fn users(d: &mut Decoder, n: &Node, p: &str) -> Option<BTreeMap<String, User>> {
    let m = d.entries(n, p)?;
    let mut out = BTreeMap::new();
    for (name, k, v) in &m.entries {
        if !check(d, k, checks::user_name(name)) {
            continue;
        }
        let path = m.child(name);
        if v.value == Value::Null {
            d.report(
                v.pos,
                format!("{path} has no password"),
                Some(format!(
                    "write {name}: {{password: secret:registry/{name}}}"
                )),
            );
            continue;
        }
        let Some(u) = d.map(v, &path, USER_KEYS) else {
            continue;
        };
        if let Some(password) = u.req(
            d,
            "password",
            &format!("secret:registry/{name}"),
            secret_ref,
        ) {
            out.insert(name.to_string(), User { password });
        }
    }
    Some(out)
}

fn storage(d: &mut Decoder, n: &Node, p: &str) -> Option<Storage> {
    let m = d.map(n, p, STORAGE_KEYS)?;
    if m.get("filesystem").is_some() && m.get("s3").is_some() {
        d.report(
            n.pos,
            format!("{p} has both filesystem and s3"),
            Some("keep exactly one of them".into()),
        );
        return None;
    }
    if let Some(fs) = m.get("filesystem") {
        let f = d.map(fs, &m.child("filesystem"), FILESYSTEM_KEYS)?;
        let size = f.opt(d, "size", |d, n, p| {
            let s = match &n.value {
                Value::Int(i) => {
                    d.report(
                        n.pos,
                        format!("{p} {i} has no unit"),
                        Some(format!("write {i}Gi (a bare number means bytes)")),
                    );
                    return None;
                }
                _ => d.string(n, p)?,
            };
            check(d, n, checks::size(p, &s)).then_some(s)
        });
        if f.get("size").is_some() && size.is_none() {
            return None;
        }
        let storage_class_name = f.opt(d, "storageClassName", subdomain);
        return Some(Storage::Filesystem(Filesystem {
            size: size.unwrap_or_else(|| "10Gi".into()),
            storage_class_name,
        }));
    }
    if let Some(s3n) = m.get("s3") {
        let s = d.map(s3n, &m.child("s3"), S3_KEYS)?;
        let endpoint = s.req(d, "endpoint", "http://minio.minio.svc:9000", |d, n, p| {
            let e = d.nonempty(n, p)?;
            check(d, n, checks::http_url(p, &e)).then_some(e)
        });
        let bucket = s.req(d, "bucket", "container-repo", bucket);
        let region = s
            .opt(d, "region", |d, n, p| d.nonempty(n, p))
            .unwrap_or_else(|| "us-east-1".into());
        let access_key = s.req(d, "accessKey", "secret:minio/access-key", secret_ref);
        let secret_key = s.req(d, "secretKey", "secret:minio/secret-key", secret_ref);
        return Some(Storage::S3(S3 {
            endpoint: endpoint?,
            bucket: bucket?,
            region,
            access_key: access_key?,
            secret_key: secret_key?,
        }));
    }
    d.report(
        n.pos,
        format!("{p} names no storage"),
        Some("add filesystem: {size: 20Gi} or s3: {...}".into()),
    );
    None
}

fn expose(d: &mut Decoder, n: &Node, p: &str) -> Option<Expose> {
    let m = d.map(n, p, EXPOSE_KEYS)?;
    let ingress = m.opt(d, "ingress", |d, n, p| {
        let i = d.map(n, p, INGRESS_KEYS)?;
        let class_name = i
            .opt(d, "className", subdomain)
            .unwrap_or_else(|| "nginx".into());
        let cluster_issuer = i.opt(d, "clusterIssuer", subdomain);
        let proxy_body_size = i
            .opt(d, "proxyBodySize", |d, n, p| {
                let s = d.string(n, p)?;
                check(
                    d,
                    n,
                    if s == "0" {
                        Ok(())
                    } else {
                        checks::size(p, &s)
                    },
                )
                .then_some(s)
            })
            .unwrap_or_else(|| "0".into());
        Some(Ingress {
            class_name,
            cluster_issuer,
            proxy_body_size,
        })
    });
    let node_port = m
        .opt(d, "nodePort", |d, n, p| d.int_in(n, p, 30000, 32767))
        .map(|v| v as u16);
    let tls = m.opt(d, "tls", |d, n, p| {
        let s = d.string(n, p)?;
        match s.as_str() {
            "self-signed" => Some(Tls::SelfSigned),
            "cluster-issuer" => Some(Tls::ClusterIssuer),
            "none" => Some(Tls::None),
            _ => {
                d.report(
                    n.pos,
                    format!("{p} \"{s}\" is not one of self-signed, cluster-issuer, none"),
                    Some("write tls: self-signed to use `labctl certs`".into()),
                );
                None
            }
        }
    });
    let has_ingress = m.get("ingress").is_some();
    let has_port = m.get("nodePort").is_some();
    if has_ingress == has_port {
        let what = if has_ingress {
            "both ingress and nodePort"
        } else {
            "neither ingress nor nodePort"
        };
        d.report(
            n.pos,
            format!("{p} has {what}"),
            Some("keep exactly one: ingress: {className: nginx} or nodePort: 30500".into()),
        );
        return None;
    }
    let issuer = ingress.as_ref().and_then(|i| i.cluster_issuer.clone());
    let tls = match (tls, &issuer) {
        (Some(Tls::ClusterIssuer), None) => {
            let at = m.get("tls").map(|t| t.pos).unwrap_or(n.pos);
            d.report(
                at,
                format!("{p}.tls is cluster-issuer but no ingress.clusterIssuer is set"),
                Some("add ingress.clusterIssuer or write tls: self-signed".into()),
            );
            return None;
        }
        (Some(t), _) => t,
        (None, Some(_)) => Tls::ClusterIssuer,
        (None, None) => Tls::SelfSigned,
    };
    Some(Expose {
        ingress: if has_ingress { Some(ingress?) } else { None },
        node_port: if has_port { Some(node_port?) } else { None },
        tls,
    })
}

type PullSecretAt<'a> = (PullSecret, Option<String>, Option<&'a Node>);

fn pull_secrets<'a>(d: &mut Decoder, n: &'a Node, p: &str) -> Option<Vec<PullSecretAt<'a>>> {
    let items = d.seq(n, p)?;
    let mut out = Vec::new();
    for (i, it) in items.iter().enumerate() {
        let path = format!("{p}[{i}]");
        let Some(m) = d.map(it, &path, PULL_SECRET_KEYS) else {
            continue;
        };
        let namespace = m.req(d, "namespace", "default", label);
        let name = m
            .opt(d, "name", subdomain)
            .unwrap_or_else(|| "regcred".into());
        let user = m.opt(d, "user", |d, n, p| d.nonempty(n, p));
        if let Some(namespace) = namespace {
            out.push((
                PullSecret {
                    namespace,
                    name,
                    user: user.clone(),
                },
                user,
                m.get("user"),
            ));
        }
    }
    Some(out)
}

fn access(
    d: &mut Decoder,
    n: &Node,
    p: &str,
    users: &BTreeMap<String, User>,
) -> Option<Vec<AccessRule>> {
    let items = d.seq(n, p)?;
    let mut out = Vec::new();
    for (i, it) in items.iter().enumerate() {
        let path = format!("{p}[{i}]");
        let Some(m) = d.map(it, &path, ACCESS_KEYS) else {
            continue;
        };
        let rule_users = m.req(d, "users", "[admin]", |d, n, p| {
            let list = d.seq(n, p)?;
            let mut names = Vec::new();
            for (j, u) in list.iter().enumerate() {
                let Some(name) = d.nonempty(u, &format!("{p}[{j}]")) else {
                    continue;
                };
                if !users.contains_key(&name) {
                    d.report(
                        u.pos,
                        format!("user \"{name}\" is not in registry.users"),
                        Some("add it to registry.users or fix the name".into()),
                    );
                }
                names.push(name);
            }
            Some(names)
        });
        let repositories = m
            .opt(d, "repositories", |d, n, p| Some(strings(d, n, p)))
            .unwrap_or_else(|| vec!["*".into()]);
        let actions = m.req(d, "actions", "[pull, push]", |d, n, p| {
            let list = d.seq(n, p)?;
            let mut acts = Vec::new();
            for (j, a) in list.iter().enumerate() {
                match d.string(a, &format!("{p}[{j}]")).as_deref() {
                    Some("pull") => acts.push(Action::Pull),
                    Some("push") => acts.push(Action::Push),
                    Some("delete") => acts.push(Action::Delete),
                    Some(other) => d.report(
                        a.pos,
                        format!("unknown action \"{other}\""),
                        Some("use pull, push or delete".into()),
                    ),
                    None => {}
                }
            }
            Some(acts)
        });
        if let (Some(users), Some(actions)) = (rule_users, actions) {
            out.push(AccessRule {
                users,
                repositories,
                actions,
            });
        }
    }
    Some(out)
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
        ("Minio", MINIO_KEYS),
    ]
}
