//! What can go wrong talking to a registry: the registry answered with an
//! error (its status, the spec's code and message when it sent the JSON
//! body, and what a caller needs to say who answered: the `Server` and
//! `WWW-Authenticate` headers and the body's start), no answer came at all
//! (the reqwest error kept whole, so its source chain down to the io or
//! TLS error can be read, and the bytes of a streamed body sent before the
//! connection broke), or the answer broke the protocol ([`Problem`]).

use std::fmt;
use std::sync::Arc;

use reqwest::StatusCode;
use reqwest::header::{SERVER, WWW_AUTHENTICATE};

/// How much of a failed answer's body is kept for messages.
const BODY_KEPT: usize = 4096;

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
        answer: Box<Answer>,
    },
    /// No HTTP answer: refused, unreachable, TLS, timeout, a cut body.
    /// `message` is the whole source chain on one line; `cause` is the
    /// error itself, to classify (it is not a `source()`, so a printed
    /// chain does not repeat it).
    #[error("{url}: {message}")]
    Transport {
        url: String,
        message: String,
        cause: Option<Arc<reqwest::Error>>,
        /// Bytes of a streamed request body sent before it failed.
        sent: Option<u64>,
    },
    /// The auth exchange itself failed (token endpoint, challenge).
    #[error("auth for {url}: {message}")]
    Auth { url: String, message: String },
    /// The answer is not what the protocol says it must be.
    #[error("{url}: {problem}")]
    Protocol { url: String, problem: Problem },
}

/// What a failed answer said besides its status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answer {
    /// `Server`: who answered (a proxy in front says `nginx`).
    pub server: Option<String>,
    /// `WWW-Authenticate`: the scheme the registry asks for.
    pub challenge: Option<String>,
    /// The body's first 4 KiB, as text.
    pub body: String,
}

/// How an answer broke the protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A success status other than the one the protocol names.
    Status { got: StatusCode, want: StatusCode },
    /// An upload answer or a redirect without a usable `Location`.
    NoLocation { status: StatusCode },
    /// The registry stored another digest than the one sent.
    DigestMismatch { stored: String, sent: String },
    /// More redirects than a client follows.
    RedirectLoop,
    /// A body that should be JSON of a known shape is not.
    Json(String),
    /// Anything else (a URL that does not parse, a missing header).
    Other(String),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Status { got, want } => write!(f, "answered {got}, not {want}"),
            Problem::NoLocation { status } => write!(f, "a {status} answer without Location"),
            Problem::DigestMismatch { stored, sent } => {
                write!(f, "the registry stored {stored}, but {sent} was sent")
            }
            Problem::RedirectLoop => write!(f, "redirected more than 10 times"),
            Problem::Json(e) => write!(f, "unexpected JSON: {e}"),
            Problem::Other(m) => f.write_str(m),
        }
    }
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

    /// The URL the failed request went to (after any redirect).
    pub fn url(&self) -> &str {
        match self {
            OciError::Status { url, .. }
            | OciError::Transport { url, .. }
            | OciError::Auth { url, .. }
            | OciError::Protocol { url, .. } => url,
        }
    }

    /// What a failed answer said besides its status.
    pub fn answer(&self) -> Option<&Answer> {
        match self {
            OciError::Status { answer, .. } => Some(answer),
            _ => None,
        }
    }

    /// The transport error underneath, to walk its source chain.
    pub fn cause(&self) -> Option<&reqwest::Error> {
        match self {
            OciError::Transport { cause, .. } => cause.as_deref(),
            _ => None,
        }
    }

    /// Bytes of a streamed body sent before the transport failed.
    pub fn sent(&self) -> Option<u64> {
        match self {
            OciError::Transport { sent, .. } => *sent,
            _ => None,
        }
    }

    pub fn problem(&self) -> Option<&Problem> {
        match self {
            OciError::Protocol { problem, .. } => Some(problem),
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

    pub(crate) fn protocol(url: &str, problem: Problem) -> OciError {
        OciError::Protocol {
            url: url.to_string(),
            problem,
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
            cause: Some(Arc::new(e)),
            sent: None,
        }
    }

    /// An error from a failed response, reading the spec's JSON body.
    pub(crate) async fn from_response(url: &str, resp: reqwest::Response) -> OciError {
        let status = resp.status();
        let header = |k| {
            resp.headers()
                .get(k)
                .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
                .map(str::to_string)
        };
        let (server, challenge) = (header(SERVER), header(WWW_AUTHENTICATE));
        let body = resp.bytes().await.unwrap_or_default();
        let first = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("errors")?.get(0).cloned());
        let field = |k: &str| {
            first
                .as_ref()
                .and_then(|e| e.get(k)?.as_str().map(str::to_string))
        };
        let kept = &body[..body.len().min(BODY_KEPT)];
        OciError::Status {
            url: url.to_string(),
            status,
            code: field("code"),
            message: field("message"),
            answer: Box::new(Answer {
                server,
                challenge,
                body: String::from_utf8_lossy(kept).into_owned(),
            }),
        }
    }
}
