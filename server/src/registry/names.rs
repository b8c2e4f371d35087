//! Repository names, tags and references, with the grammar of the OCI
//! distribution spec.

use std::fmt;

use super::digest::{Digest, DigestError};

/// The longest repository name accepted, as distribution does.
pub const MAX_NAME_LEN: usize = 255;
/// The longest tag: the spec's `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
pub const MAX_TAG_LEN: usize = 128;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NameError {
    #[error("invalid repository name {0:?}: {1}")]
    Name(String, &'static str),
    #[error(
        "invalid tag {0:?}: tags are 1 to 128 characters of [A-Za-z0-9_.-] and do not start with '.' or '-'"
    )]
    Tag(String),
    #[error(transparent)]
    Digest(#[from] DigestError),
}

/// Checks one path component: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
fn component_ok(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator run: ".", "_", "__" or one or more "-".
        let start = i;
        let sep = b[i];
        while i < b.len() && b[i] == sep {
            i += 1;
        }
        let run = i - start;
        let ok = match sep {
            b'.' => run == 1,
            b'_' => run <= 2,
            b'-' => true,
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    true
}

pub fn validate_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Name(name.into(), "it is empty"));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(NameError::Name(
            name.into(),
            "it is longer than 255 characters",
        ));
    }
    if !name.split('/').all(component_ok) {
        return Err(NameError::Name(
            name.into(),
            "each path component must be lower-case letters and digits, separated by '.', '_', '__' or '-'",
        ));
    }
    Ok(())
}

pub fn validate_tag(tag: &str) -> Result<(), NameError> {
    let b = tag.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= MAX_TAG_LEN
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|&x| x.is_ascii_alphanumeric() || matches!(x, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(NameError::Tag(tag.into()))
    }
}

/// Implements the string face of a validated name: `Display`, `AsRef<str>`,
/// `Deref<Target = str>` (so it goes wherever a `&str` does, e.g. into
/// `paths`), `FromStr` through `parse`, and serialization as a string.
macro_rules! validated_string {
    ($ty:ident, $validate:path) => {
        impl $ty {
            /// Checks `s` once; the value is valid from then on.
            pub fn parse(s: &str) -> Result<$ty, NameError> {
                $validate(s)?;
                Ok($ty(s.to_string()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::ops::Deref for $ty {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl std::str::FromStr for $ty {
            type Err = NameError;
            fn from_str(s: &str) -> Result<$ty, NameError> {
                $ty::parse(s)
            }
        }

        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
    };
}

/// A repository name that passed `validate_name`: `library/alpine`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepoName(String);
validated_string!(RepoName, validate_name);

/// A tag that passed `validate_tag`: `v1.2`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(String);
validated_string!(Tag, validate_tag);

/// What a manifest is addressed by: a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    Tag(Tag),
    Digest(Digest),
}

impl Reference {
    pub fn parse(s: &str) -> Result<Reference, NameError> {
        if s.contains(':') {
            Ok(Reference::Digest(s.parse()?))
        } else {
            Ok(Reference::Tag(Tag::parse(s)?))
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::Tag(t) => f.write_str(t),
            Reference::Digest(d) => write!(f, "{d}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in [
            "a",
            "library/alpine",
            "a.b/c_d/e__f/g---h",
            "0/1",
            "foo/manifests",
        ] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        let long = "a".repeat(256);
        for bad in [
            "",
            "A",
            "a/",
            "/a",
            "a//b",
            "..",
            "a/../b",
            "a/./b",
            "a..b",
            "a___b",
            "-a",
            "a-",
            "a_",
            ".a",
            "a b",
            "a%2fb",
            "a\0b",
            long.as_str(),
            "ä",
        ] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
        assert!(validate_name(&"a".repeat(255)).is_ok());
    }

    #[test]
    fn tags() {
        for ok in ["latest", "v1.0.0", "_x", "A-b_c.d", &"t".repeat(128)] {
            assert!(validate_tag(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".x", "-x", "a/b", "a:b", "a b", &"t".repeat(129)] {
            assert!(validate_tag(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn references() {
        assert_eq!(
            Reference::parse("latest").unwrap(),
            Reference::Tag(Tag::parse("latest").unwrap())
        );
        assert!(matches!(
            Reference::parse(&Digest::sha256_of(b"x").to_string()).unwrap(),
            Reference::Digest(_)
        ));
        assert!(Reference::parse("sha256:nothex").is_err());
        assert!(RepoName::parse("a//b").is_err());
        assert_eq!(RepoName::parse("a/b").unwrap().to_string(), "a/b");
        assert_eq!(&*Tag::parse("v1").unwrap(), "v1");
    }
}
