//! A deterministic tar stream (POSIX ustar): the entries in the order
//! given, each with the owner, mode and modification time it is given and
//! nothing from the machine (no user names, no access times), so the same
//! inputs always give the same bytes.

use std::io::{self, Read, Write};
use std::path::PathBuf;

const BLOCK: usize = 512;

/// What an entry holds.
pub enum Body {
    Dir,
    Bytes(Vec<u8>),
    /// A file on this machine, streamed; it must not change while read.
    File(PathBuf),
}

pub struct Entry {
    /// Relative path inside the image, without a leading `/`; folders
    /// without a trailing one.
    pub path: String,
    pub mode: u32,
    /// uid and gid.
    pub owner: u32,
    pub body: Body,
}

impl Entry {
    pub fn dir(path: &str, mode: u32, owner: u32) -> Entry {
        Entry {
            path: path.into(),
            mode,
            owner,
            body: Body::Dir,
        }
    }

    pub fn bytes(path: &str, mode: u32, data: impl Into<Vec<u8>>) -> Entry {
        Entry {
            path: path.into(),
            mode,
            owner: 0,
            body: Body::Bytes(data.into()),
        }
    }
}

/// Writes every entry, then the two zero blocks that end an archive.
pub fn write<W: Write>(mut out: W, entries: &[Entry], mtime: u64) -> io::Result<W> {
    for e in entries {
        let (size, typeflag) = match &e.body {
            Body::Dir => (0, b'5'),
            Body::Bytes(b) => (b.len() as u64, b'0'),
            Body::File(p) => (std::fs::metadata(p)?.len(), b'0'),
        };
        let name = match e.body {
            Body::Dir => format!("{}/", e.path),
            _ => e.path.clone(),
        };
        out.write_all(&header(&name, e.mode, e.owner, size, mtime, typeflag)?)?;
        match &e.body {
            Body::Dir => {}
            Body::Bytes(b) => out.write_all(b)?,
            Body::File(p) => {
                let copied = io::copy(&mut std::fs::File::open(p)?.take(size), &mut out)?;
                if copied != size {
                    return Err(io::Error::other(format!(
                        "{} changed while it was read ({size} bytes expected, {copied} read)",
                        p.display()
                    )));
                }
            }
        }
        out.write_all(&[0; BLOCK][..padding(size)])?;
    }
    out.write_all(&[0; 2 * BLOCK])?;
    Ok(out)
}

fn padding(size: u64) -> usize {
    (BLOCK - (size % BLOCK as u64) as usize) % BLOCK
}

/// One ustar header block. Names over 100 bytes go into the prefix field,
/// split at a `/`.
fn header(
    name: &str,
    mode: u32,
    owner: u32,
    size: u64,
    mtime: u64,
    typeflag: u8,
) -> io::Result<[u8; BLOCK]> {
    let mut h = [0u8; BLOCK];
    let (prefix, name) = split_name(name).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{name}: too long for a tar header"),
        )
    })?;
    let mut field = |at: usize, len: usize, value: &[u8]| {
        h[at..at + value.len().min(len)].copy_from_slice(&value[..value.len().min(len)]);
    };
    field(0, 100, name.as_bytes());
    field(100, 8, octal(u64::from(mode), 8).as_bytes());
    field(108, 8, octal(u64::from(owner), 8).as_bytes());
    field(116, 8, octal(u64::from(owner), 8).as_bytes());
    field(124, 12, octal(size, 12).as_bytes());
    field(136, 12, octal(mtime, 12).as_bytes());
    field(156, 1, &[typeflag]);
    field(257, 8, b"ustar\x0000");
    field(345, 155, prefix.as_bytes());
    // The checksum counts its own field as eight spaces.
    h[148..156].fill(b' ');
    let sum: u64 = h.iter().map(|&b| u64::from(b)).sum();
    h[148..155].copy_from_slice(octal(sum, 7).as_bytes());
    Ok(h)
}

/// `value` in octal, zero-padded to `len - 1` digits and a NUL.
fn octal(value: u64, len: usize) -> String {
    format!("{value:0width$o}\0", width = len - 1)
}

fn split_name(name: &str) -> Option<(&str, &str)> {
    if name.len() <= 100 {
        return Some(("", name));
    }
    let trimmed = name.trim_end_matches('/');
    name.char_indices()
        .filter(|&(i, c)| c == '/' && i < trimmed.len())
        .map(|(i, _)| (&name[..i], &name[i + 1..]))
        .find(|(p, n)| p.len() <= 155 && n.len() <= 100 && !n.is_empty())
}

/// A ustar header's checksum as its field stores it (octal) and as a
/// reader computes it (the byte sum, the field itself counted as spaces),
/// for tests of the tars labctl writes.
#[cfg(test)]
pub(crate) fn header_sums(h: &[u8]) -> (u64, u64) {
    let stored = u64::from_str_radix(std::str::from_utf8(&h[148..154]).unwrap(), 8).unwrap();
    let sum = h[..512]
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u64::from(b)
            }
        })
        .sum();
    (stored, sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_valid_ustar_with_checksums() {
        let entries = [
            Entry::dir("etc", 0o755, 0),
            Entry::bytes(
                "etc/passwd",
                0o644,
                b"root:x:0:0::/:/sbin/nologin\n".to_vec(),
            ),
        ];
        let tar = write(Vec::new(), &entries, 0).unwrap();
        // two headers, one data block, two end blocks
        assert_eq!(tar.len(), 5 * BLOCK);
        for h in [&tar[..BLOCK], &tar[BLOCK..2 * BLOCK]] {
            assert_eq!(&h[257..263], b"ustar\0");
            let (stored, sum) = header_sums(h);
            assert_eq!(stored, sum);
        }
        assert_eq!(&tar[..4], b"etc/");
        assert_eq!(tar[156], b'5');
        assert!(tar[4 * BLOCK..].iter().all(|&b| b == 0));
    }

    #[test]
    fn long_names_use_the_prefix_field() {
        let long = format!("{}/{}", "d".repeat(120), "f".repeat(90));
        let (p, n) = split_name(&long).unwrap();
        assert_eq!((p.len(), n.len()), (120, 90));
        assert!(split_name(&"x".repeat(300)).is_none());
    }
}
