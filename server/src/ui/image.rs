//! An image (`/ui/image?name=&ref=`): for an index, its platforms; for an
//! image, its layers, config (labels, env, entrypoint, cmd) and history;
//! for both, the tags on its digest, its referrers (signatures, SBOMs) and
//! the pull command.

use std::fmt::Write;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;

use super::html::{esc, page, q, short_digest, size};
use super::summary::{self, json};
use super::{Params, failure, open_repo, param, registry_host};
use crate::api::AppState;
use crate::auth::Action;
use crate::registry::{Context, Digest, RepoName};

pub async fn image(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    params: Params,
) -> Response {
    let name = param(&params, "name").unwrap_or("");
    let reference = param(&params, "ref").unwrap_or("latest");
    let (cx, repo) = match open_repo(&state, &headers, name, Action::Pull).await {
        Ok(opened) => opened,
        Err(resp) => return resp,
    };
    let stored = match summary::manifest(&state, &cx, &repo, reference).await {
        Ok(m) => m,
        Err(e) => return failure(&cx, e),
    };
    let v = json(&stored);
    let digest = stored.digest.to_string();
    let by_digest = reference.contains(':');
    let host = registry_host(&state, &headers);
    let pull = if by_digest {
        format!("docker pull {host}/{name}@{digest}")
    } else {
        format!("docker pull {host}/{name}:{reference}")
    };
    let mut body = format!(
        "<p><a href=\"/\">Repositories</a> / <a href=\"/ui/repo?name={qn}\">{n}</a> /</p>\
         <h1>{n}{sep}{r}</h1>\
         <div class=\"pull\"><code id=\"pull\">{pull}</code>\
         <button type=\"button\" data-copy=\"pull\" hidden>Copy</button></div>\
         <dl class=\"facts\"><dt>Digest</dt><dd class=\"mono\" id=\"digest\">{d}</dd>\
         <dt>Media type</dt><dd class=\"mono\">{mt}</dd>",
        qn = esc(&q(name)),
        n = esc(name),
        sep = if by_digest { "@" } else { ":" },
        r = esc(if by_digest { &digest } else { reference }),
        pull = esc(&pull),
        d = esc(&digest),
        mt = esc(&stored.media_type),
    );
    if let Some(t) = v.get("artifactType").and_then(Value::as_str) {
        let _ = write!(
            body,
            "<dt>Artifact type</dt><dd class=\"mono\">{}</dd>",
            esc(t)
        );
    }
    if summary::is_index(&v) {
        body.push_str("</dl>");
        body.push_str(&platforms(&state, &cx, &repo, name, &v).await);
    } else {
        let config = summary::config_of(&state, &cx, &repo, &v).await;
        let _ = write!(
            body,
            "<dt>Size</dt><dd>{}</dd>",
            size(summary::image_size(&v))
        );
        if let Some(c) = &config {
            if c.get("architecture").is_some() {
                let _ = write!(
                    body,
                    "<dt>Platform</dt><dd>{}</dd>",
                    esc(&summary::platform_label(c))
                );
            }
            if let Some(created) = c.get("created").and_then(Value::as_str) {
                let _ = write!(body, "<dt>Created</dt><dd>{}</dd>", esc(created));
            }
        }
        body.push_str("</dl>");
        body.push_str(&layers(&v));
        if let Some(c) = &config {
            body.push_str(&config_section(c));
        }
    }
    body.push_str(&tags_and_referrers(&state, &cx, &repo, name, &stored.digest).await);
    if state.access.allowed(&cx.actor, name, Action::Delete)
        && state.registry.options().delete_enabled
    {
        body.push_str("<h2>Delete</h2><p>");
        if !by_digest {
            let _ = write!(
                body,
                "<a class=\"button danger\" href=\"/ui/delete?name={}&amp;ref={}\">Delete tag {}</a> ",
                esc(&q(name)),
                esc(&q(reference)),
                esc(reference)
            );
        }
        let _ = write!(
            body,
            "<a class=\"button danger\" href=\"/ui/delete?name={}&amp;ref={}\">Delete manifest {}</a></p>",
            esc(&q(name)),
            esc(&q(&digest)),
            esc(&short_digest(&digest))
        );
    }
    page(StatusCode::OK, name, &cx.actor, &body)
}

async fn platforms(
    state: &AppState,
    cx: &Context,
    repo: &RepoName,
    name: &str,
    v: &Value,
) -> String {
    let mut rows = String::new();
    for child in v["manifests"].as_array().into_iter().flatten() {
        let d = child.get("digest").and_then(Value::as_str).unwrap_or("");
        let label = if summary::is_attestation(child) {
            "attestation".to_string()
        } else {
            child
                .get("platform")
                .map(summary::platform_label)
                .unwrap_or_default()
        };
        let child_size = match summary::manifest(state, cx, repo, d).await {
            Ok(m) => size(summary::image_size(&json(&m))),
            Err(_) => "not in this repository".into(),
        };
        let _ = write!(
            rows,
            "<tr><td><a href=\"/ui/image?name={}&amp;ref={}\">{}</a></td><td class=\"mono\">{}</td><td class=\"num\">{}</td></tr>",
            esc(&q(name)),
            esc(&q(d)),
            esc(&label),
            esc(&short_digest(d)),
            child_size
        );
    }
    format!(
        "<h2>Platforms</h2><div class=\"table-wrap\"><table id=\"platforms\"><thead><tr><th>Platform</th><th>Digest</th>\
         <th class=\"num\">Size</th></tr></thead><tbody>{rows}</tbody></table></div>"
    )
}

fn layers(v: &Value) -> String {
    let mut rows = String::new();
    for (i, l) in v
        .get("layers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let str_of = |k: &str| l.get(k).and_then(Value::as_str).unwrap_or("");
        let _ = write!(
            rows,
            "<tr><td class=\"num\">{}</td><td class=\"mono\" title=\"{d}\">{sd}</td><td class=\"mono wide\">{mt}</td><td class=\"num\">{s}</td></tr>",
            i + 1,
            d = esc(str_of("digest")),
            sd = esc(&short_digest(str_of("digest"))),
            mt = esc(str_of("mediaType")),
            s = size(l.get("size").and_then(Value::as_u64).unwrap_or(0)),
        );
    }
    format!(
        "<h2>Layers</h2><div class=\"table-wrap\"><table id=\"layers\"><thead><tr><th class=\"num\">#</th><th>Digest</th>\
         <th class=\"wide\">Media type</th><th class=\"num\">Size</th></tr></thead><tbody>{rows}</tbody></table></div>"
    )
}

fn config_section(c: &Value) -> String {
    let cfg = c.get("config").cloned().unwrap_or(Value::Null);
    let mut out = String::from("<h2>Configuration</h2><dl class=\"facts\">");
    let list = |k: &str| -> Option<String> {
        let items = cfg.get(k)?.as_array()?;
        Some(
            items
                .iter()
                .filter_map(Value::as_str)
                .map(|s| format!("<code>{}</code>", esc(s)))
                .collect::<Vec<_>>()
                .join(" "),
        )
    };
    for (key, label) in [("Entrypoint", "Entrypoint"), ("Cmd", "Cmd")] {
        if let Some(l) = list(key) {
            let _ = write!(out, "<dt>{label}</dt><dd>{l}</dd>");
        }
    }
    for (key, label) in [("WorkingDir", "Working dir"), ("User", "User")] {
        if let Some(s) = cfg
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            let _ = write!(out, "<dt>{label}</dt><dd><code>{}</code></dd>", esc(s));
        }
    }
    if let Some(env) = cfg.get("Env").and_then(Value::as_array) {
        let items: String = env
            .iter()
            .filter_map(Value::as_str)
            .map(|e| format!("<li><code>{}</code></li>", esc(e)))
            .collect();
        let _ = write!(out, "<dt>Env</dt><dd><ul id=\"env\">{items}</ul></dd>");
    }
    out.push_str("</dl>");
    if let Some(labels) = cfg
        .get("Labels")
        .and_then(Value::as_object)
        .filter(|l| !l.is_empty())
    {
        let rows: String = labels
            .iter()
            .map(|(k, v)| {
                format!(
                    "<tr><td class=\"mono\">{}</td><td>{}</td></tr>",
                    esc(k),
                    esc(v.as_str().unwrap_or(""))
                )
            })
            .collect();
        let _ = write!(
            out,
            "<h2>Labels</h2><div class=\"table-wrap\"><table id=\"labels\"><tbody>{rows}</tbody></table></div>"
        );
    }
    if let Some(history) = c
        .get("history")
        .and_then(Value::as_array)
        .filter(|h| !h.is_empty())
    {
        let rows: String = history
            .iter()
            .map(|h| {
                let s = |k: &str| h.get(k).and_then(Value::as_str).unwrap_or("");
                let empty = h
                    .get("empty_layer")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                format!(
                    "<tr><td class=\"wide\">{}</td><td class=\"mono\">{}</td><td>{}</td></tr>",
                    esc(s("created")),
                    esc(if s("created_by").is_empty() {
                        s("comment")
                    } else {
                        s("created_by")
                    }),
                    if empty { "no layer" } else { "layer" }
                )
            })
            .collect();
        let _ = write!(
            out,
            "<h2>History</h2><div class=\"table-wrap\"><table id=\"history\"><thead><tr><th class=\"wide\">Created</th><th>Step</th><th></th></tr></thead><tbody>{rows}</tbody></table></div>"
        );
    }
    out
}

async fn tags_and_referrers(
    state: &AppState,
    cx: &Context,
    repo: &RepoName,
    name: &str,
    digest: &Digest,
) -> String {
    let mut out = String::new();
    let d = digest.to_string();
    let tags: Vec<String> = summary::tags_with_digests(state, cx, repo)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|(_, td)| *td == d)
        .map(|(t, _)| t)
        .collect();
    let links: Vec<String> = tags
        .iter()
        .map(|t| {
            format!(
                "<a class=\"badge\" href=\"/ui/image?name={}&amp;ref={}\">{}</a>",
                esc(&q(name)),
                esc(&q(t)),
                esc(t)
            )
        })
        .collect();
    let _ = write!(
        out,
        "<h2>Tags on this digest</h2><p id=\"digest-tags\">{}</p>",
        if links.is_empty() {
            "none (untagged)".to_string()
        } else {
            links.join(" ")
        }
    );
    let referrers = state
        .service
        .referrers(cx, repo, digest, None)
        .await
        .unwrap_or_default();
    if referrers.is_empty() {
        out.push_str("<h2>Referrers</h2><p class=\"muted\">No signatures, SBOMs or other artifacts refer to this manifest.</p>");
        return out;
    }
    let rows: String = referrers
        .iter()
        .map(|r| {
            let created = r
                .annotations
                .as_ref()
                .and_then(|a| a.get("org.opencontainers.image.created"))
                .and_then(Value::as_str)
                .unwrap_or("");
            format!(
                "<tr><td class=\"mono\">{}</td><td><a class=\"mono\" href=\"/ui/image?name={}&amp;ref={}\">{}</a></td><td class=\"num\">{}</td><td class=\"wide\">{}</td></tr>",
                esc(r.artifact_type.as_deref().unwrap_or(&r.media_type)),
                esc(&q(name)),
                esc(&q(&r.digest)),
                esc(&short_digest(&r.digest)),
                size(r.size),
                esc(created)
            )
        })
        .collect();
    let _ = write!(
        out,
        "<h2>Referrers</h2><div class=\"table-wrap\"><table id=\"referrers\"><thead><tr><th>Artifact type</th><th>Digest</th>\
         <th class=\"num\">Size</th><th class=\"wide\">Created</th></tr></thead><tbody>{rows}</tbody></table></div>"
    );
    out
}
