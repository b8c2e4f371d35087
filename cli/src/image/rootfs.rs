//! What is inside labreg's image, laid out like the `registry:2` image (so
//! a lab can swap one for the other) and like `server/Containerfile`:
//!
//! ```text
//! /etc/docker/registry/config.yml     registry:2's default config (filesystem, :5000)
//! /etc/passwd, /etc/group             root and nonroot (65532), as distroless has them
//! /etc/nsswitch.conf                  hosts: files dns
//! /etc/ssl/certs/ca-certificates.crt  this machine's CA bundle (S3 over HTTPS)
//! /home/nonroot                       65532's home
//! /tmp                                1777
//! /usr/local/bin/labreg               the entrypoint; other binaries beside it
//! /var/lib/registry                   the storage volume, owned by 65532
//! ```

use std::path::{Path, PathBuf};

use serde_json::json;

use super::tar::{Body, Entry};

/// The user the image runs as (distroless's `nonroot`).
pub const UID: u32 = 65532;
pub const CONFIG_PATH: &str = "/etc/docker/registry/config.yml";
pub const STORAGE: &str = "/var/lib/registry";
pub const BIN_DIR: &str = "usr/local/bin";
/// The same default config the Containerfile ships.
pub const DEFAULT_CONFIG: &str = include_str!("../../../server/container/config.yml");
pub const SOURCE: &str = env!("CARGO_PKG_REPOSITORY");

const PASSWD: &str = "root:x:0:0:root:/root:/sbin/nologin\n\
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n";
const GROUP: &str = "root:x:0:\nnonroot:x:65532:\n";
const NSSWITCH: &str = "hosts: files dns\n";

/// The files of the image, parents before children.
pub fn entries(binaries: &[PathBuf], ca_bundle: &Path) -> Vec<Entry> {
    let mut e = vec![
        Entry::dir("etc", 0o755, 0),
        Entry::dir("etc/docker", 0o755, 0),
        Entry::dir("etc/docker/registry", 0o755, 0),
        Entry::bytes("etc/docker/registry/config.yml", 0o644, DEFAULT_CONFIG),
        Entry::bytes("etc/group", 0o644, GROUP),
        Entry::bytes("etc/nsswitch.conf", 0o644, NSSWITCH),
        Entry::bytes("etc/passwd", 0o644, PASSWD),
        Entry::dir("etc/ssl", 0o755, 0),
        Entry::dir("etc/ssl/certs", 0o755, 0),
        Entry {
            path: "etc/ssl/certs/ca-certificates.crt".into(),
            mode: 0o644,
            owner: 0,
            body: Body::File(ca_bundle.to_path_buf()),
        },
        Entry::dir("home", 0o755, 0),
        Entry::dir("home/nonroot", 0o700, UID),
        Entry::dir("tmp", 0o1777, 0),
        Entry::dir("usr", 0o755, 0),
        Entry::dir("usr/local", 0o755, 0),
        Entry::dir(BIN_DIR, 0o755, 0),
    ];
    for b in binaries {
        e.push(Entry {
            path: format!("{BIN_DIR}/{}", file_name(b)),
            mode: 0o755,
            owner: 0,
            body: Body::File(b.clone()),
        });
    }
    e.extend([
        Entry::dir("var", 0o755, 0),
        Entry::dir("var/lib", 0o755, 0),
        Entry::dir("var/lib/registry", 0o755, UID),
    ]);
    e
}

pub fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The labels every image carries.
pub struct Labels {
    pub version: String,
    pub revision: Option<String>,
}

/// The OCI image config: registry:2's interface (entrypoint plus `serve
/// CONFIG` as the arguments the rendered Deployment also passes, port,
/// volume) as the non-root user.
pub fn config(arch: &str, created: &str, diff_id: &str, labels: &Labels) -> serde_json::Value {
    let mut l = json!({
        "org.opencontainers.image.title": "labreg",
        "org.opencontainers.image.description": "A container registry: a drop-in for registry:2 (same config, same storage layout)",
        "org.opencontainers.image.source": SOURCE,
        "org.opencontainers.image.licenses": "Apache-2.0",
        "org.opencontainers.image.version": labels.version,
        "org.opencontainers.image.created": created,
    });
    if let Some(r) = &labels.revision {
        l["org.opencontainers.image.revision"] = json!(r);
    }
    json!({
        "architecture": arch,
        "os": "linux",
        "created": created,
        "config": {
            "User": format!("{UID}:{UID}"),
            "ExposedPorts": {"5000/tcp": {}},
            "Env": [
                "PATH=/usr/local/bin:/usr/bin:/bin",
                "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
            ],
            "Entrypoint": [format!("/{BIN_DIR}/labreg")],
            "Cmd": ["serve", CONFIG_PATH],
            "Volumes": {STORAGE: {}},
            "WorkingDir": "/",
            "Labels": l,
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": created, "created_by": "labctl image build"}],
    })
}
