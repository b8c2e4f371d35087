//! The workspace's test kit (`labctl-testkit`, `testkit/`), under the name
//! labctl's tests use: `common::TempLab`, `common::containerd`, ...
#![allow(unused_imports)]

pub use labctl_testkit::cli::*;
