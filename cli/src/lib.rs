//! labctl as a library: the lab manifest, the secret store, rendering,
//! sealing, diff and verify, used by the `labctl` binary (`main.rs`) and by
//! the fuzz targets in `fuzz/`.

pub mod atomic;
pub mod commands;
pub mod diff;
pub mod identity;
pub mod journal;
pub mod kube;
pub mod lab;
pub mod manifest;
pub mod nodetrust;
pub mod pki;
pub mod render;
pub mod sealing;
pub mod store;
pub mod trust;

/// Prints an error and its causes on stderr, once.
pub fn print_error(err: &anyhow::Error) {
    eprintln!("error: {err}");
    for cause in err.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
}
