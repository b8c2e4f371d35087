//! HTML building blocks: escaping, the page frame, sizes. Every value that
//! did not come from this file goes through [`esc`] (text) or [`attr`]
//! (attribute values and URL parts).

use std::fmt::Write;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::assets;
use crate::auth::Principal;

/// Text escaped for an HTML element or a double-quoted attribute.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A query parameter value, percent-encoded (then escaped for the attribute).
pub fn q(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/:@".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Bytes for people: `1.5 MiB`.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// `sha256:0123456789ab` (the first 12 hex digits), for tables.
pub fn short_digest(d: &str) -> String {
    match d.split_once(':') {
        Some((alg, hex)) => format!("{alg}:{}", &hex[..hex.len().min(12)]),
        None => d.to_string(),
    }
}

/// The page frame around `body`: header with navigation and who is signed
/// in, the stylesheet and the script (both same-origin files, as the CSP
/// demands).
pub fn page(status: StatusCode, title: &str, who: &Principal, body: &str) -> Response {
    let who = match who {
        Principal::User(u) => format!("signed in as <strong>{}</strong>", esc(u)),
        Principal::Anonymous => "anonymous".to_string(),
    };
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · labreg</title><link rel=\"stylesheet\" href=\"{css}\">\
         <script src=\"{js}\" defer></script></head><body>\
         <header><a class=\"brand\" href=\"/\">labreg</a><nav><a href=\"/\">Repositories</a>\
         <a href=\"/ui/health\">Health</a></nav><span class=\"who\">{who}</span></header>\
         <main>{body}</main><footer>labreg {version}</footer></body></html>\n",
        title = esc(title),
        css = assets::css_url(),
        js = assets::js_url(),
        version = env!("CARGO_PKG_VERSION"),
    );
    let mut resp = (status, html).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    resp
}

/// A page that only says what went wrong and what to do.
pub fn message(status: StatusCode, who: &Principal, title: &str, text: &str) -> Response {
    let body = format!(
        "<h1>{}</h1><p class=\"notice error\">{}</p><p><a href=\"/\">Back to the repositories</a></p>",
        esc(title),
        esc(text)
    );
    page(status, title, who, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(
            esc("<script>\"a\" & 'b'</script>"),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
        assert_eq!(q("team/app v1&x=\"y\""), "team/app%20v1%26x%3D%22y%22");
        assert_eq!(size(512), "512 B");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(
            short_digest("sha256:0123456789abcdef"),
            "sha256:0123456789ab"
        );
    }
}
