//! Deleting a tag or a manifest: a confirmation page that says what else
//! goes, then a POST that does it.
//!
//! Cross-site request forgery is refused twice over: the form carries a
//! token, an HMAC of (user, action, repository, reference) under a key made
//! at start, that another site cannot compute; and a browser's POST must say
//! it comes from this origin (`Sec-Fetch-Site: same-origin`, an `Origin`
//! naming this host). Clients that send neither header (curl) need the token.

use std::fmt::Write;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::html::{esc, message, page, q, short_digest};
use super::{Params, failure, open_repo, param, summary, ui};
use crate::api::AppState;
use crate::auth::{Action, Principal};
use crate::registry::{Context, Digest, Reference, RepoName};

/// The largest form body read.
const MAX_FORM: usize = 16 * 1024;

fn mac(key: &[u8], who: &Principal, name: &str, reference: &str) -> Hmac<Sha256> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    let user = match who {
        Principal::User(u) => u.as_str(),
        Principal::Anonymous => "",
    };
    for part in ["delete", user, name, reference] {
        m.update(part.as_bytes());
        m.update(&[0]);
    }
    m
}

pub fn token(key: &[u8], who: &Principal, name: &str, reference: &str) -> String {
    hex::encode(mac(key, who, name, reference).finalize().into_bytes())
}

fn token_ok(key: &[u8], who: &Principal, name: &str, reference: &str, given: &str) -> bool {
    let Ok(given) = hex::decode(given) else {
        return false;
    };
    mac(key, who, name, reference).verify_slice(&given).is_ok()
}

/// Why a POST does not come from this site's own page, if it does not.
pub fn cross_site(headers: &HeaderMap) -> Option<String> {
    let get = |h: &str| headers.get(h).and_then(|v| v.to_str().ok());
    if let Some(site) = get("sec-fetch-site")
        && site != "same-origin"
    {
        return Some(format!(
            "the browser says the request comes from a {site} page"
        ));
    }
    if let Some(origin) = get("origin") {
        let authority = origin.split("://").nth(1).unwrap_or("");
        if Some(authority) != get(header::HOST.as_str()) {
            return Some(format!(
                "the request comes from {origin}, not from this registry's pages"
            ));
        }
    }
    None
}

/// What deleting `reference` removes, for the confirmation and the deed:
/// the tags that go and the referrers that go with a manifest.
struct Plan {
    digest: String,
    tags: Vec<String>,
    other_tags: Vec<String>,
    referrers: Vec<(String, String)>,
}

async fn plan(
    state: &AppState,
    cx: &Context,
    repo: &RepoName,
    reference: &Reference,
) -> crate::registry::Result<Plan> {
    let stored = state.service.get_manifest(cx, repo, reference).await?;
    let digest = stored.digest.to_string();
    let on_digest: Vec<String> = summary::tags_with_digests(state, cx, repo)
        .await?
        .into_iter()
        .filter(|(_, d)| *d == digest)
        .map(|(t, _)| t)
        .collect();
    Ok(match reference {
        Reference::Tag(tag) => Plan {
            digest,
            tags: vec![tag.to_string()],
            other_tags: on_digest
                .into_iter()
                .filter(|t| t != tag.as_str())
                .collect(),
            referrers: Vec::new(),
        },
        Reference::Digest(d) => Plan {
            digest,
            tags: on_digest,
            other_tags: Vec::new(),
            referrers: state
                .service
                .referrers(cx, repo, d, None)
                .await?
                .into_iter()
                .map(|r| (r.digest, r.artifact_type.unwrap_or(r.media_type)))
                .collect(),
        },
    })
}

fn list(items: &[String]) -> String {
    items
        .iter()
        .map(|t| format!("<code>{}</code>", esc(t)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reads and checks what a delete page asks about.
async fn target(
    state: &AppState,
    headers: &HeaderMap,
    name: &str,
    reference: &str,
) -> Result<(Context, RepoName, Reference), Response> {
    let (cx, repo) = open_repo(state, headers, name, Action::Delete).await?;
    let reference = Reference::parse(reference).map_err(|e| failure(&cx, e.into()))?;
    Ok((cx, repo, reference))
}

pub async fn confirm(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    params: Params,
) -> Response {
    let name = param(&params, "name").unwrap_or("");
    let reference = param(&params, "ref").unwrap_or("");
    let (cx, repo, parsed) = match target(&state, &headers, name, reference).await {
        Ok(t) => t,
        Err(resp) => return resp,
    };
    let p = match plan(&state, &cx, &repo, &parsed).await {
        Ok(p) => p,
        Err(e) => return failure(&cx, e),
    };
    let mut goes = String::new();
    match parsed {
        Reference::Tag(_) => {
            let _ = write!(goes, "<li>the tag <code>{}</code></li>", esc(reference));
            let stays = if p.other_tags.is_empty() {
                "reachable only by its digest".to_string()
            } else {
                format!("still tagged {}", list(&p.other_tags))
            };
            let _ = write!(
                goes,
                "</ul><p>The manifest <code>{}</code> stays, {stays}.</p><ul class=\"goes\">",
                esc(&short_digest(&p.digest))
            );
        }
        Reference::Digest(_) => {
            let _ = write!(
                goes,
                "<li>the manifest <code>{}</code></li>",
                esc(&p.digest)
            );
            for t in &p.tags {
                let _ = write!(goes, "<li>its tag <code>{}</code></li>", esc(t));
            }
            for (d, kind) in &p.referrers {
                let _ = write!(
                    goes,
                    "<li>the referrer <code>{}</code> ({})</li>",
                    esc(&short_digest(d)),
                    esc(kind)
                );
            }
        }
    }
    let body = format!(
        "<p><a href=\"/ui/repo?name={qn}\">{n}</a> /</p><h1>Delete {n}{sep}{r}?</h1>\
         <p>This removes:</p><ul class=\"goes\" id=\"goes\">{goes}</ul>\
         <form method=\"post\" action=\"/ui/delete\">\
         <input type=\"hidden\" name=\"name\" value=\"{n}\"><input type=\"hidden\" name=\"ref\" value=\"{r}\">\
         <input type=\"hidden\" name=\"token\" value=\"{t}\">\
         <button type=\"submit\" class=\"danger\">Delete</button> <a href=\"/ui/image?name={qn}&amp;ref={qr}\">Cancel</a></form>",
        qn = esc(&q(name)),
        n = esc(name),
        sep = if reference.contains(':') { "@" } else { ":" },
        r = esc(reference),
        qr = esc(&q(reference)),
        t = token(&ui(&state).key, &cx.actor, name, reference),
    );
    page(StatusCode::OK, "Delete", &cx.actor, &body)
}

pub async fn delete(State(state): State<Arc<AppState>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let headers = parts.headers;
    let form = match axum::body::to_bytes(Body::new(body), MAX_FORM).await {
        Ok(b) => b,
        Err(_) => {
            return message(
                StatusCode::PAYLOAD_TOO_LARGE,
                &Principal::Anonymous,
                "Not deleted",
                "the form is too large",
            );
        }
    };
    let field = |key: &str| {
        url::form_urlencoded::parse(&form)
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    let (name, reference, given) = (field("name"), field("ref"), field("token"));
    let (cx, repo, parsed) = match target(&state, &headers, &name, &reference).await {
        Ok(t) => t,
        Err(resp) => return resp,
    };
    if let Some(why) = cross_site(&headers) {
        tracing::warn!(repository = %name, reference = %reference, why, "UI delete refused: cross-site request");
        return message(
            StatusCode::FORBIDDEN,
            &cx.actor,
            "Not deleted",
            &format!("{why}; delete from this registry's own page"),
        );
    }
    if !token_ok(&ui(&state).key, &cx.actor, &name, &reference, &given) {
        tracing::warn!(repository = %name, reference = %reference, "UI delete refused: bad or missing form token");
        return message(
            StatusCode::FORBIDDEN,
            &cx.actor,
            "Not deleted",
            "the form's token is missing or does not match (the page is stale, or another site posted it): open the delete page again",
        );
    }
    let p = match plan(&state, &cx, &repo, &parsed).await {
        Ok(p) => p,
        Err(e) => return failure(&cx, e),
    };
    // Referrers first: a failure then leaves the manifest, never orphans.
    for (d, _) in &p.referrers {
        if let Ok(d) = d.parse::<Digest>()
            && let Err(e) = state
                .service
                .delete_manifest(&cx, &repo, &Reference::Digest(d))
                .await
        {
            return failure(&cx, e);
        }
    }
    let changes = match state.service.delete_manifest(&cx, &repo, &parsed).await {
        Ok(c) => c,
        Err(e) => return failure(&cx, e),
    };
    let body = format!(
        "<h1>Deleted</h1><p class=\"notice\" id=\"deleted\">Deleted {n}{sep}{r}: {count} change(s){refs}.</p>\
         <p><a href=\"/ui/repo?name={qn}\">Back to {n}</a></p>",
        n = esc(&name),
        sep = if reference.contains(':') { "@" } else { ":" },
        r = esc(&reference),
        count = changes.len(),
        refs = if p.referrers.is_empty() {
            String::new()
        } else {
            format!(" and {} referrer(s)", p.referrers.len())
        },
        qn = esc(&q(&name)),
    );
    page(StatusCode::OK, "Deleted", &cx.actor, &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn tokens_bind_user_and_target() {
        let key = [7u8; 32];
        let alice = Principal::User("alice".into());
        let t = token(&key, &alice, "team/app", "v1");
        assert!(token_ok(&key, &alice, "team/app", "v1", &t));
        assert!(!token_ok(
            &key,
            &Principal::User("bob".into()),
            "team/app",
            "v1",
            &t
        ));
        assert!(!token_ok(&key, &alice, "team/app", "v2", &t));
        assert!(!token_ok(&key, &alice, "team/ap", "pv1", &t));
        assert!(!token_ok(&[8u8; 32], &alice, "team/app", "v1", &t));
        assert!(!token_ok(&key, &alice, "team/app", "v1", ""));
    }

    #[test]
    fn cross_site_posts_are_named() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("reg.lan:5000"));
        assert_eq!(cross_site(&h), None);
        h.insert("origin", HeaderValue::from_static("https://reg.lan:5000"));
        h.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        assert_eq!(cross_site(&h), None);
        h.insert("sec-fetch-site", HeaderValue::from_static("same-site"));
        assert!(cross_site(&h).unwrap().contains("same-site"));
        h.remove("sec-fetch-site");
        h.insert("origin", HeaderValue::from_static("http://evil.example"));
        assert!(cross_site(&h).unwrap().contains("evil.example"));
    }
}
