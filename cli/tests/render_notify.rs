//! `registry.notifications` in lab.yaml: rendered into registry:2's own
//! `notifications:` section of the sealed config.yml (for labreg and for
//! registry:2 alike), header values read from `secret:` references and
//! never written anywhere in plaintext; a credential written literally in
//! lab.yaml is refused with the fix.

mod common;

use common::render::{files, lab, minio_ingress, nodeport_self_signed, render, secret, unseal};

const TOKEN: &str = "Bearer Render-Hook-Token-66k";

const NOTIFICATIONS: &str = "  notifications:
    includeReferences: true
    endpoints:
      - name: ci
        url: https://ci.lan/hooks/registry
        headers:
          Authorization: secret:hooks/ci-token
          X-Source: homelab
        timeout: 5s
        threshold: 5
        backoff: 10s
        ignore: {actions: [pull]}
      - name: audit
        url: http://audit.lan:8080/events
";

/// What config.yml holds for [`NOTIFICATIONS`]: registry:2's keys.
const RENDERED: &str = "notifications:
  events:
    includereferences: true
  endpoints:
    - name: \"ci\"
      url: \"https://ci.lan/hooks/registry\"
      headers:
        Authorization: [\"Bearer Render-Hook-Token-66k\"]
        X-Source: [\"homelab\"]
      timeout: \"5s\"
      threshold: 5
      backoff: \"10s\"
      ignore:
        actions: [\"pull\"]
        mediatypes: []
    - name: \"audit\"
      url: \"http://audit.lan:8080/events\"
health:
";

fn with_notifications(manifest: &str) -> String {
    let at = manifest.find("  pullSecrets:").expect("a registry section");
    format!("{}{NOTIFICATIONS}{}", &manifest[..at], &manifest[at..])
}

/// Renders the lab and returns its config.yml, opened.
fn rendered_config(manifest: &str) -> (common::TempLab, String) {
    let lab = lab(&with_notifications(manifest));
    lab.cmd()
        .args(["secrets", "set", "hooks/ci-token"])
        .write_stdin(TOKEN)
        .assert()
        .success();
    render(&lab);
    let key = lab.dir.path().join("home/sealing-key.pem");
    std::fs::write(&key, secret(&lab, "sealing/tls.key")).unwrap();
    let apps = files(&lab.root().join("apps"));
    for (path, bytes) in &apps {
        assert!(
            !common::contains(bytes, b"Render-Hook-Token-66k"),
            "{path} holds the token in plaintext"
        );
    }
    let sealed = &apps["registry/sealedsecret-registry-config.yaml"];
    let doc: serde_json::Value =
        serde_saphyr::from_str(std::str::from_utf8(sealed).unwrap()).unwrap();
    let value = doc["spec"]["encryptedData"]["config.yml"]
        .as_str()
        .unwrap()
        .to_string();
    let plain = unseal(&key, "registry/registry-config", &[value]);
    let config = String::from_utf8(plain[0].clone().expect("config.yml opens")).unwrap();
    (lab, config)
}

#[test]
fn notifications_render_into_the_sealed_config_for_labreg_and_registry2() {
    for manifest in [nodeport_self_signed(), minio_ingress()] {
        let (_lab, config) = rendered_config(&manifest);
        assert!(config.contains(RENDERED), "{config}");
        // labreg's loader reads it as registry:2 would: two endpoints,
        // the token as the Authorization header.
        let loaded =
            labreg::config::Config::from_yaml(&config, Vec::<(String, String)>::new()).unwrap();
        assert!(loaded.unknown_keys.is_empty(), "{:?}", loaded.unknown_keys);
        let n = loaded.config.notify_settings().unwrap().unwrap();
        assert_eq!(n.endpoints.len(), 2);
        assert_eq!(n.endpoints[0].headers["authorization"], TOKEN);
        assert_eq!(n.endpoints[0].ignored_actions, ["pull"]);
        assert!(n.include_references);
    }
}

#[test]
fn a_credential_written_in_lab_yaml_is_refused() {
    let manifest = with_notifications(&nodeport_self_signed())
        .replace("secret:hooks/ci-token", "Bearer literal-token");
    let lab = common::TempLab::new(&manifest);
    let out = lab.cmd().arg("validate").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("registry.notifications.endpoints[0].headers.Authorization holds a credential written in lab.yaml"),
        "{stderr}"
    );
    assert!(
        stderr.contains("labctl secrets set hooks/authorization"),
        "{stderr}"
    );
    let bad_url = with_notifications(&nodeport_self_signed())
        .replace("https://ci.lan/hooks/registry", "ci.lan");
    let lab = common::TempLab::new(&bad_url);
    let out = lab.cmd().arg("validate").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is not an http(s) URL"), "{stderr}");
}
