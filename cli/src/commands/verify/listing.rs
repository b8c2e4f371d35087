//! The catalog and the tag list, page by page (the `Link` header).

use reqwest::{Method, StatusCode, Url};

use super::client::Client;
use super::diagnose::Diagnosis;

const MAX_PAGES: usize = 100;

/// Every entry of a paginated list (`repositories` or `tags`). `Ok(None)`
/// when the registry does not offer the list (404, 401, 403).
pub async fn list(c: &Client, path: &str, key: &str) -> Result<Option<Vec<String>>, Diagnosis> {
    let mut url = c.url(path);
    let mut all = Vec::new();
    for _ in 0..MAX_PAGES {
        let resp = c
            .req(Method::GET, url.clone())
            .send()
            .await
            .map_err(|e| c.transport(&e))?;
        match resp.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND | StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
                if key == "repositories" =>
            {
                return Ok(None);
            }
            _ => return Err(c.status(&format!("GET /{path}"), resp).await),
        }
        let next = next_link(&url, resp.headers());
        let v: serde_json::Value = resp.json().await.map_err(|e| {
            Diagnosis::new(
                "protocol",
                format!("GET /{path} did not return JSON: {e}"),
                "a proxy in front of the registry may answer for it: check its configuration",
            )
        })?;
        if let Some(items) = v[key].as_array() {
            all.extend(items.iter().filter_map(|i| i.as_str().map(str::to_string)));
        }
        match next {
            Some(n) => url = n,
            None => return Ok(Some(all)),
        }
    }
    Ok(Some(all))
}

/// The `rel="next"` target of a `Link` header.
fn next_link(base: &Url, headers: &reqwest::header::HeaderMap) -> Option<Url> {
    let link = headers.get(reqwest::header::LINK)?.to_str().ok()?;
    let (target, params) = link.split_once(';')?;
    if !params.contains("rel=\"next\"") && !params.contains("rel=next") {
        return None;
    }
    let target = target.trim().trim_start_matches('<').trim_end_matches('>');
    base.join(target).ok()
}
