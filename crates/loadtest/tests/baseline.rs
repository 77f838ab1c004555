//! Tests of the load-test baseline: the MariaDB design Boxoffice replaces
//! (crates/loadtest/src/baseline), not the product.
//!
//! They need MariaDB with the database and user that
//! `crates/loadtest/baseline-db-setup.sh` creates (CI runs it before the
//! tests); `BOXOFFICE_BASELINE_DATABASE_URL` overrides the default URL.
//! Without a reachable database they are skipped, except under CI (`CI`
//! set), where they fail. Each test starts its own baseline on 127.0.0.1:0
//! and works on a city, venue and performance of its own, so tests share
//! the database safely, in parallel and across runs.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use loadtest::baseline::{self, BaselineArgs};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::task::JoinSet;

const ADMIN: &str = "baseline-test-admin";
const DEFAULT_URL: &str = "mysql://boxoffice:boxoffice@127.0.0.1:3306/boxoffice_baseline";

/// The test layout: a seated section of 3 rows of 6, and 10 standing.
const SEATED: &str = "Stalls";
const STANDING: &str = "Floor";
const CAPACITY: u64 = 3 * 6 + 10;

fn database_url() -> String {
    std::env::var("BOXOFFICE_BASELINE_DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.into())
}

/// Whether the database answers; if not, the test is skipped (or fails
/// under CI).
async fn database_is_up() -> bool {
    let url = database_url();
    let connected = match mysql_async::Opts::from_url(&url) {
        Ok(opts) => mysql_async::Conn::new(opts).await.map(|conn| drop(conn.disconnect())),
        Err(error) => panic!("BOXOFFICE_BASELINE_DATABASE_URL is not a URL: {error}"),
    };
    match connected {
        Ok(()) => true,
        Err(error) if std::env::var_os("CI").is_some() => {
            panic!(
                "no baseline database at {url} ({error}); run crates/loadtest/baseline-db-setup.sh"
            )
        }
        Err(error) => {
            eprintln!("skipped: no baseline database at {url} ({error})");
            false
        }
    }
}

/// A running baseline and a client for it; dropping it stops the server.
struct Baseline {
    base: String,
    client: reqwest::Client,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for Baseline {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

/// A user as the tests know them.
#[derive(Clone)]
struct User {
    id: u64,
    token: String,
}

impl User {
    fn tickets(&self) -> String {
        format!("/users/{}/tickets", self.id)
    }
}

/// One performance of the test layout, on sale.
#[derive(Clone, Copy)]
struct Show {
    city: u64,
    venue: u64,
    id: u64,
}

impl Show {
    fn path(&self) -> String {
        format!("/cities/{}/venues/{}/performances/{}", self.city, self.venue, self.id)
    }

    fn ticket(&self, index: u32) -> String {
        format!("{}-{index}", self.id)
    }
}

impl Baseline {
    async fn start(hold_ttl: Duration) -> Option<Baseline> {
        if !database_is_up().await {
            return None;
        }
        let mut args = BaselineArgs::new(database_url());
        args.addr = "127.0.0.1:0".parse().unwrap();
        args.admin_token = Some(ADMIN.into());
        args.hold_ttl = hold_ttl;
        args.http_workers = Some(2);
        args.pool_size = 16;
        let (addr, server) = baseline::start(args).await.expect("the baseline starts");
        let handle = server.handle();
        tokio::spawn(server);
        let client =
            reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("a client");
        Some(Baseline { base: format!("http://{addr}"), client, handle })
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the baseline answers");
        let status = response.status();
        let text = response.text().await.expect("a body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> Value {
        let (status, body) = self.send(Method::GET, path, None, None).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        body
    }

    async fn admin_post(&self, path: &str, body: Value) -> Value {
        let (status, answer) = self.send(Method::POST, path, Some(ADMIN), Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "POST {path}: {answer}");
        answer
    }

    /// A new city, venue and performance of the test layout, on sale now.
    async fn show(&self) -> Show {
        let city = json!({
            "name": "Testville", "country": "CH", "time_zone": "Europe/Zurich", "currency": "CHF",
        });
        let city = self.admin_post("/cities", city).await["id"].as_u64().unwrap();
        let seated = json!({
            "name": SEATED, "kind": "seated", "rows": 3, "seats_per_row": 6, "price_minor": 5000,
        });
        let standing =
            json!({ "name": STANDING, "kind": "standing", "capacity": 10, "price_minor": 2000 });
        let layout = json!({ "sections": [seated, standing] });
        let venue = json!({ "name": "Hall", "layout": layout });
        let venue =
            self.admin_post(&format!("/cities/{city}/venues"), venue).await["id"].as_u64().unwrap();
        let performance = json!({
            "title": "Rush",
            "start_local": "2099-06-01T20:00:00",
            "on_sale": "2020-01-01T00:00:00Z",
        });
        let path = format!("/cities/{city}/venues/{venue}/performances");
        let created = self.admin_post(&path, performance).await;
        assert_eq!(created["available"], CAPACITY, "{created}");
        Show { city, venue, id: created["id"].as_u64().unwrap() }
    }

    async fn user(&self, n: usize) -> User {
        let email = format!("buyer-{n}-{}@example.org", unique());
        let body =
            json!({ "name": format!("Buyer {n}"), "email": email, "phone": "+41 44 668 18 00" });
        let (status, answer) = self.send(Method::POST, "/users", None, Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        User { id: answer["id"].as_u64().unwrap(), token: answer["token"].as_str().unwrap().into() }
    }

    async fn reserve(&self, user: &User, body: Value) -> (StatusCode, Value) {
        self.send(Method::POST, &user.tickets(), Some(&user.token), Some(body)).await
    }

    async fn purchase(&self, user: &User, tickets: &[String]) -> (StatusCode, Value) {
        let body = json!({ "ticket_ids": tickets, "payment_token": "tok" });
        self.send(Method::PUT, &user.tickets(), Some(&user.token), Some(body)).await
    }

    async fn own(&self, user: &User) -> Vec<Value> {
        let (status, body) = self.send(Method::GET, &user.tickets(), Some(&user.token), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body.as_array().unwrap().clone()
    }

    /// Available tickets per section, and in all.
    async fn available(&self, show: Show) -> (BTreeMap<String, u64>, u64) {
        let view = self.get(&show.path()).await;
        let sections = view["sections"].as_array().unwrap();
        let by_section = sections
            .iter()
            .map(|s| (s["name"].as_str().unwrap().to_owned(), s["available"].as_u64().unwrap()))
            .collect();
        (by_section, view["available"].as_u64().unwrap())
    }

    /// Every ticket listed with `?status=`, page by page along `Link`.
    async fn listed(&self, show: Show, status: &str, limit: u32) -> Vec<Value> {
        let mut next = Some(format!("{}/tickets?status={status}&limit={limit}", show.path()));
        let mut all = Vec::new();
        while let Some(path) = next.take() {
            let response = self.client.get(format!("{}{path}", self.base)).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            next = response
                .headers()
                .get("link")
                .map(|link| link.to_str().unwrap().to_owned())
                .map(|link| link.trim_start_matches('<').split('>').next().unwrap().to_owned());
            all.extend(response.json::<Vec<Value>>().await.unwrap());
        }
        all
    }
}

/// A number unlike any earlier run's, for unique emails.
fn unique() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
}

fn ids(tickets: &Value) -> Vec<String> {
    let tickets = tickets["tickets"].as_array().expect("a list of tickets");
    tickets.iter().map(|ticket| ticket["id"].as_str().unwrap().to_owned()).collect()
}

const USERS: usize = 16;
const TASKS_PER_USER: usize = 3;

/// What one racing task was told: each ticket's last status it heard of.
type Told = HashMap<String, &'static str>;

/// One task: contested reserves by id and by quantity, buying every other.
async fn race(baseline: &Baseline, show: Show, user: User, task: usize) -> Told {
    let p = show.id;
    let attempts = [
        json!({ "performance_id": p, "ticket_ids": [show.ticket(2), show.ticket(3)] }),
        json!({ "performance_id": p, "section": SEATED, "quantity": 2 }),
        json!({ "performance_id": p, "ticket_ids": [show.ticket(8 + task as u32)] }),
        json!({ "performance_id": p, "section": STANDING, "quantity": 1 }),
    ];
    let mut told = Told::new();
    for (n, body) in attempts.into_iter().enumerate() {
        let (status, answer) = baseline.reserve(&user, body).await;
        if status == StatusCode::CONFLICT {
            let code = answer["code"].as_str().unwrap_or_default();
            assert!(["not-available", "user-limit"].contains(&code), "{answer}");
            continue;
        }
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        let held = ids(&answer);
        for ticket in &held {
            told.insert(ticket.clone(), "reserved");
        }
        if n % 2 == 0 {
            let (status, order) = baseline.purchase(&user, &held).await;
            assert_eq!(status, StatusCode::OK, "a fresh hold is bought: {order}");
            assert_eq!(ids(&order["order"]), held);
            for ticket in held {
                told.insert(ticket, "purchased");
            }
        }
    }
    told
}

/// Sixteen users, three tasks each, race for the same seats by id and by
/// quantity: no ticket ends with two owners, everything a client was told
/// is what the database holds, and the available counts are exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_users_never_share_a_ticket_and_counts_are_exact() {
    let Some(baseline) = Baseline::start(Duration::from_secs(600)).await else { return };
    let baseline = std::sync::Arc::new(baseline);
    let show = baseline.show().await;
    let mut users = Vec::new();
    for n in 0..USERS {
        users.push(baseline.user(n).await);
    }

    let mut tasks = JoinSet::new();
    for user in &users {
        for task in 0..TASKS_PER_USER {
            let (baseline, user) = (baseline.clone(), user.clone());
            tasks.spawn(async move { (user.id, race(&baseline, show, user, task).await) });
        }
    }
    let mut told: HashMap<u64, Told> = HashMap::new();
    while let Some(joined) = tasks.join_next().await {
        let (user, heard) = joined.expect("a racing task");
        told.entry(user).or_default().extend(heard);
    }

    let mut owner: HashMap<String, u64> = HashMap::new();
    let mut per_section: HashMap<String, u64> = HashMap::new();
    for user in &users {
        let own = baseline.own(user).await;
        let heard = told.remove(&user.id).unwrap_or_default();
        assert_eq!(own.len(), heard.len(), "user {} holds just what they were told", user.id);
        for ticket in own {
            let id = ticket["id"].as_str().unwrap().to_owned();
            let status = ticket["status"].as_str().unwrap();
            assert_eq!(heard.get(&id).copied(), Some(status), "user {}'s {id}", user.id);
            let twice = owner.insert(id.clone(), user.id);
            assert!(twice.is_none(), "{id} is held by users {twice:?} and {}", user.id);
            *per_section.entry(ticket["section"].as_str().unwrap().into()).or_default() += 1;
        }
    }
    assert!(owner.contains_key(&show.ticket(2)), "someone got the contested seats");
    assert!(owner.len() as u64 <= CAPACITY);

    let (by_section, available) = baseline.available(show).await;
    assert_eq!(available, CAPACITY - owner.len() as u64);
    for (section, capacity) in [(SEATED, 18), (STANDING, 10)] {
        let taken = per_section.get(section).copied().unwrap_or(0);
        assert_eq!(by_section[section], capacity - taken, "{section}");
    }
    let listed = baseline.listed(show, "available", 5).await;
    assert_eq!(listed.len() as u64, available, "the paged list agrees with the count");
    assert!(listed.iter().all(|ticket| !owner.contains_key(ticket["id"].as_str().unwrap())));
}

/// A hold of one second: buying it after the second is refused with 410,
/// and the poller frees its tickets for others within a bounded wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_hold_is_refused_and_freed_by_the_poller() {
    let Some(baseline) = Baseline::start(Duration::from_secs(1)).await else { return };
    let show = baseline.show().await;
    let (late, other) = (baseline.user(1).await, baseline.user(2).await);

    let body = json!({ "performance_id": show.id, "section": STANDING, "quantity": 2 });
    let (status, held) = baseline.reserve(&late, body).await;
    assert_eq!(status, StatusCode::CREATED, "{held}");
    let held = ids(&held);
    assert_eq!(baseline.available(show).await.1, CAPACITY - 2);

    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (status, refused) = baseline.purchase(&late, &held).await;
    assert_eq!(status, StatusCode::GONE, "{refused}");
    assert_eq!(refused["code"], "hold-expired");
    assert!(baseline.own(&late).await.is_empty(), "an expired hold is not listed");

    let waited = Instant::now();
    while baseline.available(show).await.1 != CAPACITY {
        assert!(waited.elapsed() < Duration::from_secs(15), "the poller freed the hold");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, refused) = baseline.purchase(&late, &held).await;
    assert_eq!(status, StatusCode::GONE, "still 410 once freed: {refused}");

    let body = json!({ "performance_id": show.id, "ticket_ids": held });
    let (status, taken) = baseline.reserve(&other, body).await;
    assert_eq!(status, StatusCode::CREATED, "freed tickets can be taken again: {taken}");
    let (status, refused) = baseline.purchase(&late, &ids(&taken)).await;
    assert_eq!(status, StatusCode::CONFLICT, "now another's: {refused}");
    assert_eq!(refused["code"], "not-held");
}

/// A missing or wrong token is 401, another user's token 403; likewise for
/// the admin token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_are_refused() {
    let Some(baseline) = Baseline::start(Duration::from_secs(600)).await else { return };
    let (ada, bob) = (baseline.user(1).await, baseline.user(2).await);
    let path = ada.tickets();
    let wrong_secret = format!("{}.{}", ada.id, "0".repeat(64));

    for (token, expected) in [
        (None, StatusCode::UNAUTHORIZED),
        (Some("garbage"), StatusCode::UNAUTHORIZED),
        (Some(wrong_secret.as_str()), StatusCode::UNAUTHORIZED),
        (Some(bob.token.as_str()), StatusCode::FORBIDDEN),
        (Some(ada.token.as_str()), StatusCode::OK),
    ] {
        let (status, body) = baseline.send(Method::GET, &path, token, None).await;
        assert_eq!(status, expected, "{token:?}: {body}");
        if status != StatusCode::OK {
            let code = if status == StatusCode::FORBIDDEN { "forbidden" } else { "unauthorized" };
            assert_eq!(body["code"], code);
        }
    }

    let body = json!({ "performance_id": 1, "section": SEATED, "quantity": 1 });
    let (status, _) = baseline.send(Method::POST, &path, Some(&bob.token), Some(body)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a reserve for another user");

    let city =
        json!({ "name": "X", "country": "CH", "time_zone": "Europe/Zurich", "currency": "CHF" });
    let (status, _) = baseline.send(Method::POST, "/cities", None, Some(city.clone())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = baseline.send(Method::POST, "/cities", Some(&ada.token), Some(city)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// The refusals the rush meets, with Boxoffice's codes: sold out, a hold
/// of someone else's, the per-user limit; and a release gives a ticket back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_carry_boxoffices_codes() {
    let Some(baseline) = Baseline::start(Duration::from_secs(600)).await else { return };
    let show = baseline.show().await;
    let (ada, bob) = (baseline.user(1).await, baseline.user(2).await);

    let ten = json!({ "performance_id": show.id, "section": STANDING, "quantity": 10 });
    let (status, held) = baseline.reserve(&ada, ten).await;
    assert_eq!(status, StatusCode::CREATED, "{held}");
    let held = ids(&held);

    let one = json!({ "performance_id": show.id, "section": STANDING, "quantity": 1 });
    let (status, refused) = baseline.reserve(&bob, one).await;
    assert_eq!((status, refused["code"].as_str()), (StatusCode::CONFLICT, Some("not-available")));

    let (status, refused) = baseline.purchase(&bob, &held[..1]).await;
    assert_eq!((status, refused["code"].as_str()), (StatusCode::CONFLICT, Some("not-held")));

    let seat = json!({ "performance_id": show.id, "ticket_ids": [show.ticket(0)] });
    let (status, refused) = baseline.reserve(&ada, seat).await;
    assert_eq!((status, refused["code"].as_str()), (StatusCode::CONFLICT, Some("user-limit")));

    let release = format!("{}/{}", ada.tickets(), held[0]);
    let (status, _) = baseline.send(Method::DELETE, &release, Some(&ada.token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, refused) = baseline.send(Method::DELETE, &release, Some(&ada.token), None).await;
    assert_eq!((status, refused["code"].as_str()), (StatusCode::CONFLICT, Some("not-held")));
    assert_eq!(baseline.available(show).await.0[STANDING], 1);

    let (status, order) = baseline.purchase(&ada, &held[1..]).await;
    assert_eq!(status, StatusCode::OK, "{order}");
    assert_eq!(order["order"]["amount"]["amount_minor"], 9 * 2000);
    assert_eq!(order["order"]["amount"]["currency"], "CHF");
    let purchased = baseline.listed(show, "purchased", 4).await;
    assert_eq!(purchased.len(), 9);
}
