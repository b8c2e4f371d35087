//! `labctl verify push` against real registries (labreg in-process and
//! Debian's docker-registry), healthy and broken in each way the seeds met;
//! every diagnosis is asserted by its kind and its message.

mod broken;
#[path = "../common/mod.rs"]
mod common;
mod healthy;
mod input;
mod lab;
mod openssl;
mod proxy;
mod support;
mod tls;
