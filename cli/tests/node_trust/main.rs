//! Node trust against the programs that read its files: labctl renders the
//! node-trust app, the ConfigMap is laid out as the kubelet mounts it, the
//! DaemonSet's own command (`labctl node-trust sync`, its arguments taken
//! from the rendered DaemonSet) writes into a fake host root, and then
//! Debian's containerd (`ctr image pull --hosts-dir`) and skopeo
//! (`--registries-conf`, `--cert-dir`) pull from labreg over TLS with
//! htpasswd through exactly those files.

#[path = "../common/mod.rs"]
mod common;
mod lab;
mod mirror;
mod pull;
#[allow(dead_code)]
#[path = "../verify/support.rs"]
mod support;
mod sync;
#[allow(dead_code, unused_imports)]
#[path = "../up/support.rs"]
mod up_support;
