//! labreg's container image without the internet: an OCI image `FROM
//! scratch` written directly as an OCI image layout from a static labreg
//! binary (and any other static binaries, such as labctl for the node-trust
//! DaemonSet), with registry:2's layout (see `rootfs`).
//!
//! Deterministic: the tar has fixed owners, modes and times
//! (`SOURCE_DATE_EPOCH`, else 1970-01-01), gzip has no name or time in its
//! header, JSON keys are sorted; so the same binaries, CA bundle and labels
//! give the same digest on any machine.
//!
//! - `tar`: the layer's tar stream; `elf`: is a binary static, for which
//!   architecture; `rootfs`: the files and the image config;
//! - `layout`: writing and reading the OCI layout.

pub mod elf;
pub mod layout;
pub mod rootfs;
pub mod tar;

use std::path::{Path, PathBuf};

use anyhow::Context;
use flate2::{Compression, GzBuilder};
use serde_json::json;

pub use rootfs::Labels;

pub struct Spec {
    /// labreg first; every binary lands in /usr/local/bin under its name.
    pub binaries: Vec<PathBuf>,
    pub ca_bundle: PathBuf,
    pub labels: Labels,
    /// Seconds since 1970 for `created` and every file's mtime.
    pub epoch: u64,
    /// The layout's ref name (the tag `image push` uses by default).
    pub tag: String,
}

/// What was built.
pub struct Built {
    pub digest: String,
    pub arch: &'static str,
    pub layer_bytes: u64,
    pub tar_bytes: u64,
}

/// `SOURCE_DATE_EPOCH` (reproducible-builds.org), else 0.
pub fn epoch_from_env() -> anyhow::Result<u64> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => v.trim().parse().with_context(|| {
            format!("SOURCE_DATE_EPOCH={v:?} is not a number of seconds since 1970")
        }),
        Err(_) => Ok(0),
    }
}

fn rfc3339(epoch: u64) -> anyhow::Result<String> {
    let t = time::OffsetDateTime::from_unix_timestamp(epoch as i64)?;
    Ok(t.format(&time::format_description::well_known::Rfc3339)?)
}

/// Checks the binaries: static, one architecture, distinct names, labreg
/// among them. Returns the architecture.
fn check_binaries(binaries: &[PathBuf]) -> anyhow::Result<&'static str> {
    let names: Vec<String> = binaries.iter().map(|b| rootfs::file_name(b)).collect();
    anyhow::ensure!(
        names.iter().any(|n| n == "labreg"),
        "no binary named labreg among {names:?}: it is the image's entrypoint\n  help: pass --binary PATH/labreg"
    );
    let mut arch = None;
    for (i, b) in binaries.iter().enumerate() {
        anyhow::ensure!(
            !names[..i].contains(&names[i]),
            "two binaries are named {}: each lands in /usr/local/bin under its file name",
            names[i]
        );
        let a = elf::static_arch(b)?;
        if let Some(first) = arch
            && first != a
        {
            anyhow::bail!(
                "{} is for {a} but {} is for {first}: one image holds one architecture",
                b.display(),
                binaries[0].display()
            );
        }
        arch = Some(a);
    }
    arch.context("no binary given")
}

/// Builds the image into the layout folder `out`.
pub fn build(spec: &Spec, out: &Path) -> anyhow::Result<Built> {
    let arch = check_binaries(&spec.binaries)?;
    anyhow::ensure!(
        spec.ca_bundle.is_file(),
        "no CA bundle at {}\n  help: install Debian's ca-certificates, or pass --ca-bundle FILE (PEM)",
        spec.ca_bundle.display()
    );
    let created = rfc3339(spec.epoch)?;
    let staging = layout::Staging::new(out)?;
    let entries = rootfs::entries(&spec.binaries, &spec.ca_bundle);

    let (file, temp) = staging.temp_blob()?;
    let gz = GzBuilder::new()
        .mtime(0)
        .write(layout::Hashing::new(file), Compression::default());
    let tar = tar::write(layout::Hashing::new(gz), &entries, spec.epoch)
        .context("cannot write the image's layer")?;
    let (gz, diff_id, tar_bytes) = tar.finish();
    let (file, layer_digest, layer_bytes) = gz.finish()?.finish();
    drop(file);
    staging.add_file(&temp, &layer_digest)?;

    let config = rootfs::config(arch, &created, &diff_id, &spec.labels);
    let config = serde_json::to_vec(&config)?;
    let config_digest = staging.add(&config)?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": layout::MANIFEST_TYPE,
        "config": {"mediaType": layout::CONFIG_TYPE, "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": layout::LAYER_TYPE, "digest": layer_digest, "size": layer_bytes}],
    });
    let manifest = serde_json::to_vec(&manifest)?;
    staging.add(&manifest)?;
    staging.finish(out, &manifest, &spec.tag)?;
    Ok(Built {
        digest: layout::digest(&manifest),
        arch,
        layer_bytes,
        tar_bytes,
    })
}
