//! Broken manifests: each must be reported by `labctl validate` with its
//! exact position and a precise message, and exit 1.

mod common;

use common::{TempLab, base_manifest};

struct Case {
    name: &'static str,
    /// The manifest, from the base with (old, new) replacements, or whole.
    yaml: String,
    /// Expected `LINE:COL: error: MESSAGE-PREFIX` lines (each must appear).
    expect: &'static [&'static str],
    /// An expected `help:` text, if any.
    help: Option<&'static str>,
}

fn edit(pairs: &[(&str, &str)]) -> String {
    let mut s = base_manifest();
    for (old, new) in pairs {
        assert!(s.contains(old), "base has no {old:?}");
        s = s.replacen(old, new, 1);
    }
    s
}

fn cases() -> Vec<Case> {
    let c = |name, yaml, expect, help| Case {
        name,
        yaml,
        expect,
        help,
    };
    vec![
        c(
            "empty file",
            String::new(),
            &["1:1: error: the manifest is empty"],
            Some("labctl init"),
        ),
        c(
            "only comments",
            "# nothing here\n".into(),
            &["1:1: error: the manifest is empty"],
            None,
        ),
        c(
            "unclosed quote",
            edit(&[("name: regcred", "name: \"regcred")]),
            &["32:13: error: YAML syntax error: unclosed quote"],
            None,
        ),
        c(
            "bad indentation",
            edit(&[(
                "  namespace: registry\n  host",
                "  namespace: registry\n host",
            )]),
            &["14:2: error: YAML syntax error:"],
            Some("indentation"),
        ),
        c(
            "unclosed flow list",
            edit(&[("  delete: true", "  delete: [true")]),
            &["24:11: error: YAML syntax error:"],
            None,
        ),
        c(
            "unknown alias",
            edit(&[("  image: labreg", "  image: *img")]),
            &["15:10: error: YAML syntax error: alias references unknown anchor"],
            None,
        ),
        c(
            "duplicate key",
            edit(&[(
                "  image: labreg",
                "  image: labreg\n  host: other.example.com",
            )]),
            &["16:3: error: duplicate key \"host\" (first at 14:3)"],
            None,
        ),
        c(
            "top level is a list",
            "- a\n- b\n".into(),
            &["1:1: error: the manifest must be a mapping, found a list"],
            None,
        ),
        c(
            "unknown top-level key",
            edit(&[("registry:\n  namespace", "registy:\n  namespace")]),
            &[
                "12:1: error: unknown key \"registy\" in the top level",
                "1:1: error: missing required key \"registry\" in the manifest",
            ],
            Some("did you mean \"registry\"?"),
        ),
        c(
            "unknown key in registry",
            edit(&[("  host: docker", "  hots: docker")]),
            &[
                "14:3: error: unknown key \"hots\" in registry",
                "13:3: error: missing required key \"host\" in registry",
            ],
            Some("did you mean \"host\"?"),
        ),
        c(
            "unknown key, wrong case",
            edit(&[("      className: nginx", "      classname: nginx")]),
            &["27:7: error: unknown key \"classname\" in registry.expose.ingress"],
            Some("did you mean \"className\"?"),
        ),
        c(
            "unknown key, no suggestion",
            edit(&[("  delete: true", "  delete: true\n  colour: blue")]),
            &["24:3: error: unknown key \"colour\" in registry"],
            Some("the keys of registry are:"),
        ),
        c(
            "replicas is a string",
            edit(&[("replicas: 1", "replicas: two")]),
            &["16:13: error: registry.replicas must be an integer from 1 to 100, found a string"],
            None,
        ),
        c(
            "replicas zero",
            edit(&[("replicas: 1", "replicas: 0")]),
            &["16:13: error: registry.replicas is 0, out of range"],
            Some("use a value from 1 to 100"),
        ),
        c(
            "delete: yes",
            edit(&[("delete: true", "delete: yes")]),
            &["23:11: error: registry.delete must be true or false, found the string \"yes\""],
            None,
        ),
        c(
            "name is a number",
            edit(&[("name: homelab", "name: 42")]),
            &["4:9: error: metadata.name must be a string, found an integer"],
            Some("quote the value"),
        ),
        c(
            "recipients not a list",
            edit(&[("  recipients:\n    - ", "  recipients: ")]),
            &["10:15: error: secrets.recipients must be a list, found a string"],
            None,
        ),
        c(
            "bad recipient",
            edit(&[("    - age1", "    - age2")]),
            &["11:7: error: \"age2"],
            Some("age-keygen -y"),
        ),
        c(
            "secret key as recipient",
            // A truncated fake secret key pasted as a recipient by mistake
            // (no real or demo key material).
            edit(&[("    - age1uwx", "    - AGE-SECRET-KEY-1QQQ\n    - age1uwx")]),
            &["11:7: error: this is an age secret key, not a recipient"],
            Some("remove it"),
        ),
        c(
            "no recipients",
            edit(&[("  recipients:\n    - ", "  recipients: []\n  #")]),
            &["10:15: error: secrets.recipients is empty"],
            None,
        ),
        c(
            "missing secret",
            edit(&[("secret:registry/admin", "secret:registry/missing")]),
            &[
                "19:17: error: secret \"registry/missing\" does not exist (no secrets/registry/missing.age)",
            ],
            Some("labctl secrets set registry/missing"),
        ),
        c(
            "literal password",
            edit(&[("secret:registry/admin", "hunter2")]),
            &[
                "19:17: error: registry.users.admin.password must be a secret reference, not a literal value",
            ],
            Some("labctl secrets set"),
        ),
        c(
            "bad secret name",
            edit(&[("secret:registry/admin", "secret:../admin")]),
            &["19:17: error: \"../admin\" is not a valid secret name"],
            None,
        ),
        c(
            "invalid host",
            edit(&[("host: docker.registry", "host: docker_registry")]),
            &[
                "14:9: error: registry.host \"docker_registry.example.com\" is not a valid host name",
            ],
            None,
        ),
        c(
            "host with scheme",
            edit(&[("host: docker", "host: https://docker")]),
            &[
                "14:9: error: registry.host \"https://docker.registry.example.com\" contains a URL scheme",
            ],
            Some("host: docker.registry.example.com"),
        ),
        c(
            "host with port",
            edit(&[(
                "host: docker.registry.example.com",
                "host: docker.registry.example.com:5000",
            )]),
            &["14:9: error: registry.host \"docker.registry.example.com:5000\" contains a port"],
            None,
        ),
        c(
            "size 20 GB",
            edit(&[("size: 20Gi", "size: 20 GB")]),
            &[
                "22:13: error: registry.storage.filesystem.size \"20 GB\" is not a Kubernetes quantity",
            ],
            Some("e.g. 20Gi"),
        ),
        c(
            "size without unit",
            edit(&[("size: 20Gi", "size: 20")]),
            &["22:13: error: registry.storage.filesystem.size 20 has no unit"],
            Some("20Gi"),
        ),
        c(
            "nodePort out of range",
            edit(&[(
                "    ingress:\n      className: nginx\n      clusterIssuer: letsencrypt-prod\n      proxyBodySize: \"0\"",
                "    nodePort: 80",
            )]),
            &["26:15: error: registry.expose.nodePort is 80, out of range"],
            Some("use a value from 30000 to 32767"),
        ),
        c(
            "s3 port out of range",
            edit(&[(
                "    filesystem:\n      size: 20Gi",
                "    s3:\n      endpoint: http://minio:99999\n      bucket: container-repo\n      accessKey: secret:registry/admin\n      secretKey: secret:registry/admin",
            )]),
            &["22:17: error: registry.storage.s3.endpoint has port 99999, out of range"],
            Some("from 1 to 65535"),
        ),
        c(
            "both storages",
            edit(&[("    filesystem:\n", "    s3: {}\n    filesystem:\n")]),
            &["21:5: error: registry.storage has both filesystem and s3"],
            Some("exactly one"),
        ),
        c(
            "both ingress and nodePort",
            edit(&[("  expose:\n", "  expose:\n    nodePort: 30500\n")]),
            &["26:5: error: registry.expose has both ingress and nodePort"],
            None,
        ),
        c(
            "wrong apiVersion",
            edit(&[("apiVersion: labctl/v1alpha1", "apiVersion: labctl/v1")]),
            &["1:13: error: apiVersion \"labctl/v1\" is not supported"],
            Some("apiVersion: labctl/v1alpha1"),
        ),
        c(
            "wrong kind",
            edit(&[("kind: Lab", "kind: Cluster")]),
            &["2:7: error: kind \"Cluster\" is not supported"],
            None,
        ),
        c(
            "bad namespace",
            edit(&[("namespace: registry", "namespace: Registry_NS")]),
            &["13:14: error: registry.namespace \"Registry_NS\" is not a valid Kubernetes name"],
            Some("registry-ns"),
        ),
        c(
            "pullSecrets not a list",
            edit(&[(
                "  pullSecrets:\n    - namespace: default\n      name: regcred",
                "  pullSecrets: regcred",
            )]),
            &["30:16: error: registry.pullSecrets must be a list, found a string"],
            None,
        ),
        c(
            "replicas with filesystem",
            edit(&[("replicas: 1", "replicas: 3")]),
            &["16:13: error: registry.replicas is 3 but the storage is a filesystem volume"],
            Some("s3"),
        ),
        c(
            "bad tls",
            edit(&[(
                "      proxyBodySize: \"0\"",
                "      proxyBodySize: \"0\"\n    tls: letsencrypt",
            )]),
            &[
                "30:10: error: registry.expose.tls \"letsencrypt\" is not one of self-signed, cluster-issuer, none",
            ],
            None,
        ),
        c(
            "git URL",
            edit(&[(
                "repoURL: https://github.com/me/homelab.git",
                "repoURL: github.com/me/homelab",
            )]),
            &["6:12: error: git.repoURL \"github.com/me/homelab\" is not a git URL"],
            None,
        ),
        c(
            "missing metadata",
            edit(&[("metadata:\n  name: homelab\n", "")]),
            &["1:1: error: missing required key \"metadata\" in the manifest"],
            Some("add metadata:"),
        ),
        c(
            "access rule names unknown user",
            edit(&[(
                "      name: regcred",
                "      name: regcred\n  access:\n    - users: [bob]\n      actions: [pull, fly]",
            )]),
            &[
                "34:15: error: user \"bob\" is not in registry.users",
                "35:23: error: unknown action \"fly\"",
            ],
            None,
        ),
        c(
            "retention: a duration in words, a policy that deletes nothing",
            edit(&[(
                "      name: regcred",
                "      name: regcred\n  retention:\n    policies:\n      - repositories: [\"ci/*\"]\n        deleteTagsOlderThan: a month\n      - repositories: [x]\n        keepTags: [latest]",
            )]),
            &[
                "36:30: error: registry.retention.policies[0].deleteTagsOlderThan: \"a month\" is not a duration",
                "37:9: error: registry.retention.policies[1] deletes nothing",
            ],
            Some("30d"),
        ),
        c(
            "nodes: a runtime by another spelling",
            base_manifest() + "nodes:\n  runtime: crio\n",
            &["34:12: error: nodes.runtime \"crio\" is not one of containerd, k3s, rke2, cri-o"],
            Some("write runtime: cri-o"),
        ),
        c(
            "nodes: registries.yaml is k3s's and rke2's",
            base_manifest() + "nodes:\n  registriesYaml: true\n",
            &[
                "34:19: error: nodes.registriesYaml is for k3s and rke2, and nodes.runtime is containerd",
            ],
            Some("runtime: k3s"),
        ),
        c(
            "nodes: a relative host folder and a mirror URL",
            base_manifest()
                + "  mirrors: [docker.io]\nnodes:\n  paths: {certsD: etc/containerd/certs.d}\n  mirror: [docker.io, https://ghcr.io]\n",
            &[
                "35:19: error: nodes.paths.certsD \"etc/containerd/certs.d\" must be an absolute folder",
                "36:23: error: nodes.mirror[1] \"https://ghcr.io\" is not a registry name",
            ],
            Some("e.g. docker.io or ghcr.io"),
        ),
        c(
            "nodes: a mirror labreg does not mirror",
            base_manifest() + "nodes:\n  mirror: [ghcr.io]\n",
            &[
                "34:12: error: nodes.mirror[0] \"ghcr.io\" is not in registry.mirrors: labreg would not mirror it",
            ],
            Some("add ghcr.io to registry.mirrors, or remove it here"),
        ),
        c(
            "registry.mirrors: a password without its user, a ttl that is no duration, a name twice",
            base_manifest()
                + "  mirrors:\n    - {name: ghcr.io, password: secret:registry/admin}\n    - {name: quay.io, ttl: forever}\n    - docker.io\n    - docker.io\n",
            &[
                "34:33: error: registry.mirrors[0].password is set without registry.mirrors[0].username",
                "35:28: error: registry.mirrors[1].ttl: \"forever\" is not a duration",
                "37:7: error: registry.mirrors[3]: the upstream docker.io is listed twice",
            ],
            Some("add username:"),
        ),
        c(
            "registry.mirrors: a URL without scheme, a name with a path",
            base_manifest() + "  mirrors:\n    - {name: ghcr.io/me, url: ghcr.io}\n",
            &[
                "34:14: error: registry.mirrors[0].name \"ghcr.io/me\" is not a registry name",
                "34:31: error: registry.mirrors[0].url \"ghcr.io\" is not an http(s) URL",
            ],
            Some("write it with its scheme"),
        ),
    ]
}

#[test]
fn broken_manifests_are_reported_with_position_and_fix() {
    let cases = cases();
    assert!(cases.len() >= 25);
    let mut failures = Vec::new();
    for case in cases {
        let lab = TempLab::new(&case.yaml);
        std::fs::create_dir_all(lab.root().join("secrets/registry")).unwrap();
        std::fs::write(lab.root().join("secrets/registry/admin.age"), "x").unwrap();
        let out = lab.cmd().args(["validate"]).output().unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        let n = case.expect.len();
        let count_line = format!("lab.yaml: {n} problem{}\n", if n == 1 { "" } else { "s" });
        let ok = out.status.code() == Some(1)
            && case
                .expect
                .iter()
                .all(|want| stderr.contains(&format!("lab.yaml:{want}")))
            && case
                .help
                .is_none_or(|h| stderr.contains("  help: ") && stderr.contains(h))
            && stderr.ends_with(&count_line);
        if !ok {
            failures.push(format!(
                "--- {}: expected {:?} (help {:?}, {n} problems, exit 1), got exit {:?}:\n{stderr}",
                case.name,
                case.expect,
                case.help,
                out.status.code()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let yaml = edit(&[
        ("name: homelab", "name: Home Lab"),
        ("host: docker", "hots: docker"),
        ("size: 20Gi", "size: 20 GB"),
        ("delete: true", "delete: 1"),
    ]);
    let lab = TempLab::new(&yaml);
    let out = lab
        .cmd()
        .args(["validate", "--output", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let got: Vec<(u64, u64)> = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["line"].as_u64().unwrap(), p["column"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        got,
        // ... and the missing secret of a reference that is sound (19:17).
        vec![(4, 9), (13, 3), (14, 3), (19, 17), (22, 13), (23, 11)],
        "{v:#}"
    );
    assert_eq!(v["valid"], false);
}

/// `labctl validate --show` of a valid manifest: the lab with its defaults.
fn show(yaml: &str) -> String {
    let lab = TempLab::new(yaml);
    std::fs::create_dir_all(lab.root().join("secrets/registry")).unwrap();
    std::fs::write(lab.root().join("secrets/registry/admin.age"), "x").unwrap();
    let out = lab.cmd().args(["validate", "--show"]).output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn the_base_manifest_is_valid_with_defaults_filled() {
    let stdout = show(
        &base_manifest()
            .replace("  image: labreg\n", "")
            .replace("  delete: true\n", ""),
    );
    assert!(stdout.contains("image: labreg"), "{stdout}");
    assert!(stdout.contains("delete: false"), "{stdout}");
    assert!(stdout.contains("tls: cluster-issuer"), "{stdout}");
    assert!(stdout.contains("namespace: kube-system"), "{stdout}");
    assert!(!stdout.contains("nodes:"), "{stdout}");
}

#[test]
fn nodes_mirror_what_the_registry_mirrors() {
    let stdout = show(
        &(base_manifest()
            + "  access:\n    - {users: [anonymous], repositories: [\"docker.io/*\"], actions: [pull]}\n  mirrors:\n    - docker.io\n    - {name: ghcr.io, url: https://ghcr.example.com}\nnodes: {runtime: containerd}\n"),
    );
    let v0: serde_json::Value = serde_saphyr::from_str(&stdout).unwrap();
    assert_eq!(v0["registry"]["access"][0]["users"][0], "anonymous");
    let v: serde_json::Value = serde_saphyr::from_str(&stdout).unwrap();
    assert_eq!(v["registry"]["mirrors"][0]["name"], "docker.io", "{stdout}");
    assert_eq!(
        v["registry"]["mirrors"][1]["url"],
        "https://ghcr.example.com"
    );
    assert_eq!(
        v["nodes"]["mirror"],
        serde_json::json!(["docker.io", "ghcr.io"]),
        "{stdout}"
    );
}

#[test]
fn nodes_defaults_follow_the_runtime() {
    let stdout = show(&(base_manifest() + "nodes: {runtime: rke2, registriesYaml: true}\n"));
    for want in [
        "runtime: rke2",
        "namespace: node-trust",
        "image: labreg",
        "registriesYaml: true",
    ] {
        assert!(stdout.contains(want), "{want} in {stdout}");
    }
}
