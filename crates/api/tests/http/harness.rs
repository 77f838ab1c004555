//! The shared harness: a real server per test on a free port, a small
//! catalogue made through the admin API, users, and assertions on the
//! shape of problem+json answers.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use api::server::{
    self, CatalogueChoice, EmailConfig, PaymentsConfig, ReceiptsConfig, ServerConfig, SmsConfig,
};
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

pub const ADMIN: &str = "test-admin";

/// The test layout: a seated section of 3 rows of 6, and 10 standing.
pub const SEATED: &str = "Stalls";
pub const STANDING: &str = "Floor";
pub const CAPACITY: u32 = 3 * 6 + 10;

/// How a test wants its server.
pub struct Options {
    pub hold_ttl: Duration,
    pub admin_token: Option<&'static str>,
    pub catalogue: CatalogueChoice,
    pub max_in_flight: usize,
    pub max_http_in_flight: usize,
    pub body_timeout: Duration,
    pub payments: PaymentsConfig,
    pub provider_timeout: Duration,
    /// Where receipts go; `None`: files in the data dir.
    pub receipts: Option<ReceiptsConfig>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            hold_ttl: Duration::from_secs(600),
            admin_token: Some(ADMIN),
            catalogue: CatalogueChoice::Empty,
            max_in_flight: 4096,
            max_http_in_flight: 4096,
            body_timeout: Duration::from_secs(10),
            payments: PaymentsConfig::Instant,
            provider_timeout: Duration::from_secs(10),
            receipts: None,
        }
    }
}

/// A running server and a client for it. Dropping it stops the server.
pub struct Server {
    pub base: String,
    pub client: reqwest::Client,
    handle: actix_web::dev::ServerHandle,
    /// The sandbox provider, for a server started with one.
    pub sandbox: Option<payments::sandbox::Sandbox>,
    /// Kept: the outbox's consumers stop when this is dropped.
    _workers: api::workers::Workers,
    data: tempfile::TempDir,
}

impl Server {
    pub async fn start() -> Server {
        Server::with(Options::default()).await
    }

    pub async fn with(options: Options) -> Server {
        let data = tempfile::tempdir().expect("a temp dir");
        let config = ServerConfig {
            addr: "127.0.0.1:0".parse().unwrap(),
            data_dir: data.path().to_owned(),
            hold_ttl: options.hold_ttl,
            admin_token: options.admin_token.map(str::to_owned),
            catalogue: options.catalogue,
            max_in_flight: options.max_in_flight,
            max_http_in_flight: options.max_http_in_flight,
            body_timeout: options.body_timeout,
            shard_count: 2,
            checkout_ttl: options.hold_ttl,
            http_workers: 2,
            checkpoint_every: Duration::from_secs(60),
            metrics: None,
            payments: options.payments,
            provider_timeout: options.provider_timeout,
            public_url: None,
            receipts: options.receipts.unwrap_or_else(|| ReceiptsConfig {
                email: EmailConfig::Files(data.path().join("receipts/email")),
                sms: SmsConfig::Files(data.path().join("receipts/sms")),
                email_from: "Boxoffice <receipts@boxoffice.invalid>".into(),
                sms_from: "Boxoffice".into(),
            }),
        };
        let running = server::start(config).await.expect("the server starts");
        let handle = running.server.handle();
        actix_web::rt::spawn(running.server);
        let client =
            reqwest::Client::builder().timeout(Duration::from_secs(20)).build().expect("a client");
        let (sandbox, _workers) = (running.sandbox, running.workers);
        Server { base: format!("http://{}", running.addr), client, handle, sandbox, _workers, data }
    }

    /// The server's data dir, where receipts go as files.
    pub fn data_dir(&self) -> &std::path::Path {
        self.data.path()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request with an optional bearer token and JSON body.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Response {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.expect("the server answers")
    }

    /// Raw bytes as a JSON body, for what `json!` cannot express.
    pub async fn send_bytes(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        bytes: Vec<u8>,
    ) -> Response {
        let mut request = self
            .client
            .request(method, self.url(path))
            .header("content-type", "application/json")
            .body(bytes);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("the server answers")
    }

    /// `host:port`, for tests that speak HTTP over a socket of their own.
    pub fn address(&self) -> String {
        self.base.trim_start_matches("http://").to_owned()
    }

    pub async fn get(&self, path: &str) -> Response {
        self.send(Method::GET, path, None, None).await
    }

    pub async fn admin_post(&self, path: &str, body: Value) -> Response {
        self.send(Method::POST, path, Some(ADMIN), Some(&body)).await
    }

    /// Answers 200 on /health: the server is still up.
    pub async fn assert_alive(&self) {
        let response = self.get("/health").await;
        assert_eq!(response.status(), StatusCode::OK, "the server still answers");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // The stop command is sent at once; there is no need to await it.
        drop(self.handle.stop(false));
    }
}

/// The JSON of a response with the expected status.
pub async fn json_of(response: Response, status: StatusCode) -> Value {
    let got = response.status();
    let url = response.url().clone();
    let text = response.text().await.expect("a body");
    assert_eq!(got, status, "{url}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url}: not JSON ({e}): {text}"))
}

/// Asserts an RFC 9457 problem with this status and code; returns it.
pub async fn problem(response: Response, status: StatusCode, code: &str) -> Value {
    let body = any_problem(response).await;
    assert_eq!(body["status"], status.as_u16(), "{body}");
    assert_eq!(body["code"], code, "{body}");
    body
}

/// Asserts a problem of this status naming `field`.
pub async fn invalid(response: Response, field: &str) -> Value {
    let body = any_problem(response).await;
    assert_eq!(body["status"], 422, "{body}");
    assert_eq!(body["field"], field, "{body}");
    body
}

/// Asserts the shape every error shares, whatever its status.
pub async fn any_problem(response: Response) -> Value {
    let status = response.status();
    let url = response.url().clone();
    let kind = response.headers().get("content-type").map(|v| v.to_str().unwrap_or("").to_owned());
    let text = response.text().await.expect("a body");
    assert_eq!(kind.as_deref(), Some("application/problem+json"), "{status} {url}: {text}");
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url}: {e}: {text}"));
    assert_eq!(body["status"], status.as_u16(), "{url}: {body}");
    for member in ["type", "title", "detail", "code"] {
        assert!(body[member].is_string(), "{url}: problem without {member}: {body}");
    }
    body
}

/// An instant `hours` from now, RFC 3339 in UTC.
pub fn hours_from_now(hours: i64) -> String {
    let now = jiff::Timestamp::now();
    (now + jiff::SignedDuration::from_hours(hours)).to_string()
}

/// What the catalogue of one test holds.
pub struct Show {
    pub city: u64,
    pub venue: u64,
    pub performance: u64,
}

impl Show {
    pub fn venues(&self) -> String {
        format!("/cities/{}/venues", self.city)
    }

    pub fn performances(&self) -> String {
        format!("/cities/{}/venues/{}/performances", self.city, self.venue)
    }

    pub fn performance_path(&self) -> String {
        format!("{}/{}", self.performances(), self.performance)
    }

    pub fn tickets(&self) -> String {
        format!("{}/tickets", self.performance_path())
    }

    pub fn ticket(&self, index: u32) -> String {
        format!("{}-{index}", self.performance)
    }
}

pub fn layout() -> Value {
    json!({ "sections": [
        { "name": SEATED, "kind": "seated", "rows": 3, "seats_per_row": 6, "price_minor": 5000 },
        { "name": STANDING, "kind": "standing", "capacity": 10, "price_minor": 2000 },
    ]})
}

pub async fn create_city(server: &Server, name: &str) -> u64 {
    let city = json!({
        "name": name, "country": "CH", "time_zone": "Europe/Zurich", "currency": "CHF",
    });
    id_of(json_of(server.admin_post("/cities", city).await, StatusCode::CREATED).await)
}

pub async fn create_venue(server: &Server, city: u64, name: &str) -> u64 {
    let venue = json!({ "name": name, "layout": layout() });
    let path = format!("/cities/{city}/venues");
    id_of(json_of(server.admin_post(&path, venue).await, StatusCode::CREATED).await)
}

/// A performance of the test venue; `extra` adds or overrides members.
pub async fn create_performance(server: &Server, city: u64, venue: u64, extra: Value) -> u64 {
    let mut body = json!({
        "title": "Quartet", "start_local": "2030-10-27T20:00:00", "on_sale": hours_from_now(-1),
    });
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let path = format!("/cities/{city}/venues/{venue}/performances");
    id_of(json_of(server.admin_post(&path, body).await, StatusCode::CREATED).await)
}

/// A city, a venue and a performance on sale now.
pub async fn show(server: &Server) -> Show {
    show_with(server, json!({})).await
}

pub async fn show_with(server: &Server, extra: Value) -> Show {
    let city = create_city(server, "Zürich").await;
    let venue = create_venue(server, city, "Tonhalle").await;
    let performance = create_performance(server, city, venue, extra).await;
    Show { city, venue, performance }
}

fn id_of(body: Value) -> u64 {
    body["id"].as_u64().unwrap_or_else(|| panic!("no id in {body}"))
}

/// A registered user and their token.
#[derive(Clone, Debug)]
pub struct User {
    pub id: u64,
    pub token: String,
}

impl User {
    pub fn tickets(&self) -> String {
        format!("/users/{}/tickets", self.id)
    }
}

static NEXT_EMAIL: AtomicU32 = AtomicU32::new(1);

pub async fn user(server: &Server) -> User {
    let n = NEXT_EMAIL.fetch_add(1, Ordering::Relaxed);
    let body = json!({ "name": format!("Buyer {n}"), "email": format!("buyer{n}@example.org"),
        "phone": "+41 44 668 18 00" });
    let created =
        json_of(server.send(Method::POST, "/users", None, Some(&body)).await, StatusCode::CREATED)
            .await;
    User {
        id: created["id"].as_u64().unwrap(),
        token: created["token"].as_str().unwrap().to_owned(),
    }
}

impl Server {
    /// Reserves as `user`; the raw response.
    pub async fn reserve(&self, user: &User, body: Value) -> Response {
        self.send(Method::POST, &user.tickets(), Some(&user.token), Some(&body)).await
    }

    pub async fn purchase(&self, user: &User, tickets: &[String], payment: &str) -> Response {
        let body = json!({ "ticket_ids": tickets, "payment_token": payment });
        self.send(Method::PUT, &user.tickets(), Some(&user.token), Some(&body)).await
    }

    pub async fn release(&self, user: &User, ticket: &str) -> Response {
        let path = format!("{}/{ticket}", user.tickets());
        self.send(Method::DELETE, &path, Some(&user.token), None).await
    }

    /// The caller's own tickets.
    pub async fn own(&self, user: &User) -> Vec<Value> {
        let response = self.send(Method::GET, &user.tickets(), Some(&user.token), None).await;
        array(json_of(response, StatusCode::OK).await)
    }

    /// Every ticket of a performance, from a single large page.
    pub async fn all_tickets(&self, show: &Show) -> Vec<Value> {
        let path = format!("{}?limit=1000", show.tickets());
        array(json_of(self.get(&path).await, StatusCode::OK).await)
    }

    /// The performance's `available` count.
    pub async fn available(&self, show: &Show) -> u64 {
        let body = json_of(self.get(&show.performance_path()).await, StatusCode::OK).await;
        body["available"].as_u64().unwrap()
    }

    /// A snapshot of what a refused request must not change.
    pub async fn state(&self, show: &Show) -> (Vec<Value>, u64) {
        (self.all_tickets(show).await, self.available(show).await)
    }
}

pub fn array(value: Value) -> Vec<Value> {
    value.as_array().unwrap_or_else(|| panic!("not an array: {value}")).clone()
}

/// The ids of tickets in a reservation, order or list.
pub fn ids(tickets: &[Value]) -> Vec<String> {
    tickets.iter().map(|t| t["id"].as_str().unwrap().to_owned()).collect()
}

pub async fn reserved_ids(response: Response) -> Vec<String> {
    let body = json_of(response, StatusCode::CREATED).await;
    ids(&array(body["tickets"].clone()))
}

/// Writes `request` and reads one whole answer (its head and a body of
/// `content-length`), or what came before the connection closed.
pub async fn exchange(connection: &mut tokio::net::TcpStream, request: &str) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    connection.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let mut buffer = [0; 4096];
    loop {
        let text = String::from_utf8_lossy(&answer).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|line| {
                    line.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|value| value.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if answer.len() >= end + 4 + length {
                return text;
            }
        }
        let read =
            tokio::time::timeout(std::time::Duration::from_secs(5), connection.read(&mut buffer));
        match read.await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return text,
            Ok(Ok(read)) => answer.extend_from_slice(&buffer[..read]),
        }
    }
}
