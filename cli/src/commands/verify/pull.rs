//! Pulling back what was pushed: the manifest by tag and by digest, and
//! every blob with its digest checked, following redirects by hand to say
//! where they lead.

use futures_util::StreamExt as _;
use indicatif::ProgressBar;
use reqwest::header::{ACCEPT, LOCATION};
use reqwest::{Method, StatusCode, Url};
use sha2::{Digest as _, Sha256};

use super::client::Client;
use super::diagnose::{self, Diagnosis};
use super::image::{self, MANIFEST_TYPE};
use super::target::REPOSITORY;

const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.index.v1+json";

/// Something verify pushed is not there: the storage is not shared.
pub fn missing_after_push(what: &str) -> Diagnosis {
    Diagnosis::new(
        "missing-after-push",
        format!(
            "{what} is missing right after a successful push: the request reached a registry instance (or a cache) that does not see the storage the push went to"
        ),
        "run one replica (lab.yaml registry.replicas: 1) or give all replicas one storage (an S3 bucket, a ReadWriteMany volume); a cache or CDN in front may also serve stale answers",
    )
}

/// GET the manifest by `reference` and check it is the one pushed.
pub async fn manifest(c: &Client, reference: &str, pushed: &[u8]) -> Result<(), Diagnosis> {
    let url = c.url(&format!("v2/{REPOSITORY}/manifests/{reference}"));
    let resp = c
        .req(Method::GET, url)
        .header(ACCEPT, ACCEPT_MANIFESTS)
        .send()
        .await
        .map_err(|e| c.transport(&e))?;
    let what = format!("the manifest {REPOSITORY}:{reference}");
    match resp.status() {
        StatusCode::OK => {}
        StatusCode::NOT_FOUND => return Err(missing_after_push(&what)),
        _ => return Err(c.status(&format!("the GET of {what}"), resp).await),
    }
    let ctype = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = resp.bytes().await.map_err(|e| c.transport(&e))?;
    let want = image::digest(pushed);
    let got = image::digest(&body);
    if got != want {
        return Err(mismatch(
            &what,
            &got,
            &want,
            body.len() as u64,
            pushed.len() as u64,
        ));
    }
    if !ctype.starts_with(MANIFEST_TYPE) {
        return Err(Diagnosis::new(
            "media-type",
            format!(
                "{what} came back as {ctype:?}, not {MANIFEST_TYPE}: clients will not recognise it"
            ),
            "a proxy in front of the registry rewrites Content-Type: check it",
        ));
    }
    Ok(())
}

pub fn mismatch(what: &str, got: &str, want: &str, got_len: u64, want_len: u64) -> Diagnosis {
    let how = if got_len < want_len {
        format!("it was cut short ({got_len} of {want_len} bytes)")
    } else {
        format!("{got_len} bytes with digest {got}")
    };
    Diagnosis::new(
        "digest-mismatch",
        format!("{what} does not match what was pushed ({want}): {how}"),
        "something between here and the storage changes the bytes: a proxy that compresses, truncates or caches (check its buffering and timeouts), or a corrupted storage object (run the registry's garbage collection and push again)",
    )
}

/// Where a blob redirect led and the download's speed.
pub struct Pulled {
    pub redirect: Option<String>,
    pub bytes: u64,
}

fn origin(url: &Url) -> String {
    format!(
        "{}://{}:{}",
        url.scheme(),
        url.host_str().unwrap_or("?"),
        url.port_or_known_default().unwrap_or(0)
    )
}

/// GET a blob, following up to 10 redirects, and check its digest.
pub async fn blob(
    c: &Client,
    digest: &str,
    len: u64,
    bar: Option<ProgressBar>,
) -> Result<Pulled, Diagnosis> {
    let mut url = c.url(&format!("v2/{REPOSITORY}/blobs/{digest}"));
    let mut redirect: Option<String> = None;
    let what = format!("the blob {digest}");
    for _ in 0..10 {
        let resp = match c.req(Method::GET, url.clone()).send().await {
            Ok(r) => r,
            Err(e) if redirect.is_some() => {
                return Err(redirect_unreachable(
                    &url,
                    &diagnose::phrase(&diagnose::classify(&e)),
                ));
            }
            Err(e) => return Err(c.transport(&e)),
        };
        let status = resp.status();
        if status.is_redirection() {
            let next = resp
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|l| url.join(l).ok());
            let Some(next) = next else {
                return Err(Diagnosis::new(
                    "protocol",
                    format!("the GET of {what} was answered {status} without a usable Location"),
                    "check the registry's storage redirect settings (storage.redirect.disable: true avoids redirects)",
                ));
            };
            redirect = Some(origin(&next));
            url = next;
            continue;
        }
        if !status.is_success() {
            if redirect.is_some() {
                let said = format!(
                    "answers {status}{}",
                    super::client::registry_errors(&resp.text().await.unwrap_or_default())
                );
                return Err(redirect_unreachable(&url, &said));
            }
            if status == StatusCode::NOT_FOUND {
                return Err(missing_after_push(&what));
            }
            return Err(c.status(&format!("the GET of {what}"), resp).await);
        }
        let mut h = Sha256::new();
        let mut n = 0u64;
        let mut body = resp.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| c.transport(&e))?;
            n += chunk.len() as u64;
            if let Some(b) = &bar {
                b.inc(chunk.len() as u64);
            }
            h.update(&chunk);
        }
        let got = format!("sha256:{}", hex::encode(h.finalize()));
        if got != digest {
            return Err(mismatch(&what, &got, digest, n, len));
        }
        return Ok(Pulled { redirect, bytes: n });
    }
    Err(Diagnosis::new(
        "redirect-loop",
        format!("the GET of {what} was redirected more than 10 times"),
        "check the ingress and registry redirect settings (http.host, storage.redirect.disable)",
    ))
}

fn redirect_unreachable(url: &Url, said: &str) -> Diagnosis {
    let o = origin(url);
    Diagnosis::new(
        "redirect-unreachable",
        format!(
            "blob downloads are redirected to {o}, which {said} from here: the registry sends clients straight to its storage (S3, MinIO) at an address only the cluster can reach"
        ),
        "set storage.redirect.disable: true in the registry's config (lab.yaml registry.redirect: false, then render and sync), or give the storage an endpoint clients can reach (storage.s3.regionendpoint)",
    )
}
