//! The storage layout, drawn once. It is distribution's, byte for byte, so a
//! volume or bucket written by `registry:2` is served by labreg as it is, and
//! the other way round.
//!
//! ```text
//! /docker/registry/v2/
//! ├── blobs/
//! │   └── <algorithm>/<first two hex digits>/<hex>/data      the content, immutable
//! └── repositories/
//!     └── <name>/                                            name may hold '/'
//!         ├── _layers/<algorithm>/<hex>/link                 "algorithm:hex": blob linked to the repo
//!         ├── _manifests/
//!         │   ├── revisions/<algorithm>/<hex>/link           manifest linked to the repo
//!         │   └── tags/<tag>/
//!         │       ├── current/link                          the digest the tag points at
//!         │       └── index/<algorithm>/<hex>/link           every digest the tag has pointed at
//!         └── _uploads/<id>/
//!             ├── data                                       bytes received so far
//!             └── startedat                                  RFC 3339 time the upload began
//! ```
//!
//! A repository is a directory under `repositories/` that holds `_layers`
//! (distribution's rule for the catalog). Link files hold the digest string
//! with no newline. Every function here returns a driver path; nothing else
//! in the crate builds one.

use super::digest::Digest;

pub const ROOT: &str = "/docker/registry/v2";

pub fn repositories_root() -> String {
    format!("{ROOT}/repositories")
}

pub fn repository(name: &str) -> String {
    format!("{ROOT}/repositories/{name}")
}

/// Where every blob lives: `blobs/<algorithm>/<xx>/<hex>/data`.
pub fn blobs_root() -> String {
    format!("{ROOT}/blobs")
}

/// The directory of one blob: removing it deletes the blob.
pub fn blob_dir(d: &Digest) -> String {
    let hex = d.hex();
    format!("{ROOT}/blobs/{}/{}/{hex}", d.algorithm().name(), &hex[..2])
}

pub fn blob_data(d: &Digest) -> String {
    format!("{}/data", blob_dir(d))
}

/// `<algorithm>/<hex>`, the tail of every link directory.
fn digest_dir(d: &Digest) -> String {
    format!("{}/{}", d.algorithm().name(), d.hex())
}

/// The directory of a layer link: removing it unlinks the blob.
pub fn layer_dir(name: &str, d: &Digest) -> String {
    format!("{}/_layers/{}", repository(name), digest_dir(d))
}

pub fn layer_link(name: &str, d: &Digest) -> String {
    format!("{}/link", layer_dir(name, d))
}

pub fn revisions_dir(name: &str, algorithm: &str) -> String {
    format!("{}/_manifests/revisions/{algorithm}", repository(name))
}

/// The directory of a revision link: removing it unlinks the manifest.
pub fn revision_dir(name: &str, d: &Digest) -> String {
    format!(
        "{}/_manifests/revisions/{}",
        repository(name),
        digest_dir(d)
    )
}

pub fn revision_link(name: &str, d: &Digest) -> String {
    format!("{}/link", revision_dir(name, d))
}

pub fn tags_dir(name: &str) -> String {
    format!("{}/_manifests/tags", repository(name))
}

pub fn tag_dir(name: &str, tag: &str) -> String {
    format!("{}/{tag}", tags_dir(name))
}

pub fn tag_current_link(name: &str, tag: &str) -> String {
    format!("{}/current/link", tag_dir(name, tag))
}

/// The directory of one entry of a tag's index.
pub fn tag_index_dir(name: &str, tag: &str, d: &Digest) -> String {
    format!("{}/index/{}", tag_dir(name, tag), digest_dir(d))
}

pub fn tag_index_link(name: &str, tag: &str, d: &Digest) -> String {
    format!("{}/link", tag_index_dir(name, tag, d))
}

pub fn uploads_dir(name: &str) -> String {
    format!("{}/_uploads", repository(name))
}

pub fn upload_dir(name: &str, id: &str) -> String {
    format!("{}/{id}", uploads_dir(name))
}

pub fn upload_data(name: &str, id: &str) -> String {
    format!("{}/data", upload_dir(name, id))
}

pub fn upload_started_at(name: &str, id: &str) -> String {
    format!("{}/startedat", upload_dir(name, id))
}

/// What a file of the layout is, read back from its path: the inverse of
/// the functions above, for the walks of garbage collection and `check`.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    Blob(Digest),
    LayerLink {
        repo: String,
        digest: Digest,
    },
    RevisionLink {
        repo: String,
        digest: Digest,
    },
    TagCurrent {
        repo: String,
        tag: String,
    },
    TagIndex {
        repo: String,
        tag: String,
        digest: Digest,
    },
}

fn digest_at(alg: &str, hex: &str) -> Option<Digest> {
    format!("{alg}:{hex}").parse().ok()
}

pub fn classify(path: &str) -> Option<Entry> {
    let rest = path.strip_prefix(ROOT)?.strip_prefix('/')?;
    if let Some(b) = rest.strip_prefix("blobs/") {
        return match b.split('/').collect::<Vec<_>>().as_slice() {
            [alg, _, hex, "data"] => digest_at(alg, hex).map(Entry::Blob),
            _ => None,
        };
    }
    let r = rest.strip_prefix("repositories/")?;
    let (repo, tail) = ["/_layers/", "/_manifests/"]
        .iter()
        .find_map(|m| r.find(m).map(|i| (&r[..i], &r[i + 1..])))?;
    let repo = repo.to_string();
    let parts: Vec<&str> = tail.split('/').collect();
    match parts.as_slice() {
        ["_layers", alg, hex, "link"] => Some(Entry::LayerLink {
            repo,
            digest: digest_at(alg, hex)?,
        }),
        ["_manifests", "revisions", alg, hex, "link"] => Some(Entry::RevisionLink {
            repo,
            digest: digest_at(alg, hex)?,
        }),
        ["_manifests", "tags", tag, "current", "link"] => Some(Entry::TagCurrent {
            repo,
            tag: tag.to_string(),
        }),
        ["_manifests", "tags", tag, "index", alg, hex, "link"] => Some(Entry::TagIndex {
            repo,
            tag: tag.to_string(),
            digest: digest_at(alg, hex)?,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_classify_back() {
        let d: Digest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
            .parse()
            .unwrap();
        assert_eq!(classify(&blob_data(&d)), Some(Entry::Blob(d.clone())));
        assert_eq!(
            classify(&layer_link("a/b", &d)),
            Some(Entry::LayerLink {
                repo: "a/b".into(),
                digest: d.clone()
            })
        );
        assert_eq!(
            classify(&revision_link("a", &d)),
            Some(Entry::RevisionLink {
                repo: "a".into(),
                digest: d.clone()
            })
        );
        assert_eq!(
            classify(&tag_current_link("x/y", "v1")),
            Some(Entry::TagCurrent {
                repo: "x/y".into(),
                tag: "v1".into()
            })
        );
        assert_eq!(
            classify(&tag_index_link("x", "v1", &d)),
            Some(Entry::TagIndex {
                repo: "x".into(),
                tag: "v1".into(),
                digest: d.clone()
            })
        );
        assert_eq!(classify(&upload_data("a", "id")), None);
    }

    #[test]
    fn each_link_and_file_lies_in_its_directory() {
        let d: Digest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
            .parse()
            .unwrap();
        let pairs = [
            (blob_dir(&d), blob_data(&d), "data"),
            (layer_dir("a/b", &d), layer_link("a/b", &d), "link"),
            (revision_dir("a", &d), revision_link("a", &d), "link"),
            (
                tag_index_dir("a", "v1", &d),
                tag_index_link("a", "v1", &d),
                "link",
            ),
            (upload_dir("a", "id"), upload_data("a", "id"), "data"),
        ];
        for (dir, file, leaf) in pairs {
            assert_eq!(file, format!("{dir}/{leaf}"));
        }
        assert!(blob_dir(&d).starts_with(&blobs_root()));
        assert!(tag_current_link("a", "v1").starts_with(&tag_dir("a", "v1")));
        assert_eq!(
            revisions_dir("a", "sha256"),
            revision_dir("a", &d).rsplit_once('/').unwrap().0
        );
    }

    #[test]
    fn layout_matches_distribution() {
        let d: Digest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
            .parse()
            .unwrap();
        assert_eq!(
            blob_data(&d),
            "/docker/registry/v2/blobs/sha256/e3/e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855/data"
        );
        assert_eq!(
            layer_link("a/b", &d),
            "/docker/registry/v2/repositories/a/b/_layers/sha256/e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855/link"
        );
        assert_eq!(
            tag_current_link("a", "v1"),
            "/docker/registry/v2/repositories/a/_manifests/tags/v1/current/link"
        );
    }
}
