//! The container image's definition (server/Containerfile), checked as
//! text: no container engine or registry can run it here. The build itself
//! runs in .github/workflows/release.yml.

use std::path::Path;

fn containerfile() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Containerfile")).unwrap()
}

/// The final stage: from its `FROM` line to the end.
fn final_stage(text: &str) -> &str {
    let at = text.rfind("\nFROM ").expect("a FROM line");
    &text[at..]
}

#[test]
fn final_stage_is_small_non_root_and_like_registry_2() {
    let text = containerfile();
    assert!(text.matches("\nFROM ").count() >= 2, "multi-stage");
    let fin = final_stage(&text);
    let from = fin.lines().nth(1).unwrap();
    assert!(
        from.contains("distroless/static") || from.contains("scratch"),
        "{from}"
    );
    for line in [
        "USER 65532:65532",
        "EXPOSE 5000",
        "VOLUME [\"/var/lib/registry\"]",
        // The rendered Deployment passes args [serve, CONFIG], as the
        // offline image's Cmd does.
        "ENTRYPOINT [\"labreg\"]",
        "CMD [\"serve\", \"/etc/docker/registry/config.yml\"]",
    ] {
        assert!(fin.lines().any(|l| l == line), "missing: {line}");
    }
    // The volume's folder belongs to the user, or labreg cannot write it.
    assert!(text.contains("install -d -o 65532 -g 65532 -m 0755 /out/var/lib/registry"));
    assert!(text.contains("server/container/config.yml /out/etc/docker/registry/config.yml"));
}

#[test]
fn the_image_config_is_registry_2s_and_labreg_takes_it_whole() {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("container/config.yml"))
            .unwrap();
    assert_eq!(text, labreg::config::DEFAULT_CONFIG);
    let loaded = labreg::config::Config::from_yaml(&text, Vec::<(String, String)>::new()).unwrap();
    assert!(loaded.unknown_keys.is_empty(), "{:?}", loaded.unknown_keys);
    assert_eq!(loaded.config.http.addr, ":5000");
    let storage = loaded.config.storage_driver().unwrap();
    assert_eq!(
        storage.filesystem().unwrap().rootdirectory,
        "/var/lib/registry"
    );
}
