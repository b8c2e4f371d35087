//! The workspace's test kit (`labctl-testkit`, `testkit/`), under the name
//! labreg's tests use: `common::TestRegistry`, `common::images`, ...
#![allow(unused_imports)]

pub use labctl_testkit::server::*;
