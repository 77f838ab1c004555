//! A fake Stripe that keeps state, for checkout tests against a provider
//! that misbehaves: just the Checkout Sessions calls the client makes
//! (create, retrieve, expire, list open sessions) and refunds, with Stripe's
//! shapes, errors and idempotency, plus controls a test turns to pay a
//! session behind the server's back, answer late, fail, or go away.
//!
//! Idempotency is Stripe's: a POST with a key seen before is answered with
//! the first answer, unless its parameters differ (400) or the first is
//! still running (409).
//!
//! Plain threads and blocking sockets, one connection a request
//! (`Connection: close`), so it needs no runtime of the test's, and a late
//! answer is never cut short by the client hanging up.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The secret key the fake takes; any other is refused with 401.
pub const SECRET_KEY: &str = "sk_test_fake_stripe";

/// A call as the fake received it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub idempotency_key: Option<String>,
    /// The form body, decoded, in the order sent.
    pub form: Vec<(String, String)>,
    /// The status the fake answered with (or will, for a late answer).
    pub status: u16,
}

impl Seen {
    pub fn field(&self, key: &str) -> Option<&str> {
        self.form.iter().find(|(k, _)| k == key).map(|(_, value)| value.as_str())
    }

    pub fn is(&self, method: &str, path: &str) -> bool {
        self.method == method && self.path == path
    }
}

/// A request off the wire.
struct Request {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    authorization: Option<String>,
    idempotency_key: Option<String>,
    form: Vec<(String, String)>,
}

#[derive(Clone)]
struct Answer {
    status: u16,
    body: Value,
}

impl Answer {
    fn ok(body: Value) -> Answer {
        Answer { status: 200, body }
    }

    fn error(status: u16, kind: &str, code: Option<&str>, message: &str) -> Answer {
        let body = json!({ "error": { "type": kind, "code": code, "message": message } });
        Answer { status, body }
    }

    fn no_such(object: &str, id: &str) -> Answer {
        let message = format!("No such {object}: '{id}'");
        Answer::error(404, "invalid_request_error", Some("resource_missing"), &message)
    }
}

/// The first answer given under an idempotency key, and what it answered.
struct Reply {
    /// The request's parameters, sorted, to compare a replay with.
    asked: Vec<(String, String)>,
    answer: Answer,
}

/// Everything the fake knows; one lock, held only between socket reads
/// and writes.
#[derive(Default)]
struct Ledger {
    /// Oldest first; Stripe lists newest first.
    sessions: Vec<Value>,
    refunds: Vec<Value>,
    replies: HashMap<String, Reply>,
    /// Keys whose first request has not been answered yet.
    in_flight: HashSet<String>,
    seen: Vec<Seen>,
    next_id: u32,
    /// Session creations still to be answered late, and how late.
    late_creates: Vec<Duration>,
    /// Every call answers 500, as Stripe does when it has an incident.
    failing: bool,
    /// Calls to expire a session answer 500.
    failing_expiries: bool,
    /// A replay is answered without comparing its parameters with the
    /// first request's: a laxer provider than Stripe.
    lax_idempotency: bool,
}

pub struct FakeStripe {
    /// Where Boxoffice should be pointed.
    pub base_url: String,
    address: SocketAddr,
    ledger: Arc<Mutex<Ledger>>,
    closed: Arc<AtomicBool>,
}

impl FakeStripe {
    pub fn start() -> FakeStripe {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let address = listener.local_addr().expect("the fake's address");
        let base_url = format!("http://{address}");
        let ledger = Arc::new(Mutex::new(Ledger::default()));
        let closed = Arc::new(AtomicBool::new(false));

        let (shared, stop) = (Arc::clone(&ledger), Arc::clone(&closed));
        let pages = base_url.clone();
        thread::spawn(move || accept(listener, &shared, &stop, &pages));
        FakeStripe { base_url, address, ledger, closed }
    }

    fn ledger(&self) -> MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    // Controls.

    /// The buyer pays on the session's page: complete and paid.
    pub fn pay(&self, session: &str) -> Value {
        self.change_session(session, |session, intent| {
            session["status"] = json!("complete");
            session["payment_status"] = json!("paid");
            session["payment_intent"] = json!(intent);
        })
    }

    /// The buyer finishes the page with a delayed method (a bank debit):
    /// complete, its money not in yet.
    pub fn complete_awaiting_payment(&self, session: &str) -> Value {
        self.change_session(session, |session, intent| {
            session["status"] = json!("complete");
            session["payment_status"] = json!("unpaid");
            session["payment_intent"] = json!(intent);
        })
    }

    /// A delayed payment arrives.
    pub fn settle_delayed_payment(&self, session: &str) -> Value {
        self.change_session(session, |session, _| session["payment_status"] = json!("paid"))
    }

    /// The next session creation is made at once but answered only after
    /// `delay`.
    pub fn answer_next_create_after(&self, delay: Duration) {
        self.ledger().late_creates.push(delay);
    }

    pub fn fail_every_call(&self, failing: bool) {
        self.ledger().failing = failing;
    }

    /// Calls to expire a session answer 500 while `failing`, so the
    /// server cannot learn through them that a session was paid.
    pub fn fail_expiries(&self, failing: bool) {
        self.ledger().failing_expiries = failing;
    }

    /// Whether a replayed key's parameters are compared with the first
    /// request's, as Stripe does (the default), or ignored.
    pub fn compare_replayed_parameters(&self, compare: bool) {
        self.ledger().lax_idempotency = !compare;
    }

    /// Closes the port: every call from now on is refused.
    pub fn shut_down(&self) {
        self.closed.store(true, Ordering::SeqCst);
        // Wakes the accept loop so that it sees the flag and drops the port.
        let _ = TcpStream::connect(self.address);
        let deadline = Instant::now() + Duration::from_secs(2);
        while TcpStream::connect(self.address).is_ok() {
            assert!(Instant::now() < deadline, "the fake's port stayed open");
            thread::sleep(Duration::from_millis(5));
        }
    }

    // What it knows.

    pub fn sessions(&self) -> Vec<Value> {
        self.ledger().sessions.clone()
    }

    pub fn refunds(&self) -> Vec<Value> {
        self.ledger().refunds.clone()
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.ledger().seen.clone()
    }

    /// The session creations received, answered or not.
    pub fn creates(&self) -> Vec<Seen> {
        let seen = self.seen();
        seen.into_iter().filter(|call| call.is("POST", "/v1/checkout/sessions")).collect()
    }

    /// Waits until every request with an idempotency key was answered.
    pub async fn await_answered(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.ledger().in_flight.is_empty() {
            assert!(Instant::now() < deadline, "the fake is still answering");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn change_session(&self, id: &str, change: impl FnOnce(&mut Value, String)) -> Value {
        let mut ledger = self.ledger();
        let intent = format!("pi_fake_{}", ledger.take_id());
        let session = ledger.sessions.iter_mut().find(|session| session["id"] == id);
        let session = session.unwrap_or_else(|| panic!("the fake has no session {id}"));
        change(session, intent);
        session.clone()
    }
}

impl Drop for FakeStripe {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.address);
    }
}

/// Serves until shut down; each connection on its own thread, so a late
/// answer does not hold up the next request.
fn accept(listener: TcpListener, ledger: &Arc<Mutex<Ledger>>, closed: &AtomicBool, pages: &str) {
    for stream in listener.incoming() {
        if closed.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let (ledger, pages) = (Arc::clone(ledger), pages.to_owned());
        thread::spawn(move || serve(stream, &ledger, &pages));
    }
}

fn serve(stream: TcpStream, ledger: &Mutex<Ledger>, pages: &str) {
    let Some(request) = read_request(&stream) else { return };
    let key = request.idempotency_key.clone();
    let (answer, delay) = {
        let mut ledger = ledger.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        ledger.answer(request, pages)
    };

    thread::sleep(delay);
    let _ = write_answer(stream, &answer);
    if let (Some(key), false) = (key, delay.is_zero()) {
        let mut ledger = ledger.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        ledger.in_flight.remove(&key);
    }
}

impl Ledger {
    fn take_id(&mut self) -> u32 {
        self.next_id += 1;
        self.next_id
    }

    /// The answer to a request, and how long to wait before sending it;
    /// the request is recorded with it.
    fn answer(&mut self, request: Request, pages: &str) -> (Answer, Duration) {
        let mut seen = Seen {
            method: request.method.clone(),
            path: request.path.clone(),
            idempotency_key: request.idempotency_key.clone(),
            form: request.form.clone(),
            status: 0,
        };
        let (answer, delay) = self.decide(request, pages);
        seen.status = answer.status;
        self.seen.push(seen);
        (answer, delay)
    }

    fn decide(&mut self, request: Request, pages: &str) -> (Answer, Duration) {
        if self.failing || (self.failing_expiries && request.path.ends_with("/expire")) {
            let message = "An unknown error occurred";
            return (Answer::error(500, "api_error", None, message), Duration::ZERO);
        }
        if request.authorization.as_deref() != Some(&format!("Bearer {SECRET_KEY}")) {
            let message = "Invalid API Key provided";
            return (Answer::error(401, "invalid_request_error", None, message), Duration::ZERO);
        }

        match request.idempotency_key.clone() {
            Some(key) if request.method == "POST" => self.answer_once(&key, request, pages),
            _ => (self.execute(&request, pages), Duration::ZERO),
        }
    }

    /// A POST under an idempotency key: executed the first time, replayed
    /// after.
    fn answer_once(&mut self, key: &str, request: Request, pages: &str) -> (Answer, Duration) {
        if self.in_flight.contains(key) {
            let message = "There is currently another in-progress request using this \
                           Idempotent Key (that probably means you submitted twice, and the \
                           other request is still going through)";
            let answer =
                Answer::error(409, "idempotency_error", Some("idempotency_key_in_use"), message);
            return (answer, Duration::ZERO);
        }
        let mut asked = request.form.clone();
        asked.sort();
        if let Some(reply) = self.replies.get(key) {
            return (self.replay(key, reply, &asked), Duration::ZERO);
        }

        let answer = self.execute(&request, pages);
        self.replies.insert(key.to_owned(), Reply { asked, answer: answer.clone() });
        let delay = match request.path == "/v1/checkout/sessions" && !self.late_creates.is_empty() {
            true => self.late_creates.remove(0),
            false => Duration::ZERO,
        };
        if !delay.is_zero() {
            self.in_flight.insert(key.to_owned());
        }
        (answer, delay)
    }

    fn replay(&self, key: &str, reply: &Reply, asked: &[(String, String)]) -> Answer {
        if self.lax_idempotency || reply.asked == asked {
            return reply.answer.clone();
        }
        let message = format!(
            "Keys for idempotent requests can only be used with the same parameters they were \
             first used with. Try using a key other than '{key}' if you meant to execute a \
             different request."
        );
        Answer::error(400, "idempotency_error", None, &message)
    }

    fn execute(&mut self, request: &Request, pages: &str) -> Answer {
        let segments: Vec<&str> = request.path.trim_start_matches('/').split('/').collect();
        match (request.method.as_str(), segments.as_slice()) {
            ("POST", ["v1", "checkout", "sessions"]) => self.create_session(&request.form, pages),
            ("GET", ["v1", "checkout", "sessions"]) => self.list_sessions(&request.query),
            ("GET", ["v1", "checkout", "sessions", id]) => self.retrieve_session(id),
            ("POST", ["v1", "checkout", "sessions", id, "expire"]) => self.expire_session(id),
            ("POST", ["v1", "refunds"]) => self.refund(&request.form),
            _ => {
                let message =
                    format!("Unrecognized request URL ({} {})", request.method, request.path);
                Answer::error(404, "invalid_request_error", None, &message)
            }
        }
    }

    fn create_session(&mut self, form: &[(String, String)], pages: &str) -> Answer {
        let field = |key: &str| form.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        let unit_amount =
            field("line_items[0][price_data][unit_amount]").and_then(|v| v.parse::<i64>().ok());
        let quantity = field("line_items[0][quantity]").and_then(|v| v.parse::<i64>().ok());
        let (Some(unit_amount), Some(quantity)) = (unit_amount, quantity) else {
            let message = "Missing required param: line_items[0][price_data][unit_amount].";
            return Answer::error(400, "invalid_request_error", Some("parameter_missing"), message);
        };

        let id = format!("cs_test_fake_{}", self.take_id());
        let session = json!({
            "id": id,
            "object": "checkout.session",
            "mode": "payment",
            "status": "open",
            "payment_status": "unpaid",
            "payment_intent": null,
            "amount_total": unit_amount * quantity,
            "currency": field("line_items[0][price_data][currency]"),
            "client_reference_id": field("client_reference_id"),
            "metadata": { "order_id": field("metadata[order_id]") },
            "customer_email": field("customer_email"),
            "success_url": field("success_url"),
            "cancel_url": field("cancel_url"),
            "expires_at": field("expires_at").and_then(|v| v.parse::<i64>().ok()),
            "url": format!("{pages}/pay/{id}"),
        });
        self.sessions.push(session.clone());
        Answer::ok(session)
    }

    fn retrieve_session(&self, id: &str) -> Answer {
        match self.sessions.iter().find(|session| session["id"] == id) {
            Some(session) => Answer::ok(session.clone()),
            None => Answer::no_such("checkout.session", id),
        }
    }

    fn expire_session(&mut self, id: &str) -> Answer {
        let Some(session) = self.sessions.iter_mut().find(|session| session["id"] == id) else {
            return Answer::no_such("checkout.session", id);
        };
        if session["status"] != "open" {
            let message = format!(
                "Only Checkout Sessions with a status in [\"open\"] can be expired. This \
                 Checkout Session has a status of `{}`.",
                session["status"].as_str().unwrap_or("?")
            );
            return Answer::error(400, "invalid_request_error", None, &message);
        }
        session["status"] = json!("expired");
        Answer::ok(session.clone())
    }

    /// Open sessions, newest first, a page at a time.
    fn list_sessions(&self, query: &[(String, String)]) -> Answer {
        let value = |key: &str| query.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
        let limit = value("limit").and_then(|limit| limit.parse().ok()).unwrap_or(10);
        let status = value("status");

        let newest_first = self.sessions.iter().rev();
        let listed = newest_first.filter(|session| status.is_none_or(|s| session["status"] == s));
        let after = value("starting_after");
        let mut page: Vec<Value> = match after {
            Some(after) => listed.skip_while(|s| s["id"] != after).skip(1).cloned().collect(),
            None => listed.cloned().collect(),
        };
        let has_more = page.len() > limit;
        page.truncate(limit);
        Answer::ok(json!({ "object": "list", "data": page, "has_more": has_more }))
    }

    fn refund(&mut self, form: &[(String, String)]) -> Answer {
        let field = |key: &str| form.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        let intent = field("payment_intent").unwrap_or_default();
        let paid =
            self.sessions.iter().find(|session| session["payment_intent"] == intent.as_str());
        let Some(session) = paid.cloned() else {
            return Answer::no_such("payment_intent", &intent);
        };

        let amount = field("amount").and_then(|amount| amount.parse::<i64>().ok());
        let refund = json!({
            "id": format!("re_fake_{}", self.take_id()),
            "object": "refund",
            "status": "succeeded",
            "payment_intent": intent,
            "amount": amount.or(session["amount_total"].as_i64()),
            "currency": session["currency"],
        });
        self.refunds.push(refund.clone());
        Answer::ok(refund)
    }
}

fn read_request(stream: &TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();

    let headers = read_headers(&mut reader)?;
    let header = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    let length: usize = header("content-length").map_or(Some(0), |value| value.parse().ok())?;
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;

    let (path, query) = target.split_once('?').unwrap_or((target.as_str(), ""));
    Some(Request {
        method,
        path: path.to_owned(),
        query: serde_urlencoded::from_str(query).ok()?,
        authorization: header("authorization"),
        idempotency_key: header("idempotency-key"),
        form: serde_urlencoded::from_bytes(&body).ok()?,
    })
}

fn read_headers(reader: &mut impl BufRead) -> Option<Vec<(String, String)>> {
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            return Some(headers);
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
}

fn write_answer(mut stream: TcpStream, answer: &Answer) -> std::io::Result<()> {
    let body = answer.body.to_string();
    let head = format!(
        "HTTP/1.1 {} Fake\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        answer.status,
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    stream.flush()
}
