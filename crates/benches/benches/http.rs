//! `http`: requests per second of the real server (`api::server::start`,
//! in process on 127.0.0.1, durable sled store in a temp dir), driven by a
//! keep-alive reqwest client with N requests in flight:
//!
//! - `http/health/N-in-flight`: `GET /health`, which touches no engine: the
//!   cost of plain serving on this box.
//! - `http/reserve/N-in-flight`: `POST /users/{id}/tickets` for 1 ticket of
//!   a stadium section by quantity: auth, the actor, the durable log.
//! - `http/performance-page/N-in-flight`: `GET` of a stadium performance's
//!   page (13 KB of JSON, counts per section), which every buyer of an
//!   on-sale asks for before reserving.
//!
//! Their ratio (same N, same run) is the cost of booking over serving.
//!
//! The server runs in its own actix system on its own threads (2 HTTP
//! workers, 2 shards), the client on a current-thread tokio runtime on the
//! bench thread; both share the machine's 2 cores. Reserves never run dry:
//! each batch books a fresh performance of the stadium, created through the
//! admin API outside the timed part, and keeps every user within the
//! per-user maximum.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use api::server::{
    CatalogueChoice, EmailConfig, PaymentsConfig, ReceiptsConfig, ServerConfig, SmsConfig,
};
use benches::layouts::{layout, layout_json, section_names, STADIUM};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use tokio::runtime::Runtime;

const ADMIN: &str = "bench-admin";
/// Requests in flight: one (latency-bound) and many (throughput-bound, as
/// the building-block notes measured with 64 connections).
const IN_FLIGHT: [usize; 2] = [1, 64];
/// Registered buyers; reserve `i` is made by buyer `i % BUYERS`.
const BUYERS: usize = 64;
/// The per-user maximum of each performance (the admin API's highest).
const USER_MAX: usize = 100;
/// Reserves one performance takes before the next batch needs a new one.
const RESERVES_PER_PERFORMANCE: usize = BUYERS * USER_MAX;

/// The server on its own thread, and a client for it.
struct Server {
    base: String,
    client: Client,
    handle: actix_web::dev::ServerHandle,
    thread: Option<JoinHandle<()>>,
    _data: tempfile::TempDir,
}

impl Server {
    fn start() -> Server {
        let data = tempfile::tempdir().expect("a temp dir for the store");
        let config = server_config(data.path());
        let (started, ready) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || serve(config, started));
        let (addr, handle) = ready.recv().expect("the server starts");
        let client = Client::builder()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(usize::MAX)
            .timeout(Duration::from_secs(30))
            .build()
            .expect("a client");
        Server { base: format!("http://{addr}"), client, handle, thread: Some(thread), _data: data }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Posts `body` with a bearer token; the JSON answer, which must have
    /// `expected` status.
    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Value {
        let mut request = self.client.post(self.url(path)).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        let text = response.text().await.expect("a body");
        assert_eq!(status, StatusCode::CREATED, "POST {path}: {text}");
        serde_json::from_str(&text).expect("a JSON answer")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn server_config(data_dir: &std::path::Path) -> ServerConfig {
    ServerConfig {
        addr: "127.0.0.1:0".parse().expect("an address"),
        data_dir: data_dir.to_owned(),
        // Long enough that no hold lapses during a run: no expiry events.
        hold_ttl: Duration::from_secs(3600),
        admin_token: Some(ADMIN.into()),
        catalogue: CatalogueChoice::Empty,
        max_in_flight: 4096,
        max_http_in_flight: 4096,
        body_timeout: Duration::from_secs(10),
        shard_count: 2,
        checkout_ttl: Duration::from_secs(600),
        http_workers: 2,
        // No checkpoint while measuring.
        checkpoint_every: Duration::from_secs(3600),
        metrics: None,
        payments: PaymentsConfig::Instant,
        provider_timeout: Duration::from_secs(10),
        public_url: None,
        receipts: ReceiptsConfig {
            email: EmailConfig::Files(data_dir.join("receipts/email")),
            sms: SmsConfig::Files(data_dir.join("receipts/sms")),
            email_from: "Boxoffice <receipts@boxoffice.invalid>".into(),
            sms_from: "Boxoffice".into(),
        },
    }
}

type Started = std::sync::mpsc::Sender<(std::net::SocketAddr, actix_web::dev::ServerHandle)>;

/// The server thread: its own actix system, until the handle stops it.
fn serve(config: ServerConfig, started: Started) {
    let system = actix_rt::System::new();
    system.block_on(async move {
        let running = api::server::start(config).await.expect("the server starts");
        started.send((running.addr, running.server.handle())).expect("the bench waits");
        let office = running.office.clone();
        running.server.await.expect("the server runs");
        office.stop();
    });
}

/// What the admin made, and the buyers who book it.
struct World {
    city: u64,
    venue: u64,
    sections: Vec<String>,
    buyers: Vec<Buyer>,
    /// The page of a performance of the stadium.
    page_path: String,
}

#[derive(Clone)]
struct Buyer {
    tickets_path: String,
    token: String,
}

async fn build_world(server: &Server) -> World {
    let city = json!({ "name": "Zürich", "country": "CH", "time_zone": "Europe/Zurich",
        "currency": "CHF" });
    let city = id_of(&server.post("/cities", Some(ADMIN), city).await);
    let venue = json!({ "name": "Bench Stadium", "layout": layout_json(STADIUM) });
    let venue = id_of(&server.post(&format!("/cities/{city}/venues"), Some(ADMIN), venue).await);
    let mut buyers = Vec::with_capacity(BUYERS);
    for n in 0..BUYERS {
        buyers.push(register(server, n).await);
    }
    let mut world = World {
        city,
        venue,
        sections: section_names(&layout(STADIUM)),
        buyers,
        page_path: String::new(),
    };
    let shown = new_performance(server, &world).await;
    world.page_path = format!("/cities/{city}/venues/{venue}/performances/{shown}");
    world
}

async fn register(server: &Server, n: usize) -> Buyer {
    let body = json!({ "name": format!("Buyer {n}"), "email": format!("buyer{n}@bench.example"),
        "phone": "+41 44 000 00 00" });
    let user = server.post("/users", None, body).await;
    Buyer {
        tickets_path: format!("/users/{}/tickets", id_of(&user)),
        token: user["token"].as_str().expect("a token").to_owned(),
    }
}

/// A fresh performance of the stadium, on sale since long ago.
async fn new_performance(server: &Server, world: &World) -> u64 {
    let path = format!("/cities/{}/venues/{}/performances", world.city, world.venue);
    let body = json!({ "title": "Bench Night", "start_local": "2035-10-27T20:00:00",
        "on_sale": "2020-01-01T00:00:00Z", "order_max": 10, "user_max": USER_MAX });
    id_of(&server.post(&path, Some(ADMIN), body).await)
}

fn id_of(body: &Value) -> u64 {
    body["id"].as_u64().unwrap_or_else(|| panic!("no id in {body}"))
}

/// Runs `count` requests with `in_flight` of them at a time; request `i` is
/// `request(i)`. Returns the time they took.
async fn drive<F, Fut>(count: usize, in_flight: usize, request: F) -> Duration
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let request = Arc::new(request);
    let started = Instant::now();
    let lanes: Vec<_> = (0..in_flight)
        .map(|lane| {
            let request = request.clone();
            // Lane `lane` sends requests lane, lane + in_flight, …
            tokio::spawn(async move {
                for i in (lane..count).step_by(in_flight) {
                    request(i).await;
                }
            })
        })
        .collect();
    for lane in lanes {
        lane.await.expect("a request failed");
    }
    started.elapsed()
}

/// `count` GETs of `path`, which must answer 200.
async fn gets(server: &Arc<Server>, path: &str, count: usize, in_flight: usize) -> Duration {
    let (server, url) = (server.clone(), server.url(path));
    drive(count, in_flight, move |_| {
        let request = server.client.get(&url).send();
        async move {
            let response = request.await.expect("the server answers");
            assert_eq!(response.status(), StatusCode::OK);
            response.bytes().await.expect("a body");
        }
    })
    .await
}

/// `count` reserves, in batches of at most one performance's worth, each
/// batch on a fresh performance created before its clock starts.
async fn reserves(
    server: &Arc<Server>,
    world: &Arc<World>,
    count: usize,
    in_flight: usize,
) -> Duration {
    let mut took = Duration::ZERO;
    let mut left = count;
    while left > 0 {
        let batch = left.min(RESERVES_PER_PERFORMANCE);
        let performance = new_performance(server, world).await;
        took += reserve_batch(server, world, performance, batch, in_flight).await;
        left -= batch;
    }
    took
}

async fn reserve_batch(
    server: &Arc<Server>,
    world: &Arc<World>,
    performance: u64,
    count: usize,
    in_flight: usize,
) -> Duration {
    let (server, world) = (server.clone(), world.clone());
    drive(count, in_flight, move |i| {
        let buyer = &world.buyers[i % BUYERS];
        // Sections in turn, so no section fills and no scan grows long.
        let section = &world.sections[i % world.sections.len()];
        let body = json!({ "performance_id": performance, "section": section, "quantity": 1 });
        let request = server
            .client
            .post(server.url(&buyer.tickets_path))
            .bearer_auth(&buyer.token)
            .json(&body)
            .send();
        async move {
            let response = request.await.expect("the server answers");
            let status = response.status();
            let text = response.text().await.expect("a body");
            assert_eq!(status, StatusCode::CREATED, "reserve: {text}");
        }
    })
    .await
}

fn http(c: &mut Criterion) {
    let runtime: Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime for the client");
    let server = Arc::new(Server::start());
    let world = Arc::new(runtime.block_on(build_world(&server)));

    let mut group = c.benchmark_group("http");
    // One iteration is one request.
    group.throughput(Throughput::Elements(1));
    group.sample_size(20);
    for in_flight in IN_FLIGHT {
        let id = BenchmarkId::new("health", format!("{in_flight}-in-flight"));
        group.bench_function(id, |b| {
            b.iter_custom(|count| {
                runtime.block_on(gets(&server, "/health", count as usize, in_flight))
            })
        });
        let id = BenchmarkId::new("reserve", format!("{in_flight}-in-flight"));
        group.bench_function(id, |b| {
            b.iter_custom(|count| {
                runtime.block_on(reserves(&server, &world, count as usize, in_flight))
            })
        });
        let id = BenchmarkId::new("performance-page", format!("{in_flight}-in-flight"));
        group.bench_function(id, |b| {
            b.iter_custom(|count| {
                runtime.block_on(gets(&server, &world.page_path, count as usize, in_flight))
            })
        });
    }
    group.finish();
    // The last handle: stops the server and joins its thread.
    drop(server);
}

criterion_group!(benches, http);
criterion_main!(benches);
