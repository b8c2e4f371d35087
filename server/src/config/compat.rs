//! registry:2 settings labreg does not implement. Each one would change what
//! the registry does (a CDN in front of blobs, encryption at rest...), so a config that sets it stops the start
//! with the key and the reason: moved from registry:2, it must not silently
//! serve something else.
//!
//! The list follows distribution's configuration reference (2.8 and 3.0),
//! section by section; keys it does not name are either implemented
//! (`Config`) or accepted because labreg needs nothing for them (redis for
//! a shared blob descriptor cache, `health.storagedriver`, tuning knobs such as
//! `storage.s3.multipartcopychunksize`).

use serde_json::Value;

use super::{ConfigError, invalid};

/// When a present value counts as "set".
#[derive(Clone, Copy)]
enum When {
    /// Anything but null, false, "", [] or {}.
    Set,
    /// A string other than the given default (case-insensitive).
    Not(&'static str),
}

const UNIMPLEMENTED: &[(&str, When, &str)] = &[
    (
        "middleware",
        When::Set,
        "storage, registry and repository middleware (cloudfront, redirect, rewrite) is not implemented by labreg; for redirects to S3 use storage.redirect (on by default for s3)",
    ),
    (
        "reporting",
        When::Set,
        "bugsnag and newrelic reporting are not implemented by labreg: use its log (log.formatter: json) and Prometheus metrics (http.debug.prometheus)",
    ),
    (
        "log.hooks",
        When::Set,
        "log hooks (mail on error) are not implemented by labreg: forward its log instead",
    ),
    (
        "health.file",
        When::Set,
        "file health checks are not implemented by labreg (it checks its storage on /debug/health)",
    ),
    (
        "health.http",
        When::Set,
        "HTTP health checks are not implemented by labreg (it checks its storage on /debug/health)",
    ),
    (
        "health.tcp",
        When::Set,
        "TCP health checks are not implemented by labreg (it checks its storage on /debug/health)",
    ),
    (
        "compatibility.schema1.enabled",
        When::Set,
        "labreg refuses schema1 manifests (deprecated, unsigned in practice): push with a current client",
    ),
    (
        "compatibility.schema1.signingkeyfile",
        When::Set,
        "labreg refuses schema1 manifests, so it signs none: remove the key",
    ),
    (
        "validation.manifests.urls",
        When::Set,
        "allow/deny rules for foreign layer URLs are not implemented by labreg",
    ),
    (
        "validation.manifests.indexes",
        When::Set,
        "index platform rules are not implemented by labreg",
    ),
    (
        "validation.disabled",
        When::Set,
        "labreg always validates manifests (their blobs must exist); it cannot turn that off",
    ),
    (
        "http.tls.ciphersuites",
        When::Set,
        "cipher suite lists are not implemented by labreg (rustls offers only modern suites); remove it",
    ),
    (
        "http.http2.disabled",
        When::Set,
        "labreg always offers HTTP/2 over TLS by ALPN; it cannot turn it off",
    ),
    (
        "http.h2c.enabled",
        When::Set,
        "HTTP/2 over plain TCP (h2c) is not implemented by labreg",
    ),
    (
        "storage.swift",
        When::Set,
        "the swift storage driver is not available in labreg: use storage.filesystem or storage.s3",
    ),
    (
        "storage.oss",
        When::Set,
        "the oss storage driver is not available in labreg: use storage.filesystem or storage.s3 (OSS speaks S3)",
    ),
    (
        "storage.s3.encrypt",
        When::Set,
        "server-side encryption is not implemented by labreg's S3 driver: use the bucket's default encryption",
    ),
    (
        "storage.s3.keyid",
        When::Set,
        "KMS keys are not implemented by labreg's S3 driver: use the bucket's default encryption",
    ),
    (
        "storage.s3.storageclass",
        When::Not("STANDARD"),
        "storage classes other than STANDARD are not implemented by labreg's S3 driver",
    ),
    (
        "storage.s3.objectacl",
        When::Not("private"),
        "object ACLs other than private are not implemented by labreg's S3 driver",
    ),
    (
        "storage.s3.accelerate",
        When::Set,
        "S3 transfer acceleration is not implemented by labreg",
    ),
    (
        "storage.s3.usedualstack",
        When::Set,
        "S3 dual-stack endpoints are not implemented by labreg: set regionendpoint instead",
    ),
];

fn lookup<'a>(tree: &'a Value, path: &str) -> Option<&'a Value> {
    let mut v = tree;
    for part in path.split('.') {
        v = v
            .as_object()?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(part))?
            .1;
    }
    Some(v)
}

fn is_set(v: &Value, when: When) -> bool {
    match when {
        When::Set => match v {
            Value::Null | Value::Bool(false) => false,
            Value::String(s) => !s.is_empty(),
            Value::Array(a) => !a.is_empty(),
            Value::Object(o) => !o.is_empty(),
            Value::Number(_) | Value::Bool(true) => true,
        },
        When::Not(default) => match v {
            Value::Null => false,
            Value::String(s) => !s.is_empty() && !s.eq_ignore_ascii_case(default),
            _ => true,
        },
    }
}

/// Fails on the first registry:2 setting labreg does not implement.
pub fn refuse_unimplemented(tree: &Value) -> Result<(), ConfigError> {
    for (path, when, why) in UNIMPLEMENTED {
        if lookup(tree, path).is_some_and(|v| is_set(v, *when)) {
            return Err(invalid(path, format!("not implemented: {why}")));
        }
    }
    Ok(())
}

/// registry:2 sections labreg accepts because it needs nothing for them;
/// said at start instead of "unknown".
const NOT_NEEDED: &[(&str, &str)] = &[
    (
        "redis",
        "labreg keeps no shared blob descriptor cache, so it needs no redis (storage.cache.blobdescriptor: inmemory caches in the process)",
    ),
    (
        "validation",
        "labreg always checks that a manifest's blobs exist",
    ),
    ("compatibility", "schema1 stays refused"),
];

/// Why an unknown key of registry:2's reference needs nothing, if it is one.
pub fn not_needed(key: &str) -> Option<&'static str> {
    NOT_NEEDED
        .iter()
        .find(|(k, _)| key == *k || key.starts_with(&format!("{k}.")))
        .map(|(_, why)| *why)
}
