//! labreg's offline image: `labctl image build` (static binaries into an
//! OCI layout FROM scratch) checked with skopeo, GNU tar and chroot, and
//! `labctl image push` checked with skopeo and containerd.

mod build;
#[path = "../common/mod.rs"]
mod common;
mod push;
mod support;
#[path = "../verify/support.rs"]
#[allow(dead_code)]
mod vsupport;
