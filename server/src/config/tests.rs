use super::*;

fn load(text: &str, vars: &[(&str, &str)]) -> Result<Loaded, ConfigError> {
    Config::from_yaml(
        text,
        vars.iter().map(|(a, b)| (a.to_string(), b.to_string())),
    )
}

#[test]
fn default_config_is_the_registry_image_one() {
    let l = load(DEFAULT_CONFIG, &[]).unwrap();
    assert!(l.unknown_keys.is_empty(), "{:?}", l.unknown_keys);
    assert_eq!(
        l.config
            .storage_driver()
            .unwrap()
            .filesystem()
            .unwrap()
            .rootdirectory,
        "/var/lib/registry"
    );
    assert_eq!(l.config.listen_addr().unwrap().port(), 5000);
    assert_eq!(
        l.config.http.headers["X-Content-Type-Options"],
        vec!["nosniff"]
    );
    assert!(!l.config.storage.delete.enabled);
}

#[test]
fn seed_003_config_with_filesystem_storage() {
    let text =
        include_str!("../../tests/fixtures/seed003-config.yml").replace("ROOTDIRECTORY", "/data");
    let l = load(&text, &[]).unwrap();
    assert!(l.unknown_keys.is_empty(), "{:?}", l.unknown_keys);
    let c = l.config;
    assert_eq!(c.log_level_name().as_deref(), Some("debug"));
    assert_eq!(c.log.formatter.as_deref(), Some("json"));
    assert!(c.storage.delete.enabled && c.storage.redirect.disable);
    assert_eq!(c.http.secret.as_deref(), Some("a-local-deployment-secret"));
}

#[test]
fn environment_overrides_win_and_numbers_become_strings() {
    let l = load(
        DEFAULT_CONFIG,
        &[
            ("REGISTRY_HTTP_ADDR", "127.0.0.1:5001"),
            ("REGISTRY_HTTP_SECRET", "12345"),
            ("REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY", "/data"),
            ("REGISTRY_STORAGE_DELETE_ENABLED", "true"),
        ],
    )
    .unwrap();
    assert_eq!(l.overrides.len(), 4);
    assert_eq!(
        l.config.listen_addr().unwrap().to_string(),
        "127.0.0.1:5001"
    );
    assert_eq!(l.config.http.secret.as_deref(), Some("12345"));
    assert_eq!(
        l.config
            .storage_driver()
            .unwrap()
            .filesystem()
            .unwrap()
            .rootdirectory,
        "/data"
    );
    assert!(l.config.storage.delete.enabled);
}

#[test]
fn unknown_keys_warn_with_their_path() {
    let l = load(
        "version: 0.1\nstorage: {filesystem: {rootdirectory: /x, bogus: 1}}\nnotifications: {}\n",
        &[("REGISTRY_PORT", "tcp://10.0.0.1:5000")],
    )
    .unwrap();
    let mut keys = l.unknown_keys.clone();
    keys.sort();
    assert_eq!(keys, vec!["port", "storage.filesystem.bogus"]);
}

#[test]
fn unknown_keys_in_labregs_own_section_stop_the_load() {
    let e = load(
        "version: 0.1\nstorage: {filesystem: {rootdirectory: /x}}\nlabreg: {retenton: {policies: []}}\n",
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("labreg.retenton") && e.contains("spelling"),
        "{e}"
    );
}

#[test]
fn bad_values_fail_naming_the_key() {
    for (text, vars, key) in [
        (
            "storage: {filesystem: {}, delete: {enabled: maybe}}",
            vec![],
            "storage.delete.enabled",
        ),
        (
            "storage: filesystem\nlog: {level: loud}",
            vec![],
            "log.level",
        ),
        (
            "storage: filesystem\nhttp: {addr: 'nope'}",
            vec![],
            "http.addr",
        ),
        ("http: {addr: ':5000'}", vec![], "storage"),
        (
            "storage: {filesystem: {}, s3: {bucket: b}}",
            vec![],
            "storage",
        ),
        ("storage: inmemory", vec![], "storage.inmemory"),
        ("version: 0.2\nstorage: filesystem", vec![], "version"),
        (
            "storage: filesystem",
            vec![("REGISTRY_HTTP_HEADERS", "[a]")],
            "http.headers",
        ),
        (
            "storage: filesystem",
            vec![("REGISTRY_CATALOG_MAXENTRIES", "many")],
            "catalog.maxentries",
        ),
        (
            "storage: {filesystem: {}, maintenance: {uploadpurging: {age: soon}}}",
            vec![],
            "storage.maintenance.uploadpurging.age",
        ),
        (
            "storage: filesystem\nauth: {token: {realm: x}}",
            vec![],
            "auth",
        ),
        (
            "storage: filesystem\nauth: htpasswd",
            vec![],
            "auth.htpasswd.path",
        ),
        (
            "storage: filesystem\nhttp: {tls: {certificate: /c}}",
            vec![],
            "http.tls",
        ),
        (
            "storage: filesystem\nhttp: {tls: {certificate: /c, key: /k, minimumtls: ssl3}}",
            vec![],
            "http.tls.minimumtls",
        ),
        (
            "storage: filesystem\nlabreg: {access: [{users: [a], repositories: [x], actions: [pull]}]}",
            vec![],
            "labreg.access",
        ),
        (
            "storage: filesystem\nauth: {htpasswd: {path: /x}}\nlabreg: {access: [{users: [a], repositories: [x], actions: [fly]}]}",
            vec![],
            "labreg.access[0].actions[0]",
        ),
        (
            "storage: filesystem\nhttp: {prefix: /registry}",
            vec![],
            "http.prefix",
        ),
    ] {
        match load(text, &vars) {
            Err(ConfigError::Invalid { key: k, message }) => {
                assert_eq!(k, key, "{text}: {message}")
            }
            other => panic!("{text}: expected an error on {key}, got {other:?}"),
        }
    }
    assert!(matches!(load("[1, 2", &[]), Err(ConfigError::Yaml(_))));
    assert!(matches!(load("- a\n- b\n", &[]), Err(ConfigError::Yaml(_))));
}

#[test]
fn seed_001_variables_without_a_config_file() {
    let l = load(
        DEFAULT_CONFIG,
        &[
            ("REGISTRY_HTTP_TLS_CERTIFICATE", "/certs/registry-cert.crt"),
            ("REGISTRY_HTTP_TLS_KEY", "/certs/registry-cert.key"),
            ("REGISTRY_AUTH", "htpasswd"),
            ("REGISTRY_AUTH_HTPASSWD_REALM", "Registry Realm"),
            ("REGISTRY_AUTH_HTPASSWD_PATH", "/auth/htpasswd"),
        ],
    )
    .unwrap();
    let h = l.config.auth.htpasswd.as_ref().unwrap();
    assert_eq!(
        (h.realm.as_str(), h.path.as_str()),
        ("Registry Realm", "/auth/htpasswd")
    );
    let t = l.config.http.tls.as_ref().unwrap();
    assert_eq!(
        (t.certificate.as_str(), t.key.as_str()),
        ("/certs/registry-cert.crt", "/certs/registry-cert.key")
    );
    assert!(l.unknown_keys.is_empty(), "{:?}", l.unknown_keys);
}

#[test]
fn s3_from_registry_variables_like_the_seeds() {
    let l = load(
        "version: 0.1\nstorage:\n  s3:\n    bucket: from-file\n",
        &[
            ("REGISTRY_STORAGE_S3_ACCESSKEY", "AK"),
            ("REGISTRY_STORAGE_S3_SECRETKEY", "SK"),
            (
                "REGISTRY_STORAGE_S3_REGIONENDPOINT",
                "http://minio.lan:9000",
            ),
            ("REGISTRY_STORAGE_S3_SECURE", "false"),
            ("REGISTRY_STORAGE_S3_CHUNKSIZE", "6291456"),
            ("REGISTRY_STORAGE_S3_FORCEPATHSTYLE", "true"),
            ("REGISTRY_STORAGE_REDIRECT_DISABLE", "true"),
        ],
    )
    .unwrap();
    assert!(l.unknown_keys.is_empty(), "{:?}", l.unknown_keys);
    let DriverConfig::S3(s3) = l.config.storage_driver().unwrap() else {
        panic!("s3 expected");
    };
    let s = s3.settings_with(&|_| None).unwrap();
    assert_eq!(s.bucket, "from-file");
    assert_eq!(s.endpoint, "http://minio.lan:9000");
    assert_eq!(s.chunk_size, 6 << 20);
    assert!(s.path_style);
    assert!(l.config.storage.redirect.disable);
    assert!(
        !format!("{:?}", l.config).contains("SK"),
        "secrets stay out of Debug"
    );
    let err = load(
        "storage:\n  s3:\n    bucket: b\n    region: r\n    chunksize: 100\n",
        &[],
    )
    .unwrap_err();
    assert!(err.to_string().contains("storage.s3"), "{err}");
}

/// Sections copied from distribution's configuration reference
/// (docs/configuration.md, "List of configuration options"): each one
/// labreg does not implement stops the load, naming its key.
#[test]
fn unimplemented_registry2_sections_stop_the_start() {
    let base = "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /var/lib/registry\n";
    for (section, key) in [
        (
            "middleware:\n  storage:\n    - name: redirect\n      options:\n        baseurl: https://example.com/\n",
            "middleware",
        ),
        (
            "reporting:\n  bugsnag:\n    apikey: bugsnagapikey\n",
            "reporting",
        ),
        (
            "health:\n  tcp:\n    - addr: redis-server.domain.com:6379\n      timeout: 3s\n",
            "health.tcp",
        ),
        (
            "compatibility:\n  schema1:\n    signingkeyfile: /etc/registry/key.json\n    enabled: true\n",
            "compatibility.schema1.enabled",
        ),
        (
            "validation:\n  manifests:\n    urls:\n      allow:\n        - ^https?://([^/]+\\.)*example\\.com/\n",
            "validation.manifests.urls",
        ),
        (
            "http:\n  http2:\n    disabled: true\n",
            "http.http2.disabled",
        ),
        (
            "log:\n  hooks:\n    - type: mail\n      levels: [panic]\n",
            "log.hooks",
        ),
    ] {
        let text = format!("{base}{section}");
        let err = load(&text, &[]).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("config key {key}: not implemented")),
            "{section}: {err}"
        );
    }
    let err = load(
        &format!("{base}  s3: {{}}\n"),
        &[("REGISTRY_STORAGE_S3_ENCRYPT", "true")],
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("storage.s3.encrypt"), "{err}");
}

/// registry:2's notifications, as the reference writes them and as
/// `REGISTRY_NOTIFICATIONS_*` variables (a list is one YAML value, as
/// distribution reads it): implemented, so they load into endpoints.
#[test]
fn notifications_and_their_variables_load() {
    let base = "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /var/lib/registry\n";
    let file = load(
        &format!("{base}notifications:\n  events:\n    includereferences: true\n  endpoints:\n    - name: alistener\n      disabled: false\n      url: https://my.listener.com/event\n      headers:\n        Authorization: [Bearer s3cret]\n      timeout: 1s\n      threshold: 10\n      backoff: 1s\n      ignoredmediatypes:\n        - application/octet-stream\n      ignore:\n        mediatypes:\n           - application/octet-stream\n        actions:\n           - pull\n"),
        &[],
    )
    .unwrap();
    assert!(file.unknown_keys.is_empty(), "{:?}", file.unknown_keys);
    let n = file.config.notify_settings().unwrap().unwrap();
    assert_eq!(n.endpoints[0].name, "alistener");
    assert!(n.include_references);
    let vars = load(
        base,
        &[
            (
                "REGISTRY_NOTIFICATIONS_ENDPOINTS",
                "[{name: hook, url: 'http://10.0.0.9:8080/events', timeout: 500ms, headers: {X-Token: [abc]}}]",
            ),
            ("REGISTRY_NOTIFICATIONS_EVENTS_INCLUDEREFERENCES", "true"),
        ],
    )
    .unwrap();
    let n = vars.config.notify_settings().unwrap().unwrap();
    let e = &n.endpoints[0];
    assert_eq!(
        (e.name.as_str(), e.url.as_str()),
        ("hook", "http://10.0.0.9:8080/events")
    );
    assert_eq!(e.timeout, std::time::Duration::from_millis(500));
    assert!(n.include_references);
    let disabled = load(
        &format!("{base}notifications:\n  endpoints:\n    - name: off\n      url: http://h/\n      disabled: true\n"),
        &[],
    )
    .unwrap();
    assert!(disabled.config.notify_settings().unwrap().is_none());
}

/// Settings of the reference that mean "nothing to do" load: an empty
/// notifications section, proxy without remoteurl, the defaults spelled
/// out, health.storagedriver, a redis cache.
#[test]
fn registry2_settings_that_need_nothing_load() {
    let l = load(
        "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /x\n  cache:\n    blobdescriptor: redis\n  s3x: 1\nhttp:\n  http2:\n    disabled: false\nhealth:\n  storagedriver:\n    enabled: true\n    interval: 10s\n    threshold: 3\nredis:\n  addr: localhost:6379\nnotifications:\n  events:\n    includereferences: true\ncompatibility:\n  schema1:\n    enabled: false\n",
        &[],
    )
    .unwrap();
    let mut keys = l.unknown_keys.clone();
    keys.sort();
    assert_eq!(keys, vec!["compatibility", "redis", "storage.s3x"]);
    assert!(super::compat::not_needed("redis").is_some());
    assert!(super::compat::not_needed("storage.s3x").is_none());
}

/// registry:2's pull-through section, as distribution's reference writes
/// it, and the same as `REGISTRY_PROXY_*` variables: one upstream for every
/// repository, the password never shown.
#[test]
fn proxy_section_and_its_variables_name_one_upstream() {
    let base = "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /var/lib/registry\n";
    let file = load(
        &format!("{base}proxy:\n  remoteurl: https://registry-1.docker.io\n  username: bob\n  password: s3cret\n  ttl: 168h\n"),
        &[],
    )
    .unwrap();
    let vars = load(
        base,
        &[
            ("REGISTRY_PROXY_REMOTEURL", "https://registry-1.docker.io"),
            ("REGISTRY_PROXY_USERNAME", "bob"),
            ("REGISTRY_PROXY_PASSWORD", "s3cret"),
            ("REGISTRY_PROXY_TTL", "168h"),
        ],
    )
    .unwrap();
    for l in [file, vars] {
        let up = l.config.upstreams().unwrap();
        assert_eq!(up.len(), 1);
        assert_eq!(up[0].prefix, "");
        assert_eq!(up[0].url.as_str(), "https://registry-1.docker.io/");
        assert_eq!(up[0].username.as_deref(), Some("bob"));
        assert_eq!(up[0].read_password().unwrap().as_deref(), Some("s3cret"));
        assert!(!format!("{:?}", l.config).contains("s3cret"));
        assert!(l.unknown_keys.is_empty(), "{:?}", l.unknown_keys);
    }
    let err = load(
        base,
        &[("REGISTRY_PROXY_REMOTEURL", "registry-1.docker.io")],
    )
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("config key proxy.remoteurl:"), "{err}");
    let err = load(
        &format!("{base}proxy:\n  remoteurl: https://x.example\n  ttl: weekly\n"),
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("config key proxy.ttl:"), "{err}");
}

#[test]
fn mirrors_are_checked_with_their_key_named() {
    let base =
        "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /x\nlabreg:\n  mirrors:\n";
    let ok = load(
        &format!("{base}    - prefix: docker.io/\n      url: https://registry-1.docker.io\n      username: u\n      password_env: HUB_TOKEN\n      ttl: 10m\n      allow: [\"library/*\"]\n    - prefix: ghcr.io\n      url: https://ghcr.io\n"),
        &[],
    )
    .unwrap();
    let up = ok.config.upstreams().unwrap();
    assert_eq!(up[0].prefix, "docker.io/");
    assert_eq!(up[0].tag_ttl, std::time::Duration::from_secs(600));
    assert_eq!(up[1].prefix, "ghcr.io/");
    assert_eq!(up[1].tag_ttl, std::time::Duration::from_secs(300));
    for (entry, key) in [
        (
            "    - prefix: docker.io/\n      url: ftp://x\n",
            "labreg.mirrors[0].url",
        ),
        (
            "    - prefix: \"\"\n      url: https://x\n",
            "labreg.mirrors[0].prefix",
        ),
        (
            "    - prefix: Docker.io\n      url: https://x\n",
            "labreg.mirrors[0].prefix",
        ),
        (
            "    - prefix: a/\n      url: https://x\n    - prefix: a/b/\n      url: https://y\n",
            "labreg.mirrors[1].prefix",
        ),
        (
            "    - prefix: a/\n      url: https://x\n      ttl: soon\n",
            "labreg.mirrors[0].ttl",
        ),
        (
            "    - prefix: a/\n      url: https://x\n      password_file: /p\n",
            "labreg.mirrors[0].username",
        ),
        (
            "    - prefix: a/\n      url: https://x\n      passwd: x\n",
            "labreg.mirrors[0]",
        ),
    ] {
        let err = load(&format!("{base}{entry}"), &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!("config key {key}")),
            "{entry}: {err}"
        );
    }
    let err = load(
        &format!("{base}    - prefix: a/\n      url: https://x\nproxy:\n  remoteurl: https://y\n"),
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("config key proxy.remoteurl"), "{err}");
}
