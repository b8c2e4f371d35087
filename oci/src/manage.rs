//! Listing and removing: the catalog, referrers, and deletes of manifests
//! and blobs (which registries allow only when configured to).

use reqwest::Method;
use serde::Deserialize;

use crate::auth::JsonBody;
use crate::client::{Client, Request};
use crate::error::OciError;

/// One entry of an image index, as the referrers API lists them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default)]
    pub artifact_type: Option<String>,
    #[serde(default)]
    pub annotations: std::collections::BTreeMap<String, String>,
}

impl Client {
    /// Every repository (`/v2/_catalog`), following `Link` pages of `n`.
    pub async fn catalog(&self, n: usize) -> Result<Vec<String>, OciError> {
        #[derive(Deserialize)]
        struct Page {
            repositories: Option<Vec<String>>,
        }
        let path = format!("/v2/_catalog?n={n}");
        self.pages(path, "registry:catalog:*", |p: Page| {
            p.repositories.unwrap_or_default()
        })
        .await
    }

    /// The manifests that refer to `digest` (`/v2/<repo>/referrers/<digest>`),
    /// only those of `artifact_type` when given.
    pub async fn referrers(
        &self,
        repo: &str,
        digest: &str,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>, OciError> {
        #[derive(Deserialize)]
        struct Index {
            #[serde(default)]
            manifests: Vec<Descriptor>,
        }
        let scope = format!("repository:{repo}:pull");
        let mut url = self.url(&format!("/v2/{repo}/referrers/{digest}"))?;
        if let Some(t) = artifact_type {
            url.query_pairs_mut().append_pair("artifactType", t);
        }
        let mut req = Request::new(Method::GET, url, &scope);
        req.accept = Some("application/vnd.oci.image.index.v1+json");
        let resp = self.execute(req).await?;
        let url = resp.url().to_string();
        let index: Index = resp.json_body(&url).await?;
        Ok(index.manifests)
    }

    /// Deletes a manifest by digest, or a tag (registries that allow it).
    pub async fn delete_manifest(&self, repo: &str, reference: &str) -> Result<(), OciError> {
        self.delete(repo, &format!("manifests/{reference}")).await
    }

    /// Deletes a blob from a repository.
    pub async fn delete_blob(&self, repo: &str, digest: &str) -> Result<(), OciError> {
        self.delete(repo, &format!("blobs/{digest}")).await
    }

    async fn delete(&self, repo: &str, what: &str) -> Result<(), OciError> {
        let scope = format!("repository:{repo}:delete");
        let url = self.url(&format!("/v2/{repo}/{what}"))?;
        self.execute(Request::new(Method::DELETE, url, &scope))
            .await
            .map(drop)
    }
}
