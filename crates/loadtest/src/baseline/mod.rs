//! The baseline for the load tests: the design Boxoffice replaces, built as
//! well as we know how, so a comparison measures the design and not a
//! careless implementation. This is the baseline, not the product.
//!
//! Every ticket is a row in MySQL/MariaDB (InnoDB); each reservation and
//! each purchase is one transaction taking row locks; a poller frees
//! expired holds every second. It speaks Boxoffice's HTTP API (paths,
//! bodies, JSON field names, ticket ids, problem codes) on the same
//! framework, actix-web, so one harness drives both. Commits are as
//! durable as Boxoffice's acknowledgements: the server must fsync its redo
//! log at every commit (`innodb_flush_log_at_trx_commit = 1`), checked at
//! start.
//!
//! Modules: `routes` (paths, shared state, paging), `catalogue` (cities,
//! venues, performances, ticket lists), `booking` (the reserve, purchase
//! and release transactions), `users` (sign-up, bearer tokens), `poller`,
//! `db` (schema, connection options, durability check), `layout`, `views`,
//! `problem`.

mod booking;
mod catalogue;
mod db;
mod layout;
mod poller;
mod problem;
mod routes;
mod users;
mod views;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, App, HttpServer};
use anyhow::Context as _;
use mysql_async::Pool;

use routes::{AppState, Shared};

/// The baseline server's flags.
#[derive(clap::Args, Clone, Debug)]
pub struct BaselineArgs {
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:8090")]
    pub addr: SocketAddr,

    /// The MySQL/MariaDB database; its tables are created when missing.
    #[arg(
        long,
        env = "BOXOFFICE_BASELINE_DATABASE_URL",
        default_value = "mysql://boxoffice:boxoffice@127.0.0.1:3306/boxoffice_baseline"
    )]
    pub database_url: String,

    /// Database connections in all, shared out evenly over the HTTP workers
    /// (each worker has its own pool).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..))]
    pub pool_size: u32,

    /// How long a reservation holds its tickets, such as 5s or 10m.
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub hold_ttl: Duration,

    /// How often the poller frees expired holds.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub poll_every: Duration,

    /// The admin bearer token. Without one, admin calls are refused.
    #[arg(long, env = "BOXOFFICE_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    /// HTTP worker threads (default: one per core).
    #[arg(long)]
    pub http_workers: Option<usize>,

    /// Run even if the database does not fsync every commit; its numbers
    /// are then not comparable with Boxoffice's.
    #[arg(long)]
    pub allow_weak_durability: bool,
}

impl BaselineArgs {
    /// The defaults, as the flags have them; for tests.
    pub fn new(database_url: impl Into<String>) -> BaselineArgs {
        BaselineArgs {
            addr: "127.0.0.1:8090".parse().expect("a valid address"),
            database_url: database_url.into(),
            pool_size: 32,
            hold_ttl: Duration::from_secs(600),
            poll_every: Duration::from_secs(1),
            admin_token: None,
            http_workers: None,
            allow_weak_durability: false,
        }
    }
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text).map_err(|error| error.to_string())?;
    if duration.is_zero() {
        return Err("must be longer than zero".into());
    }
    Ok(duration)
}

/// Checks the database, creates the schema if missing, starts the expiry
/// poller and binds the address. Runs on a tokio runtime or in an actix
/// system; the returned server serves once awaited (or spawned).
pub async fn start(args: BaselineArgs) -> anyhow::Result<(SocketAddr, actix_web::dev::Server)> {
    let workers = args.http_workers.unwrap_or_else(cores).max(1);
    let per_worker = (args.pool_size as usize).div_ceil(workers);
    let control = Pool::new(db::pool_opts(&args.database_url, 2)?);
    check_durability(&control, args.allow_weak_durability).await?;
    db::create_schema(&control).await?;

    let shared = Arc::new(Shared {
        hold_ttl: args.hold_ttl,
        admin_token: args.admin_token.filter(|token| !token.is_empty()),
        performances: Default::default(),
        users: parking_lot::RwLock::new(HashMap::new()),
    });
    let worker_opts = db::pool_opts(&args.database_url, per_worker)?;
    let server = HttpServer::new(move || {
        let state = AppState { pool: Pool::new(worker_opts.clone()), shared: shared.clone() };
        App::new()
            .app_data(web::Data::new(state))
            .app_data(problem::payload_config())
            .configure(routes::configure)
            .default_service(web::to(routes::not_found))
    })
    .workers(workers)
    .disable_signals()
    .bind(args.addr)
    .with_context(|| format!("binding {}", args.addr))?;
    let addr = server.addrs().first().copied().context("the server has no address")?;
    let server = server.run();

    tokio::spawn(poller::run(control, args.poll_every));
    tracing::info!(%addr, workers, connections_per_worker = per_worker, "baseline listening");
    Ok((addr, server))
}

/// Serves until SIGINT or SIGTERM, then finishes the requests in flight.
/// Runs on a tokio runtime (each HTTP worker has a thread of its own).
pub async fn run(args: BaselineArgs) -> anyhow::Result<()> {
    let (_, server) = start(args).await?;
    let handle = server.handle();
    let serving = tokio::spawn(server);
    tokio::select! {
        served = serving => served.context("the HTTP server task")?.context("serving HTTP")?,
        signal = api::cli::shutdown_signal() => {
            signal?;
            tracing::info!("baseline shutting down: finishing the requests in flight");
            handle.stop(true).await;
        }
    }
    Ok(())
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |cores| cores.get())
}

/// Refuses a database that may lose an acknowledged commit, unless told
/// to run anyway; says what it found either way.
async fn check_durability(pool: &Pool, allow_weak: bool) -> anyhow::Result<()> {
    let found = db::durability(pool).await?;
    tracing::info!(
        version = %found.version,
        innodb_flush_log_at_trx_commit = found.flush_log_at_trx_commit,
        sync_binlog = found.sync_binlog,
        log_bin = found.log_bin,
        buffer_pool_mib = found.buffer_pool_bytes >> 20,
        "database durability settings"
    );
    if found.buffer_pool_bytes < 1 << 30 {
        tracing::warn!(
            buffer_pool_mib = found.buffer_pool_bytes >> 20,
            "innodb_buffer_pool_size is under 1 GiB: past that many tickets the baseline reads \
             from disk, which its design does not need"
        );
    }
    if found.is_full() {
        return Ok(());
    }
    let what = format!(
        "the database does not make every commit durable (innodb_flush_log_at_trx_commit = {}, \
         log_bin = {}, sync_binlog = {}): Boxoffice fsyncs before every acknowledgement",
        found.flush_log_at_trx_commit, found.log_bin, found.sync_binlog
    );
    anyhow::ensure!(allow_weak, "{what}; set them to 1, or pass --allow-weak-durability");
    tracing::error!("{what}: THE BASELINE'S NUMBERS ARE NOT COMPARABLE");
    Ok(())
}
