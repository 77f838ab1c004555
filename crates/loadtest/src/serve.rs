//! `loadtest serve-boxoffice`: the Boxoffice server in a process of its own,
//! started by the harness re-executing itself, so the server's CPU can be
//! read apart from the harness's. The flags and start-up glue are those of
//! `boxoffice serve` (crates/api/src/main.rs).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use api::server::{self, CatalogueChoice, ServerConfig};

#[derive(clap::Args, Clone, Debug)]
pub struct ServeArgs {
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,

    /// Where the log and snapshots are kept.
    #[arg(long, default_value = "./data")]
    pub data_dir: PathBuf,

    /// How long a reservation holds its tickets, such as 2s or 10m.
    #[arg(long, default_value = "10m", value_parser = crate::args::parse_duration)]
    pub hold_ttl: Duration,

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

    /// Threads the performance actors spread over (default: one per core).
    #[arg(long)]
    pub shards: Option<usize>,

    /// HTTP worker threads (default: one per core).
    #[arg(long)]
    pub http_workers: Option<usize>,

    /// How often to snapshot changed performances and trim the log.
    #[arg(long, default_value = "60s", value_parser = crate::args::parse_duration)]
    pub checkpoint_every: Duration,

    /// Do not install the Prometheus recorder (the real server always does).
    #[arg(long)]
    pub no_metrics: bool,
}

/// Serves until SIGINT or SIGTERM, like `boxoffice serve`.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = config(args)?;
    actix_web::rt::System::new().block_on(serve(config))
}

fn config(args: ServeArgs) -> anyhow::Result<ServerConfig> {
    let cores = std::thread::available_parallelism().map_or(2, |cores| cores.get());
    let metrics = if args.no_metrics {
        None
    } else {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder();
        Some(recorder.context("installing the metrics recorder")?)
    };
    Ok(ServerConfig {
        addr: args.addr,
        data_dir: args.data_dir,
        hold_ttl: args.hold_ttl,
        admin_token: args.admin_token.filter(|token| !token.is_empty()),
        catalogue: args.catalogue,
        max_in_flight: args.max_in_flight as usize,
        shard_count: args.shards.unwrap_or(cores).max(1),
        http_workers: args.http_workers.unwrap_or(cores).max(1),
        checkpoint_every: args.checkpoint_every,
        metrics,
    })
}

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
    // A last checkpoint, so a restart on this data dir has little to replay.
    server::checkpoint(&running.office).await;
    Ok(())
}

async fn shutdown_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    tokio::select! {
        interrupted = tokio::signal::ctrl_c() => interrupted.context("listening for SIGINT")?,
        _ = terminate.recv() => {}
    }
    Ok(())
}
