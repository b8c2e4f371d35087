//! The registry layer's errors. The HTTP layer maps each to a spec error code.

use super::digest::{Digest, DigestError};
use super::names::NameError;
use crate::storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("repository name not known to registry: {0}")]
    NameUnknown(String),
    #[error("blob unknown to registry: {0}")]
    BlobUnknown(Digest),
    #[error("blob upload unknown to registry")]
    UploadUnknown,
    #[error("blob upload invalid: {0}")]
    UploadInvalid(String),
    #[error("provided digest did not match uploaded content: expected {expected}, got {actual}")]
    DigestMismatch { expected: String, actual: Digest },
    #[error("requested range not satisfiable: the upload holds {size} bytes")]
    RangeInvalid { size: u64 },
    #[error("manifest unknown: {0}")]
    ManifestUnknown(String),
    #[error("manifest invalid: {0}")]
    ManifestInvalid(String),
    #[error("manifest references a blob or manifest unknown to this repository: {0}")]
    ManifestBlobUnknown(Digest),
    #[error("manifest is {size} bytes; the limit is {limit}")]
    ManifestTooLarge { size: usize, limit: usize },
    #[error("{0}")]
    Unsupported(String),
    /// Refused by policy (a mirrored repository takes no pushes).
    #[error("{0}")]
    Denied(String),
    /// A mirrored repository's upstream could not give what is not cached.
    #[error("upstream {upstream} {answer}")]
    Upstream {
        upstream: String,
        /// Its HTTP status, when it answered.
        status: Option<u16>,
        answer: String,
    },
    #[error("the registry is in read-only maintenance mode (storage.maintenance.readonly.enabled)")]
    ReadOnly,
    #[error(transparent)]
    Name(#[from] NameError),
    #[error(transparent)]
    Digest(#[from] DigestError),
    #[error("reading the request body failed: {0}")]
    Body(std::io::Error),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

pub type Result<T> = std::result::Result<T, RegistryError>;
