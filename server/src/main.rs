//! The `labreg` command: `labreg serve [CONFIG]`, like `registry serve`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use labreg::config::Config;
use labreg::server;
use tracing_subscriber::EnvFilter;

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
}

fn init_logging(config: &Config) {
    let level = config.log_level_name().unwrap_or_else(|| "info".into());
    let filter = EnvFilter::try_from_env("LABREG_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if config.log.formatter.as_deref().is_some_and(|f| f != "text") {
        builder.json().flatten_event(true).init();
    } else {
        builder.init();
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down: finishing requests in flight");
}

async fn serve(config_path: Option<PathBuf>) -> anyhow::Result<()> {
    let loaded = Config::load(config_path.as_deref())?;
    let config = loaded.config;
    init_logging(&config);
    for o in &loaded.overrides {
        tracing::info!(variable = %o.var, key = %o.path, "config overridden by environment");
    }
    for key in &loaded.unknown_keys {
        let hint = if key.starts_with("port") || key.starts_with("service") {
            " (Kubernetes sets REGISTRY_PORT*/REGISTRY_SERVICE_* for a Service named \"registry\"; harmless)"
        } else {
            ""
        };
        tracing::warn!(key = %key, "unknown config key ignored{hint}");
    }
    let addr = config.listen_addr()?;
    let state = server::build_state(&config)?;
    let root = config.storage_driver()?.rootdirectory.clone();
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
        format!("cannot listen on {addr} (http.addr): is another registry running there?")
    })?;
    tracing::info!(%addr, storage = "filesystem", rootdirectory = %root, "labreg listening");
    let app = server::router(state, !config.log.accesslog.disabled);
    server::serve(listener, app, shutdown_signal()).await?;
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = match cli.command {
        Command::Serve { config } => runtime.block_on(serve(config)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("labreg: {e:#}");
            ExitCode::FAILURE
        }
    }
}
