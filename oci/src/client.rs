//! One registry, spoken to over HTTP(S): requests carry the auth the
//! registry asked for (learned from its first 401), manifests come with
//! their digest, media type and size, blobs as byte streams.

use std::pin::Pin;
use std::sync::Mutex;

use bytes::Bytes;
use futures_util::{Stream, TryStreamExt};
use reqwest::header::{
    ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE,
};
use reqwest::{Method, Response, StatusCode};
use url::Url;

use crate::auth::{Challenge, Credentials, JsonBody, TokenCache};
use crate::error::{OciError, Problem};

/// Every manifest type a registry may hold, for the Accept header.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.docker.distribution.manifest.v2+json";

pub(crate) const DIGEST_HEADER: &str = "docker-content-digest";

/// What a manifest HEAD or GET says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestMeta {
    /// `Docker-Content-Digest`, when the registry sent it.
    pub digest: Option<String>,
    pub media_type: String,
    pub size: Option<u64>,
}

/// A blob's bytes as they arrive.
pub struct BlobStream {
    pub size: Option<u64>,
    /// Where the registry redirected the GET (to its storage), if it did.
    pub redirected: Option<Url>,
    pub stream: Pin<Box<dyn Stream<Item = Result<Bytes, OciError>> + Send>>,
}

/// A client of one registry.
pub struct Client {
    base: Url,
    http: reqwest::Client,
    creds: Option<Credentials>,
    /// The scheme the registry asked for, once it did.
    challenge: Mutex<Option<Challenge>>,
    tokens: TokenCache,
    /// Answer a 401 as an error instead of learning its challenge.
    probe: bool,
}

/// Pages of a list (`Link: rel="next"`) followed before giving up.
const MAX_PAGES: usize = 1000;

/// Redirects a blob GET follows (as Go's and reqwest's clients do).
const MAX_REDIRECTS: usize = 10;

impl Client {
    /// A client of the registry at `base` (scheme, host and port; a path is
    /// ignored), using `http` for every request (its TLS trust included).
    pub fn new(base: Url, http: reqwest::Client, creds: Option<Credentials>) -> Client {
        Client {
            base,
            http,
            creds,
            challenge: Mutex::new(None),
            tokens: TokenCache::default(),
            probe: false,
        }
    }

    /// Sends Basic credentials from the first request on, as `docker
    /// login` does once it saw the registry's Basic challenge.
    pub fn assume_basic(self) -> Client {
        *self.challenge.lock().unwrap() = Some(Challenge::Basic);
        self
    }

    /// A probe: a 401 comes back as an error (its `WWW-Authenticate` in
    /// [`OciError::answer`]) instead of being answered with credentials or
    /// a token, for a caller that wants to see what the registry asks for.
    pub fn probe(mut self) -> Client {
        self.probe = true;
        self
    }

    /// Same scheme, host and port as the registry: credentials go there
    /// only (never to the storage a blob GET is redirected to).
    pub fn same_origin(&self, url: &Url) -> bool {
        url.scheme() == self.base.scheme()
            && url.host_str() == self.base.host_str()
            && url.port_or_known_default() == self.base.port_or_known_default()
    }

    pub fn base(&self) -> &Url {
        &self.base
    }

    /// `GET /v2/`, authenticated: Ok when the registry lets us in.
    pub async fn ping(&self) -> Result<(), OciError> {
        self.send(Method::GET, "/v2/", "", None).await.map(drop)
    }

    pub async fn head_manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<ManifestMeta, OciError> {
        let path = format!("/v2/{repo}/manifests/{reference}");
        let resp = self
            .send(Method::HEAD, &path, &pull(repo), Some(MANIFEST_ACCEPT))
            .await?;
        Ok(meta(&resp))
    }

    pub async fn get_manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<(ManifestMeta, Bytes), OciError> {
        let path = format!("/v2/{repo}/manifests/{reference}");
        let resp = self
            .send(Method::GET, &path, &pull(repo), Some(MANIFEST_ACCEPT))
            .await?;
        let mut m = meta(&resp);
        let url = resp.url().to_string();
        let body = resp
            .bytes()
            .await
            .map_err(|e| OciError::transport(&url, e))?;
        m.size = Some(body.len() as u64);
        Ok((m, body))
    }

    /// A blob's size (HEAD).
    pub async fn head_blob(&self, repo: &str, digest: &str) -> Result<u64, OciError> {
        let path = format!("/v2/{repo}/blobs/{digest}");
        let resp = self.send(Method::HEAD, &path, &pull(repo), None).await?;
        content_length(&resp).ok_or_else(|| {
            let problem = Problem::Other("a blob HEAD without Content-Length".into());
            OciError::protocol(resp.url().as_str(), problem)
        })
    }

    /// A blob's bytes, streamed. Redirects to storage are followed (by
    /// the HTTP client when it follows them itself, else here, without
    /// the registry's credentials), and the last one is told.
    pub async fn get_blob(&self, repo: &str, digest: &str) -> Result<BlobStream, OciError> {
        let scope = pull(repo);
        let mut url = self.url(&format!("/v2/{repo}/blobs/{digest}"))?;
        let mut redirected = None;
        for _ in 0..=MAX_REDIRECTS {
            let mut req = Request::new(Method::GET, url.clone(), &scope);
            req.redirects = true;
            let resp = self.execute(req).await?;
            if resp.status().is_redirection() {
                let status = resp.status();
                let next = resp
                    .headers()
                    .get(LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|l| url.join(l).ok())
                    .ok_or_else(|| {
                        OciError::protocol(url.as_str(), Problem::NoLocation { status })
                    })?;
                redirected = Some(next.clone());
                url = next;
                continue;
            }
            let at = resp.url().to_string();
            return Ok(BlobStream {
                size: content_length(&resp),
                redirected: redirected.or_else(|| {
                    let final_url = resp.url();
                    (!self.same_origin(final_url)).then(|| final_url.clone())
                }),
                stream: Box::pin(
                    resp.bytes_stream()
                        .map_err(move |e| OciError::transport(&at, e)),
                ),
            });
        }
        Err(OciError::protocol(url.as_str(), Problem::RedirectLoop))
    }

    /// Every tag of a repository, following `Link` pages.
    pub async fn tags(&self, repo: &str) -> Result<Vec<String>, OciError> {
        #[derive(serde::Deserialize)]
        struct Tags {
            tags: Option<Vec<String>>,
        }
        let path = format!("/v2/{repo}/tags/list");
        self.pages(path, &pull(repo), |t: Tags| t.tags.unwrap_or_default())
            .await
    }

    /// GETs `path` and every page its `Link: <...>; rel="next"` names,
    /// collecting what `items` takes out of each page.
    pub(crate) async fn pages<P: serde::de::DeserializeOwned>(
        &self,
        mut path: String,
        scope: &str,
        items: impl Fn(P) -> Vec<String>,
    ) -> Result<Vec<String>, OciError> {
        let mut out = Vec::new();
        for _ in 0..MAX_PAGES {
            let resp = self.send(Method::GET, &path, scope, None).await?;
            let next = next_link(&resp);
            let url = resp.url().to_string();
            out.extend(items(resp.json_body(&url).await?));
            match next {
                Some(n) => path = n,
                None => return Ok(out),
            }
        }
        let problem = Problem::Other(format!("more than {MAX_PAGES} pages"));
        Err(OciError::protocol(&path, problem))
    }

    /// Sends a request with the auth the registry wants; after a 401, learns
    /// the challenge and tries once more.
    async fn send(
        &self,
        method: Method,
        path: &str,
        scope: &str,
        accept: Option<&str>,
    ) -> Result<Response, OciError> {
        let mut req = Request::new(method, self.url(path)?, scope);
        req.accept = accept;
        self.execute(req).await
    }

    /// `path` (or an absolute URL, as a `Location` may be) on the registry.
    pub(crate) fn url(&self, path: &str) -> Result<Url, OciError> {
        self.base.join(path).map_err(|e| {
            OciError::protocol(
                &format!("{}{path}", self.base),
                Problem::Other(e.to_string()),
            )
        })
    }

    /// Sends `req` with the auth the registry wants; after a 401, learns the
    /// challenge and tries once more (a streamed body cannot be sent twice:
    /// open an upload first, which learns the challenge, then stream).
    pub(crate) async fn execute(&self, mut req: Request<'_>) -> Result<Response, OciError> {
        let url = req.url.clone();
        let mut fetched_token = false;
        for _ in 0..2 {
            let known = self.challenge.lock().unwrap().clone();
            let auth = match &known {
                Some(c) => self.authorization(c, req.scope, false).await?,
                None => None,
            };
            let Some(body) = req.body.take_for_send() else {
                return Err(OciError::Auth {
                    url: url.to_string(),
                    message: "the registry asked for credentials after a streamed body was sent; open the upload first".into(),
                });
            };
            let mut builder = self.http.request(req.method.clone(), url.clone());
            if let Some(a) = req.accept {
                builder = builder.header(ACCEPT, a);
            }
            if let Some(t) = &req.content_type {
                builder = builder.header(CONTENT_TYPE, t.as_str());
            }
            for (k, v) in &req.headers {
                builder = builder.header(*k, v.as_str());
            }
            let ours = self.same_origin(&url);
            if let (Some(a), true) = (&auth, ours) {
                builder = builder.header(AUTHORIZATION, a);
            }
            builder = match body {
                Some(b) => builder.body(b),
                None if req.method == Method::PUT
                    || req.method == Method::POST
                    || req.method == Method::PATCH =>
                {
                    builder.header(CONTENT_LENGTH, "0")
                }
                None => builder,
            };
            let resp = builder
                .send()
                .await
                .map_err(|e| OciError::transport(url.as_str(), e))?;
            if resp.status() != StatusCode::UNAUTHORIZED || fetched_token || self.probe || !ours {
                return check_allowing(resp, req.redirects).await;
            }
            let challenge = resp
                .headers()
                .get(WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .and_then(Challenge::parse);
            let Some(challenge) = challenge else {
                return check(resp).await;
            };
            // A second 401 with the scheme we already answered: give up.
            if known.as_ref() == Some(&challenge) && auth.is_some() {
                if let Challenge::Bearer { .. } = challenge {
                    // The token may have been revoked early: one fresh one.
                    self.authorization(&challenge, req.scope, true).await?;
                    fetched_token = true;
                    continue;
                }
                return check(resp).await;
            }
            if challenge == Challenge::Basic && self.creds.is_none() {
                return check(resp).await;
            }
            *self.challenge.lock().unwrap() = Some(challenge);
        }
        Err(OciError::Auth {
            url: url.to_string(),
            message: "the registry refused the credentials it asked for".into(),
        })
    }

    /// The Authorization value for a request under `challenge`.
    async fn authorization(
        &self,
        challenge: &Challenge,
        scope: &str,
        fresh: bool,
    ) -> Result<Option<String>, OciError> {
        match challenge {
            Challenge::Basic => Ok(self.creds.as_ref().map(Credentials::basic_header)),
            Challenge::Bearer { scope: asked, .. } => {
                let scope = if scope.is_empty() {
                    asked.as_deref().unwrap_or("")
                } else {
                    scope
                };
                let token = match self.tokens.get(scope) {
                    Some(t) if !fresh => t,
                    _ => {
                        self.tokens
                            .fetch(&self.http, challenge, scope, self.creds.as_ref())
                            .await?
                    }
                };
                Ok(Some(format!("Bearer {token}")))
            }
        }
    }
}

fn pull(repo: &str) -> String {
    format!("repository:{repo}:pull")
}

/// One request as `execute` sends it.
pub(crate) struct Request<'a> {
    pub method: Method,
    pub url: Url,
    /// The token scope it needs (Bearer), e.g. `repository:x:pull,push`.
    pub scope: &'a str,
    pub accept: Option<&'a str>,
    pub content_type: Option<String>,
    pub headers: Vec<(&'static str, String)>,
    pub body: Payload,
    /// A 3xx answer is returned, not an error (the caller follows it).
    pub redirects: bool,
}

impl<'a> Request<'a> {
    pub fn new(method: Method, url: Url, scope: &'a str) -> Request<'a> {
        Request {
            method,
            url,
            scope,
            accept: None,
            content_type: None,
            headers: Vec::new(),
            body: Payload::Empty,
            redirects: false,
        }
    }
}

/// A request body: bytes can be sent again after a 401, a stream once.
pub(crate) enum Payload {
    Empty,
    Bytes(Bytes),
    Stream(Option<reqwest::Body>),
}

impl Payload {
    /// The body for the next attempt: `Some(None)` for no body, `None` when
    /// a stream was already sent.
    fn take_for_send(&mut self) -> Option<Option<reqwest::Body>> {
        match self {
            Payload::Empty => Some(None),
            Payload::Bytes(b) => Some(Some(reqwest::Body::from(b.clone()))),
            Payload::Stream(s) => s.take().map(Some),
        }
    }
}

pub(crate) async fn check(resp: Response) -> Result<Response, OciError> {
    check_allowing(resp, false).await
}

async fn check_allowing(resp: Response, redirects: bool) -> Result<Response, OciError> {
    if resp.status().is_success() || (redirects && resp.status().is_redirection()) {
        Ok(resp)
    } else {
        let url = resp.url().to_string();
        Err(OciError::from_response(&url, resp).await)
    }
}

fn content_length(resp: &Response) -> Option<u64> {
    resp.headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse().ok())
}

fn meta(resp: &Response) -> ManifestMeta {
    let h = resp.headers();
    let s = |k| {
        h.get(k)
            .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
    };
    ManifestMeta {
        digest: s(DIGEST_HEADER).map(str::to_string),
        media_type: s(CONTENT_TYPE.as_str()).unwrap_or_default().to_string(),
        size: content_length(resp),
    }
}

/// The path of `Link: </v2/...>; rel="next"`.
fn next_link(resp: &Response) -> Option<String> {
    let link = resp.headers().get("link")?.to_str().ok()?;
    let start = link.find('<')? + 1;
    let end = link[start..].find('>')? + start;
    Some(link[start..end].to_string())
}
