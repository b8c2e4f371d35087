//! A newcomer's first hour (issue 21): the README's "Your first hour"
//! block run line for line on a new lab in a new HOME, then each trap a
//! new user met as its own case: the message labctl now gives, and the
//! command it suggests, run from that state to success. Real git (a bare
//! repository as `origin`), real skopeo, labreg started by `labctl up`.

#[path = "../common/mod.rs"]
mod common;
mod readme;
mod support;
mod traps;
mod up_traps;
