//! labctl as a library: the lab manifest, the secret store, rendering,
//! sealing, diff and verify, used by the `labctl` binary (`main.rs`) and by
//! the fuzz targets in `fuzz/`.

pub mod atomic;
pub mod commands;
pub mod diff;
pub mod git;
pub mod identity;
pub mod image;
pub mod journal;
pub mod kube;
pub mod lab;
pub mod manifest;
pub mod pki;
pub mod render;
pub mod sealing;
pub mod store;
pub mod trust;

/// Prints an error and its causes on stderr, once: a cause whose text an
/// outer message already quotes (`{0}; apps/ was not changed`) is not
/// printed again.
pub fn print_error(err: &anyhow::Error) {
    let mut said = err.to_string();
    eprintln!("error: {said}");
    for cause in err.chain().skip(1) {
        let text = cause.to_string();
        if said.contains(&text) {
            continue;
        }
        eprintln!("  caused by: {text}");
        said.push_str(&text);
    }
}
