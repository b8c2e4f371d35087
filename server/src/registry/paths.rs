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

pub fn blob_data(d: &Digest) -> String {
    let hex = d.hex();
    format!(
        "{ROOT}/blobs/{}/{}/{hex}/data",
        d.algorithm().name(),
        &hex[..2]
    )
}

pub fn layer_link(name: &str, d: &Digest) -> String {
    format!(
        "{ROOT}/repositories/{name}/_layers/{}/{}/link",
        d.algorithm().name(),
        d.hex()
    )
}

pub fn revisions_dir(name: &str, algorithm: &str) -> String {
    format!("{ROOT}/repositories/{name}/_manifests/revisions/{algorithm}")
}

pub fn revision_link(name: &str, d: &Digest) -> String {
    format!(
        "{ROOT}/repositories/{name}/_manifests/revisions/{}/{}/link",
        d.algorithm().name(),
        d.hex()
    )
}

pub fn tags_dir(name: &str) -> String {
    format!("{ROOT}/repositories/{name}/_manifests/tags")
}

pub fn tag_dir(name: &str, tag: &str) -> String {
    format!("{ROOT}/repositories/{name}/_manifests/tags/{tag}")
}

pub fn tag_current_link(name: &str, tag: &str) -> String {
    format!("{ROOT}/repositories/{name}/_manifests/tags/{tag}/current/link")
}

pub fn tag_index_link(name: &str, tag: &str, d: &Digest) -> String {
    format!(
        "{ROOT}/repositories/{name}/_manifests/tags/{tag}/index/{}/{}/link",
        d.algorithm().name(),
        d.hex()
    )
}

pub fn uploads_dir(name: &str) -> String {
    format!("{ROOT}/repositories/{name}/_uploads")
}

pub fn upload_dir(name: &str, id: &str) -> String {
    format!("{ROOT}/repositories/{name}/_uploads/{id}")
}

pub fn upload_data(name: &str, id: &str) -> String {
    format!("{ROOT}/repositories/{name}/_uploads/{id}/data")
}

pub fn upload_started_at(name: &str, id: &str) -> String {
    format!("{ROOT}/repositories/{name}/_uploads/{id}/startedat")
}

#[cfg(test)]
mod tests {
    use super::*;

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
