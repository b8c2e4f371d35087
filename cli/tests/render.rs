//! `labctl render` on three labs: snapshots, schema validation, stable
//! bytes, `--check`, which objects a password change touches, no plaintext
//! in apps/, and bad input that leaves apps/ as it was.

mod common;

use std::collections::BTreeMap;

use common::render::{
    ACCESS, ADMIN, CI, GHCR, SECRET, files, lab, labs, minio_ingress, nodeport_self_signed, render,
    rendered, secret, validate,
};
use common::{contains, needles};

/// The files as one text, with what is random per run (ciphertexts,
/// fingerprints keyed by the lab's random key, the lab's CA in the
/// node-trust ConfigMap and the checksum of its files) blanked.
fn snapshot_text(files: &BTreeMap<String, Vec<u8>>) -> String {
    let mut out = String::new();
    for (path, bytes) in files {
        out.push_str(&format!("=== {path}\n"));
        let text = String::from_utf8(bytes.clone()).unwrap();
        let mut in_data = false;
        let mut in_pem = false;
        for line in text.lines() {
            let t = line.trim_start();
            let indent = &line[..line.len() - t.len()];
            if in_pem || t == "-----END CERTIFICATE-----" {
                in_pem = t != "-----END CERTIFICATE-----";
                if !in_pem {
                    out.push_str(&format!("{indent}<certificate>\n{line}\n"));
                }
                continue;
            }
            in_pem = t == "-----BEGIN CERTIFICATE-----";
            if t.starts_with("labctl.io/files-sha256:") {
                out.push_str(&format!("{indent}labctl.io/files-sha256: <sha256>\n"));
                continue;
            }
            if t.starts_with("labctl.io/sealed-hmac:")
                || t.starts_with("labctl.io/config-hmac:")
                || t.starts_with("labctl.io/mirrors-hmac:")
            {
                let key = t.split(':').next().unwrap();
                out.push_str(&format!("{indent}{key}: <hmac>\n"));
                continue;
            }
            if t == "encryptedData:" {
                in_data = true;
            } else if in_data && indent.len() == 4 {
                let key = t.split("\": ").next().unwrap();
                out.push_str(&format!("{indent}{key}\": <sealed>\n"));
                continue;
            } else {
                in_data = false;
            }
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[test]
fn snapshots_schemas_and_stable_bytes() {
    for (name, manifest) in labs() {
        let (lab, apps, first) = rendered(&manifest);
        insta::assert_snapshot!(name, snapshot_text(&first));

        // Valid against the Kubernetes and CRD schemas.
        let paths: Vec<_> = first.keys().map(|k| apps.join(k)).collect();
        let report = validate(&paths);
        assert!(report.contains(", 0 problems"), "{name}: {report}");

        // Twice: the same bytes, and --check agrees.
        render(&lab);
        assert_eq!(files(&apps), first, "{name}: a second render changed apps/");
        lab.cmd().args(["render", "--check"]).assert().success();
        let secrets_before = files(&lab.root().join("secrets"));
        render(&lab);
        assert_eq!(
            files(&lab.root().join("secrets")),
            secrets_before,
            "{name}: a render without changes rewrote secrets/"
        );
    }
}

#[test]
fn check_lists_differences_and_removes_stale_files() {
    let lab = lab(&nodeport_self_signed());
    let apps = lab.root().join("apps");
    let out = lab.cmd().args(["render", "--check"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "nothing rendered yet");
    render(&lab);
    std::fs::write(apps.join("registry/service.yaml"), "edited\n").unwrap();
    std::fs::write(apps.join("registry/old.yaml"), "stale\n").unwrap();
    let before = files(&apps);
    let out = lab.cmd().args(["render", "--check"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        stdout,
        "changed: apps/registry/service.yaml\nremoved: apps/registry/old.yaml\n"
    );
    assert_eq!(files(&apps), before, "--check writes nothing");
    render(&lab);
    lab.cmd().args(["render", "--check"]).assert().success();
    assert!(!apps.join("registry/old.yaml").exists());
}

#[test]
fn one_password_changes_only_what_depends_on_it() {
    let (lab, apps, before) = rendered(&minio_ingress());
    lab.set_secret("registry/ci", "A-New-Ci-Password-0");
    render(&lab);
    let after = files(&apps);
    let changed: Vec<_> = after
        .keys()
        .filter(|k| before.get(*k) != after.get(*k))
        .cloned()
        .collect();
    assert_eq!(
        changed,
        [
            "registry/pullsecret-ci-registry-ci.yaml",
            "registry/sealedsecret-registry-htpasswd.yaml"
        ]
    );
    assert_eq!(before.len(), after.len());
}

#[test]
fn no_plaintext_secret_under_apps() {
    let lab = lab(&minio_ingress());
    render(&lab);
    let mut values: Vec<(String, Vec<u8>)> = [ADMIN, CI, ACCESS, SECRET]
        .iter()
        .map(|v| (v.to_string(), v.as_bytes().to_vec()))
        .collect();
    for name in ["registry/http-secret", "render/hmac-key"] {
        values.push((name.into(), secret(&lab, name).into_bytes()));
    }
    // The bcrypt hashes (sealed in the htpasswd Secret) and the
    // user:password pairs of the pull secrets.
    let hashes = secret(&lab, "registry/htpasswd");
    let hashes: serde_json::Value = serde_json::from_str(&hashes).unwrap();
    for (user, kept) in hashes.as_object().unwrap() {
        let hash = kept["hash"].as_str().unwrap();
        values.push((format!("bcrypt hash of {user}"), hash.as_bytes().to_vec()));
    }
    values.push((
        "admin:password".into(),
        format!("admin:{ADMIN}").into_bytes(),
    ));
    let key = secret(&lab, "sealing/tls.key");
    for (i, l) in key.lines().filter(|l| !l.starts_with("-----")).enumerate() {
        values.push((format!("sealing key line {i}"), l.as_bytes().to_vec()));
    }
    let apps = files(&lab.root().join("apps"));
    assert!(apps.len() > 10);
    let mut leaks = Vec::new();
    for (path, bytes) in &apps {
        for (what, plain) in &values {
            if needles(plain).iter().any(|n| contains(bytes, n)) {
                leaks.push(format!("{what} in {path}"));
            }
        }
    }
    assert!(leaks.is_empty(), "plaintext in apps/: {leaks:#?}");
}

/// Mirrors: the passwords sealed in their own Secret and mounted as files,
/// the pods restarted when one changes, the nodes sent to labreg for
/// exactly the mirrored upstreams.
#[test]
fn mirrors_are_sealed_mounted_and_given_to_the_nodes() {
    let lab = lab(&nodeport_self_signed());
    render(&lab);
    let apps = files(&lab.root().join("apps"));
    for (path, bytes) in &apps {
        assert!(
            !needles(GHCR.as_bytes()).iter().any(|n| contains(bytes, n)),
            "the ghcr.io token in {path}"
        );
    }
    let text = |p: &str| String::from_utf8(apps[p].clone()).unwrap();
    let sealed = text("registry/sealedsecret-registry-mirrors.yaml");
    assert!(sealed.contains("    \"ghcr.io\": "), "{sealed}");
    let deployment = text("registry/deployment.yaml");
    assert!(
        deployment.contains("            - name: mirrors\n              mountPath: /etc/labreg/mirrors\n              readOnly: true\n"),
        "{deployment}"
    );
    assert!(deployment.contains("secretName: registry-mirrors"));
    let hmac = |d: &str| {
        d.lines()
            .find(|l| l.contains("labctl.io/mirrors-hmac:"))
            .unwrap()
            .to_string()
    };
    let before = hmac(&deployment);
    let trust = text("node-trust/configmap.yaml");
    let hosts: Vec<&str> = trust
        .lines()
        .filter_map(|l| l.trim().strip_prefix("# /etc/containerd/certs.d/"))
        .filter(|l| l.ends_with("/hosts.toml"))
        .collect();
    assert_eq!(
        hosts,
        [
            "reg.lab.internal:30500/hosts.toml",
            "docker.io/hosts.toml",
            "ghcr.io/hosts.toml"
        ],
        "{trust}"
    );

    // A new token: its Secret and the pods' annotation change, nothing else
    // of the registry.
    lab.cmd()
        .args(["secrets", "set", "mirrors/ghcr"])
        .write_stdin("Another-Token-77")
        .assert()
        .success();
    render(&lab);
    let after = files(&lab.root().join("apps"));
    let changed: Vec<&String> = after
        .iter()
        .filter(|(p, b)| apps.get(*p) != Some(*b))
        .map(|(p, _)| p)
        .collect();
    assert_eq!(
        changed,
        [
            "registry/deployment.yaml",
            "registry/sealedsecret-registry-mirrors.yaml"
        ],
        "{changed:?}"
    );
    let deployment = String::from_utf8(after["registry/deployment.yaml"].clone()).unwrap();
    assert_ne!(hmac(&deployment), before);
}

/// A mirror's own CA (`ca:`, a file made by openssl): a file of the sealed
/// config Secret beside config.yml, named by the config; a new CA changes
/// that Secret and restarts the pods; a file without a certificate stops
/// render, naming it.
#[test]
fn a_mirrors_own_ca_rides_with_the_config() {
    let lab = lab(&nodeport_self_signed().replacen(
        "    - name: ghcr.io\n",
        "    - name: ghcr.io\n      ca: certs/ghcr-ca.crt\n",
        1,
    ));
    let dir = lab.dir.path();
    let ca = lab.root().join("certs/ghcr-ca.crt");
    let make_ca = || {
        common::run_ok(
            common::tool("openssl")
                .args([
                    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                ])
                .args(["-subj", "/CN=ghcr mirror test CA", "-keyout"])
                .arg(dir.join("ghcr-ca.key"))
                .arg("-out")
                .arg(&ca),
        );
    };
    make_ca();
    render(&lab);
    let apps = files(&lab.root().join("apps"));
    let text =
        |apps: &BTreeMap<String, Vec<u8>>, p: &str| String::from_utf8(apps[p].clone()).unwrap();
    let sealed = text(&apps, "registry/sealedsecret-registry-config.yaml");
    assert!(
        sealed.contains("    \"mirror-ca-ghcr.io.crt\": "),
        "{sealed}"
    );
    let config_hmac = |apps: &BTreeMap<String, Vec<u8>>| {
        text(apps, "registry/deployment.yaml")
            .lines()
            .find(|l| l.contains("labctl.io/config-hmac:"))
            .unwrap()
            .to_string()
    };

    make_ca();
    render(&lab);
    let after = files(&lab.root().join("apps"));
    assert_ne!(config_hmac(&after), config_hmac(&apps));
    assert_ne!(
        after["registry/sealedsecret-registry-config.yaml"],
        apps["registry/sealedsecret-registry-config.yaml"]
    );

    std::fs::copy(dir.join("ghcr-ca.key"), &ca).unwrap();
    let out = lab.cmd().arg("render").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("registry.mirrors ghcr.io: ca certs/ghcr-ca.crt holds no PEM certificate"),
        "{err}"
    );
    assert!(files(&lab.root().join("apps")) == after, "apps/ changed");
}

#[test]
fn bad_input_is_named_and_leaves_apps_as_it_was() {
    let (lab, apps, good) = rendered(&nodeport_self_signed());
    let tpl = lab.root().join("templates/registry/service.yaml.tera");
    std::fs::create_dir_all(tpl.parent().unwrap()).unwrap();
    let fails = |want: &[&str]| {
        let out = lab.cmd().arg("render").output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{want:?}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        for w in want {
            assert!(stderr.contains(w), "want {w:?} in:\n{stderr}");
        }
        assert!(stderr.contains("apps/ was not changed"), "{stderr}");
        assert_eq!(files(&apps), good, "apps/ changed after: {stderr}");
    };

    // (template text, what the message must name besides the template)
    for (text, want) in [
        ("apiVersion: v1\nkind: Service\n{% if %}\n", "3:"),
        (
            "apiVersion: v1\nkind: [Service\nmetadata: {name: x}\n",
            "not valid YAML",
        ),
        (
            "apiVersion: v1\nmetadata:\n  name: registry\n",
            "has no kind",
        ),
        (
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ nothing.here }}\n",
            "nothing.here",
        ),
    ] {
        std::fs::write(&tpl, text).unwrap();
        fails(&["templates/registry/service.yaml.tera", want]);
    }
    std::fs::remove_file(&tpl).unwrap();

    let admin = lab.root().join("secrets/registry/admin.age");
    let saved = std::fs::read(&admin).unwrap();
    std::fs::remove_file(&admin).unwrap();
    fails(&[
        "secret \"registry/admin\" does not exist",
        "labctl secrets set registry/admin",
    ]);
    std::fs::write(&admin, saved).unwrap();

    let config_tpl = lab.root().join("templates/registry/config.yml.tera");
    std::fs::write(
        &config_tpl,
        "version: 0.1\nstorage:\n  filesystem: {rootdirectory: /x}\nhttp:\n  adress: :5000\n",
    )
    .unwrap();
    fails(&["registry/config.yml.tera", "http.adress"]);
    std::fs::remove_file(&config_tpl).unwrap();

    // Mirrors on registry:2, which caches one upstream and then refuses
    // every push.
    let manifest = lab.root().join("lab.yaml");
    let saved = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        saved.replace(
            "host: reg.lab.internal\n",
            "host: reg.lab.internal\n  image: registry:2\n",
        ),
    )
    .unwrap();
    fails(&[
        "registry.mirrors needs labreg, and registry.image is registry:2",
        "use image: labreg, or remove registry.mirrors",
    ]);
    std::fs::write(&manifest, saved).unwrap();

    lab.cmd().args(["render", "--check"]).assert().success();
}
