//! What can go wrong talking to a registry: the registry answered with an
//! error (its status, and the spec's code and message when it sent the JSON
//! body), or no answer came at all.

use reqwest::StatusCode;

#[derive(Debug, Clone, thiserror::Error)]
pub enum OciError {
    /// The registry answered with a non-success status.
    #[error("{url} answered {status}{}", code_suffix(.code, .message))]
    Status {
        url: String,
        status: StatusCode,
        /// The first `errors[].code` of the body, e.g. MANIFEST_UNKNOWN.
        code: Option<String>,
        message: Option<String>,
    },
    /// No HTTP answer: refused, unreachable, TLS, timeout, a cut body.
    #[error("{url}: {message}")]
    Transport { url: String, message: String },
    /// The auth exchange itself failed (token endpoint, challenge).
    #[error("auth for {url}: {message}")]
    Auth { url: String, message: String },
    /// The answer is not what the protocol says it must be.
    #[error("{url}: {message}")]
    Protocol { url: String, message: String },
}

fn code_suffix(code: &Option<String>, message: &Option<String>) -> String {
    match (code, message) {
        (Some(c), Some(m)) => format!(" {c}: {m}"),
        (Some(c), None) => format!(" {c}"),
        (None, Some(m)) => format!(": {m}"),
        (None, None) => String::new(),
    }
}

impl OciError {
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            OciError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// 404: the registry does not have it.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(StatusCode::NOT_FOUND)
    }

    /// The registry could not be asked or could not answer now: no answer,
    /// 429, or a 5xx. (A cache serves what it has on these.)
    pub fn is_unavailable(&self) -> bool {
        match self {
            OciError::Transport { .. } => true,
            OciError::Status { status, .. } => {
                *status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
            }
            _ => false,
        }
    }

    pub(crate) fn transport(url: &str, e: reqwest::Error) -> OciError {
        // reqwest's Display stops at the outer layer; the cause says why.
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            message = format!("{message}: {s}");
            source = s.source();
        }
        OciError::Transport {
            url: url.to_string(),
            message,
        }
    }

    /// An error from a failed response, reading the spec's JSON body.
    pub(crate) async fn from_response(url: &str, resp: reqwest::Response) -> OciError {
        let status = resp.status();
        let body = resp.bytes().await.unwrap_or_default();
        let first = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("errors")?.get(0).cloned());
        let field = |k: &str| {
            first
                .as_ref()
                .and_then(|e| e.get(k)?.as_str().map(str::to_string))
        };
        OciError::Status {
            url: url.to_string(),
            status,
            code: field("code"),
            message: field("message"),
        }
    }
}
