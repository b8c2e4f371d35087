//! The UI's static files, built into the binary: one stylesheet and one
//! script. Their URLs carry a hash of their content (computed at compile
//! time), so browsers may cache them forever and a new binary's files are
//! fetched fresh. Served gzip-compressed to clients that accept it.

use std::io::Write;
use std::sync::OnceLock;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

pub struct Asset {
    /// The file name under `/ui/assets/`, hash included (`ui.0123abcd.css`).
    pub name: String,
    content_type: &'static str,
    raw: &'static [u8],
    gzip: Vec<u8>,
}

const CSS: &[u8] = include_bytes!("assets/ui.css");
const JS: &[u8] = include_bytes!("assets/ui.js");
const CSS_HASH: u64 = fnv1a(CSS);
const JS_HASH: u64 = fnv1a(JS);

/// FNV-1a, 64 bits: enough to tell versions of a file apart (not a
/// security property: the files are ours).
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    hash
}

fn gzip(raw: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(raw).expect("gzip into memory");
    enc.finish().expect("gzip into memory")
}

fn asset(
    stem: &str,
    ext: &str,
    hash: u64,
    content_type: &'static str,
    raw: &'static [u8],
) -> Asset {
    Asset {
        name: format!("{stem}.{:08x}.{ext}", hash as u32),
        content_type,
        raw,
        gzip: gzip(raw),
    }
}

/// Every asset: the stylesheet first, then the script.
pub fn all() -> &'static [Asset; 2] {
    static ASSETS: OnceLock<[Asset; 2]> = OnceLock::new();
    ASSETS.get_or_init(|| {
        [
            asset("ui", "css", CSS_HASH, "text/css; charset=utf-8", CSS),
            asset("ui", "js", JS_HASH, "text/javascript; charset=utf-8", JS),
        ]
    })
}

pub fn css_url() -> String {
    format!("/ui/assets/{}", all()[0].name)
}

pub fn js_url() -> String {
    format!("/ui/assets/{}", all()[1].name)
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| matches!(p.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

/// The response for `/ui/assets/{file}`; 404 for a name no asset has (an
/// old hash included, so a stale page never gets a mismatched file).
pub fn serve(file: &str, headers: &HeaderMap) -> Response {
    let Some(a) = all().iter().find(|a| a.name == file) else {
        return (StatusCode::NOT_FOUND, "no such asset\n").into_response();
    };
    let mut resp = if accepts_gzip(headers) {
        let mut r = a.gzip.clone().into_response();
        r.headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        r
    } else {
        a.raw.into_response()
    };
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(a.content_type),
    );
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_content_hash_and_gzip_round_trips() {
        for a in all() {
            assert!(a.name.len() > "ui.x.css".len(), "{}", a.name);
            let mut out = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&a.gzip[..]), &mut out)
                .unwrap();
            assert_eq!(out, a.raw);
        }
        assert_ne!(fnv1a(b"a"), fnv1a(b"b"));
        let total: usize = all().iter().map(|a| a.raw.len() + a.gzip.len()).sum();
        assert!(total < 64 * 1024, "assets total {total} bytes");
    }

    #[test]
    fn gzip_only_when_accepted() {
        let mut h = HeaderMap::new();
        assert!(!accepts_gzip(&h));
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip, deflate, br"),
        );
        assert!(accepts_gzip(&h));
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("br, gzip;q=0"),
        );
        assert!(!accepts_gzip(&h));
    }
}
