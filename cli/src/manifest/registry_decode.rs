//! The `registry` part of lab.yaml: users, storage, exposure, pull
//! secrets and access rules.

use std::collections::BTreeMap;

use super::checks;
use super::decode::Decoder;
use super::lab_decode::*;
use super::model::*;
use super::node::{Node, Value};

pub(super) fn registry(d: &mut Decoder, n: &Node, p: &str) -> Option<Registry> {
    let m = d.map(n, p, REGISTRY_KEYS)?;
    let namespace = m
        .opt(d, "namespace", label)
        .unwrap_or_else(default_registry_namespace);
    let host = m.req(d, "host", "registry.example.com", |d, n, p| {
        let s = d.nonempty(n, p)?;
        check(d, n, checks::host(&s)).then_some(s)
    });
    let image = m
        .opt(d, "image", super::lab_decode::image("labreg, registry:2"))
        .unwrap_or_else(default_image);
    let replicas = m
        .opt(d, "replicas", |d, n, p| d.int_in(n, p, 1, 100))
        .map_or_else(default_replicas, |r| r as u32);
    let users = m.opt(d, "users", users).unwrap_or_default();
    let storage_node = m.get("storage");
    let storage = match storage_node {
        Some(n) => storage(d, n, &m.child("storage")),
        None => Some(default_storage()),
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
    let retention = m.opt(d, "retention", super::retention_decode::retention);
    let notifications = m.opt(d, "notifications", super::notifications::notifications);
    let mirrors = m.opt(d, "mirrors", super::mirrors::mirrors);
    if m.get("mirrors").is_some() && mirrors.is_none() {
        return None;
    }
    Some(Registry {
        retention,
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
        notifications,
        mirrors: mirrors.unwrap_or_default(),
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
            size: size.unwrap_or_else(default_size),
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
            .unwrap_or_else(default_region);
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
            .unwrap_or_else(default_class_name);
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
            .unwrap_or_else(default_proxy_body_size);
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
            .unwrap_or_else(default_pull_secret_name);
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
                // labreg's own words: anyone without credentials, and
                // any signed-in user.
                let special = name == "anonymous" || name == "*";
                if !special && !users.contains_key(&name) {
                    d.report(
                        u.pos,
                        format!("user \"{name}\" is not in registry.users"),
                        Some("add it to registry.users or fix the name (or write anonymous, or * for any signed-in user)".into()),
                    );
                }
                names.push(name);
            }
            Some(names)
        });
        let repositories = m
            .opt(d, "repositories", |d, n, p| Some(strings(d, n, p)))
            .unwrap_or_else(default_repositories);
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
