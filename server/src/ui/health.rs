//! The health page (`/ui/health`): version, storage driver and whether it
//! answers, uptime, delete and read-only modes, the TLS certificate's expiry.

use std::fmt::Write;
use std::path::Path;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::html::{esc, page};
use super::{admit, ui};
use crate::api::AppState;
use crate::auth::Scope;

pub async fn health(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let cx = match admit(&state, &headers, Scope::Root).await {
        Ok(cx) => cx,
        Err(resp) => return resp,
    };
    let ui = ui(&state);
    let storage = match state.registry.health().await {
        Ok(()) => "<span class=\"badge\" id=\"storage-ok\">reachable</span>".to_string(),
        Err(e) => format!(
            "<span class=\"badge danger\">unreachable: {}</span>",
            esc(&e.to_string())
        ),
    };
    let options = state.registry.options();
    let mut body = format!(
        "<h1>Health</h1><dl class=\"facts\" id=\"health\">\
         <dt>Version</dt><dd>labreg {version}</dd>\
         <dt>Storage driver</dt><dd>{driver} {storage}</dd>\
         <dt>Uptime</dt><dd>{uptime}</dd>\
         <dt>Deletes</dt><dd>{delete}</dd><dt>Read-only</dt><dd>{ro}</dd>",
        version = env!("CARGO_PKG_VERSION"),
        driver = esc(state.registry.driver().name()),
        uptime = humantime::format_duration(std::time::Duration::from_secs(
            ui.started.elapsed().as_secs()
        )),
        delete = if options.delete_enabled {
            "enabled"
        } else {
            "disabled (storage.delete.enabled)"
        },
        ro = if options.read_only {
            "yes (maintenance)"
        } else {
            "no"
        },
    );
    match &ui.tls_certificate {
        None => body.push_str("<dt>TLS</dt><dd>off (plain HTTP)</dd>"),
        Some(path) => {
            let _ = write!(
                body,
                "<dt>TLS certificate</dt><dd id=\"cert\">{}</dd>",
                esc(&certificate(path))
            );
        }
    }
    body.push_str("</dl>");
    page(StatusCode::OK, "Health", &cx.actor, &body)
}

/// The serving certificate's subject and expiry, read from its file now (it
/// is reloaded when it changes), or why not.
fn certificate(path: &Path) -> String {
    let pem = match std::fs::read(path) {
        Ok(p) => p,
        Err(e) => return format!("cannot read {}: {e}", path.display()),
    };
    let Ok((_, pem)) = x509_parser::pem::parse_x509_pem(&pem) else {
        return format!("{} holds no PEM certificate", path.display());
    };
    let Ok(cert) = pem.parse_x509() else {
        return format!("{} holds an unreadable certificate", path.display());
    };
    let not_after = cert.validity().not_after;
    let days = (not_after.timestamp() - x509_parser::time::ASN1Time::now().timestamp()) / 86_400;
    let when = if days < 0 {
        format!("EXPIRED {} days ago", -days)
    } else {
        format!("{days} days left")
    };
    format!("{}, valid until {not_after} ({when})", cert.subject())
}
