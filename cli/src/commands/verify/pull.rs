//! Pulling back what was pushed: the manifest by tag and by digest, and
//! every blob with its digest checked; labreg-oci follows a blob's
//! redirects and says where they led, which a failure names.

use futures_util::StreamExt as _;
use indicatif::ProgressBar;
use labreg_oci::{OciError, Problem};
use reqwest::Url;
use sha2::{Digest as _, Sha256};

use super::client::Client;
use super::diagnose::{self, Diagnosis};
use super::image::{self, MANIFEST_TYPE};
use super::target::REPOSITORY;

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
    let what = format!("the manifest {REPOSITORY}:{reference}");
    let (meta, body) = match c.oci.get_manifest(REPOSITORY, reference).await {
        Ok(got) => got,
        Err(e) if e.is_not_found() => return Err(missing_after_push(&what)),
        Err(e) => return Err(c.failed(&format!("the GET of {what}"), &e)),
    };
    let ctype = meta.media_type;
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

/// GET a blob (labreg-oci follows up to 10 redirects and says where they
/// led) and check its digest.
pub async fn blob(
    c: &Client,
    digest: &str,
    len: u64,
    bar: Option<ProgressBar>,
) -> Result<Pulled, Diagnosis> {
    let what = format!("the blob {digest}");
    let blob = match c.oci.get_blob(REPOSITORY, digest).await {
        Ok(b) => b,
        Err(e) => return Err(blob_failed(c, &what, &e)),
    };
    let mut h = Sha256::new();
    let mut n = 0u64;
    let mut body = blob.stream;
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
    Ok(Pulled {
        redirect: blob.redirected.as_ref().map(origin),
        bytes: n,
    })
}

/// Why a blob GET failed: where a redirect led (an error from another
/// origin than the registry's), or what the registry said.
fn blob_failed(c: &Client, what: &str, e: &OciError) -> Diagnosis {
    let at = Url::parse(e.url()).ok().filter(|u| !c.oci.same_origin(u));
    match (at, e) {
        (_, OciError::Protocol { problem, .. }) if *problem == Problem::RedirectLoop => {
            Diagnosis::new(
                "redirect-loop",
                format!("the GET of {what} was redirected more than 10 times"),
                "check the ingress and registry redirect settings (http.host, storage.redirect.disable)",
            )
        }
        (
            _,
            OciError::Protocol {
                problem: Problem::NoLocation { status },
                ..
            },
        ) => Diagnosis::new(
            "protocol",
            format!("the GET of {what} was answered {status} without a usable Location"),
            "check the registry's storage redirect settings (storage.redirect.disable: true avoids redirects)",
        ),
        (Some(url), OciError::Status { status, answer, .. }) => {
            let said = format!(
                "answers {status}{}",
                super::client::registry_errors(&answer.body)
            );
            redirect_unreachable(&url, &said)
        }
        (Some(url), OciError::Transport { .. }) => {
            redirect_unreachable(&url, &diagnose::phrase(&diagnose::classify_oci(e)))
        }
        _ if e.is_not_found() => missing_after_push(what),
        _ => c.failed(&format!("the GET of {what}"), e),
    }
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
