//! An OCI image layout on disk (image-spec `image-layout.md`): `oci-layout`,
//! `index.json` naming the manifest with `org.opencontainers.image.ref.name`,
//! and `blobs/sha256/<hex>`. Written into a folder beside the target and
//! swapped in whole, so a reader or a crash sees the old layout or the new
//! one; read back by `labctl image push`.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::json;
use sha2::{Digest as _, Sha256};

pub const INDEX_TYPE: &str = "application/vnd.oci.image.index.v1+json";
pub const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const CONFIG_TYPE: &str = "application/vnd.oci.image.config.v1+json";
pub const LAYER_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// `sha256:<hex>` of some bytes.
pub fn digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// A writer that hashes and counts what passes through it.
pub struct Hashing<W> {
    pub inner: W,
    hash: Sha256,
    pub len: u64,
}

impl<W: Write> Hashing<W> {
    pub fn new(inner: W) -> Self {
        Hashing {
            inner,
            hash: Sha256::new(),
            len: 0,
        }
    }

    /// (inner writer, `sha256:<hex>`, length).
    pub fn finish(self) -> (W, String, u64) {
        let d = format!("sha256:{}", hex::encode(self.hash.finalize()));
        (self.inner, d, self.len)
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A layout being written in a staging folder.
pub struct Staging {
    dir: tempfile::TempDir,
}

impl Staging {
    /// A staging folder beside `target`.
    pub fn new(target: &Path) -> anyhow::Result<Staging> {
        let parent = crate::atomic::parent(target);
        fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
        let dir = tempfile::Builder::new()
            .prefix(".labctl-image-")
            .tempdir_in(parent)
            .with_context(|| format!("cannot write in {}", parent.display()))?;
        fs::create_dir_all(dir.path().join("blobs/sha256"))?;
        Ok(Staging { dir })
    }

    /// A file to stream a blob into; `add_file` names it by its digest.
    pub fn temp_blob(&self) -> io::Result<(fs::File, PathBuf)> {
        let p = self.dir.path().join("blobs/.partial");
        Ok((fs::File::create(&p)?, p))
    }

    pub fn add_file(&self, temp: &Path, digest: &str) -> io::Result<()> {
        fs::File::open(temp)?.sync_all()?;
        fs::rename(temp, self.blob_path(digest))
    }

    pub fn add(&self, data: &[u8]) -> io::Result<String> {
        let d = digest(data);
        write_synced(&self.blob_path(&d), data)?;
        Ok(d)
    }

    fn blob_path(&self, digest: &str) -> PathBuf {
        self.dir
            .path()
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    }

    /// Writes `index.json` and `oci-layout`, then replaces `target` (an
    /// earlier layout or an empty folder) with the staged layout.
    pub fn finish(self, target: &Path, manifest: &[u8], tag: &str) -> anyhow::Result<()> {
        let index = json!({
            "schemaVersion": 2,
            "mediaType": INDEX_TYPE,
            "manifests": [{
                "mediaType": MANIFEST_TYPE,
                "digest": digest(manifest),
                "size": manifest.len(),
                "annotations": {REF_NAME: tag},
            }],
        });
        let root = self.dir.path();
        write_synced(&root.join("index.json"), &serde_json::to_vec(&index)?)?;
        write_synced(
            &root.join("oci-layout"),
            br#"{"imageLayoutVersion":"1.0.0"}"#,
        )?;
        fs::File::open(root.join("blobs/sha256"))?.sync_all()?;
        fs::File::open(root)?.sync_all()?;
        replace(self.dir, target)
    }
}

fn write_synced(path: &Path, data: &[u8]) -> io::Result<()> {
    let mut f = fs::File::create(path)?;
    f.write_all(data)?;
    f.sync_all()
}

/// Swaps the staged folder in: the old layout moves aside, the new one
/// takes its name, the old one is removed. Anything else at `target` stays.
fn replace(staged: tempfile::TempDir, target: &Path) -> anyhow::Result<()> {
    let shown = target.display();
    let old = if target.exists() {
        let empty = fs::read_dir(target)
            .with_context(|| format!("--output {shown} is not a folder"))?
            .next()
            .is_none();
        anyhow::ensure!(
            empty || target.join("oci-layout").is_file(),
            "--output {shown} holds files that are not an OCI image layout; nothing was written\n  help: name a new or empty folder (or an image layout labctl wrote, which is replaced)"
        );
        let aside = crate::atomic::parent(target)
            .join(format!(".labctl-image-old-{}", rand::random::<u32>()));
        fs::rename(target, &aside).with_context(|| format!("cannot replace {shown}"))?;
        Some(aside)
    } else {
        None
    };
    let staged = staged.keep();
    if let Err(e) = fs::rename(&staged, target) {
        if let Some(a) = &old {
            let _ = fs::rename(a, target);
        }
        let _ = fs::remove_dir_all(&staged);
        return Err(e).with_context(|| format!("cannot move the image into {shown}"));
    }
    crate::atomic::sync_dir(crate::atomic::parent(target))?;
    if let Some(a) = old {
        fs::remove_dir_all(&a).with_context(|| format!("cannot remove {}", a.display()))?;
    }
    Ok(())
}

/// One blob of an image: what the manifest says about it.
#[derive(Clone, Debug)]
pub struct Blob {
    pub digest: String,
    pub size: u64,
    pub path: PathBuf,
}

/// An image read from a layout, for a push.
pub struct Image {
    pub tag: Option<String>,
    pub manifest: Vec<u8>,
    pub media_type: String,
    pub digest: String,
    /// The config first, then the layers.
    pub blobs: Vec<Blob>,
}

/// Reads the image named `tag` (or the only one) from the layout in `dir`.
pub fn open(dir: &Path, tag: Option<&str>) -> anyhow::Result<Image> {
    let shown = dir.display();
    let help = "help: build one with `labctl image build --output DIR`";
    let index = fs::read(dir.join("index.json"))
        .with_context(|| format!("{shown} is not an OCI image layout (no index.json)\n  {help}"))?;
    let index: serde_json::Value = serde_json::from_slice(&index)
        .with_context(|| format!("{shown}/index.json is not JSON"))?;
    let all = index["manifests"].as_array().cloned().unwrap_or_default();
    let name = |m: &serde_json::Value| m["annotations"][REF_NAME].as_str().map(str::to_string);
    let chosen: Vec<_> = all
        .iter()
        .filter(|m| tag.is_none() || name(m).as_deref() == tag)
        .collect();
    let names: Vec<String> = all.iter().filter_map(name).collect();
    let m = match chosen.as_slice() {
        [m] => *m,
        [] => anyhow::bail!(
            "{shown} holds no image tagged {:?} (it has: {})\n  help: name one of them with --tag",
            tag.unwrap_or(""),
            names.join(", ")
        ),
        _ => anyhow::bail!(
            "{shown} holds {} images ({}): say which with --tag",
            chosen.len(),
            names.join(", ")
        ),
    };
    let media_type = m["mediaType"].as_str().unwrap_or(MANIFEST_TYPE).to_string();
    anyhow::ensure!(
        media_type == MANIFEST_TYPE,
        "{shown}: the image is a {media_type}; labctl pushes single OCI image manifests"
    );
    let want = m["digest"].as_str().unwrap_or_default().to_string();
    let path = blob_path(dir, &want)?;
    let manifest = fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    anyhow::ensure!(
        digest(&manifest) == want,
        "{}: the manifest does not hash to {want}: the layout is damaged\n  {help}",
        path.display()
    );
    let parsed: serde_json::Value = serde_json::from_slice(&manifest)?;
    let descs =
        std::iter::once(&parsed["config"]).chain(parsed["layers"].as_array().into_iter().flatten());
    let mut blobs = Vec::new();
    for d in descs {
        let digest = d["digest"].as_str().unwrap_or_default().to_string();
        let size = d["size"].as_u64().unwrap_or(0);
        let path = blob_path(dir, &digest)?;
        let on_disk = fs::metadata(&path).map(|m| m.len()).ok();
        anyhow::ensure!(
            on_disk == Some(size),
            "{}: missing or not {size} bytes as the manifest says: the layout is damaged\n  {help}",
            path.display()
        );
        blobs.push(Blob { digest, size, path });
    }
    Ok(Image {
        tag: name(m),
        manifest,
        media_type,
        digest: want,
        blobs,
    })
}

fn blob_path(dir: &Path, digest: &str) -> anyhow::Result<PathBuf> {
    let hex = digest.strip_prefix("sha256:").unwrap_or("");
    anyhow::ensure!(
        hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
        "{}: {digest:?} is not a sha256 digest",
        dir.display()
    );
    Ok(dir.join("blobs/sha256").join(hex))
}
