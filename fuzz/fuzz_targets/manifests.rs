//! Manifests and indexes as pushed: any bytes and Content-Type are parsed
//! or refused with a message, never a panic; what parses has valid digests.
#![no_main]

use labreg::registry::manifest::parse;
use libfuzzer_sys::fuzz_target;

const TYPES: [Option<&str>; 5] = [
    None,
    Some("application/vnd.oci.image.manifest.v1+json"),
    Some("application/vnd.oci.image.index.v1+json"),
    Some("application/vnd.docker.distribution.manifest.v2+json"),
    Some("application/vnd.docker.distribution.manifest.list.v2+json"),
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else { return };
    let content_type = TYPES[selector as usize % TYPES.len()];
    if let Ok(m) = parse(body, content_type) {
        for child in &m.children {
            assert!(child.digest.parse::<labreg::registry::Digest>().is_ok());
        }
    }
});
