//! `boxoffice`: the ticket booking server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use api::server::{self, CatalogueChoice, ServerConfig};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "boxoffice", version, about = "A ticket booking engine for high-traffic on-sales")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServeArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,

    /// Where the log and snapshots are kept.
    #[arg(long, default_value = "./data")]
    data_dir: PathBuf,

    /// How long a reservation holds its tickets, such as 2s or 10m.
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    hold_ttl: Duration,

    /// The admin bearer token. Without one, admin calls are refused.
    #[arg(long, env = "BOXOFFICE_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,

    /// The catalogue an empty data dir starts with.
    #[arg(long, value_enum, default_value = "demo")]
    catalogue: CatalogueChoice,

    /// How many requests may wait for one performance before more are
    /// refused with 503.
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..))]
    max_in_flight: u32,

    /// Threads the performance actors spread over (default: one per core).
    #[arg(long)]
    shards: Option<usize>,

    /// HTTP worker threads (default: one per core).
    #[arg(long)]
    http_workers: Option<usize>,

    /// How often to snapshot changed performances and trim the log.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    checkpoint_every: Duration,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text).map_err(|error| error.to_string())?;
    if duration.is_zero() {
        return Err("must be longer than zero".into());
    }
    Ok(duration)
}

/// Lifecycle at info. actix-http logs every malformed request from a client
/// at error level; any client could bury a real error under those.
const DEFAULT_LOG_FILTER: &str = "info,actix_http::h1::dispatcher=off";

fn main() -> anyhow::Result<()> {
    // Colours only for a person at a terminal, not in a log file.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stdout());
    tracing_subscriber::fmt()
        .with_ansi(colour)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| DEFAULT_LOG_FILTER.into()),
        )
        .init();

    let Command::Serve(args) = Cli::parse().command;
    let cores = std::thread::available_parallelism().map_or(2, |cores| cores.get());
    let admin_token = args.admin_token.filter(|token| !token.is_empty());
    let config = ServerConfig {
        addr: args.addr,
        data_dir: args.data_dir,
        hold_ttl: args.hold_ttl,
        admin_token,
        catalogue: args.catalogue,
        max_in_flight: args.max_in_flight as usize,
        shard_count: args.shards.unwrap_or(cores).max(1),
        http_workers: args.http_workers.unwrap_or(cores).max(1),
        checkpoint_every: args.checkpoint_every,
        metrics: Some(
            metrics_exporter_prometheus::PrometheusBuilder::new()
                .install_recorder()
                .context("installing the metrics recorder")?,
        ),
    };
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

async fn shutdown_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    tokio::select! {
        interrupted = tokio::signal::ctrl_c() => interrupted.context("listening for SIGINT")?,
        _ = terminate.recv() => {}
    }
    Ok(())
}
