//! The two range headers of the protocol: `Range` on blob GETs (RFC 9110,
//! one range) and `Content-Range` on upload chunks (`start-end`, inclusive).

use crate::registry::ChunkRange;

/// A satisfiable byte range of a blob of known size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    pub len: u64,
}

/// What a GET's Range header asks of a blob of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum RangeRequest {
    /// No usable Range header: the whole blob. Per RFC 9110 a malformed or
    /// multi-range header is ignored, not refused.
    Full,
    Partial(ByteRange),
    Unsatisfiable,
}

pub fn parse_range(header: Option<&str>, size: u64) -> RangeRequest {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeRequest::Full;
    };
    if spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeRequest::Full;
    };
    let num = |s: &str| -> Option<u64> {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit())).then(|| s.parse().ok())?
    };
    match (a.trim().is_empty(), num(a), num(b)) {
        // bytes=-N: the last N bytes.
        (true, _, Some(n)) => {
            if n == 0 || size == 0 {
                RangeRequest::Unsatisfiable
            } else {
                let len = n.min(size);
                RangeRequest::Partial(ByteRange {
                    start: size - len,
                    len,
                })
            }
        }
        (false, Some(start), end) if b.trim().is_empty() || end.is_some() => {
            if start >= size {
                return RangeRequest::Unsatisfiable;
            }
            let last = match end {
                Some(e) if e < start => return RangeRequest::Full,
                Some(e) => e.min(size - 1),
                None => size - 1,
            };
            RangeRequest::Partial(ByteRange {
                start,
                len: last - start + 1,
            })
        }
        _ => RangeRequest::Full,
    }
}

/// Parses an upload chunk's Content-Range: `start-end`, also accepted with
/// a `bytes ` or `bytes=` prefix and a `/total` suffix as some clients send.
pub fn parse_content_range(value: &str) -> Option<ChunkRange> {
    let v = value.trim();
    let v = v
        .strip_prefix("bytes ")
        .or_else(|| v.strip_prefix("bytes="))
        .unwrap_or(v);
    let v = v.split('/').next()?;
    let (a, b) = v.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    if !digits(a) || !digits(b) {
        return None;
    }
    Some(ChunkRange {
        start: a.parse().ok()?,
        end_inclusive: b.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::RangeRequest::*;
    use super::*;

    fn p(start: u64, len: u64) -> RangeRequest {
        Partial(ByteRange { start, len })
    }

    #[test]
    fn ranges() {
        for (h, want) in [
            (None, Full),
            (Some("bytes=0-9"), p(0, 10)),
            (Some("bytes=5-"), p(5, 5)),
            (Some("bytes=-3"), p(7, 3)),
            (Some("bytes=-30"), p(0, 10)),
            (Some("bytes=8-100"), p(8, 2)),
            (Some("bytes=10-"), Unsatisfiable),
            (Some("bytes=10-20"), Unsatisfiable),
            (Some("bytes=-0"), Unsatisfiable),
            (Some("bytes=5-2"), Full),
            (Some("bytes=0-1,4-5"), Full),
            (Some("items=0-1"), Full),
            (Some("bytes=a-b"), Full),
            (Some("bytes=-"), Full),
            (Some("bytes=+1-2"), Full),
        ] {
            assert_eq!(parse_range(h, 10), want, "{h:?}");
        }
        assert_eq!(parse_range(Some("bytes=0-"), 0), Unsatisfiable);
    }

    #[test]
    fn content_ranges() {
        let r = parse_content_range("0-1023").unwrap();
        assert_eq!((r.start, r.end_inclusive), (0, 1023));
        let r = parse_content_range("bytes 10-20/*").unwrap();
        assert_eq!((r.start, r.end_inclusive), (10, 20));
        for bad in [
            "",
            "-",
            "1-",
            "-2",
            "a-b",
            "1--2",
            "99999999999999999999-1",
            "1-2-3",
        ] {
            assert!(parse_content_range(bad).is_none(), "{bad}");
        }
    }
}
