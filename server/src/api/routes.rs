//! The `/v2/...` path grammar, written once. Repository names may hold any
//! number of `/`-separated components, so a path is read from its end: the
//! last one to three segments say what is addressed, the rest is the name.
//! Nothing is percent-decoded: `%2F` never becomes a separator, and names,
//! tags, digests and upload ids that hold `%` fail their validation.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    Base,
    Catalog,
    Tags { name: &'a str },
    Manifest { name: &'a str, reference: &'a str },
    Blob { name: &'a str, digest: &'a str },
    UploadStart { name: &'a str },
    Upload { name: &'a str, id: &'a str },
    Referrers { name: &'a str, digest: &'a str },
}

impl<'a> Route<'a> {
    /// The repository the route addresses, if any.
    pub fn name(&self) -> Option<&'a str> {
        match *self {
            Route::Base | Route::Catalog => None,
            Route::Tags { name }
            | Route::Manifest { name, .. }
            | Route::Blob { name, .. }
            | Route::UploadStart { name }
            | Route::Upload { name, .. }
            | Route::Referrers { name, .. } => Some(name),
        }
    }
}

/// Parses a request path; None when it is not a registry API path.
pub fn parse(path: &str) -> Option<Route<'_>> {
    let rest = match path {
        "/v2" | "/v2/" => return Some(Route::Base),
        "/v2/_catalog" => return Some(Route::Catalog),
        _ => path.strip_prefix("/v2/")?,
    };
    let segs: Vec<&str> = rest.split('/').collect();
    let n = segs.len();
    // The name is everything before the last `k` segments, as a slice of the
    // original text.
    let name = |k: usize| -> Option<&str> {
        if n <= k {
            return None;
        }
        let tail: usize = segs[n - k..].iter().map(|s| s.len() + 1).sum();
        Some(&rest[..rest.len() - tail])
    };
    let last = |i: usize| segs[n - i];
    if n >= 4 && last(3) == "blobs" && last(2) == "uploads" {
        let id = last(1);
        return Some(if id.is_empty() {
            Route::UploadStart { name: name(3)? }
        } else {
            Route::Upload { name: name(3)?, id }
        });
    }
    if n < 3 {
        return None;
    }
    match (last(2), last(1)) {
        ("tags", "list") => Some(Route::Tags { name: name(2)? }),
        ("blobs", "uploads") => Some(Route::UploadStart { name: name(2)? }),
        ("manifests", r) => Some(Route::Manifest {
            name: name(2)?,
            reference: r,
        }),
        ("blobs", d) => Some(Route::Blob {
            name: name(2)?,
            digest: d,
        }),
        ("referrers", d) => Some(Route::Referrers {
            name: name(2)?,
            digest: d,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::Route::*;
    use super::*;

    #[test]
    fn table() {
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let cases: Vec<(String, Option<Route>)> = vec![
            ("/v2/".into(), Some(Base)),
            ("/v2".into(), Some(Base)),
            ("/v2/_catalog".into(), Some(Catalog)),
            ("/v2/foo/tags/list".into(), Some(Tags { name: "foo" })),
            (
                "/v2/foo/bar/tags/list".into(),
                Some(Tags { name: "foo/bar" }),
            ),
            (
                "/v2/foo/manifests/tags/list".into(),
                Some(Tags {
                    name: "foo/manifests",
                }),
            ),
            (
                "/v2/foo/manifests/manifests/tags".into(),
                Some(Manifest {
                    name: "foo/manifests",
                    reference: "tags",
                }),
            ),
            (
                "/v2/a/b/c/d/e/f/g/h/i/manifests/latest".into(),
                Some(Manifest {
                    name: "a/b/c/d/e/f/g/h/i",
                    reference: "latest",
                }),
            ),
            (
                format!("/v2/foo/blobs/{d}"),
                Some(Blob {
                    name: "foo",
                    digest: d,
                }),
            ),
            (
                "/v2/foo/blobs/uploads/".into(),
                Some(UploadStart { name: "foo" }),
            ),
            (
                "/v2/foo/blobs/uploads".into(),
                Some(UploadStart { name: "foo" }),
            ),
            (
                "/v2/foo/blobs/uploads/abc".into(),
                Some(Upload {
                    name: "foo",
                    id: "abc",
                }),
            ),
            (
                "/v2/blobs/blobs/uploads/abc".into(),
                Some(Upload {
                    name: "blobs",
                    id: "abc",
                }),
            ),
            (
                format!("/v2/foo/referrers/{d}"),
                Some(Referrers {
                    name: "foo",
                    digest: d,
                }),
            ),
            (
                "/v2/foo/../bar/tags/list".into(),
                Some(Tags { name: "foo/../bar" }),
            ),
            (
                "/v2/foo%2Fbar/tags/list".into(),
                Some(Tags { name: "foo%2Fbar" }),
            ),
            ("/v2//tags/list".into(), Some(Tags { name: "" })),
            ("/v2/tags/list".into(), None),
            ("/v2/foo".into(), None),
            ("/v2/foo/unknown/x".into(), None),
            ("/v3/foo/tags/list".into(), None),
            ("/".into(), None),
        ];
        for (path, want) in &cases {
            assert_eq!(parse(path), *want, "{path}");
        }
    }
}
