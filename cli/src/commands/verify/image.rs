//! The generated test image: one layer (a tar holding a file of random
//! bytes), its config and an OCI manifest. The layer is produced twice from
//! the same seed (once to hash it, once to upload it), so even a 1 GiB
//! layer never sits in memory.

use bytes::Bytes;
use rand::{RngCore, SeedableRng};
use serde_json::json;
use sha2::{Digest as _, Sha256};

pub const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const CONFIG_TYPE: &str = "application/vnd.oci.image.config.v1+json";
pub const LAYER_TYPE: &str = "application/vnd.oci.image.layer.v1.tar";
const CHUNK: usize = 256 << 10;
const BLOCK: u64 = 512;

/// `sha256:<hex>` of some bytes.
pub fn digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// A layer: a tar with one file of `size` random bytes.
#[derive(Clone)]
pub struct Layer {
    seed: u64,
    size: u64,
    /// Length of the tar.
    pub len: u64,
    pub digest: String,
}

impl Layer {
    pub fn new(size: u64) -> Layer {
        let padded = size.div_ceil(BLOCK) * BLOCK;
        let mut layer = Layer {
            seed: rand::random(),
            size,
            len: BLOCK + padded + 2 * BLOCK,
            digest: String::new(),
        };
        let mut h = Sha256::new();
        for chunk in layer.chunks() {
            h.update(&chunk);
        }
        layer.digest = format!("sha256:{}", hex::encode(h.finalize()));
        layer
    }

    /// The tar, in chunks.
    pub fn chunks(&self) -> impl Iterator<Item = Bytes> + Send + 'static {
        let header = Bytes::from(tar_header("labctl-verify.bin", self.size));
        let tail = (self.size.div_ceil(BLOCK) * BLOCK - self.size + 2 * BLOCK) as usize;
        let mut rng = rand::rngs::StdRng::seed_from_u64(self.seed);
        let mut left = self.size;
        let body = std::iter::from_fn(move || {
            if left == 0 {
                return None;
            }
            let n = left.min(CHUNK as u64) as usize;
            left -= n as u64;
            let mut buf = vec![0u8; n];
            rng.fill_bytes(&mut buf);
            Some(Bytes::from(buf))
        });
        std::iter::once(header)
            .chain(body)
            .chain(std::iter::once(Bytes::from(vec![0u8; tail])))
    }
}

/// A ustar header for a regular file.
fn tar_header(name: &str, size: u64) -> Vec<u8> {
    let mut h = vec![0u8; BLOCK as usize];
    let mut put = |at: usize, s: &[u8]| h[at..at + s.len()].copy_from_slice(s);
    put(0, name.as_bytes());
    put(100, b"0000644\0");
    put(108, b"0000000\0");
    put(116, b"0000000\0");
    put(124, format!("{size:011o}\0").as_bytes());
    put(136, b"00000000000\0");
    put(156, b"0");
    put(257, b"ustar\0");
    put(263, b"00");
    put(148, b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    h
}

/// The image config and manifest for a layer; (config, manifest) bytes.
pub fn config_and_manifest(layer: &Layer, tag: &str) -> (Vec<u8>, Vec<u8>) {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let created = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let config = json!({
        "architecture": arch,
        "os": "linux",
        "created": created,
        "config": {"Labels": {"org.labctl.verify": tag}},
        "rootfs": {"type": "layers", "diff_ids": [layer.digest]},
        "history": [{"created": created, "created_by": "labctl verify push"}],
    });
    let config = serde_json::to_vec(&config).expect("json");
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": CONFIG_TYPE, "digest": digest(&config), "size": config.len()},
        "layers": [{"mediaType": LAYER_TYPE, "digest": layer.digest, "size": layer.len}],
        "annotations": {"org.opencontainers.image.created": created},
    });
    let manifest = serde_json::to_vec(&manifest).expect("json");
    (config, manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_is_a_tar_of_the_right_length_and_digest() {
        let layer = Layer::new(1000);
        let all: Vec<u8> = layer.chunks().flat_map(|c| c.to_vec()).collect();
        assert_eq!(all.len() as u64, layer.len);
        assert_eq!(layer.len, 512 + 1024 + 1024);
        assert_eq!(digest(&all), layer.digest);
        // Produced again from the seed: the same bytes.
        let again: Vec<u8> = layer.chunks().flat_map(|c| c.to_vec()).collect();
        assert_eq!(all, again);
        assert_eq!(&all[257..262], b"ustar");
        let (stored, sum) = crate::image::tar::header_sums(&all);
        assert_eq!(sum, stored);
    }
}
