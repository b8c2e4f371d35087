//! Wiring: config → storage driver → registry → HTTP app → listener, with
//! logging and graceful shutdown.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tokio::net::TcpListener;

use crate::api::{self, AppState};
use crate::config::{Config, ConfigError};
use crate::registry::{Options, Registry};
use crate::storage::StorageDriver;
use crate::storage::fs::FilesystemDriver;

/// Builds the application state a config describes.
pub fn build_state(config: &Config) -> Result<Arc<AppState>, ConfigError> {
    let fs = config.storage_driver()?;
    let driver: Arc<dyn StorageDriver> = Arc::new(FilesystemDriver::new(&fs.rootdirectory));
    let options = Options {
        delete_enabled: config.storage.delete.enabled,
        read_only: config.storage.maintenance.readonly.enabled,
        redirect: !config.storage.redirect.disable,
    };
    let mut extra_headers = HeaderMap::new();
    for (name, values) in &config.http.headers {
        let key = HeaderName::from_bytes(name.as_bytes()).map_err(|e| ConfigError::Invalid {
            key: format!("http.headers.{name}"),
            message: e.to_string(),
        })?;
        for v in values {
            let value = HeaderValue::from_str(v).map_err(|e| ConfigError::Invalid {
                key: format!("http.headers.{name}"),
                message: e.to_string(),
            })?;
            extra_headers.append(key.clone(), value);
        }
    }
    Ok(Arc::new(AppState {
        registry: Registry::new(driver, options),
        extra_headers,
        catalog_max: config.catalog.maxentries,
        base_url: config.http.host.clone().filter(|h| !h.is_empty()),
    }))
}

/// The HTTP application for a state, with the access log when enabled.
pub fn router(state: Arc<AppState>, access_log: bool) -> axum::Router {
    let app = api::app(state);
    if access_log {
        app.layer(axum::middleware::from_fn(log_request))
    } else {
        app
    }
}

async fn log_request(State(()): State<()>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let uri = req.uri().path().to_string();
    let started = Instant::now();
    let resp = next.run(req).await;
    tracing::info!(
        target: "access",
        %method,
        path = %uri,
        status = resp.status().as_u16(),
        duration_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    resp
}

/// Serves until `shutdown` completes, then lets in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
