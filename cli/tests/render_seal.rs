//! Sealed values open with the controller's private key through an
//! independent implementation (Python's `cryptography`), for all three
//! scopes, and only where their scope allows; an expired controller
//! certificate is refused; the example lab is current.

mod common;

use std::path::Path;

use common::Succeeds;
use common::render::{
    ADMIN, files, lab, nodeport_self_signed, python, render, rendered, secret, unseal,
};

/// A SealedSecret's file, its strict label, and its (key, sealed value)s.
type Sealed = (String, String, Vec<(String, String)>);

/// Every SealedSecret under `apps`.
fn sealed(apps: &Path) -> Vec<Sealed> {
    let mut out = Vec::new();
    for (path, bytes) in files(apps) {
        let doc: serde_json::Value =
            serde_saphyr::from_str(std::str::from_utf8(&bytes).unwrap()).unwrap();
        if doc["kind"] != "SealedSecret" {
            continue;
        }
        assert!(
            doc["metadata"]["annotations"]
                .get("sealedsecrets.bitnami.com/namespace-wide")
                .is_none()
        );
        let label = format!(
            "{}/{}",
            doc["metadata"]["namespace"].as_str().unwrap(),
            doc["metadata"]["name"].as_str().unwrap()
        );
        let data = doc["spec"]["encryptedData"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect();
        out.push((path, label, data));
    }
    out
}

#[test]
fn every_rendered_value_opens_with_the_private_key_and_only_under_its_name() {
    let lab = lab(&nodeport_self_signed());
    render(&lab);
    let key = lab.dir.path().join("home/sealing-demo-key.pem");
    std::fs::write(&key, secret(&lab, "sealing/tls.key")).unwrap();
    let all = sealed(&lab.root().join("apps"));
    assert_eq!(
        all.len(),
        5,
        "config, htpasswd, tls, pull secret, mirrors' passwords"
    );
    let mut opened = std::collections::BTreeMap::new();
    for (path, label, data) in &all {
        let values: Vec<String> = data.iter().map(|(_, v)| v.clone()).collect();
        let plain = unseal(&key, label, &values);
        for ((k, _), p) in data.iter().zip(plain) {
            let p = p.unwrap_or_else(|| panic!("{path} {k} does not open under {label}"));
            opened.insert(format!("{label}:{k}"), String::from_utf8(p).unwrap());
        }
        let wrong = unseal(&key, "registry/another-name", &values);
        assert!(
            wrong.iter().all(Option::is_none),
            "{path} opens under another name"
        );
    }
    let config = &opened["registry/registry-config:config.yml"];
    assert!(config.starts_with("version: 0.1\n"), "{config}");
    assert!(config.contains(&secret(&lab, "registry/http-secret")));
    assert!(config.contains("  tls:\n    certificate: /certs/tls.crt"));
    assert!(config.contains("auth:\n  htpasswd:\n"), "{config}");
    // The lab's registry serves its web UI; a bare registry:2 config does not.
    assert!(config.contains("\n  ui:\n    enabled: true\n"), "{config}");
    assert!(
        config.contains("    - users: [\"admin\"]\n      repositories: [\"*\"]\n      actions: [\"pull\",\"push\",\"delete\"]\n"),
        "{config}"
    );
    // The mirrors: labreg.mirrors, the password as a file of the sealed
    // registry-mirrors Secret (which the Deployment mounts there).
    assert!(
        config.contains("  mirrors:\n    - prefix: \"docker.io/\"\n      url: \"https://registry-1.docker.io\"\n    - prefix: \"ghcr.io/\"\n      url: \"https://ghcr.io\"\n      username: \"me\"\n      password_file: \"/etc/labreg/mirrors/ghcr.io\"\n      ttl: \"24h\"\n      allow: [\"me/*\"]\n"),
        "{config}"
    );
    assert!(!config.contains(common::render::GHCR), "{config}");
    assert_eq!(
        opened["registry/registry-mirrors:ghcr.io"],
        common::render::GHCR
    );
    let loaded = labreg::config::Config::from_yaml(config, Vec::new()).unwrap();
    let up = loaded.config.upstreams().unwrap();
    assert_eq!(up.len(), 2);
    assert_eq!(up[1].url.as_str(), "https://ghcr.io/");
    assert_eq!(up[1].tag_ttl, std::time::Duration::from_secs(24 * 3600));
    // lab.yaml's registry.retention, as labreg reads it.
    let loaded = labreg::config::Config::from_yaml(config, Vec::<(String, String)>::new())
        .unwrap_or_else(|e| panic!("{e}: {config}"));
    let policies = loaded
        .config
        .retention()
        .unwrap()
        .expect("labreg.retention");
    assert_eq!(
        policies.schedule,
        Some(std::time::Duration::from_secs(86400))
    );
    assert_eq!(policies.policies.len(), 2, "{config}");
    let ci = policies.for_repo("ci/app").unwrap();
    assert_eq!(ci.keep_latest, Some(10));
    assert_eq!(ci.keep_tags.len(), 2);
    assert!(ci.keep_tags[1].matches("1.2.3"), "semver");
    assert_eq!(
        ci.delete_tags_older_than,
        Some(std::time::Duration::from_secs(30 * 86400))
    );
    let rest = policies.for_repo("team/x").unwrap();
    assert_eq!(
        rest.delete_untagged_older_than,
        Some(std::time::Duration::from_secs(30 * 86400))
    );
    assert_eq!(
        (rest.keep_latest, rest.delete_tags_older_than),
        (None, None)
    );
    assert!(opened["registry/registry-htpasswd:htpasswd"].starts_with("admin:$2y$10$"));
    assert_eq!(
        opened["registry/registry-tls:tls.key"],
        secret(&lab, "certs/reg.lab.internal.key")
    );
    let docker: serde_json::Value =
        serde_json::from_str(&opened["default/regcred:.dockerconfigjson"]).unwrap();
    assert_eq!(docker["auths"]["reg.lab.internal:30500"]["password"], ADMIN);

    // The htpasswd line verifies with the real htpasswd tool.
    let line = &opened["registry/registry-htpasswd:htpasswd"];
    let file = lab.dir.path().join("home/htpasswd");
    std::fs::write(&file, line).unwrap();
    common::run_ok(
        common::tool("htpasswd")
            .args(["-vb"])
            .arg(&file)
            .args(["admin", ADMIN]),
    );
}

#[test]
fn three_scopes_open_where_they_should() {
    let lab = lab(&nodeport_self_signed());
    let key = lab.dir.path().join("home/sealing-demo-key.pem");
    std::fs::write(&key, secret(&lab, "sealing/tls.key")).unwrap();
    for (scope, opens, fails) in [
        (
            "strict",
            "ns/name",
            &["ns/other", "other/name", "ns", ""][..],
        ),
        ("namespace-wide", "ns", &["other", "ns/name", ""][..]),
        ("cluster-wide", "", &["ns", "ns/name"][..]),
    ] {
        let out = lab
            .cmd()
            .args([
                "sealing",
                "seal",
                "--namespace",
                "ns",
                "--name",
                "name",
                "--scope",
                scope,
            ])
            .write_stdin("a value")
            .succeeds();
        let value = String::from_utf8(out.stdout).unwrap().trim().to_string();
        assert_eq!(
            unseal(&key, opens, std::slice::from_ref(&value)),
            [Some(b"a value".to_vec())],
            "{scope}"
        );
        for label in fails {
            assert_eq!(
                unseal(&key, label, std::slice::from_ref(&value)),
                [None],
                "{scope} under {label:?}"
            );
        }
    }
}

#[test]
fn an_expired_controller_certificate_is_refused() {
    let (lab, apps, before) = rendered(&nodeport_self_signed());
    let cert = lab.dir.path().join("home/expired.pem");
    let script = "
import datetime, sys
from cryptography import x509
from cryptography.x509.oid import NameOID
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'sealed-secret')])
now = datetime.datetime.now(datetime.timezone.utc)
cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
    .public_key(key.public_key()).serial_number(1)
    .not_valid_before(now - datetime.timedelta(days=400))
    .not_valid_after(now - datetime.timedelta(days=30))
    .sign(key, hashes.SHA256()))
open(sys.argv[1], 'wb').write(cert.public_bytes(serialization.Encoding.PEM))
";
    common::run_ok(python().args(["-c", script]).arg(&cert));
    let out = lab
        .cmd()
        .arg("render")
        .arg("--cert")
        .arg(&cert)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("expired.pem expired on"), "{stderr}");
    assert!(stderr.contains("labctl sealing fetch-cert"), "{stderr}");
    assert_eq!(files(&apps), before);
}

#[test]
fn bootstrap_prints_the_controller_key_secret() {
    let lab = lab(&nodeport_self_signed());
    let out = lab.cmd().args(["sealing", "bootstrap"]).output().unwrap();
    assert!(out.status.success());
    let doc: serde_json::Value =
        serde_saphyr::from_str(std::str::from_utf8(&out.stdout).unwrap()).unwrap();
    assert_eq!(doc["type"], "kubernetes.io/tls");
    assert_eq!(doc["metadata"]["namespace"], "kube-system");
    assert_eq!(
        doc["metadata"]["labels"]["sealedsecrets.bitnami.com/sealed-secrets-key"],
        "active"
    );
    assert!(!lab.root().join("apps").exists(), "never written to apps/");
}

/// The example lab at the repository root is rendered and current, offline.
#[test]
fn the_example_lab_is_current() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = common::labctl(&root)
        .env("LABCTL_AGE_KEY_FILE", root.join("demo/age-identity.txt"))
        .args(["render", "--check"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "labctl render --check on the example lab:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
