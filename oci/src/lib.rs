//! The client side of the OCI Distribution protocol, small and general: the
//! `/v2/` ping, manifests (HEAD, GET with an Accept list, PUT), blobs as
//! byte streams and their uploads (monolithic, chunked, streamed), cross-
//! repository mounts, tags lists, the catalog, referrers and deletes
//! ([`client`], [`push`], [`manage`]); anonymous, Basic and Bearer token
//! auth ([`auth`]); errors that keep the HTTP status and the spec's error
//! code ([`error`]). TLS is the caller's: hand in a `reqwest::Client` built
//! with the trust it wants (labreg's `trust::Anchors::client_config`, with
//! a user's CA added, is what labreg and the tests use).

pub mod auth;
pub mod client;
pub mod error;
pub mod manage;
pub mod push;

pub use auth::Credentials;
pub use client::{BlobStream, Client, MANIFEST_ACCEPT, ManifestMeta};
pub use error::{Answer, OciError, Problem};
pub use manage::Descriptor;
pub use push::{ManifestPut, Mount, Upload, digest_of};
