//! Start-up, the HTTP server, and shutdown.
//!
//! Start-up, step by step:
//!
//! 1. Open the store in the data dir and read back the last checkpoint and
//!    the log after it.
//! 2. On an empty store, build the chosen catalogue and log it, so a later
//!    start finds it in the log like any admin's change.
//! 3. Rebuild every performance actor from its snapshot and the log tail;
//!    holds keep their instants, and the ones already past expire at once.
//! 4. Serve HTTP, and take a checkpoint now and then so the log stays short.
//! 5. On shutdown, stop taking requests, then take a last checkpoint.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{middleware, web, App, HttpServer};
use anyhow::Context as _;
use engine::box_office::{BoxOffice, EngineConfig, EngineDeps, Recovered};
use engine::events::Event;
use engine::journal::{Checkpoint, Journal};
use engine::outbox::Outbox;
use engine::payment::InstantProvider;
use engine::time::{Clock, SystemClock};
use persistence::{Store, StoreOptions};

use crate::admission::{self, Admission};
use crate::providers;
use crate::routes::{self, AppState};
use crate::seed;
use crate::workers::Workers;

/// Which catalogue an empty data dir starts with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CatalogueChoice {
    /// 100 real cities, about ten venues each, performances over the coming days.
    Demo,
    /// The seed design's day: 10,000 performances of 1,001 seats.
    FullDay,
    /// Nothing: admins create everything.
    Empty,
}

#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    pub hold_ttl: Duration,
    pub admin_token: Option<String>,
    pub catalogue: CatalogueChoice,
    pub max_in_flight: usize,
    /// How many requests the whole server may have in flight before more are
    /// refused with 503 at the door.
    pub max_http_in_flight: usize,
    /// How long an admitted request's body may take to arrive after its
    /// head; a slower one is refused with 408 and frees its place.
    pub body_timeout: Duration,
    pub shard_count: usize,
    /// How long a checkout's tickets stay held while the buyer pays.
    pub checkout_ttl: Duration,
    pub http_workers: usize,
    pub checkpoint_every: Duration,
    /// Serves `GET /metrics` from this recorder; installed once per process.
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    pub payments: PaymentsConfig,
    /// How long one call to the payment provider may take.
    pub provider_timeout: Duration,
    /// Where buyers' browsers reach the server; `None`: http:// and the
    /// listening address.
    pub public_url: Option<String>,
    pub receipts: ReceiptsConfig,
}

/// Which payment provider checkouts go to.
#[derive(Clone, Debug)]
pub enum PaymentsConfig {
    /// Paid on opening; payment tokens are taken directly too.
    Instant,
    /// The provider in this process, under `/sandbox`.
    Sandbox {
        secret_key: String,
        webhook_secret: String,
    },
    Stripe {
        base_url: String,
        secret_key: String,
        webhook_secret: String,
    },
}

/// Where receipts go.
#[derive(Clone, Debug)]
pub struct ReceiptsConfig {
    pub email: EmailConfig,
    pub sms: SmsConfig,
    pub email_from: String,
    pub sms_from: String,
}

#[derive(Clone, Debug)]
pub enum EmailConfig {
    /// One .eml file per message in this directory.
    Files(PathBuf),
    Smtp {
        url: String,
    },
}

#[derive(Clone, Debug)]
pub enum SmsConfig {
    /// One file per message in this directory.
    Files(PathBuf),
    /// A Twilio-style API.
    Http { base_url: String, account_sid: String, auth_token: String },
}

/// A server that is listening.
pub struct Running {
    pub addr: SocketAddr,
    pub office: BoxOffice,
    pub server: actix_web::dev::Server,
    /// The sandbox provider, when the server runs one.
    pub sandbox: Option<payments::sandbox::Sandbox>,
    /// The outbox's consumers: receipts and the provider's owed calls.
    pub workers: Workers,
}

/// Opens the store, rebuilds the engine and starts listening. Must run
/// inside an actix system.
pub async fn start(config: ServerConfig) -> anyhow::Result<Running> {
    let started = Instant::now();
    let store = open_store(&config)?;
    let journal = store.journal();
    let recovered = recover(&store, &config, journal.as_ref()).await?;

    // Bound first: the sandbox and its webhooks need the address.
    let listener = std::net::TcpListener::bind(config.addr)
        .with_context(|| format!("binding {}", config.addr))?;
    let addr = listener.local_addr().context("the listener has no address")?;
    let local = providers::reachable(addr);
    let public_url = config.public_url.clone().unwrap_or_else(|| format!("http://{local}"));
    let payments = providers::build(&config, &store, local, &public_url)?;
    let outbox: Arc<dyn Outbox> = store.outbox();

    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let engine_config = EngineConfig {
        hold_ttl: config.hold_ttl,
        max_in_flight: config.max_in_flight,
        shard_count: config.shard_count,
        checkout_ttl: config.checkout_ttl,
    };
    let deps = EngineDeps {
        journal,
        clock: clock.clone(),
        payments: Arc::new(InstantProvider),
        checkout: payments.checkout.clone(),
    };
    let office =
        BoxOffice::start(engine_config, deps, recovered).context("rebuilding the state")?;
    log_loaded(&office, started.elapsed());

    let state = web::Data::new(AppState {
        office: office.clone(),
        admin_token: config.admin_token.clone(),
        clock,
        metrics: config.metrics.clone(),
        payments: payments.state.clone(),
        outbox: Some(outbox.clone()),
        pages: Default::default(),
    });
    let sandbox = payments.sandbox.clone();
    let admission = web::Data::new(Admission::new(config.max_http_in_flight, config.body_timeout));
    let admission_for_workers = admission.clone().into_inner();
    let mounted_sandbox = sandbox.clone();
    let server = HttpServer::new(move || {
        let sandbox = mounted_sandbox.clone();
        App::new()
            .app_data(state.clone())
            .app_data(admission.clone())
            .app_data(crate::body::json_config())
            .wrap(middleware::from_fn(admission::admit))
            .wrap(middleware::from_fn(count_responses))
            .configure(routes::configure)
            .configure(move |config| {
                if let Some(sandbox) = &sandbox {
                    sandbox.configure(config);
                }
            })
            .default_service(web::to(routes::not_found))
    })
    .workers(config.http_workers)
    .disable_signals()
    .listen(listener)
    .with_context(|| format!("listening on {addr}"))?;
    let server = server.run();

    spawn_checkpoints(office.clone(), config.checkpoint_every, store);
    spawn_catch_up(office.clone());
    let workers = Workers::start(
        &office,
        outbox,
        &config.receipts,
        Arc::new(SystemClock),
        admission_for_workers,
    )?;
    tracing::info!(%addr, payments = payments.state.mode, "listening");
    Ok(Running { addr, office, server, sandbox, workers })
}

/// Counts answers by status class, and logs server errors other than 503,
/// which a request should never cause.
async fn count_responses(
    request: actix_web::dev::ServiceRequest,
    next: middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let response = next.call(request).await?;
    let status = response.status();
    let class = match status.as_u16() {
        100..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    metrics::counter!("http_responses_total", "class" => class).increment(1);
    // 503 is load shedding or fail-stop, counted above and said elsewhere;
    // a log line for each would cost most under overload, when it is least
    // affordable. Any other 5xx is a bug.
    if status.is_server_error() && status != actix_web::http::StatusCode::SERVICE_UNAVAILABLE {
        tracing::warn!(%status, path = response.request().path(), "answered a server error");
    }
    Ok(response)
}

fn open_store(config: &ServerConfig) -> anyhow::Result<Store> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating the data dir {}", config.data_dir.display()))?;
    let options = StoreOptions::from_env().context("reading BOXOFFICE_INJECT_FAULT")?;
    if options.fault.is_some() {
        tracing::warn!(fault = ?options.fault, "a storage fault will be injected, for a test");
    }
    Store::open(&config.data_dir, options).map_err(|error| {
        let hint = if error.is_locked() { " (is another boxoffice using it?)" } else { "" };
        let context = format!("opening the store in {}{hint}", config.data_dir.display());
        anyhow::Error::new(error).context(context)
    })
}

/// What the store holds; on an empty store, the chosen catalogue, logged.
async fn recover(
    store: &Store,
    config: &ServerConfig,
    journal: &dyn Journal,
) -> anyhow::Result<Recovered> {
    let recovered = recovered(store.recover().context("reading the store")?);
    if recovered.checkpoint.is_some() || !recovered.tail.is_empty() {
        return Ok(recovered);
    }

    let now = SystemClock.now();
    let events = match config.catalogue {
        CatalogueChoice::Demo => seed::demo_catalogue(now),
        CatalogueChoice::FullDay => seed::full_day_catalogue(now),
        CatalogueChoice::Empty => Vec::new(),
    };
    if !events.is_empty() {
        log_and_wait(journal, events.clone()).await.context("logging the catalogue")?;
        tracing::info!(catalogue = ?config.catalogue, events = events.len(), "built the catalogue");
    }
    Ok(Recovered { checkpoint: None, tail: events })
}

/// What the store recovered, in the engine's terms.
pub fn recovered(recovery: persistence::Recovery) -> Recovered {
    let checkpoint = recovery.checkpoint.map(|checkpoint| Checkpoint {
        catalogue: checkpoint.catalogue,
        users: checkpoint.users.into_iter().map(Arc::new).collect(),
        bookings: checkpoint.bookings.into_values().collect(),
    });
    Recovered { checkpoint, tail: recovery.tail }
}

async fn log_and_wait(journal: &dyn Journal, events: Vec<Event>) -> anyhow::Result<()> {
    let (done, durable) = tokio::sync::oneshot::channel();
    journal.append(events, Box::new(move |result| drop(done.send(result))));
    durable.await.context("the journal stopped")??;
    Ok(())
}

fn log_loaded(office: &BoxOffice, took: Duration) {
    let (cities, venues, performances, tickets) = office.with_catalogue(|catalogue| {
        let tickets: u64 = catalogue
            .performances
            .values()
            .map(|info| catalogue.venues[&info.venue].layout.capacity() as u64)
            .sum();
        (catalogue.cities.len(), catalogue.venues.len(), catalogue.performances.len(), tickets)
    });
    tracing::info!(
        cities,
        venues,
        performances,
        tickets,
        recovery_ms = took.as_millis() as u64,
        "state recovered"
    );
}

/// Takes a checkpoint every `every`, keeping the store (and so the journal)
/// alive as long as the server runs.
fn spawn_checkpoints(office: BoxOffice, every: Duration, store: Store) {
    actix_web::rt::spawn(async move {
        let _store = store;
        let mut ticks = tokio::time::interval(every);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            checkpoint(&office).await;
        }
    });
}

/// Asks the provider about checkouts still waiting, for webhooks missed
/// while the server was down. Runs once the server takes requests: the
/// sandbox answers through it.
fn spawn_catch_up(office: BoxOffice) {
    actix_web::rt::spawn(async move {
        let asked = office.catch_up_payments().await;
        if asked > 0 {
            tracing::info!(asked, "caught up on checkouts that were waiting at start-up");
        }
    });
}

pub async fn checkpoint(office: &BoxOffice) {
    let started = Instant::now();
    match office.checkpoint().await {
        Ok(performances) => {
            let took_ms = started.elapsed().as_millis() as u64;
            tracing::info!(performances, took_ms, "checkpoint taken");
        }
        Err(error) => tracing::error!(%error, "checkpoint failed"),
    }
}
