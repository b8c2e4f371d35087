//! labreg: a container registry that is a drop-in for `registry:2` (same
//! config, same storage layout), faster and safer.
//!
//! Layers, each knowing only the one below it:
//!
//! - [`api`]: HTTP — routing of `/v2/...`, headers, the spec's error JSON;
//! - [`registry`]: content logic — blobs, links, uploads, manifests, tags;
//! - [`storage`]: a small path-based driver trait and its implementations.
//!
//! - [`auth`]: htpasswd authentication and labreg's access rules;
//! - [`tls`]: rustls with certificate reload;
//! - [`trust`]: what the project's TLS clients trust (system store, user CAs,
//!   a self-signed server certificate given as its own CA);
//! - [`ui`]: the web UI, a second front end on the same service and auth;
//! - [`retention`]: policies that delete old tags and manifests;
//! - [`usage`]: the storage usage index (per repository, deduplicated), which
//!   also serves the catalog.
//! - [`notify`]: registry:2's webhook notifications, queued on disk;
//! - [`mirror`]: the pull-through cache, a decorator of the service;
//! - [`events`]: every change handed to a sink, a decorator of the service.
//!
//! [`server`] wires a [`config::Config`] to a listener.

pub mod api;
pub mod auth;
pub mod config;
pub mod events;
pub mod linger;
pub mod logging;
pub mod metrics;
pub mod mirror;
pub mod notify;
pub mod registry;
pub mod retention;
pub mod server;
pub mod storage;
pub mod tls;
pub mod trust;
pub mod ui;
pub mod usage;
