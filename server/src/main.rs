//! The `labreg` command: `labreg serve [CONFIG]` like `registry serve`, and
//! `labreg htpasswd -Bbn USER PASSWORD` like the registry:2 image's htpasswd.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use labreg::config::{Config, Settings};
use labreg::metrics::Metrics;
use labreg::server;

mod maintenance;
mod upkeep;

#[derive(Parser)]
#[command(
    name = "labreg",
    version,
    about = "A container registry: a drop-in for registry:2"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the registry API. Without CONFIG, the registry:2 image's
    /// defaults (listen on :5000, storage in /var/lib/registry); REGISTRY_*
    /// variables override either.
    Serve {
        /// distribution's config.yml (version 0.1)
        config: Option<PathBuf>,
    },
    /// Print an htpasswd line, as Apache's `htpasswd -Bbn USER PASSWORD` does.
    Htpasswd(HtpasswdArgs),
    /// Delete blobs no manifest references (mark and sweep). Safe while
    /// labreg serves: nothing uploaded or linked within --grace is removed.
    GarbageCollect(maintenance::GcArgs),
    /// Verify every blob's digest and every link; exit 1 when damage is found.
    Check(maintenance::CheckArgs),
    /// Apply the labreg.retention policies once: delete the tags and
    /// manifests they no longer keep, then the blobs nothing references.
    Retention(upkeep::RetentionArgs),
    /// Storage usage per repository (referenced, shared, exclusive bytes;
    /// tags, manifests, last push) and deduplicated totals.
    Du(upkeep::DuArgs),
}

#[derive(Args)]
struct HtpasswdArgs {
    /// Use bcrypt (the only scheme registries accept; always on).
    #[arg(short = 'B')]
    bcrypt: bool,
    /// Take the password from the command line instead of standard input.
    #[arg(short = 'b')]
    batch: bool,
    /// Print the line on standard output (the only mode).
    #[arg(short = 'n')]
    stdout: bool,
    /// bcrypt cost, 4 to 31.
    #[arg(short = 'C', default_value_t = 10)]
    cost: u32,
    user: String,
    password: Option<String>,
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = tokio::signal::ctrl_c() => {}, _ = term => {} }
    tracing::info!("shutting down: finishing requests in flight");
}

fn log_config_notes(loaded: &labreg::config::Loaded) {
    for o in &loaded.overrides {
        tracing::info!(variable = %o.var, key = %o.path, "config overridden by environment");
    }
    for key in &loaded.unknown_keys {
        if let Some(why) = labreg::config::compat::not_needed(key) {
            tracing::info!(key = %key, "registry:2 setting not needed by labreg: {why}");
            continue;
        }
        let hint = if key.starts_with("port") || key.starts_with("service") {
            " (Kubernetes sets REGISTRY_PORT*/REGISTRY_SERVICE_* for a Service named \"registry\"; harmless)"
        } else {
            ""
        };
        tracing::warn!(key = %key, "unknown config key ignored{hint}");
    }
}

/// The first lines of the log: where the content lives and, on S3, where
/// clients are sent for blob downloads (seed 003's trap, made visible).
fn log_storage(config: &Config) -> anyhow::Result<()> {
    use labreg::config::DriverConfig;
    use labreg::config::s3::{redirect_host_warning, url_host};
    match config.storage_driver()? {
        DriverConfig::Filesystem(fs) => {
            tracing::info!(storage = "filesystem", rootdirectory = %fs.rootdirectory, "storage")
        }
        DriverConfig::S3(s3) => {
            let s = s3.settings()?;
            let redirect = !config.storage.redirect.disable;
            if redirect {
                tracing::info!(
                    storage = "s3",
                    bucket = %s.bucket,
                    endpoint = %s.endpoint,
                    redirect_to = %s.endpoint,
                    "storage: blob downloads redirect clients to {} (storage.redirect.disable: true serves them through labreg)",
                    s.endpoint
                );
                if let Some(why) = url_host(&s.endpoint).and_then(redirect_host_warning) {
                    tracing::warn!(
                        redirect_to = %s.endpoint,
                        "clients will be redirected to {}, {why}; pulls from elsewhere will fail. Set storage.s3.regionendpoint to an address clients can reach, or storage.redirect.disable: true",
                        s.endpoint
                    );
                }
            } else {
                tracing::info!(storage = "s3", bucket = %s.bucket, endpoint = %s.endpoint, "storage: blob downloads are served through labreg (storage.redirect.disable)");
            }
            if config.http.secret.as_deref().unwrap_or("").is_empty() {
                tracing::warn!(
                    "no http.secret: replicas on one bucket must all have the same http.secret (REGISTRY_HTTP_SECRET) or all none; an upload crossing replicas whose secrets differ fails with BLOB_UPLOAD_INVALID. Set one shared secret"
                );
            }
        }
    }
    Ok(())
}

async fn serve(config_path: Option<PathBuf>) -> anyhow::Result<()> {
    let loaded = Config::load(config_path.as_deref())?;
    let config = &loaded.config;
    let settings = Settings::resolve(config)?;
    labreg::logging::init(&settings.log);
    log_storage(config)?;
    log_config_notes(&loaded);
    let addr = settings.serve.addr;
    let state = server::build_state(config)?;
    server::check_storage(&state).await?;
    let tls = server::tls_config(config)?;
    let metrics = Arc::new(Metrics::default());
    server::spawn_upload_purger(state.clone(), settings.purging);
    upkeep::spawn_retention(&state, config)?;
    if let Some(daddr) = settings.serve.debug_addr {
        let listener = tokio::net::TcpListener::bind(daddr)
            .await
            .with_context(|| format!("cannot listen on {daddr} (http.debug.addr)"))?;
        let prom = settings.serve.prometheus_path.clone();
        let app = server::debug_router(state.clone(), metrics.clone(), prom);
        tracing::info!(addr = %daddr, "debug server listening (/debug/health)");
        tokio::spawn(async move { axum::serve(listener, app).await });
    }
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
        format!("cannot listen on {addr} (http.addr): is something else using the port? set http.addr or REGISTRY_HTTP_ADDR")
    })?;
    tracing::info!(
        %addr,
        tls = tls.is_some(),
        auth = if state.access.enabled() { "htpasswd" } else { "none" },
        storage = state.registry.driver().name(),
        "labreg listening"
    );
    if !state.access.enabled() {
        tracing::warn!("no auth configured: anyone who reaches this port can push and delete");
    }
    let drain = settings.serve.drain_timeout;
    let notifier = state.notifier.clone();
    let app = server::router(state, metrics, settings.serve.access_log);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let stopped = async move {
        shutdown_signal().await;
        let _ = tx.send(());
    };
    let serving = tokio::spawn(server::serve(listener, app, tls, stopped));
    let _ = rx.await;
    match tokio::time::timeout(drain, serving).await {
        Ok(joined) => joined??,
        Err(_) => {
            tracing::warn!(timeout = ?drain, "requests still running after http.draintimeout; exiting")
        }
    }
    if let Some(n) = notifier {
        n.close().await;
    }
    Ok(())
}

fn htpasswd(args: HtpasswdArgs) -> anyhow::Result<()> {
    let _ = (args.bcrypt, args.stdout);
    let password = match (args.batch, args.password) {
        (true, Some(p)) => p,
        (true, None) => anyhow::bail!(
            "-b takes the password as the last argument: labreg htpasswd -Bbn USER PASSWORD"
        ),
        (false, Some(_)) => anyhow::bail!(
            "a password on the command line needs -b: labreg htpasswd -Bbn USER PASSWORD"
        ),
        (false, None) => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("reading the password from standard input")?;
            s.strip_suffix('\n')
                .map(|t| t.strip_suffix('\r').unwrap_or(t))
                .unwrap_or(&s)
                .to_string()
        }
    };
    let line = labreg::auth::htpasswd::line(&args.user, &password, args.cost)
        .map_err(anyhow::Error::msg)?;
    println!("{line}");
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve { config } => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")
            .and_then(|rt| rt.block_on(serve(config))),
        Command::Htpasswd(args) => htpasswd(args),
        Command::GarbageCollect(args) => maintenance::run(|rt| rt.block_on(maintenance::gc(args))),
        Command::Retention(args) => maintenance::run(|rt| rt.block_on(upkeep::retention(args))),
        Command::Du(args) => maintenance::run(|rt| rt.block_on(upkeep::du(args))),
        Command::Check(args) => {
            return match maintenance::run(|rt| rt.block_on(maintenance::check(args))) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::from(1),
                Err(e) => {
                    eprintln!("labreg: {e:#}");
                    ExitCode::from(2)
                }
            };
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("labreg: {e:#}");
            ExitCode::FAILURE
        }
    }
}
