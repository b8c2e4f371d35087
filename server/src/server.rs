//! Wiring: config → storage driver → registry → HTTP app → listener, with
//! authentication, TLS, the debug server, upload purging and graceful
//! shutdown.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::api::{self, AppState, UploadSigner};
use crate::auth::{Access, Htpasswd, Principal, htpasswd::HtpasswdError};
use crate::config::sections::TlsSettings;
use crate::config::settings::PurgeSettings;
use crate::config::{Config, ConfigError, DriverConfig, Settings};
use crate::events::{EventSink, Events};
use crate::linger::Lingering;
use crate::metrics::Metrics;
use crate::mirror::{Mirror, Upstream};
use crate::notify::Notifier;
use crate::registry::{Registry, RepositoryService, RequestId};
use crate::storage::StorageDriver;
use crate::storage::fs::FilesystemDriver;
use crate::storage::s3::S3Driver;
use crate::tls::{self, ReloadingCert, TlsError};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Htpasswd(#[from] HtpasswdError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("{0}")]
    Storage(String),
}

/// The storage driver a config names.
pub fn storage_driver(config: &Config) -> Result<Arc<dyn StorageDriver>, StartError> {
    Ok(match config.storage_driver()? {
        DriverConfig::Filesystem(fs) => Arc::new(FilesystemDriver::new(&fs.rootdirectory)),
        DriverConfig::S3(s3) => {
            Arc::new(S3Driver::new(&s3.settings()?).map_err(StartError::Storage)?)
        }
    })
}

/// Checks that the storage answers, before serving: an S3 endpoint that
/// cannot be reached, a missing bucket or refused credentials stop the start
/// with a message naming the cause.
pub async fn check_storage(state: &AppState) -> Result<(), StartError> {
    state
        .registry
        .driver()
        .check_reachable()
        .await
        .map_err(|e| StartError::Storage(e.to_string()))
}

/// Builds the application state a config describes; changes go nowhere.
pub fn build_state(config: &Config) -> Result<Arc<AppState>, StartError> {
    build_state_with(config, None)
}

/// Builds the application state a config describes, with every change the
/// API makes handed to `sink` (through the events decorator) when one is given.
pub fn build_state_with(
    config: &Config,
    sink: Option<Arc<dyn EventSink>>,
) -> Result<Arc<AppState>, StartError> {
    let settings = Settings::resolve(config)?;
    let driver = storage_driver(config)?;
    let access = match &settings.auth.htpasswd {
        Some(h) => Access::new(
            Some(Htpasswd::open(&h.path)?),
            h.realm.clone(),
            config.labreg.access.clone(),
        ),
        None => Access::open(),
    };
    let registry = Arc::new(Registry::new(driver, settings.registry));
    let upstreams = config
        .upstreams()?
        .iter()
        .map(|u| Upstream::build(u).map(Arc::new))
        .collect::<Result<Vec<_>, _>>()?;
    for u in &upstreams {
        let scope = if u.prefix.is_empty() {
            "every repository".to_string()
        } else {
            format!("repositories under {}", u.prefix)
        };
        tracing::info!(
            upstream = u.url(),
            "mirroring {scope} (pull-through cache, pushes refused there)"
        );
    }
    let mut service: Arc<dyn RepositoryService> = registry.clone();
    if !upstreams.is_empty() {
        service = Arc::new(Mirror::new(service, registry.clone(), upstreams.clone()));
    }
    let notifier = match (sink.is_some(), config.notify_settings()?) {
        (false, Some(n)) => Some(
            Notifier::start(&n, settings.serve.addr.port())
                .map_err(|e| StartError::Storage(e.to_string()))?,
        ),
        _ => None,
    };
    let sink = sink.or_else(|| notifier.clone().map(|n| n as Arc<dyn EventSink>));
    let usage = crate::usage::UsageIndex::start(registry.clone());
    let sink: Arc<dyn EventSink> = match sink {
        Some(s) => Arc::new(crate::usage::Tee(usage.clone(), s)),
        None => usage.clone(),
    };
    service = Arc::new(Events::new(service, sink));

    Ok(Arc::new(AppState {
        service,
        registry,
        access,
        settings: settings.api,
        upload_signer: UploadSigner::new(config.http.secret.as_deref()),
        upstreams,
        notifier,
        ui: config.labreg.ui.enabled.then(|| {
            let cert = settings.tls.as_ref().map(|t| t.certificate.clone());
            Arc::new(crate::ui::Ui::new(cert))
        }),
        usage: Some(usage),
        catalog_index: config.labreg.catalog_index.enabled,
    }))
}

/// The TLS config of `http.tls`, if any, with its certificate reloader
/// running for as long as the runtime does.
pub fn tls_config(config: &Config) -> Result<Option<Arc<rustls::ServerConfig>>, StartError> {
    let Some(t) = TlsSettings::resolve(config)? else {
        return Ok(None);
    };
    let cert = Arc::new(ReloadingCert::open(&t.certificate, &t.key)?);
    tls::spawn_reloader(cert.clone());
    Ok(Some(tls::server_config(cert, t.minimum)))
}

/// The HTTP application for a state: metrics always, the access log when
/// enabled. The log names the user, never credentials.
pub fn router(state: Arc<AppState>, metrics: Arc<Metrics>, access_log: bool) -> axum::Router {
    let app = match state.ui {
        Some(_) => crate::ui::router(state.clone()).merge(api::app(state)),
        None => api::app(state),
    };
    app.layer(axum::middleware::from_fn_with_state(
        (metrics, access_log),
        observe,
    ))
}

async fn observe(
    State((metrics, log)): State<(Arc<Metrics>, bool)>,
    req: Request,
    next: Next,
) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let started = Instant::now();
    metrics.started();
    let resp = next.run(req).await;
    let took = started.elapsed();
    metrics.finished(method.as_str(), resp.status().as_u16(), took);
    if log {
        let user = match resp.extensions().get::<Principal>() {
            Some(Principal::User(u)) => u.as_str(),
            _ => "-",
        };
        let id = resp.extensions().get::<RequestId>().map(RequestId::as_str);
        tracing::info!(
            target: "access",
            %method,
            path = %path,
            status = resp.status().as_u16(),
            user,
            http.request.id = id.unwrap_or("-"),
            duration_ms = took.as_secs_f64() * 1000.0,
            "request"
        );
    }
    resp
}

/// The debug server of `http.debug`: `/debug/health` (storage reachable) and
/// the Prometheus metrics when enabled.
pub fn debug_router(
    state: Arc<AppState>,
    metrics: Arc<Metrics>,
    prometheus: Option<String>,
) -> axum::Router {
    let for_metrics = state.clone();
    let mut r = axum::Router::new().route(
        "/debug/health",
        get(move || {
            let state = state.clone();
            async move {
                match state.registry.health().await {
                    Ok(()) => (StatusCode::OK, "{}\n").into_response(),
                    Err(e) => (
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!("{{\"storagedriver\": \"{e}\"}}\n"),
                    )
                        .into_response(),
                }
            }
        }),
    );
    if let Some(path) = prometheus {
        r = r.route(
            &path,
            get(move || {
                let (m, state) = (metrics.clone(), for_metrics.clone());
                async move {
                    let mut text = m.render();
                    crate::storage::s3::render_metrics(&mut text);
                    for u in &state.upstreams {
                        u.render(&mut text);
                    }
                    if let Some(usage) = &state.usage {
                        usage.render_gauges(&mut text).await;
                    }
                    if let Some(n) = &state.notifier {
                        n.render(&mut text);
                    }
                    ([("content-type", "text/plain; version=0.0.4")], text)
                }
            }),
        );
    }
    r
}

/// Runs `storage.maintenance.uploadpurging`, when it is on: first a minute
/// after start, then every interval.
pub fn spawn_upload_purger(state: Arc<AppState>, purging: Option<PurgeSettings>) {
    let Some(PurgeSettings {
        age,
        interval,
        dry_run,
    }) = purging
    else {
        return;
    };
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(60).min(interval)).await;
        loop {
            match state.registry.purge_uploads(age, dry_run).await {
                Ok(p) if !p.is_empty() => {
                    tracing::info!(count = p.len(), dry_run, uploads = ?p, "purged stale uploads")
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "upload purging failed"),
            }
            tokio::time::sleep(interval).await;
        }
    });
}

/// The largest request head (request line and headers) accepted: 64 KiB,
/// beyond which hyper answers 431. Registry requests need a few hundred bytes.
const MAX_REQUEST_HEAD: usize = 64 * 1024;

/// Serves until `shutdown` completes, then lets in-flight requests finish.
/// With `tls`, connections are TLS (HTTP/2 or HTTP/1.1 by ALPN); without,
/// plain HTTP/1.1 (and HTTP/2 with prior knowledge).
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let acceptor = tls.map(TlsAcceptor::from);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: back off, go on.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        // Whatever way the connection ends, the client reads the answer.
        let mut stream = Lingering::new(stream);
        let acceptor = acceptor.clone();
        let tls = acceptor.is_some();
        let service = TowerToHyperService::new(app.clone().map_request(
            move |mut req: Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(api::Peer { addr: peer, tls });
                req
            },
        ));
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            builder.http1().max_buf_size(MAX_REQUEST_HEAD);
            builder
                .http2()
                .max_header_list_size(MAX_REQUEST_HEAD as u32);
            let Some(acceptor) = acceptor else {
                let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                let _ = watcher.watch(conn).await;
                return;
            };
            // A TLS connection starts with a handshake record (0x16); plain
            // HTTP starts with a method name and gets a readable answer.
            let mut first = [0u8; 1];
            let peeked = tokio::time::timeout(
                Duration::from_secs(10),
                stream.stream_mut().peek(&mut first),
            )
            .await;
            match peeked {
                Ok(Ok(1)) if first[0] != 0x16 => {
                    let _ = stream.write_all(tls::PLAIN_HTTP_ANSWER).await;
                    return;
                }
                Ok(Ok(1)) => {}
                _ => return,
            }
            let tls_stream = match tokio::time::timeout(
                Duration::from_secs(10),
                acceptor.accept(stream),
            )
            .await
            {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => return,
            };
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls_stream), service);
            let _ = watcher.watch(conn).await;
        });
    }
    graceful.shutdown().await;
    Ok(())
}
