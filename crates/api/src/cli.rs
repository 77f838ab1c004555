//! The `serve` command line, shared by `boxoffice serve` and the load
//! test's own server process: its flags, logging, and the run from start-up
//! to a graceful shutdown.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;

use crate::server::{self, CatalogueChoice, ServerConfig};

#[derive(clap::Args, Clone, Debug)]
pub struct ServeArgs {
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,

    /// Where the log and snapshots are kept.
    #[arg(long, default_value = "./data")]
    pub data_dir: PathBuf,

    /// How long a reservation holds its tickets, such as 2s or 10m.
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub hold_ttl: Duration,

    /// How long a checkout keeps its tickets while the buyer pays at the
    /// provider; the provider's session is expired when it ends.
    #[arg(long, default_value = "15m", value_parser = parse_duration)]
    pub checkout_ttl: Duration,

    /// The admin bearer token. Without one, admin calls are refused.
    #[arg(long, env = "BOXOFFICE_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    /// The catalogue an empty data dir starts with.
    #[arg(long, value_enum, default_value = "demo")]
    pub catalogue: CatalogueChoice,

    /// How many requests may wait for one performance before more are
    /// refused with 503.
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_in_flight: u32,

    /// How many requests the whole server may have in flight before more are
    /// refused at once with 503, before any work is done on them.
    #[arg(long, default_value_t = 2048, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_http_in_flight: u32,

    /// Threads the performance actors spread over (default: one per core).
    #[arg(long)]
    pub shards: Option<usize>,

    /// HTTP worker threads (default: one per core).
    #[arg(long)]
    pub http_workers: Option<usize>,

    /// How often to snapshot changed performances and trim the log.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub checkpoint_every: Duration,
}

pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text).map_err(|error| error.to_string())?;
    if duration.is_zero() {
        return Err("must be longer than zero".into());
    }
    Ok(duration)
}

/// Lifecycle at info. actix-http logs every malformed request from a client
/// at error level; any client could bury a real error under those.
const DEFAULT_LOG_FILTER: &str = "info,actix_http::h1::dispatcher=off";

/// Logs to standard output: lifecycle at info unless `RUST_LOG` says.
pub fn init_logging() {
    // Colours only for a person at a terminal, not in a log file.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stdout());
    tracing_subscriber::fmt()
        .with_ansi(colour)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| DEFAULT_LOG_FILTER.into()),
        )
        .init();
}

impl ServeArgs {
    /// The server's configuration; `metrics` renders `GET /metrics`.
    pub fn config(
        self,
        metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    ) -> ServerConfig {
        let cores = std::thread::available_parallelism().map_or(2, |cores| cores.get());
        ServerConfig {
            addr: self.addr,
            data_dir: self.data_dir,
            hold_ttl: self.hold_ttl,
            admin_token: self.admin_token.filter(|token| !token.is_empty()),
            catalogue: self.catalogue,
            max_in_flight: self.max_in_flight as usize,
            max_http_in_flight: self.max_http_in_flight as usize,
            shard_count: self.shards.unwrap_or(cores).max(1),
            checkout_ttl: self.checkout_ttl,
            http_workers: self.http_workers.unwrap_or(cores).max(1),
            checkpoint_every: self.checkpoint_every,
            metrics,
        }
    }
}

/// Installs the process's metrics recorder; once per process.
pub fn install_metrics() -> anyhow::Result<metrics_exporter_prometheus::PrometheusHandle> {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder();
    recorder.context("installing the metrics recorder")
}

/// Runs the server in an actix system of its own until a signal stops it.
pub fn run(config: ServerConfig) -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(serve(config))
}

/// Serves until SIGINT or SIGTERM, then finishes the requests in flight and
/// takes a last checkpoint, so the next start has little log to replay.
async fn serve(config: ServerConfig) -> anyhow::Result<()> {
    let running = server::start(config).await?;
    let handle = running.server.handle();
    let serving = actix_web::rt::spawn(running.server);

    tokio::select! {
        served = serving => served.context("the HTTP server task")?.context("serving HTTP")?,
        signal = shutdown_signal() => {
            signal?;
            tracing::info!("shutting down: finishing the requests in flight");
            handle.stop(true).await;
        }
    }

    tracing::info!("taking a last checkpoint");
    server::checkpoint(&running.office).await;
    Ok(())
}

/// Waits for SIGINT or SIGTERM.
pub async fn shutdown_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    tokio::select! {
        interrupted = tokio::signal::ctrl_c() => interrupted.context("listening for SIGINT")?,
        _ = terminate.recv() => {}
    }
    Ok(())
}
