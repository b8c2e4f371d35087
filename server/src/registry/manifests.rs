//! Manifests and tags. A manifest is stored as a blob, linked into the
//! repository's revisions; a tag is a link to a revision. A PUT writes the
//! blob, then the revision link, then the tag: readers never see a tag that
//! points at content that is not there.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use serde_json::Value;

use super::change::{Change, ChangeAction, Context};
use super::digest::Digest;
use super::manifest::{self, Descriptor, Kind, Manifest};
use super::names::{Reference, RepoName, Tag};
use super::service::ManifestService;
use super::{Registry, RegistryError, Result, Store, paths};

/// Parsed manifests kept for the referrers API (a few hundred bytes each).
const MANIFEST_CACHE_LIMIT: usize = 10_000;

/// A manifest read back for a GET or HEAD.
#[derive(Debug, Clone)]
pub struct StoredManifest {
    pub digest: Digest,
    pub media_type: String,
    pub content: Bytes,
}

/// What a manifest PUT did: the change, and the manifest's subject, if any
/// (answered in the `OCI-Subject` header).
#[derive(Debug, Clone)]
pub struct ManifestPut {
    pub change: Change,
    pub subject: Option<Digest>,
}

/// The media type to serve stored content with. Lenient on purpose: a volume
/// shared with registry:2 may hold kinds labreg does not accept on push.
fn stored_media_type(content: &[u8]) -> String {
    let v: Value = serde_json::from_slice(content).unwrap_or(Value::Null);
    if let Some(m) = v.get("mediaType").and_then(Value::as_str) {
        return m.to_string();
    }
    if v.get("schemaVersion").and_then(Value::as_i64) == Some(1) {
        return "application/vnd.docker.distribution.manifest.v1+prettyjws".into();
    }
    if v.get("manifests").is_some() {
        manifest::OCI_INDEX.into()
    } else {
        manifest::OCI_MANIFEST.into()
    }
}

#[async_trait]
impl ManifestService for Registry {
    /// Stores a manifest under a tag or its digest.
    async fn put_manifest(
        &self,
        cx: &Context,
        name: &RepoName,
        reference: &Reference,
        content_type: Option<&str>,
        content: Bytes,
    ) -> Result<ManifestPut> {
        self.check_writable()?;
        if content.len() > manifest::MAX_MANIFEST_SIZE {
            return Err(RegistryError::ManifestTooLarge {
                size: content.len(),
                limit: manifest::MAX_MANIFEST_SIZE,
            });
        }
        let parsed =
            manifest::parse(&content, content_type).map_err(RegistryError::ManifestInvalid)?;
        let digest = match reference {
            Reference::Digest(want) => {
                let got = Digest::of(want.algorithm(), &content);
                if &got != want {
                    return Err(RegistryError::DigestMismatch {
                        expected: want.to_string(),
                        actual: got,
                    });
                }
                got
            }
            Reference::Tag(_) => Digest::sha256_of(&content),
        };
        // Asked of the storage, not the cache: a blob another process's
        // garbage collection deleted must fail the PUT (and leave the
        // cache), so the client uploads it again.
        for blob in &parsed.blobs {
            if !self.exists_now(&paths::layer_link(name, blob)).await?
                || !self.exists_now(&paths::blob_data(blob)).await?
            {
                return Err(RegistryError::ManifestBlobUnknown(blob.clone()));
            }
        }
        for child in &parsed.children {
            let d: Digest = child.digest.parse()?;
            if !self.exists_now(&paths::revision_link(name, &d)).await? {
                return Err(RegistryError::ManifestBlobUnknown(d));
            }
        }
        let size = content.len() as u64;
        let blob = paths::blob_data(&digest);
        if !self.exists(&blob).await? {
            self.driver.put_content(&blob, content.clone()).await?;
        }
        self.write_link(&paths::revision_link(name, &digest), &digest)
            .await?;
        let tag = match reference {
            Reference::Tag(tag) => {
                self.write_link(&paths::tag_index_link(name, tag, &digest), &digest)
                    .await?;
                self.write_link(&paths::tag_current_link(name, tag), &digest)
                    .await?;
                Some(tag)
            }
            Reference::Digest(_) => None,
        };
        let change = Change::new(cx, ChangeAction::ManifestPush, name, &digest)
            .size(size)
            .media_type(&parsed.media_type)
            .tag(tag)
            .content(content);
        Ok(ManifestPut {
            change,
            subject: parsed.subject,
        })
    }

    async fn get_manifest(
        &self,
        _: &Context,
        name: &RepoName,
        reference: &Reference,
    ) -> Result<StoredManifest> {
        let (name, reference) = (name.clone(), reference.clone());
        self.chained(move |d| async move { Store(&*d).manifest(&name, &reference).await })
            .await
    }

    /// Deletes a tag, or a manifest by digest together with every tag that
    /// points at it: one change per tag removed, then the manifest's.
    async fn delete_manifest(
        &self,
        cx: &Context,
        name: &RepoName,
        reference: &Reference,
    ) -> Result<Vec<Change>> {
        self.check_delete()?;
        let digest = self.resolve(name, reference).await?;
        let untagged =
            |tag: &Tag| Change::new(cx, ChangeAction::TagDelete, name, &digest).tag(Some(tag));
        match reference {
            Reference::Tag(tag) => {
                self.remove(&paths::tag_dir(name, tag)).await?;
                Ok(vec![untagged(tag)])
            }
            Reference::Digest(d) => {
                let mut changes = Vec::new();
                for tag in self.list_dir(&paths::tags_dir(name)).await? {
                    if self
                        .read_link(&paths::tag_current_link(name, &tag))
                        .await?
                        .as_ref()
                        == Some(d)
                    {
                        self.remove(&paths::tag_dir(name, &tag)).await?;
                        if let Ok(tag) = Tag::parse(&tag) {
                            changes.push(untagged(&tag));
                        }
                    }
                }
                self.remove(&paths::revision_dir(name, d)).await?;
                changes.push(Change::new(cx, ChangeAction::ManifestDelete, name, d));
                Ok(changes)
            }
        }
    }

    /// The referrers API: manifests of `name` whose subject is `subject`,
    /// optionally only those of one artifact type, sorted by digest.
    async fn referrers(
        &self,
        _: &Context,
        name: &RepoName,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>> {
        let mut out = Vec::new();
        for alg in ["sha256", "sha512"] {
            for hex in self.list_dir(&paths::revisions_dir(name, alg)).await? {
                let Ok(digest) = format!("{alg}:{hex}").parse::<Digest>() else {
                    continue;
                };
                let Some((m, size)) = self.load_manifest(&digest).await? else {
                    continue;
                };
                if m.subject.as_ref() != Some(subject) {
                    continue;
                }
                let kind_artifact = match m.kind {
                    Kind::Image => m.config.as_ref().map(|c| c.media_type.clone()),
                    Kind::Index => None,
                };
                let at = m.artifact_type.clone().or(kind_artifact);
                if artifact_type.is_some_and(|want| at.as_deref() != Some(want)) {
                    continue;
                }
                out.push(Descriptor {
                    media_type: m.media_type.clone(),
                    digest: digest.to_string(),
                    size,
                    artifact_type: at,
                    annotations: m.annotations.clone(),
                    urls: None,
                    platform: None,
                });
            }
        }
        Ok(out)
    }
}

impl Registry {
    /// The digest a reference names in a repository, if it is there.
    async fn resolve(&self, name: &RepoName, reference: &Reference) -> Result<Digest> {
        Store(&*self.driver).resolve(name, reference).await
    }

    fn cache_manifest(&self, digest: Digest, m: Arc<Manifest>) {
        let mut cache = self.manifest_cache.lock().expect("manifest cache poisoned");
        // Filled only by referrers lookups, and bounded: a registry with more
        // manifests than this re-parses some.
        if cache.len() >= MANIFEST_CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(digest, m);
    }

    /// A stored manifest, parsed; None when it is missing or unparsable.
    pub(super) async fn load_manifest(
        &self,
        digest: &Digest,
    ) -> Result<Option<(Arc<Manifest>, u64)>> {
        let cached = self
            .manifest_cache
            .lock()
            .expect("manifest cache poisoned")
            .get(digest)
            .cloned();
        let content = match self.driver.get_content(&paths::blob_data(digest)).await {
            Ok(c) => c,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        if let Some(m) = cached {
            return Ok(Some((m, content.len() as u64)));
        }
        let Ok(m) = manifest::parse(&content, None) else {
            return Ok(None);
        };
        let m = Arc::new(m);
        self.cache_manifest(digest.clone(), m.clone());
        Ok(Some((m, content.len() as u64)))
    }
}

impl Store<'_> {
    /// The digest a reference names in a repository, if it is there.
    async fn resolve(&self, name: &RepoName, reference: &Reference) -> Result<Digest> {
        let unknown = || RegistryError::ManifestUnknown(format!("{name}:{reference}"));
        let digest = match reference {
            Reference::Tag(tag) => self
                .read_link(&paths::tag_current_link(name, tag))
                .await?
                .ok_or_else(unknown)?,
            Reference::Digest(d) => d.clone(),
        };
        if !self.exists(&paths::revision_link(name, &digest)).await? {
            return Err(unknown());
        }
        Ok(digest)
    }

    /// The manifest a reference names, as stored.
    async fn manifest(&self, name: &RepoName, reference: &Reference) -> Result<StoredManifest> {
        let digest = self.resolve(name, reference).await?;
        let content = match self.0.get_content(&paths::blob_data(&digest)).await {
            Ok(c) => c,
            Err(e) if e.is_not_found() => {
                return Err(RegistryError::ManifestUnknown(format!("{name}@{digest}")));
            }
            Err(e) => return Err(e.into()),
        };
        Ok(StoredManifest {
            media_type: stored_media_type(&content),
            digest,
            content,
        })
    }
}
