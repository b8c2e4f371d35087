//! The repositories page (`/`) and a repository's tags (`/ui/repo`).

use std::fmt::Write;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::html::{esc, page, q, short_digest, size};
use super::{Params, admit, failure, open_repo, param, summary};
use crate::api::AppState;
use crate::auth::{Action, Scope};
use crate::registry::RepoName;

/// Repositories per page (the catalog's `n`).
const PAGE: usize = 50;

pub async fn repositories(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    params: Params,
) -> Response {
    let cx = match admit(&state, &headers, Scope::Root).await {
        Ok(cx) => cx,
        Err(resp) => return resp,
    };
    let search = param(&params, "q").unwrap_or("").to_lowercase();
    let last = param(&params, "last");
    // The search is part of what the catalog lets through, so pages stay
    // full and `last` works as in `/v2/_catalog`.
    let visible = |name: &str| {
        state.access.allowed(&cx.actor, name, Action::Pull)
            && (search.is_empty() || name.to_lowercase().contains(&search))
    };
    let listing = match state.service.catalog(&cx, last, Some(PAGE), &visible).await {
        Ok(p) => p,
        Err(e) => return failure(&cx, e),
    };
    let mut rows = String::new();
    for name in &listing.items {
        let tags = match RepoName::parse(name) {
            Ok(repo) => state
                .service
                .tags(&cx, &repo, None, None)
                .await
                .map(|p| p.items.len().to_string())
                .unwrap_or_else(|_| "?".into()),
            Err(_) => "?".into(),
        };
        let _ = write!(
            rows,
            "<tr><td><a href=\"/ui/repo?name={}\">{}</a></td><td class=\"num\">{tags}</td></tr>",
            esc(&q(name)),
            esc(name)
        );
    }
    let mut body = format!(
        "<h1>Repositories</h1>\
         <form class=\"search\" method=\"get\" action=\"/\" role=\"search\">\
         <input type=\"search\" name=\"q\" value=\"{}\" placeholder=\"Search repositories\" aria-label=\"Search repositories\">\
         <button type=\"submit\">Search</button></form>",
        esc(&search)
    );
    if listing.items.is_empty() {
        body.push_str(if search.is_empty() {
            "<p class=\"notice\">No repositories you may pull yet. Push one: <code>skopeo copy docker://alpine docker://HOST/alpine:latest</code></p>"
        } else {
            "<p class=\"notice\">No repository matches.</p>"
        });
    } else {
        let _ = write!(
            body,
            "<div class=\"table-wrap\"><table id=\"repos\"><thead><tr><th>Repository</th><th class=\"num\">Tags</th></tr></thead><tbody>{rows}</tbody></table></div>"
        );
    }
    body.push_str("<nav class=\"pager\">");
    if last.is_some() {
        let _ = write!(body, "<a href=\"/?q={}\">First page</a>", esc(&q(&search)));
    }
    if listing.more
        && let Some(end) = listing.items.last()
    {
        let _ = write!(
            body,
            "<a href=\"/?q={}&amp;last={}\" rel=\"next\">Next page</a>",
            esc(&q(&search)),
            esc(&q(end))
        );
    }
    body.push_str("</nav>");
    page(StatusCode::OK, "Repositories", &cx.actor, &body)
}

pub async fn tags(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    params: Params,
) -> Response {
    let name = param(&params, "name").unwrap_or("");
    let (cx, repo) = match open_repo(&state, &headers, name, Action::Pull).await {
        Ok(opened) => opened,
        Err(resp) => return resp,
    };
    let listing = match state.service.tags(&cx, &repo, None, None).await {
        Ok(p) => p,
        Err(e) => return failure(&cx, e),
    };
    let mut tags = Vec::new();
    for tag in &listing.items {
        if let Ok(s) = summary::summarize(&state, &cx, &repo, tag).await {
            tags.push((tag.clone(), s));
        }
    }
    let sort = param(&params, "sort").unwrap_or("tag");
    match sort {
        "size" => tags.sort_by_key(|t| std::cmp::Reverse(t.1.size)),
        "created" => tags.sort_by(|a, b| b.1.created.cmp(&a.1.created)),
        _ => {}
    }
    let may_delete = state.access.allowed(&cx.actor, name, Action::Delete)
        && state.registry.options().delete_enabled;
    let mut rows = String::new();
    for (tag, s) in &tags {
        let platforms: String = s
            .platforms
            .iter()
            .map(|p| format!("<span class=\"badge\">{}</span>", esc(p)))
            .collect();
        let delete = if may_delete {
            format!(
                "<a class=\"button danger\" href=\"/ui/delete?name={}&amp;ref={}\" aria-label=\"Delete tag {}\">Delete</a>",
                esc(&q(name)),
                esc(&q(tag)),
                esc(tag)
            )
        } else {
            String::new()
        };
        let _ = write!(
            rows,
            "<tr><td><a href=\"/ui/image?name={qn}&amp;ref={qt}\">{t}</a></td>\
             <td class=\"mono wide\" title=\"{d}\">{sd}</td><td>{platforms}</td>\
             <td class=\"num\">{size}</td><td class=\"wide\">{created}</td><td>{delete}</td></tr>",
            qn = esc(&q(name)),
            qt = esc(&q(tag)),
            t = esc(tag),
            d = esc(&s.digest),
            sd = esc(&short_digest(&s.digest)),
            size = size(s.size),
            created = esc(s.created.as_deref().unwrap_or("")),
        );
    }
    let sort_link = |key: &str, label: &str| {
        if key == sort {
            format!("<strong>{label}</strong>")
        } else {
            format!(
                "<a href=\"/ui/repo?name={}&amp;sort={key}\">{label}</a>",
                esc(&q(name))
            )
        }
    };
    let body = format!(
        "<p><a href=\"/\">Repositories</a> /</p><h1>{n}</h1>\
         <p class=\"muted\">{count} tags · sort by {by_tag}, {by_size}, {by_created}</p>\
         <form class=\"search\" role=\"search\" method=\"get\" action=\"/ui/repo\"><input type=\"hidden\" name=\"name\" value=\"{n}\">\
         <input type=\"search\" data-filter=\"tags\" placeholder=\"Filter tags\" aria-label=\"Filter tags\"></form>\
         <div class=\"table-wrap\"><table id=\"tags\"><thead><tr><th>Tag</th><th class=\"wide\">Digest</th><th>Platforms</th>\
         <th class=\"num\">Size</th><th class=\"wide\">Created</th><th></th></tr></thead><tbody>{rows}</tbody></table></div>",
        n = esc(name),
        count = tags.len(),
        by_tag = sort_link("tag", "tag"),
        by_size = sort_link("size", "size"),
        by_created = sort_link("created", "created"),
    );
    page(StatusCode::OK, name, &cx.actor, &body)
}
