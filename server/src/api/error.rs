//! The spec's error codes, each with its HTTP status, and the JSON body
//! `{"errors":[{"code","message","detail"}]}` built in one place. Internal
//! errors are logged with their cause and answered with a generic message.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::registry::RegistryError;
use crate::registry::names::NameError;
use crate::storage::StorageError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    BlobUnknown,
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    NameInvalid,
    NameUnknown,
    SizeInvalid,
    TagInvalid,
    RangeInvalid,
    PaginationNumberInvalid,
    Unauthorized,
    Denied,
    Unsupported,
    TooManyRequests,
    Unavailable,
    StorageFull,
    Unknown,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            BlobUnknown => "BLOB_UNKNOWN",
            BlobUploadInvalid => "BLOB_UPLOAD_INVALID",
            BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            DigestInvalid => "DIGEST_INVALID",
            ManifestBlobUnknown => "MANIFEST_BLOB_UNKNOWN",
            ManifestInvalid => "MANIFEST_INVALID",
            ManifestUnknown => "MANIFEST_UNKNOWN",
            NameInvalid => "NAME_INVALID",
            NameUnknown => "NAME_UNKNOWN",
            SizeInvalid => "SIZE_INVALID",
            TagInvalid => "TAG_INVALID",
            RangeInvalid => "RANGE_INVALID",
            PaginationNumberInvalid => "PAGINATION_NUMBER_INVALID",
            Unauthorized => "UNAUTHORIZED",
            Denied => "DENIED",
            Unsupported => "UNSUPPORTED",
            TooManyRequests => "TOOMANYREQUESTS",
            Unavailable | StorageFull => "UNAVAILABLE",
            Unknown => "UNKNOWN",
        }
    }

    pub fn status(self) -> StatusCode {
        use ErrorCode::*;
        match self {
            BlobUnknown | BlobUploadUnknown | ManifestUnknown | NameUnknown => {
                StatusCode::NOT_FOUND
            }
            BlobUploadInvalid
            | DigestInvalid
            | ManifestBlobUnknown
            | ManifestInvalid
            | NameInvalid
            | SizeInvalid
            | TagInvalid
            | PaginationNumberInvalid => StatusCode::BAD_REQUEST,
            RangeInvalid => StatusCode::RANGE_NOT_SATISFIABLE,
            Unauthorized => StatusCode::UNAUTHORIZED,
            Denied => StatusCode::FORBIDDEN,
            Unsupported => StatusCode::METHOD_NOT_ALLOWED,
            TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            StorageFull => StatusCode::INSUFFICIENT_STORAGE,
            Unknown => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// An error answered to the client.
#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub detail: Value,
    /// Extra headers (Range on a 416 of an upload, Content-Range on a blob
    /// range error, WWW-Authenticate on a 401).
    pub headers: Vec<(header::HeaderName, HeaderValue)>,
    /// A payload-too-large answer keeps its own status.
    pub status: Option<StatusCode>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            detail: Value::Null,
            headers: Vec::new(),
            status: None,
        }
    }

    pub fn detail(mut self, detail: Value) -> ApiError {
        self.detail = detail;
        self
    }

    pub fn header(mut self, name: header::HeaderName, value: &str) -> ApiError {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.push((name, v));
        }
        self
    }

    pub fn with_status(mut self, status: StatusCode) -> ApiError {
        self.status = Some(status);
        self
    }
}

impl From<NameError> for ApiError {
    fn from(e: NameError) -> ApiError {
        let code = match e {
            NameError::Name(..) => ErrorCode::NameInvalid,
            NameError::Tag(_) => ErrorCode::TagInvalid,
            NameError::Digest(_) => ErrorCode::DigestInvalid,
        };
        ApiError::new(code, e.to_string())
    }
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> ApiError {
        use ErrorCode as C;
        let msg = e.to_string();
        match e {
            RegistryError::NameUnknown(n) => {
                ApiError::new(C::NameUnknown, msg).detail(json!({"name": n}))
            }
            RegistryError::BlobUnknown(d) => {
                ApiError::new(C::BlobUnknown, msg).detail(json!({"digest": d.to_string()}))
            }
            RegistryError::UploadUnknown => ApiError::new(C::BlobUploadUnknown, msg),
            RegistryError::UploadInvalid(_) | RegistryError::Body(_) => {
                ApiError::new(C::BlobUploadInvalid, msg)
            }
            RegistryError::DigestMismatch { .. } | RegistryError::Digest(_) => {
                ApiError::new(C::DigestInvalid, msg)
            }
            RegistryError::RangeInvalid { size } => {
                let range = format!("0-{}", size.saturating_sub(1));
                ApiError::new(C::RangeInvalid, msg).header(header::RANGE, &range)
            }
            RegistryError::ManifestUnknown(r) => {
                ApiError::new(C::ManifestUnknown, msg).detail(json!({"reference": r}))
            }
            RegistryError::ManifestInvalid(_) => ApiError::new(C::ManifestInvalid, msg),
            RegistryError::ManifestBlobUnknown(d) => {
                ApiError::new(C::ManifestBlobUnknown, msg).detail(json!({"digest": d.to_string()}))
            }
            RegistryError::ManifestTooLarge { .. } => ApiError::new(C::SizeInvalid, msg)
                .with_status(axum::http::StatusCode::PAYLOAD_TOO_LARGE),
            RegistryError::Unsupported(_) | RegistryError::ReadOnly => {
                ApiError::new(C::Unsupported, msg)
            }
            RegistryError::Name(n) => n.into(),
            RegistryError::Denied(_) => ApiError::new(C::Denied, msg),
            RegistryError::Upstream { status, .. } => match status {
                Some(429) => ApiError::new(C::TooManyRequests, msg),
                Some(404) => ApiError::new(C::NameUnknown, msg),
                _ => ApiError::new(C::Unavailable, msg)
                    .with_status(axum::http::StatusCode::BAD_GATEWAY),
            },
            RegistryError::Storage(StorageError::Full(path)) => {
                tracing::error!(path, "storage full");
                ApiError::new(
                    C::StorageFull,
                    "the registry's storage is full; nothing was stored",
                )
            }
            RegistryError::Storage(StorageError::Unavailable(why)) => {
                tracing::error!(cause = %why, "storage unavailable");
                ApiError::new(
                    C::Unavailable,
                    format!("the registry's storage is unavailable: {why}"),
                )
            }
            RegistryError::Storage(e) => {
                tracing::error!(error = %e, "storage error");
                ApiError::new(C::Unknown, "internal storage error; see the registry's log")
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status.unwrap_or(self.code.status());
        let body = json!({"errors": [{
            "code": self.code.as_str(),
            "message": self.message,
            "detail": self.detail,
        }]});
        let mut resp = (status, axum::Json(body)).into_response();
        for (k, v) in self.headers {
            resp.headers_mut().append(k, v);
        }
        resp
    }
}

pub type ApiResult = Result<Response, ApiError>;
