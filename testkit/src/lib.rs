//! The test kit of the workspace (dev-only, never published): what labreg's
//! and labctl's integration tests share. `server` starts labreg in-process
//! on a port-0 listener and as a binary, and the peers it is checked
//! against (Debian's docker-registry, Garage for S3, a Bearer-token front),
//! pushes and pulls images through the workspace's OCI client
//! (`labreg-oci`), makes certificates and OCI layouts; `cli` holds labctl's
//! temporary labs, containerd, the fake Kubernetes API server and the
//! render checks. Each test crate keeps a `common` module that re-exports
//! one of the two, so tests say `common::...` as before.

use std::path::PathBuf;

pub mod cli;
pub mod server;

/// A binary of the workspace as cargo built it for the running test
/// (`target/<profile>/NAME`, beside the test's `deps/` folder).
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let profile = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("tests run from target/<profile>/deps");
    let path = profile.join(name);
    assert!(
        path.is_file(),
        "{} is missing: run the tests with cargo test, which builds it",
        path.display()
    );
    path
}

/// Whether a program named `name` is in one of `PATH`'s folders.
pub fn on_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
        .unwrap_or(false)
}

/// A loopback port free right now. Servers that take their address from
/// a config (the labreg binary, docker-registry, containerd) cannot be
/// handed a bound listener, so they get this and readiness is awaited.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
