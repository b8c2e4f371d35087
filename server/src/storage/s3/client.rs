//! The S3 wire: requests signed by rusty-s3 (presigned, SigV4) and sent with
//! reqwest, and S3's answers turned into `StorageError`s that name the cause.
//! Signed URLs carry the access key id; they are never logged, and transport
//! errors are stripped of their URL.

use std::fmt::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::TryStreamExt;
use reqwest::{Method, StatusCode};
use rusty_s3::actions::{GetObject, HeadObject, ListObjectsV2, PutObject};
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};
use url::Url;

use super::super::{ByteStream, Result, StorageError, check_path};
use crate::config::s3::S3Settings;

/// How long a signature made for one request stays valid.
pub(super) const SIGN_TTL: Duration = Duration::from_secs(15 * 60);

pub(super) struct Client {
    pub bucket: Bucket,
    pub creds: Credentials,
    pub http: reqwest::Client,
    /// Key prefix: "" or "dir/".
    pub root: String,
    pub chunk_size: usize,
    pub endpoint: String,
}

/// The requests sent to S3 since the process started, by operation: what
/// a bucket is billed for, and what labreg's own changes are measured by.
/// One counter per process, which has one storage.
static REQUESTS: [AtomicU64; OPERATIONS.len()] = [const { AtomicU64::new(0) }; OPERATIONS.len()];
static IN_USE: AtomicBool = AtomicBool::new(false);
const OPERATIONS: [&str; 7] = ["GET", "LIST", "HEAD", "PUT", "POST", "DELETE", "other"];

fn count(method: &Method, url: &Url) {
    let op = match *method {
        Method::GET if url.query_pairs().any(|(k, _)| k == "list-type") => "LIST",
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::PUT => "PUT",
        Method::POST => "POST",
        Method::DELETE => "DELETE",
        _ => "other",
    };
    let i = OPERATIONS
        .iter()
        .position(|o| *o == op)
        .unwrap_or(OPERATIONS.len() - 1);
    REQUESTS[i].fetch_add(1, Ordering::Relaxed);
}

/// `labreg_storage_s3_requests_total` in the Prometheus text format, when
/// the storage is S3.
pub fn render_metrics(out: &mut String) {
    if !IN_USE.load(Ordering::Relaxed) {
        return;
    }
    out.push_str(
        "# HELP labreg_storage_s3_requests_total Requests sent to the S3 storage, by operation.\n",
    );
    out.push_str("# TYPE labreg_storage_s3_requests_total counter\n");
    for (op, n) in OPERATIONS.iter().zip(&REQUESTS) {
        let n = n.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "labreg_storage_s3_requests_total{{operation=\"{op}\"}} {n}"
        );
    }
}

/// One object as a listing or HEAD sees it.
#[derive(Debug, Clone)]
pub(super) struct Object {
    pub key: String,
    pub size: u64,
    pub modified: SystemTime,
}

/// One page of a listing, and the token of the next one.
pub(super) struct ListPage {
    pub objects: Vec<Object>,
    pub prefixes: Vec<String>,
    pub next: Option<String>,
}

fn xml_field<'a>(body: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let start = body.find(&open)? + open.len();
    let end = body[start..].find(&format!("</{name}>"))? + start;
    Some(&body[start..end])
}

pub(super) fn etag_of(body: &str) -> Option<String> {
    xml_field(body, "ETag").map(|e| e.replace("&quot;", "\"").trim().to_string())
}

impl Client {
    pub fn new(s: &S3Settings) -> std::result::Result<Client, String> {
        let endpoint: Url = s
            .endpoint
            .parse()
            .map_err(|e| format!("storage.s3.regionendpoint {:?}: {e}", s.endpoint))?;
        let style = if s.path_style {
            UrlStyle::Path
        } else {
            UrlStyle::VirtualHost
        };
        let bucket = Bucket::new(endpoint, style, s.bucket.clone(), s.region.clone())
            .map_err(|e| format!("storage.s3: cannot address bucket {:?}: {e:?}", s.bucket))?;
        let c = &s.credentials;
        let creds = match &c.session_token {
            Some(t) => Credentials::new_with_token(&c.access_key, &c.secret_key, t),
            None => Credentials::new(&c.access_key, &c.secret_key),
        };
        let mut builder = reqwest::Client::builder();
        if s.skip_verify {
            builder = builder.danger_accept_invalid_certs(true);
        } else {
            let mut anchors = crate::trust::Anchors::system();
            if let Some(bundle) = &s.ca_bundle {
                anchors
                    .add_pem_file(bundle)
                    .map_err(|e| format!("AWS_CA_BUNDLE: {e}"))?;
            }
            let tls = anchors
                .client_config()
                .map_err(|e| format!("cannot set up TLS for S3: {e}"))?;
            builder = builder.use_preconfigured_tls(tls);
        }
        let http = builder
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot build the S3 HTTP client: {e}"))?;
        IN_USE.store(true, Ordering::Relaxed);
        Ok(Client {
            bucket,
            creds,
            http,
            root: s.root.clone(),
            chunk_size: s.chunk_size as usize,
            endpoint: s.endpoint.clone(),
        })
    }

    /// The object key of a driver path: rootdirectory + path, no leading
    /// slash (distribution's layout).
    pub fn key(&self, path: &str) -> Result<String> {
        check_path(path)?;
        Ok(format!("{}{}", self.root, &path[1..]))
    }

    pub fn path_of(&self, key: &str) -> String {
        format!("/{}", key.strip_prefix(&self.root).unwrap_or(key))
    }

    /// The key prefix of a directory (with its trailing slash).
    pub fn dir_prefix(&self, path: &str) -> Result<String> {
        if path == "/" {
            return Ok(self.root.clone());
        }
        Ok(format!("{}/", self.key(path)?))
    }

    pub async fn send(
        &self,
        method: Method,
        url: Url,
        headers: &[(&'static str, String)],
        body: Option<Bytes>,
        path: &str,
    ) -> Result<reqwest::Response> {
        count(&method, &url);
        let mut req = self.http.request(method, url);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        let resp = req.send().await.map_err(|e| {
            StorageError::Unavailable(format!(
                "cannot reach the S3 endpoint {} ({}): check storage.s3.regionendpoint and that the S3 server runs",
                self.endpoint,
                error_chain(&e.without_url())
            ))
        })?;
        if resp.status().is_success() || resp.status() == StatusCode::RANGE_NOT_SATISFIABLE {
            return Ok(resp);
        }
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        Err(self.failure(status, &body, path))
    }

    /// An S3 error answer as a storage error naming its cause.
    pub fn failure(&self, status: StatusCode, body: &str, path: &str) -> StorageError {
        let code = xml_field(body, "Code").unwrap_or("");
        // Some servers name the access key in their message: keep it out of
        // logs and answers.
        let message = xml_field(body, "Message")
            .unwrap_or("")
            .replace(self.creds.key(), "<access key>")
            .replace(self.creds.secret(), "<secret key>");
        let bucket = self.bucket.name();
        match (status, code) {
            (_, "NoSuchBucket") => StorageError::Unavailable(format!(
                "the S3 bucket {bucket:?} does not exist at {}: create it (e.g. `mc mb`, `garage bucket create`) or fix storage.s3.bucket",
                self.endpoint
            )),
            (StatusCode::NOT_FOUND, "NoSuchKey" | "NoSuchUpload" | "") => {
                StorageError::NotFound(path.to_string())
            }
            (StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED, _)
            | (_, "InvalidAccessKeyId" | "SignatureDoesNotMatch" | "AccessDenied") => {
                StorageError::Unavailable(format!(
                    "S3 at {} refused the credentials for bucket {bucket:?} ({status} {code} {message}): check storage.s3.accesskey/secretkey (or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), storage.s3.region and the key's permissions on the bucket",
                    self.endpoint
                ))
            }
            (s, _) if s.is_server_error() => StorageError::Unavailable(format!(
                "S3 at {} answered {status} {code} {message} for {path}",
                self.endpoint
            )),
            _ => StorageError::Io {
                path: path.to_string(),
                source: std::io::Error::other(format!("S3 answered {status} {code} {message}")),
            },
        }
    }

    /// A 200 answer whose body is an `<Error>` (CopyObject and
    /// CompleteMultipartUpload may answer so) is a failure too.
    pub async fn ok_body(&self, resp: reqwest::Response, path: &str) -> Result<String> {
        let body = resp
            .text()
            .await
            .map_err(|e| StorageError::io(path, std::io::Error::other(e.without_url())))?;
        if body.contains("<Error>") {
            return Err(self.failure(StatusCode::INTERNAL_SERVER_ERROR, &body, path));
        }
        Ok(body)
    }

    pub async fn head(&self, key: &str, path: &str) -> Result<Option<Object>> {
        let url = HeadObject::new(&self.bucket, Some(&self.creds), key).sign(SIGN_TTL);
        match self.send(Method::HEAD, url, &[], None, path).await {
            Ok(resp) => {
                let size = resp
                    .headers()
                    .get(reqwest::header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let modified = resp
                    .headers()
                    .get(reqwest::header::LAST_MODIFIED)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| httpdate::parse_http_date(v).ok())
                    .unwrap_or(SystemTime::UNIX_EPOCH);
                Ok(Some(Object {
                    key: key.to_string(),
                    size,
                    modified,
                }))
            }
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// GETs `len` bytes (or the rest) of an object from `offset`; an offset
    /// at or past the end reads nothing.
    pub async fn get_range(
        &self,
        key: &str,
        path: &str,
        offset: u64,
        len: Option<u64>,
    ) -> Result<ByteStream> {
        if len == Some(0) {
            return Ok(Box::pin(futures_util::stream::empty()));
        }
        let url = GetObject::new(&self.bucket, Some(&self.creds), key).sign(SIGN_TTL);
        let range = match len {
            Some(n) => Some(format!("bytes={offset}-{}", offset + n - 1)),
            None if offset > 0 => Some(format!("bytes={offset}-")),
            None => None,
        };
        let headers: Vec<(&'static str, String)> =
            range.into_iter().map(|r| ("range", r)).collect();
        let resp = self.send(Method::GET, url, &headers, None, path).await?;
        if resp.status() == StatusCode::RANGE_NOT_SATISFIABLE {
            return Ok(Box::pin(futures_util::stream::empty()));
        }
        Ok(Box::pin(
            resp.bytes_stream()
                .map_err(|e| std::io::Error::other(e.without_url())),
        ))
    }

    pub async fn put(&self, key: &str, path: &str, body: Bytes) -> Result<()> {
        let url = PutObject::new(&self.bucket, Some(&self.creds), key).sign(SIGN_TTL);
        self.send(Method::PUT, url, &[], Some(body), path).await?;
        Ok(())
    }

    pub async fn delete_key(&self, key: &str, path: &str) -> Result<()> {
        let url = rusty_s3::actions::DeleteObject::new(&self.bucket, Some(&self.creds), key)
            .sign(SIGN_TTL);
        match self.send(Method::DELETE, url, &[], None, path).await {
            Err(e) if !e.is_not_found() => Err(e),
            _ => Ok(()),
        }
    }

    /// Lists keys under `prefix`; with `delimited`, only one level (objects
    /// and the common prefixes below it). Follows continuation tokens.
    pub async fn list(
        &self,
        prefix: &str,
        delimited: bool,
        path: &str,
    ) -> Result<(Vec<Object>, Vec<String>)> {
        let mut objects = Vec::new();
        let mut prefixes = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .list_page(prefix, delimited, token.as_deref(), path)
                .await?;
            objects.extend(page.objects);
            prefixes.extend(page.prefixes);
            match page.next {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        Ok((objects, prefixes))
    }

    /// One page of a listing (up to 1000 keys), from `token` when given.
    pub async fn list_page(
        &self,
        prefix: &str,
        delimited: bool,
        token: Option<&str>,
        path: &str,
    ) -> Result<ListPage> {
        let mut action = ListObjectsV2::new(&self.bucket, Some(&self.creds));
        action.with_prefix(prefix);
        if delimited {
            action.with_delimiter("/");
        }
        if let Some(t) = token {
            action.with_continuation_token(t);
        }
        let url = action.sign(SIGN_TTL);
        let resp = self.send(Method::GET, url, &[], None, path).await?;
        let body = self.ok_body(resp, path).await?;
        let parsed = ListObjectsV2::parse_response(&body).map_err(|e| {
            StorageError::io(
                path,
                std::io::Error::other(format!("unreadable S3 listing: {e}")),
            )
        })?;
        let objects = parsed
            .contents
            .into_iter()
            .map(|c| Object {
                modified: c
                    .last_modified
                    .as_deref()
                    .and_then(|t| humantime::parse_rfc3339_weak(t).ok())
                    .unwrap_or(SystemTime::UNIX_EPOCH),
                key: c.key,
                size: c.size.unwrap_or(0),
            })
            .collect();
        Ok(ListPage {
            objects,
            prefixes: parsed
                .common_prefixes
                .into_iter()
                .map(|p| p.prefix)
                .collect(),
            next: parsed.next_continuation_token,
        })
    }

    /// The `x-amz-copy-source` value naming an object of this bucket.
    pub fn copy_source(&self, key: &str) -> String {
        let mut out = format!("/{}/", self.bucket.name());
        for b in key.bytes() {
            if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
