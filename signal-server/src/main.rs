//! `signal-server`: parse flags, set up logging, bind, serve until SIGTERM or SIGINT.

use anyhow::Context;
use clap::{CommandFactory, Parser};
use signal_server::Config;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

/// mimalloc: less CPU per allocation than glibc's malloc, and less memory per idle connection
/// (measured in docs/BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let cfg = Config::parse();
    if let Err(problem) = cfg.check() {
        Config::command().error(clap::error::ErrorKind::ArgumentConflict, problem).exit();
    }
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    let runtime = if cfg.threads == 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        if cfg.threads > 1 {
            b.worker_threads(cfg.threads);
        }
        b.enable_all().build()
    }
    .context("starting the tokio runtime")?;
    runtime.block_on(serve(cfg))
}

async fn serve(cfg: Config) -> anyhow::Result<()> {
    let listener = signal_server::net::bind(&cfg)?;
    let addr = listener.local_addr()?;
    let scheme = if cfg.tls_cert.is_some() { "wss" } else { "ws" };
    tracing::info!("listening on {scheme}://{addr}/ (health: /healthz, metrics: /metrics)");
    let shutdown = CancellationToken::new();
    let trigger = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("signal received; shutting down");
        trigger.cancel();
    });
    signal_server::run(listener, cfg, shutdown).await
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
