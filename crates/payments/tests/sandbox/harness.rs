//! A sandbox served on a loopback port, with a webhook receiver on another
//! that checks every signature with `payments::signature::verify`, and
//! waits bounded in time.

#![allow(dead_code)] // Each test binary uses its own part of the harness.

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use engine::time::{Clock, ManualClock, SystemClock};
use parking_lot::Mutex;
use payments::sandbox::{Sandbox, SandboxConfig};
use payments::signature::{self, SignatureError, DEFAULT_TOLERANCE_SECS};
use serde_json::{json, Value};

pub const SECRET_KEY: &str = "sk_test_sandbox_harness";
pub const WEBHOOK_SECRET: &str = "whsec_sandbox_harness";

/// How long any wait here may take before the test fails.
pub const WAIT_MAX: Duration = Duration::from_secs(15);

/// One webhook as the receiver got it.
#[derive(Clone, Debug)]
pub struct Received {
    pub payload: String,
    pub signature: String,
    /// What `signature::verify` made of it.
    pub verified: Result<i64, SignatureError>,
}

impl Received {
    pub fn event(&self) -> Value {
        serde_json::from_str(&self.payload).expect("a webhook's payload is JSON")
    }

    pub fn event_type(&self) -> String {
        self.event()["type"].as_str().unwrap_or_default().to_owned()
    }

    pub fn session_id(&self) -> String {
        self.event()["data"]["object"]["id"].as_str().unwrap_or_default().to_owned()
    }
}

/// The webhook receiver's state: what came, and whether to refuse it.
pub struct Receiver {
    clock: Arc<dyn Clock>,
    /// Accepted webhooks, in arrival order.
    accepted: Mutex<Vec<Received>>,
    /// Every attempt, refused ones too.
    attempts: AtomicUsize,
    /// Refuse (500) this many attempts before accepting again.
    refuse_next: AtomicUsize,
    refuse_all: AtomicBool,
}

impl Receiver {
    fn new(clock: Arc<dyn Clock>) -> Receiver {
        Receiver {
            clock,
            accepted: Mutex::new(Vec::new()),
            attempts: AtomicUsize::new(0),
            refuse_next: AtomicUsize::new(0),
            refuse_all: AtomicBool::new(false),
        }
    }

    pub fn accepted(&self) -> Vec<Received> {
        self.accepted.lock().clone()
    }

    pub fn attempts(&self) -> usize {
        self.attempts.load(Ordering::SeqCst)
    }

    pub fn refuse_next(&self, count: usize) {
        self.refuse_next.store(count, Ordering::SeqCst);
    }

    pub fn refuse_all(&self, refuse: bool) {
        self.refuse_all.store(refuse, Ordering::SeqCst);
    }

    /// The accepted webhooks about one session, in arrival order.
    pub fn of_session(&self, session_id: &str) -> Vec<Received> {
        self.accepted().into_iter().filter(|received| received.session_id() == session_id).collect()
    }

    /// The event types accepted for one session, once there are `count`.
    pub async fn await_types(&self, session_id: &str, count: usize) -> Vec<String> {
        let received = wait_for(|| {
            let of_session = self.of_session(session_id);
            (of_session.len() >= count).then_some(of_session)
        })
        .await;
        received.iter().map(Received::event_type).collect()
    }

    fn take(&self, request: &HttpRequest, body: &[u8]) -> HttpResponse {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        let refuse_one = self
            .refuse_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| left.checked_sub(1))
            .is_ok();
        if refuse_one || self.refuse_all.load(Ordering::SeqCst) {
            return HttpResponse::InternalServerError().finish();
        }

        let header = request
            .headers()
            .get(signature::HEADER)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let now = self.clock.now().as_millis().div_euclid(1000);
        let verified =
            signature::verify(body, &header, WEBHOOK_SECRET, now, DEFAULT_TOLERANCE_SECS);
        let received = Received {
            payload: String::from_utf8_lossy(body).into_owned(),
            signature: header,
            verified: verified.clone(),
        };
        self.accepted.lock().push(received);
        match verified {
            Ok(_) => HttpResponse::Ok().finish(),
            Err(_) => HttpResponse::BadRequest().finish(),
        }
    }
}

async fn receive(
    receiver: web::Data<Receiver>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    receiver.take(&request, &body)
}

/// Every accepted webhook as `[{"payload", "signature"}]`, for a client in
/// another process.
async fn recorded(receiver: web::Data<Receiver>) -> HttpResponse {
    let records: Vec<Value> = receiver
        .accepted()
        .into_iter()
        .map(|received| json!({ "payload": received.payload, "signature": received.signature }))
        .collect();
    HttpResponse::Ok().json(records)
}

/// How a world is set up.
pub struct Setup {
    pub clock: Arc<dyn Clock>,
    pub async_payment_delay: Duration,
    pub webhook_attempts_max: u32,
}

impl Setup {
    pub fn system_clock() -> Setup {
        Setup {
            clock: Arc::new(SystemClock),
            async_payment_delay: Duration::from_millis(300),
            webhook_attempts_max: 6,
        }
    }

    /// A clock that moves only when the test says, starting at real now so
    /// that the receiver's tolerance holds.
    pub fn manual_clock() -> (Setup, ManualClock) {
        let clock = ManualClock::starting_at(SystemClock.now());
        let setup = Setup { clock: Arc::new(clock.clone()), ..Setup::system_clock() };
        (setup, clock)
    }
}

/// A sandbox served over HTTP, its receiver, and a client.
pub struct World {
    pub sandbox: Sandbox,
    pub receiver: web::Data<Receiver>,
    /// `http://127.0.0.1:{port}`: the server's root.
    pub server_url: String,
    /// `http://127.0.0.1:{port}/sandbox`: the Stripe API base.
    pub api_base: String,
    /// `http://127.0.0.1:{port}/recorded`: the receiver's record.
    pub recorded_url: String,
    pub http: reqwest::Client,
    pub db: sled::Db,
    servers: Vec<ServerHandle>,
    _dir: tempfile::TempDir,
}

impl World {
    pub async fn start(setup: Setup) -> World {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let db = sled::open(dir.path()).expect("a sled database");

        let receiver = web::Data::new(Receiver::new(setup.clock.clone()));
        let (receiver_url, receiver_server) = serve_receiver(receiver.clone());
        let sandbox_listener = loopback_listener();
        let server_url = format!("http://{}", sandbox_listener.local_addr().expect("an address"));
        let api_base = format!("{server_url}/sandbox");

        let sandbox = open_sandbox(&db, &setup, &format!("{receiver_url}/webhooks"), &api_base);
        let sandbox_server = serve_sandbox(sandbox.clone(), sandbox_listener);

        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .expect("an HTTP client");
        World {
            sandbox,
            receiver,
            recorded_url: format!("{receiver_url}/recorded"),
            server_url,
            api_base,
            http,
            db,
            servers: vec![receiver_server, sandbox_server],
            _dir: dir,
        }
    }

    /// A request to the API, with the key.
    pub fn api(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}{path}", self.api_base)).bearer_auth(SECRET_KEY)
    }

    /// POSTs a form to the API; answers the status and the JSON body.
    pub async fn post(&self, path: &str, form: &[(&str, &str)], key: Option<&str>) -> (u16, Value) {
        let mut request = self.api(reqwest::Method::POST, path).form(form);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        json_of(request.send().await.expect("the sandbox answers")).await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        json_of(self.api(reqwest::Method::GET, path).send().await.expect("the sandbox answers"))
            .await
    }

    /// Creates a session (with `extra` fields), and answers its JSON.
    pub async fn create_session(&self, extra: &[(&str, &str)]) -> Value {
        let expires_at = (self.now_secs() + 3600).to_string();
        let mut form = session_form();
        if !extra.iter().any(|(key, _)| *key == "expires_at") {
            form.push(("expires_at", &expires_at));
        }
        form.extend_from_slice(extra);
        let (status, session) = self.post("/v1/checkout/sessions", &form, None).await;
        assert_eq!(status, 200, "{session}");
        session
    }

    pub fn now_secs(&self) -> i64 {
        // The sandbox and the receiver share the world's clock.
        self.receiver.clock.now().as_millis().div_euclid(1000)
    }

    /// POSTs the payment page's form, as a browser would.
    pub async fn pay_on_page(&self, session: &Value, method: &str) -> reqwest::Response {
        let url = session["url"].as_str().expect("an open session has a url");
        self.http.post(url).form(&[("method", method)]).send().await.expect("the page answers")
    }

    pub async fn stop(self) {
        for server in &self.servers {
            server.stop(false).await;
        }
        self.sandbox.shutdown();
    }
}

/// A session's form fields, with everything Boxoffice sends but the expiry.
pub fn session_form() -> Vec<(&'static str, &'static str)> {
    vec![
        ("mode", "payment"),
        ("line_items[0][price_data][currency]", "eur"),
        ("line_items[0][price_data][unit_amount]", "2495"),
        ("line_items[0][price_data][product_data][name]", "Tosca, Stalls, row C"),
        ("line_items[0][quantity]", "2"),
        ("success_url", "http://shop.test/paid?session={CHECKOUT_SESSION_ID}"),
        ("cancel_url", "http://shop.test/cancelled"),
        ("client_reference_id", "17-3"),
        ("metadata[order_id]", "17-3"),
        ("customer_email", "zoe@example.org"),
    ]
}

pub fn open_sandbox(db: &sled::Db, setup: &Setup, webhook_url: &str, api_base: &str) -> Sandbox {
    let tree = db.open_tree("sandbox").expect("a tree");
    let mut config = SandboxConfig::new(SECRET_KEY, WEBHOOK_SECRET, webhook_url, api_base);
    config.clock = setup.clock.clone();
    config.async_payment_delay = setup.async_payment_delay;
    config.webhook_attempts_max = setup.webhook_attempts_max;
    config.webhook_backoff_first = Duration::from_millis(50);
    config.webhook_backoff_max = Duration::from_millis(200);
    config.webhook_timeout = Duration::from_secs(2);
    Sandbox::open(tree, config).expect("the sandbox opens")
}

pub fn serve_receiver(receiver: web::Data<Receiver>) -> (String, ServerHandle) {
    let listener = loopback_listener();
    let url = format!("http://{}", listener.local_addr().expect("an address"));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(receiver.clone())
            .route("/webhooks", web::post().to(receive))
            .route("/recorded", web::get().to(recorded))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .expect("the receiver listens")
    .run();
    let handle = server.handle();
    actix_rt::spawn(server);
    (url, handle)
}

fn serve_sandbox(sandbox: Sandbox, listener: TcpListener) -> ServerHandle {
    let server = HttpServer::new(move || {
        let sandbox = sandbox.clone();
        App::new().configure(move |cfg| sandbox.configure(cfg))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .expect("the sandbox listens")
    .run();
    let handle = server.handle();
    actix_rt::spawn(server);
    handle
}

fn loopback_listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").expect("a loopback port")
}

pub async fn json_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// Polls `probe` until it gives a value, failing the test after [`WAIT_MAX`].
pub async fn wait_for<T>(mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT_MAX;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(Instant::now() < deadline, "waited {WAIT_MAX:?} in vain");
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
}
