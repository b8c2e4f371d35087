//! Registry auth as registries speak it: none, Basic, or the Bearer token
//! flow of the Docker token protocol. A 401's `WWW-Authenticate` names the
//! scheme; for Bearer, `realm` is the token endpoint, asked with `service`
//! and `scope` (and Basic credentials, when the client has any), and it
//! answers `token` (or `access_token`) with `expires_in` seconds (60 when
//! absent, as the protocol says). Tokens are kept per scope until shortly
//! before they expire.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use crate::error::OciError;

/// A user name and password. Debug never shows the password.
#[derive(Clone)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credentials({}, ***)", self.username)
    }
}

impl Credentials {
    pub fn basic_header(&self) -> String {
        let pair = format!("{}:{}", self.username, self.password);
        format!("Basic {}", STANDARD.encode(pair))
    }
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

impl Challenge {
    /// Parses `Basic realm="x"` or `Bearer realm="x",service="y",scope="z"`.
    pub fn parse(header: &str) -> Option<Challenge> {
        let header = header.trim();
        let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
        if scheme.eq_ignore_ascii_case("basic") {
            return Some(Challenge::Basic);
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let params = parse_params(rest);
        Some(Challenge::Bearer {
            realm: params.get("realm")?.clone(),
            service: params.get("service").cloned(),
            scope: params.get("scope").cloned(),
        })
    }
}

/// `k="v", k2=v2` pairs; quoted values may hold commas.
fn parse_params(s: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = after.trim_start();
        let (value, remainder) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.find('"') {
                Some(end) => (&quoted[..end], &quoted[end + 1..]),
                None => (quoted, ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (&after[..end], &after[end..]),
                None => (after, ""),
            }
        };
        out.insert(key, value.to_string());
        rest = remainder.trim_start().trim_start_matches(',').trim_start();
    }
    out
}

#[derive(Deserialize)]
struct TokenAnswer {
    token: Option<String>,
    access_token: Option<String>,
    expires_in: Option<u64>,
}

/// Tokens per scope, each until shortly before it expires.
#[derive(Default)]
pub(crate) struct TokenCache {
    tokens: Mutex<HashMap<String, (String, Instant)>>,
}

impl TokenCache {
    pub(crate) fn get(&self, scope: &str) -> Option<String> {
        let tokens = self.tokens.lock().unwrap();
        let (token, until) = tokens.get(scope)?;
        (Instant::now() < *until).then(|| token.clone())
    }

    /// Asks the challenge's realm for a token for `scope`, and keeps it.
    pub(crate) async fn fetch(
        &self,
        http: &reqwest::Client,
        challenge: &Challenge,
        scope: &str,
        creds: Option<&Credentials>,
    ) -> Result<String, OciError> {
        let Challenge::Bearer { realm, service, .. } = challenge else {
            unreachable!("only Bearer challenges have tokens");
        };
        let mut url = url::Url::parse(realm).map_err(|e| OciError::Auth {
            url: realm.clone(),
            message: format!("the challenge's realm is not a URL: {e}"),
        })?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(s) = service {
                q.append_pair("service", s);
            }
            // Several scopes (a mount reads one repository and writes
            // another) are several `scope` parameters.
            for s in scope.split_whitespace() {
                q.append_pair("scope", s);
            }
        }
        let mut req = http.get(url.clone());
        if let Some(c) = creds {
            req = req.header(reqwest::header::AUTHORIZATION, c.basic_header());
        }
        let resp = req
            .send()
            .await
            .map_err(|e| OciError::transport(realm, e))?;
        if !resp.status().is_success() {
            return Err(OciError::from_response(realm, resp).await);
        }
        let answer: TokenAnswer = resp.json_body(realm).await?;
        let token = answer
            .token
            .or(answer.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| OciError::Auth {
                url: realm.clone(),
                message: "the token endpoint answered without token or access_token".into(),
            })?;
        // The protocol's default lifetime is 60 s; keep a margin for the trip.
        let lifetime = Duration::from_secs(answer.expires_in.unwrap_or(60));
        let until = Instant::now() + lifetime.saturating_sub(Duration::from_secs(5));
        self.tokens
            .lock()
            .unwrap()
            .insert(scope.to_string(), (token.clone(), until));
        Ok(token)
    }
}

/// Reads a JSON body, naming the URL when it is not what was expected.
pub(crate) trait JsonBody {
    async fn json_body<T: serde::de::DeserializeOwned>(self, url: &str) -> Result<T, OciError>;
}

impl JsonBody for reqwest::Response {
    async fn json_body<T: serde::de::DeserializeOwned>(self, url: &str) -> Result<T, OciError> {
        let bytes = self
            .bytes()
            .await
            .map_err(|e| OciError::transport(url, e))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| OciError::protocol(url, crate::error::Problem::Json(e.to_string())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        assert_eq!(
            Challenge::parse(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(
            Challenge::parse(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull,push""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/nginx:pull,push".into()),
            })
        );
        assert_eq!(
            Challenge::parse("bearer realm=http://x/token, service=reg"),
            Some(Challenge::Bearer {
                realm: "http://x/token".into(),
                service: Some("reg".into()),
                scope: None,
            })
        );
        assert_eq!(Challenge::parse("Negotiate abc"), None);
        assert_eq!(Challenge::parse("Bearer service=x"), None);
    }

    #[test]
    fn credentials_debug_hides_the_password() {
        let c = Credentials {
            username: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(c.basic_header(), "Basic dTpodW50ZXIy");
    }
}
