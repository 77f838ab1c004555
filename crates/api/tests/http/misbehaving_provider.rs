//! Checkout against a payment provider that misbehaves: Boxoffice talks to
//! a fake Stripe (`fake_stripe`) whose state the test controls, and the
//! test delivers the provider's webhooks itself, signed, as often, as late
//! and in whatever order it likes. Whatever arrives, each test checks the
//! tickets, the order, and that no seat is sold twice and no payment kept
//! twice.

use std::time::{Duration, Instant};

use api::server::PaymentsConfig;
use payments::signature;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::fake_stripe::{FakeStripe, Seen, SECRET_KEY};
use crate::harness::*;

#[path = "../process/mod.rs"]
mod process;

const WEBHOOK_SECRET: &str = "whsec_test_misbehaving_provider";

/// Short, so a test about a provider that answers late stays fast.
const PROVIDER_TIMEOUT: Duration = Duration::from_millis(500);

/// Long enough that no hold lapses during a test that does not wait for it.
const LONG_HOLD: Duration = Duration::from_secs(600);

/// For the tests that let a checkout lapse: short, but long enough for the
/// few calls a test makes while another buyer's hold of this length lasts.
const SHORT_HOLD: Duration = Duration::from_millis(1500);

/// How long anything a test waits for may take.
const PATIENCE: Duration = Duration::from_secs(5);

async fn server_against(base_url: &str, hold_ttl: Duration) -> Server {
    let payments = PaymentsConfig::Stripe {
        base_url: base_url.to_owned(),
        secret_key: SECRET_KEY.into(),
        webhook_secret: WEBHOOK_SECRET.into(),
    };
    let options =
        Options { payments, provider_timeout: PROVIDER_TIMEOUT, hold_ttl, ..Options::default() };
    Server::with(options).await
}

/// A user holding the first two seats of a new performance.
async fn holding_two(server: &Server) -> (Show, User, Vec<String>) {
    let show = show(server).await;
    let buyer = user(server).await;
    let tickets = vec![show.ticket(0), show.ticket(1)];
    reserve_these(server, &show, &buyer, &tickets).await;
    (show, buyer, tickets)
}

async fn reserve_these(server: &Server, show: &Show, buyer: &User, tickets: &[String]) {
    let body = json!({ "performance_id": show.performance, "ticket_ids": tickets });
    json_of(server.reserve(buyer, body).await, StatusCode::CREATED).await;
}

async fn checkout(server: &Server, buyer: &User, tickets: &[String]) -> reqwest::Response {
    let path = format!("/users/{}/checkout", buyer.id);
    let body = json!({ "ticket_ids": tickets });
    server.send(Method::POST, &path, Some(&buyer.token), Some(&body)).await
}

/// A checkout that opened its session: its order and session ids.
async fn checked_out(server: &Server, buyer: &User, tickets: &[String]) -> (String, String) {
    let started = json_of(checkout(server, buyer, tickets).await, StatusCode::CREATED).await;
    let order = started["order_id"].as_str().expect("an order id").to_owned();
    let session = started["session_id"].as_str().expect("a session id").to_owned();
    (order, session)
}

async fn order(server: &Server, order_id: &str) -> Value {
    let path = format!("/orders/{order_id}");
    json_of(server.send(Method::GET, &path, Some(ADMIN), None).await, StatusCode::OK).await
}

async fn await_order_state(server: &Server, order_id: &str, state: &str) -> Value {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let order = order(server, order_id).await;
        if order["state"] == state || Instant::now() > deadline {
            assert_eq!(order["state"], state, "order {order_id}: {order}");
            return order;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A provider event carrying `session` as it is now.
fn event(id: &str, kind: &str, session: &Value) -> Value {
    json!({
        "id": id,
        "object": "event",
        "type": format!("checkout.session.{kind}"),
        "data": { "object": session },
    })
}

/// Delivers a webhook signed as the provider signs it; the outcome the
/// server answered it with, which must be a 200.
async fn deliver(client: &reqwest::Client, base: &str, event: &Value) -> String {
    let payload = event.to_string();
    let now = jiff::Timestamp::now().as_second();
    let signed = signature::sign(payload.as_bytes(), WEBHOOK_SECRET, now);
    let request = client
        .post(format!("{base}/payments/webhook"))
        .header("content-type", "application/json")
        .header(signature::HEADER, signed)
        .body(payload);
    let answer = json_of(request.send().await.expect("the server answers"), StatusCode::OK).await;
    answer["outcome"].as_str().expect("an outcome").to_owned()
}

async fn deliver_to(server: &Server, event: &Value) -> String {
    deliver(&server.client, &server.base, event).await
}

fn statuses(own: &[Value]) -> Vec<&str> {
    own.iter().map(|ticket| ticket["status"].as_str().unwrap_or("?")).collect()
}

/// The order bought its tickets exactly once: they are the buyer's, sold
/// to no one else, paid by one payment of which nothing went back, and the
/// provider was asked for no refund.
async fn assert_bought_once(
    server: &Server,
    fake: &FakeStripe,
    (show, buyer, tickets): (&Show, &User, &[String]),
    order_id: &str,
) {
    let own = server.own(buyer).await;
    assert_eq!(ids(&own), tickets, "{own:?}");
    assert!(own.iter().all(|ticket| ticket["status"] == "purchased"), "{own:?}");
    assert!(own.iter().all(|ticket| ticket["order_id"] == order_id), "{own:?}");

    let order = order(server, order_id).await;
    assert_eq!(order["state"], "paid", "{order}");
    assert!(order["payment"].as_str().is_some_and(|p| p.starts_with("pi_fake_")), "{order}");
    assert_eq!(order["refunded"]["amount_minor"], 0, "{order}");
    assert_eq!(order["refunded_payments"], json!([]), "{order}");
    assert!(order["tickets"].as_array().unwrap().iter().all(|t| t["in_order"] == "sold"));

    let sold = server.all_tickets(show).await;
    let sold: Vec<&Value> = sold.iter().filter(|ticket| ticket["status"] == "purchased").collect();
    assert_eq!(sold.len(), tickets.len(), "sold to someone else too: {sold:?}");
    assert_eq!(server.available(show).await, u64::from(CAPACITY) - tickets.len() as u64);
    assert_eq!(fake.refunds(), Vec::<Value>::new(), "a refund of a payment that bought");
}

// 1. Duplicates.

#[actix_rt::test]
async fn a_completion_delivered_three_times_and_three_times_at_once_buys_once() {
    let fake = FakeStripe::start();
    let server = server_against(&fake.base_url, LONG_HOLD).await;
    let (show, buyer, tickets) = holding_two(&server).await;
    let (order_id, session) = checked_out(&server, &buyer, &tickets).await;
    let completed = event("evt_completed_1", "completed", &fake.pay(&session));

    let mut deliveries = tokio::task::JoinSet::new();
    for _ in 0..3 {
        let (client, base, completed) =
            (server.client.clone(), server.base.clone(), completed.clone());
        deliveries.spawn(async move { deliver(&client, &base, &completed).await });
    }
    let mut at_once = deliveries.join_all().await;
    at_once.sort();
    let mut one_after_another = Vec::new();
    for _ in 0..3 {
        one_after_another.push(deliver_to(&server, &completed).await);
    }

    assert_eq!(at_once, ["already-known", "already-known", "paid"]);
    assert_eq!(one_after_another, ["already-known"; 3]);
    assert_bought_once(&server, &fake, (&show, &buyer, &tickets), &order_id).await;
}

// 2. Out of order.

#[actix_rt::test]
async fn an_async_success_arriving_before_its_completion_pays_once() {
    let fake = FakeStripe::start();
    let server = server_against(&fake.base_url, LONG_HOLD).await;
    let (show, buyer, tickets) = holding_two(&server).await;
    let (order_id, session) = checked_out(&server, &buyer, &tickets).await;
    let awaiting = fake.complete_awaiting_payment(&session);
    let settled = fake.settle_delayed_payment(&session);

    let succeeded = deliver_to(&server, &event("evt_2", "async_payment_succeeded", &settled)).await;
    let completed = deliver_to(&server, &event("evt_1", "completed", &awaiting)).await;

    assert_eq!((succeeded.as_str(), completed.as_str()), ("paid", "payment-pending"));
    assert_bought_once(&server, &fake, (&show, &buyer, &tickets), &order_id).await;
}

#[actix_rt::test]
async fn a_failure_or_an_expiry_reported_after_the_payment_undoes_nothing() {
    let fake = FakeStripe::start();
    let server = server_against(&fake.base_url, LONG_HOLD).await;
    let (show, buyer, tickets) = holding_two(&server).await;
    let (order_id, session) = checked_out(&server, &buyer, &tickets).await;
    let paid = fake.pay(&session);
    assert_eq!(deliver_to(&server, &event("evt_1", "completed", &paid)).await, "paid");

    let mut failed = paid.clone();
    failed["payment_status"] = json!("unpaid");
    let mut expired = paid.clone();
    expired["status"] = json!("expired");
    // Acknowledged, whatever it is named: the order is no longer waiting.
    deliver_to(&server, &event("evt_2", "async_payment_failed", &failed)).await;
    let ignored = deliver_to(&server, &event("evt_3", "expired", &expired)).await;

    assert_eq!(ignored, "ignored");
    assert_bought_once(&server, &fake, (&show, &buyer, &tickets), &order_id).await;
}

// 3. The webhook and the buyer's return, either first.

async fn return_page(server: &Server, session: &str) -> String {
    let page = server.get(&format!("/payments/return?session_id={session}")).await;
    assert_eq!(page.status(), StatusCode::OK);
    page.text().await.expect("a page")
}

#[actix_rt::test]
async fn the_return_after_the_webhook_finds_the_payment_already_known() {
    let fake = FakeStripe::start();
    let server = server_against(&fake.base_url, LONG_HOLD).await;
    let (show, buyer, tickets) = holding_two(&server).await;
    let (order_id, session) = checked_out(&server, &buyer, &tickets).await;
    let paid = fake.pay(&session);

    let outcome = deliver_to(&server, &event("evt_1", "completed", &paid)).await;
    let page = return_page(&server, &session).await;

    assert_eq!(outcome, "paid");
    assert!(page.contains("Payment received"), "{page}");
    assert!(page.contains(&format!("order {order_id} is paid, 2 tickets. Your receipt")), "{page}");
    assert_bought_once(&server, &fake, (&show, &buyer, &tickets), &order_id).await;
}

#[actix_rt::test]
async fn the_webhook_after_the_return_finds_the_payment_already_known() {
    let fake = FakeStripe::start();
    let server = server_against(&fake.base_url, LONG_HOLD).await;
    let (show, buyer, tickets) = holding_two(&server).await;
    let (order_id, session) = checked_out(&server, &buyer, &tickets).await;
    let paid = fake.pay(&session);

    let page = return_page(&server, &session).await;
    let outcome = deliver_to(&server, &event("evt_1", "completed", &paid)).await;

    assert!(page.contains(&format!("order {order_id} is paid, 2 tickets")), "{page}");
    let asked = fake.seen();
    let asked =
        asked.iter().filter(|call| call.is("GET", &format!("/v1/checkout/sessions/{session}")));
    assert_eq!(asked.count(), 1, "the return asks the provider, once");
    assert_eq!(outcome, "already-known");
    assert_bought_once(&server, &fake, (&show, &buyer, &tickets), &order_id).await;
}

// 4. A payment reported after its checkout lapsed.

/// A checkout whose hold lapsed while the provider could not be told to
/// expire its session, and which the buyer paid after all: its order, and
/// the paid session, whose webhook is yet to come.
async fn lapsed_then_paid(
    server: &Server,
    fake: &FakeStripe,
) -> (Show, User, Vec<String>, String, Value) {
    let (show, buyer, tickets) = holding_two(server).await;
    let (order_id, session) = checked_out(server, &buyer, &tickets).await;
    fake.fail_expiries(true);
    await_order_state(server, &order_id, "expired").await;
    let paid = fake.pay(&session);
    (show, buyer, tickets, order_id, paid)
}

/// Waits until the fake has answered a call that `matches`.
async fn await_call(fake: &FakeStripe, what: &str, matches: impl Fn(&Seen) -> bool) -> Seen {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(call) = fake.seen().into_iter().find(&matches) {
            return call;
        }
        assert!(Instant::now() < deadline, "the server never made {what}: {:?}", fake.seen());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Lets the server's owed expiry of `session` through, and waits until it
/// was made: refused, since the session is no longer open.
async fn let_expiry_through(fake: &FakeStripe, session: &Value) {
    let expire = format!("/v1/checkout/sessions/{}/expire", session["id"].as_str().unwrap());
    fake.fail_expiries(false);
    await_call(fake, "a late expiry", |call| call.is("POST", &expire) && call.status == 400).await;
}

#[actix_rt::test]
async fn a_late_payment_buys_the_tickets_if_they_are_still_free() {
    let fake = FakeStripe::start();
    let server = server_against(&fake.base_url, SHORT_HOLD).await;
    let (show, buyer, tickets, order_id, paid) = lapsed_then_paid(&server, &fake).await;
    assert_eq!(server.available(&show).await, u64::from(CAPACITY), "the lapse freed them");

    let outcome = deliver_to(&server, &event("evt_1", "completed", &paid)).await;
    let_expiry_through(&fake, &paid).await;

    assert_eq!(outcome, "paid");
    assert_bought_once(&server, &fake, (&show, &buyer, &tickets), &order_id).await;
}

#[actix_rt::test]
async fn a_late_payment_for_tickets_another_buyer_took_meanwhile_is_refunded_once() {
    let fake = FakeStripe::start();
    let server = server_against(&fake.base_url, SHORT_HOLD).await;
    let (show, buyer, tickets, order_id, paid) = lapsed_then_paid(&server, &fake).await;
    let other = user(&server).await;
    reserve_these(&server, &show, &other, &tickets).await;

    let late = event("evt_1", "completed", &paid);
    let outcome = deliver_to(&server, &late).await;
    let again = deliver_to(&server, &late).await;

    assert_eq!((outcome.as_str(), again.as_str()), ("refunded", "already-known"));
    assert_eq!(statuses(&server.own(&other).await), ["reserved", "reserved"]);
    assert_eq!(server.own(&buyer).await, Vec::<Value>::new());
    let all = server.all_tickets(&show).await;
    assert!(all.iter().all(|ticket| ticket["status"] != "purchased"), "oversold: {all:?}");
    assert_eq!(server.available(&show).await, u64::from(CAPACITY) - 2);

    let order = order(&server, &order_id).await;
    assert_eq!(order["state"], "refunded-late-payment", "{order}");
    assert_eq!(order["refunded_payments"], json!([paid["payment_intent"]]), "{order}");
    assert_eq!(order["payment"], Value::Null, "{order}");
    assert!(order["tickets"].as_array().unwrap().iter().all(|t| t["in_order"] == "gone"));

    // The refund waits behind the owed expiry, which goes through now and
    // finds the payment already turned back.
    let_expiry_through(&fake, &paid).await;
    await_call(&fake, "the refund", |call| call.is("POST", "/v1/refunds")).await;
    let refunds = fake.refunds();
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(refunds[0]["payment_intent"], paid["payment_intent"]);
    assert_eq!(refunds[0]["amount"], 10000, "the whole payment goes back");
}

/// A provider that reports the payment in another currency than the
/// order's: it cannot buy the order, and goes back whole.
#[actix_rt::test]
async fn a_payment_in_another_currency_is_turned_back_and_refunded_whole() {
    let fake = FakeStripe::start();
    let server = server_against(&fake.base_url, LONG_HOLD).await;
    let (show, buyer, tickets) = holding_two(&server).await;
    let (order_id, session) = checked_out(&server, &buyer, &tickets).await;
    let mut in_euros = fake.pay(&session);
    in_euros["currency"] = json!("eur");

    let outcome = deliver_to(&server, &event("evt_1", "completed", &in_euros)).await;

    assert_eq!(outcome, "refunded");
    let order = order(&server, &order_id).await;
    assert_eq!(order["state"], "awaiting-payment", "{order}");
    assert_eq!(order["refunded_payments"], json!([in_euros["payment_intent"]]), "{order}");
    assert_eq!(statuses(&server.own(&buyer).await), ["reserved", "reserved"]);
    assert_eq!(server.available(&show).await, u64::from(CAPACITY) - 2);
    await_call(&fake, "the refund", |call| call.is("POST", "/v1/refunds")).await;
    let refunds = fake.refunds();
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(refunds[0]["amount"], 10000, "the whole payment goes back");
}

// 5. A session created after the client gave up waiting for it.

/// The order a checkout opened, by the session creation the fake saw.
fn order_asked_for(fake: &FakeStripe) -> String {
    let creates = fake.creates();
    let first = creates.first().expect("a session creation");
    first.field("client_reference_id").expect("the order's id").to_owned()
}

/// A checkout whose session creation the fake answers after the client's
/// timeout, retried at once and again once the fake answered: the buyer,
/// the order, and what the last retry answered.
async fn checkout_retried_after_a_timeout(
    server: &Server,
    fake: &FakeStripe,
) -> (User, String, reqwest::Response) {
    let (_show, buyer, tickets) = holding_two(server).await;
    fake.answer_next_create_after(PROVIDER_TIMEOUT * 4);

    let timed_out = checkout(server, &buyer, &tickets).await;
    problem(timed_out, StatusCode::GATEWAY_TIMEOUT, "payment-provider-timeout").await;
    let order_id = order_asked_for(fake);
    let waiting = order(server, &order_id).await;
    assert_eq!(waiting["state"], "awaiting-payment", "{waiting}");
    assert_eq!(waiting["session_id"], Value::Null, "{waiting}");
    assert_eq!(statuses(&server.own(&buyer).await), ["reserved", "reserved"]);

    // Stripe answers 409 while the first request with the key still runs.
    let too_soon = checkout(server, &buyer, &tickets).await;
    problem(too_soon, StatusCode::BAD_GATEWAY, "payment-provider-unavailable").await;

    fake.await_answered().await;
    let retried = checkout(server, &buyer, &tickets).await;
    (buyer, order_id, retried)
}

/// The retry found the session the timed-out creation made: one session,
/// asked for under one key every time, now the order's, its tickets still
/// held for it.
async fn assert_found_again(
    (server, fake): (&Server, &FakeStripe),
    buyer: &User,
    order_id: &str,
    retried: reqwest::Response,
) {
    let retried = json_of(retried, StatusCode::CREATED).await;
    let sessions = fake.sessions();
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert_eq!(retried["order_id"], order_id);
    assert_eq!(retried["session_id"], sessions[0]["id"]);
    assert_eq!(retried["payment_url"], sessions[0]["url"]);

    let keys: Vec<Option<String>> = fake.creates().into_iter().map(|c| c.idempotency_key).collect();
    assert_eq!(keys, vec![Some(format!("checkout-{order_id}")); 3]);
    let order = order(server, order_id).await;
    assert_eq!(order["session_id"], sessions[0]["id"], "{order}");
    assert_eq!(statuses(&server.own(buyer).await), ["reserved", "reserved"]);
}

#[actix_rt::test]
async fn a_session_created_after_the_timeout_is_found_again_by_the_retry() {
    let fake = FakeStripe::start();
    let server = server_against(&fake.base_url, LONG_HOLD).await;

    let (buyer, order_id, retried) = checkout_retried_after_a_timeout(&server, &fake).await;

    assert_found_again((&server, &fake), &buyer, &order_id, retried).await;
}

/// The same against a laxer provider, which replays a key's first answer
/// whatever the retry's parameters: everything but Stripe's comparison of
/// them works.
#[actix_rt::test]
async fn a_session_created_after_the_timeout_is_found_again_where_replays_are_not_compared() {
    let fake = FakeStripe::start();
    fake.compare_replayed_parameters(false);
    let server = server_against(&fake.base_url, LONG_HOLD).await;

    let (buyer, order_id, retried) = checkout_retried_after_a_timeout(&server, &fake).await;

    assert_found_again((&server, &fake), &buyer, &order_id, retried).await;
}

// 6. A provider that is down, and webhooks about no order of ours.

#[actix_rt::test]
async fn a_provider_failing_with_500_answers_502_and_a_later_retry_opens_one_session() {
    let fake = FakeStripe::start();
    let server = server_against(&fake.base_url, LONG_HOLD).await;
    let (show, buyer, tickets) = holding_two(&server).await;
    fake.fail_every_call(true);

    let failed = checkout(&server, &buyer, &tickets).await;
    problem(failed, StatusCode::BAD_GATEWAY, "payment-provider-unavailable").await;
    let order_id = order_asked_for(&fake);
    let waiting = order(&server, &order_id).await;
    assert_eq!(
        (&waiting["state"], &waiting["session_id"]),
        (&json!("awaiting-payment"), &Value::Null)
    );
    assert_eq!(statuses(&server.own(&buyer).await), ["reserved", "reserved"]);
    assert_eq!(server.available(&show).await, u64::from(CAPACITY) - 2);
    assert!(fake.sessions().is_empty());

    fake.fail_every_call(false);
    let (again, session) = checked_out(&server, &buyer, &tickets).await;

    assert_eq!(again, order_id);
    assert_eq!(fake.sessions().len(), 1);
    assert_eq!(order(&server, &order_id).await["session_id"], session.as_str());
}

#[actix_rt::test]
async fn a_provider_refusing_connections_answers_502_and_the_order_waits() {
    let fake = FakeStripe::start();
    let server = server_against(&fake.base_url, LONG_HOLD).await;
    let (show, buyer, tickets) = holding_two(&server).await;
    fake.fail_every_call(true);
    let failed = checkout(&server, &buyer, &tickets).await;
    problem(failed, StatusCode::BAD_GATEWAY, "payment-provider-unavailable").await;
    let order_id = order_asked_for(&fake);
    let before = (server.state(&show).await, order(&server, &order_id).await);
    fake.shut_down();

    let refused = checkout(&server, &buyer, &tickets).await;

    problem(refused, StatusCode::BAD_GATEWAY, "payment-provider-unavailable").await;
    let after = (server.state(&show).await, order(&server, &order_id).await);
    assert_eq!(before, after, "a refused connection changed something");
    assert_eq!(after.1["state"], "awaiting-payment");
    assert_eq!(statuses(&server.own(&buyer).await), ["reserved", "reserved"]);
}

/// A paid session as a provider would report it, naming `order` (`None`:
/// a session of another integration on the same account).
fn paid_session_of(order: Option<&str>) -> Value {
    json!({
        "id": "cs_test_not_ours",
        "object": "checkout.session",
        "status": "complete",
        "payment_status": "paid",
        "payment_intent": "pi_not_ours",
        "amount_total": 10000,
        "currency": "chf",
        "client_reference_id": order.unwrap_or("someone-else"),
        "metadata": {},
    })
}

#[actix_rt::test]
async fn webhooks_naming_no_order_of_ours_are_acknowledged_and_change_nothing() {
    let fake = FakeStripe::start();
    let server = server_against(&fake.base_url, LONG_HOLD).await;
    let (show, buyer, tickets) = holding_two(&server).await;
    let (order_id, _session) = checked_out(&server, &buyer, &tickets).await;
    let before = (server.state(&show).await, order(&server, &order_id).await);
    let no_performance = format!("{}-1", show.performance + 100);
    let no_order = format!("{}-99", show.performance);

    let mut outcomes = Vec::new();
    for (kind, order) in [
        ("completed", Some(no_performance.as_str())),
        ("completed", Some(no_order.as_str())),
        ("async_payment_succeeded", None),
        ("async_payment_failed", Some(no_order.as_str())),
        ("async_payment_failed", Some(no_performance.as_str())),
    ] {
        let event = event(&format!("evt_{kind}"), kind, &paid_session_of(order));
        outcomes.push(deliver_to(&server, &event).await);
    }

    assert_eq!(outcomes, ["unknown-order"; 5]);
    let after = (server.state(&show).await, order(&server, &order_id).await);
    assert_eq!(before, after, "a webhook of no order of ours changed something");
    assert_eq!(fake.refunds(), Vec::<Value>::new());
}

// 7. A payment made while the server was down.

/// The real server, killed and started again on its data dir: the
/// in-process harness cannot restart on the same store, whose lock its
/// background tasks hold until the test's runtime ends.
#[actix_rt::test]
async fn a_payment_made_while_the_server_was_down_is_honoured_at_start_up() {
    let fake = FakeStripe::start();
    let dir = tempfile::tempdir().expect("a temp dir");
    let data_dir = dir.path().join("data");
    let launch = || stripe_launch(&data_dir, &fake);
    let client = reqwest::Client::builder().timeout(PATIENCE).build().expect("a client");

    let mut server = process::ServerProcess::start(launch()).await;
    let world = process::create_world(&client, &server.base).await;
    let buyer = process::sign_up(&client, &server.base, "down@example.org").await;
    let (order_id, session) = checkout_in(&client, &server.base, &buyer, world.performance).await;
    server.kill9();
    fake.pay(&session);

    let server = process::ServerProcess::start(launch()).await;
    let order = await_paid(&client, &server.base, &order_id).await;

    assert!(order["payment"].as_str().is_some_and(|p| p.starts_with("pi_fake_")), "{order}");
    let own = own_in(&client, &server.base, &buyer).await;
    assert_eq!(statuses(&own), ["purchased", "purchased"]);
    let asked = fake.seen();
    let asked =
        asked.iter().filter(|call| call.is("GET", &format!("/v1/checkout/sessions/{session}")));
    assert_eq!(asked.count(), 1, "asked about the session once, at start-up");
    assert_eq!(fake.refunds(), Vec::<Value>::new());
}

/// The real binary, taking payments through the fake.
fn stripe_launch<'a>(data_dir: &'a std::path::Path, fake: &FakeStripe) -> process::Launch<'a> {
    let mut launch = process::Launch::new(data_dir);
    launch.args.extend(
        [
            "--payments",
            "stripe",
            &format!("--stripe-base-url={}", fake.base_url),
            &format!("--stripe-secret-key={SECRET_KEY}"),
            &format!("--stripe-webhook-secret={WEBHOOK_SECRET}"),
            "--provider-timeout=500ms",
        ]
        .map(str::to_owned),
    );
    launch
}

/// Reserves two seats and checks out: the order and session ids.
async fn checkout_in(
    client: &reqwest::Client,
    base: &str,
    buyer: &process::Buyer,
    performance: u32,
) -> (String, String) {
    let body = json!({ "performance_id": performance, "section": "Stalls", "quantity": 2 });
    let held = client.post(buyer.tickets(base)).bearer_auth(&buyer.token).json(&body).send().await;
    let held = json_of(held.expect("the server answers"), StatusCode::CREATED).await;
    let tickets = ids(&array(held["tickets"].clone()));

    let path = format!("{base}/users/{}/checkout", buyer.id);
    let body = json!({ "ticket_ids": tickets });
    let started = client.post(path).bearer_auth(&buyer.token).json(&body).send().await;
    let started = json_of(started.expect("the server answers"), StatusCode::CREATED).await;
    let order = started["order_id"].as_str().expect("an order id").to_owned();
    (order, started["session_id"].as_str().expect("a session id").to_owned())
}

async fn await_paid(client: &reqwest::Client, base: &str, order_id: &str) -> Value {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let answer = client
            .get(format!("{base}/orders/{order_id}"))
            .bearer_auth(process::ADMIN_TOKEN)
            .send()
            .await;
        let order = json_of(answer.expect("the server answers"), StatusCode::OK).await;
        if order["state"] == "paid" || Instant::now() > deadline {
            assert_eq!(order["state"], "paid", "not caught up at start-up: {order}");
            return order;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn own_in(client: &reqwest::Client, base: &str, buyer: &process::Buyer) -> Vec<Value> {
    let own = client.get(buyer.tickets(base)).bearer_auth(&buyer.token).send().await;
    array(json_of(own.expect("the server answers"), StatusCode::OK).await)
}

/// A refund is decided, the provider is down so it cannot be made, and the
/// server is killed: the decision was durable with the cancel, so the
/// restarted server makes the refund, once.
#[actix_rt::test]
async fn a_refund_owed_when_the_server_is_killed_is_made_after_the_restart() {
    let fake = FakeStripe::start();
    let dir = tempfile::tempdir().expect("a temp dir");
    let data_dir = dir.path().join("data");
    let launch = || stripe_launch(&data_dir, &fake);
    let client = reqwest::Client::builder().timeout(PATIENCE).build().expect("a client");

    let mut server = process::ServerProcess::start(launch()).await;
    let world = process::create_world(&client, &server.base).await;
    let buyer = process::sign_up(&client, &server.base, "refund@example.org").await;
    let (order_id, session) = checkout_in(&client, &server.base, &buyer, world.performance).await;
    let paid = fake.pay(&session);
    assert_eq!(
        deliver(&client, &server.base, &event("evt_paid", "completed", &paid)).await,
        "paid"
    );

    fake.fail_every_call(true);
    let cancel = client
        .post(format!("{}/orders/{order_id}/cancel", server.base))
        .bearer_auth(process::ADMIN_TOKEN)
        .send()
        .await;
    let cancelled = json_of(cancel.expect("the server answers"), StatusCode::OK).await;
    assert_eq!(cancelled["refunded"]["amount_minor"], 13000, "{cancelled}");
    server.kill9();
    assert_eq!(fake.refunds(), Vec::<Value>::new(), "the provider was down");

    fake.fail_every_call(false);
    let _server = process::ServerProcess::start(launch()).await;
    let deadline = Instant::now() + PATIENCE;
    while fake.refunds().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    let refunds = fake.refunds();
    assert_eq!(refunds.len(), 1, "one refund, made after the restart: {refunds:?}");
    assert_eq!(refunds[0]["amount"], 13000, "{refunds:?}");
}
