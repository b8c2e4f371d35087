//! The client side of the OCI Distribution protocol, small and general: the
//! `/v2/` ping, manifests (HEAD and GET with an Accept list), blobs as byte
//! streams, tags lists; anonymous, Basic and Bearer token auth
//! ([`auth`]); errors that keep the HTTP status and the spec's error code
//! ([`error`]). TLS is the caller's: hand in a `reqwest::Client` built with
//! the trust it wants (labreg builds one from `labreg::trust`).

pub mod auth;
pub mod client;
pub mod error;

pub use auth::Credentials;
pub use client::{BlobStream, Client, MANIFEST_ACCEPT, ManifestMeta};
pub use error::OciError;
