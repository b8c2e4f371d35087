//! Real images on disk for real clients: OCI image layouts with gzip'd tar
//! layers (made by the system's tar and gzip), single or multi-platform.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use super::digest;

/// The platforms of a multi-arch test image: an index of two images.
pub const AMD64_AND_ARM64: &[(&str, &str)] = &[("linux", "amd64"), ("linux", "arm64")];

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

fn write_blob(layout: &Path, data: &[u8]) -> (String, usize) {
    let d = digest(data);
    let dir = layout.join("blobs/sha256");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(&d["sha256:".len()..]), data).unwrap();
    (d, data.len())
}

/// A gzip'd tar holding one file with `content`; returns (compressed, diff_id).
fn layer(content: &str) -> (Vec<u8>, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hello.txt"), content).unwrap();
    let tar = dir.path().join("layer.tar");
    let ok = Command::new("tar")
        .args(["--sort=name", "--mtime=@0", "--owner=0", "--group=0", "-cf"])
        .arg(&tar)
        .arg("-C")
        .arg(dir.path())
        .arg("hello.txt")
        .status()
        .expect("tar runs");
    assert!(ok.success());
    let raw = std::fs::read(&tar).unwrap();
    let gz = Command::new("gzip")
        .args(["-n", "-c"])
        .arg(&tar)
        .output()
        .expect("gzip runs");
    assert!(gz.status.success());
    (gz.stdout, digest(&raw))
}

/// One image whose layer holds `file` and whose config is titled `title`.
fn image(layout: &Path, os: &str, arch: &str, title: &str, file: &str) -> Value {
    let (gz, diff_id) = layer(file);
    let (ld, ls) = write_blob(layout, &gz);
    let config = json!({
        "architecture": arch, "os": os, "created": "2026-01-02T03:04:05Z",
        "config": {
            "Cmd": ["/hello.txt"],
            "Env": ["PATH=/usr/local/bin:/usr/bin:/bin"],
            "Labels": {"org.opencontainers.image.title": title},
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "2026-01-02T03:04:05Z", "created_by": "COPY hello.txt /"}],
    });
    let (cd, cs) = write_blob(layout, &serde_json::to_vec(&config).unwrap());
    let manifest = json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": ld, "size": ls}],
    });
    let (md, ms) = write_blob(layout, &serde_json::to_vec(&manifest).unwrap());
    json!({"mediaType": OCI_MANIFEST, "digest": md, "size": ms, "platform": {"os": os, "architecture": arch}})
}

/// Writes an OCI layout at `layout` with one image (or, with several
/// platforms, an image index) under the reference name `tag`. Returns the
/// digest of the top-level manifest.
pub fn make_layout(layout: &Path, tag: &str, platforms: &[(&str, &str)], content: &str) -> String {
    layout_of(layout, tag, |layout| {
        platforms
            .iter()
            .map(|(os, arch)| {
                let text = format!("{content} for {os}/{arch}");
                image(layout, os, arch, &text, &text)
            })
            .collect()
    })
}

/// `len` hex digits of a xorshift sequence: text that gzip halves and no
/// more, for a layer file that stays big once compressed.
pub fn hex_noise(len: usize) -> String {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b"0123456789abcdef"[(x & 15) as usize])
        })
        .collect()
}

/// Writes an OCI layout at `layout` with one linux/amd64 image whose layer
/// holds the file `file` (a large one for big layers; the config stays
/// small), under the reference name `tag`. Returns the manifest's digest.
pub fn make_layout_with_file(layout: &Path, tag: &str, file: &str) -> String {
    layout_of(layout, tag, |layout| {
        vec![image(layout, "linux", "amd64", "one file", file)]
    })
}

/// Writes the layout's marker and its index.json naming, as `tag`, the one
/// image `images` writes, or an index of the several.
fn layout_of(layout: &Path, tag: &str, images: impl FnOnce(&Path) -> Vec<Value>) -> String {
    std::fs::create_dir_all(layout).unwrap();
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let mut descs = images(layout);
    let mut top = if descs.len() == 1 {
        descs.remove(0)
    } else {
        let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descs});
        let (d, s) = write_blob(layout, &serde_json::to_vec(&index).unwrap());
        json!({"mediaType": OCI_INDEX, "digest": d, "size": s})
    };
    top["annotations"] = json!({"org.opencontainers.image.ref.name": tag});
    let digest = top["digest"].as_str().unwrap().to_string();
    let index = json!({"schemaVersion": 2, "manifests": [top]});
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
    digest
}

/// The digest a layout's index.json names for `tag`.
pub fn layout_digest(layout: &Path, tag: &str) -> String {
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    digest_listed(&index, tag, |m| {
        m["annotations"]["org.opencontainers.image.ref.name"] == tag
    })
}

/// The digest of the `arch` image an image index lists.
pub fn platform_digest(index: &Value, arch: &str) -> String {
    digest_listed(index, arch, |m| m["platform"]["architecture"] == arch)
}

/// The digest of the first of `index`'s manifests that `matches`; a
/// missing one fails the test naming `what`.
fn digest_listed(index: &Value, what: &str, matches: impl Fn(&Value) -> bool) -> String {
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| matches(m))
        .unwrap_or_else(|| panic!("no {what} in {index}"))["digest"]
        .as_str()
        .unwrap()
        .to_string()
}
