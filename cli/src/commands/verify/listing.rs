//! The catalog and the tag list, every page (labreg-oci follows `Link`).

use reqwest::StatusCode;

use super::client::Client;
use super::diagnose::Diagnosis;
use super::target::REPOSITORY;

/// Every repository of the catalog; `Ok(None)` when the registry does not
/// offer it (404, 401, 403).
pub async fn catalog(c: &Client) -> Result<Option<Vec<String>>, Diagnosis> {
    match c.oci.catalog(1000).await {
        Ok(repos) => Ok(Some(repos)),
        Err(e)
            if matches!(
                e.status(),
                Some(StatusCode::NOT_FOUND | StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN)
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(c.failed("GET /v2/_catalog?n=1000", &e)),
    }
}

/// Every tag of verify's repository.
pub async fn tags(c: &Client) -> Result<Vec<String>, Diagnosis> {
    let what = format!("GET /v2/{REPOSITORY}/tags/list");
    c.oci
        .tags(REPOSITORY)
        .await
        .map_err(|e| c.failed(&what, &e))
}
