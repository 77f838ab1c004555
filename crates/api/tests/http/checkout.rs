//! Checkout through the sandbox provider: the buyer is sent to the
//! provider's page, pays there, and the tickets are theirs once the
//! provider vouches for it (by a signed webhook, or when asked about the
//! session the returning browser names). Forged and replayed webhooks
//! change nothing; admins cancel and refund within what was paid.

use std::time::{Duration, Instant};

use payments::signature;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::*;

const WEBHOOK_SECRET: &str = "whsec_test_checkout";

/// The sandbox provider, with the keys these tests sign with.
fn sandbox_payments() -> api::server::PaymentsConfig {
    api::server::PaymentsConfig::Sandbox {
        secret_key: "sk_test_checkout".into(),
        webhook_secret: WEBHOOK_SECRET.into(),
    }
}

async fn sandbox_server() -> Server {
    Server::with(Options { payments: sandbox_payments(), ..Options::default() }).await
}

#[actix_web::test]
async fn a_provider_call_whose_body_never_finishes_is_refused_in_time_in_stripes_shape() {
    let payments = sandbox_payments();
    let body_timeout = Duration::from_millis(300);
    let server = Server::with(Options { payments, body_timeout, ..Options::default() }).await;
    let address = server.address();

    let mut connection = tokio::net::TcpStream::connect(&address).await.unwrap();
    let refund = format!(
        "POST /sandbox/v1/refunds HTTP/1.1\r\nHost: {address}\r\n\
         Authorization: Bearer sk_test_checkout\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n\
         payment_intent=pi_"
    );
    let answer = exchange(&mut connection, &refund).await;

    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    assert!(answer.contains("\"invalid_request_error\""), "{answer}");
    server.assert_alive().await;
}

/// A user holding two seats of a performance on sale.
async fn holding_two(server: &Server) -> (Show, User, Vec<String>) {
    let show = show(server).await;
    let buyer = user(server).await;
    let tickets = vec![show.ticket(0), show.ticket(1)];
    let held = server
        .reserve(&buyer, json!({ "performance_id": show.performance, "ticket_ids": tickets }))
        .await;
    json_of(held, StatusCode::CREATED).await;
    (show, buyer, tickets)
}

impl Server {
    async fn checkout(&self, user: &User, tickets: &[String]) -> reqwest::Response {
        let path = format!("/users/{}/checkout", user.id);
        let body = json!({ "ticket_ids": tickets });
        self.send(Method::POST, &path, Some(&user.token), Some(&body)).await
    }

    /// Pays on the sandbox's page as a browser would, following its
    /// redirect back to us; the page the buyer ends on.
    async fn pay_on_page(&self, payment_url: &str, method: &str) -> (StatusCode, String) {
        let page = self.client.get(payment_url).send().await.expect("the payment page");
        assert_eq!(page.status(), StatusCode::OK);
        let form = [("method", method)];
        let paid = self.client.post(payment_url).form(&form).send().await.expect("paying");
        let status = paid.status();
        (status, paid.text().await.unwrap_or_default())
    }

    async fn order(&self, order_id: &str) -> Value {
        let response =
            self.send(Method::GET, &format!("/orders/{order_id}"), Some(ADMIN), None).await;
        json_of(response, StatusCode::OK).await
    }

    async fn order_action(&self, path: &str, body: Option<Value>) -> reqwest::Response {
        self.send(Method::POST, path, Some(ADMIN), body.as_ref()).await
    }

    /// Waits until the order reaches `state`, for changes a webhook or a
    /// worker makes in the background.
    async fn await_order_state(&self, order_id: &str, state: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let order = self.order(order_id).await;
            if order["state"] == state || Instant::now() > deadline {
                assert_eq!(order["state"], state, "order {order_id}: {order}");
                return order;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn webhook(&self, payload: &[u8], signature_header: Option<&str>) -> reqwest::Response {
        let mut request = self
            .client
            .post(self.url("/payments/webhook"))
            .header("content-type", "application/json")
            .body(payload.to_vec());
        if let Some(header) = signature_header {
            request = request.header(signature::HEADER, header);
        }
        request.send().await.expect("the server answers")
    }
}

fn statuses(own: &[Value]) -> Vec<&str> {
    own.iter().map(|ticket| ticket["status"].as_str().unwrap_or("?")).collect()
}

#[actix_rt::test]
async fn a_buyer_pays_on_the_sandbox_page_and_owns_the_tickets() {
    let server = sandbox_server().await;
    let (_show, buyer, tickets) = holding_two(&server).await;

    let started = json_of(server.checkout(&buyer, &tickets).await, StatusCode::CREATED).await;
    assert_eq!(started["amount"], json!({ "amount_minor": 10000, "currency": "CHF" }));
    let payment_url = started["payment_url"].as_str().unwrap().to_owned();
    assert!(payment_url.starts_with(&server.url("/sandbox/pay/")), "{payment_url}");
    let order_id = started["order_id"].as_str().unwrap().to_owned();
    assert_eq!(server.order(&order_id).await["state"], "awaiting-payment");

    let (status, page) = server.pay_on_page(&payment_url, "card").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Payment received"), "{page}");

    let own = server.own(&buyer).await;
    assert_eq!(statuses(&own), ["purchased", "purchased"]);
    assert!(own.iter().all(|ticket| ticket["order_id"] == order_id.as_str()));
    let order = server.order(&order_id).await;
    assert_eq!(order["state"], "paid");
    assert!(order["payment"].as_str().unwrap().starts_with("pi_"), "{order}");
}

#[actix_rt::test]
async fn a_retried_checkout_gets_the_same_order_and_session() {
    let server = sandbox_server().await;
    let (_show, buyer, tickets) = holding_two(&server).await;

    let first = json_of(server.checkout(&buyer, &tickets).await, StatusCode::CREATED).await;
    let again = json_of(server.checkout(&buyer, &tickets).await, StatusCode::CREATED).await;

    assert_eq!(first["order_id"], again["order_id"]);
    assert_eq!(first["session_id"], again["session_id"]);
    assert_eq!(first["payment_url"], again["payment_url"]);
}

#[actix_rt::test]
async fn the_return_page_asks_the_provider_rather_than_trusting_the_redirect() {
    let server = sandbox_server().await;
    let (_show, buyer, tickets) = holding_two(&server).await;
    let started = json_of(server.checkout(&buyer, &tickets).await, StatusCode::CREATED).await;
    let session = started["session_id"].as_str().unwrap();

    // The browser claims to be back from paying, but nothing was paid.
    let page = server.get(&format!("/payments/return?session_id={session}")).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("not paid yet"));
    assert_eq!(statuses(&server.own(&buyer).await), ["reserved", "reserved"]);

    let unknown = server.get("/payments/return?session_id=cs_test_nothing_here").await;
    problem(unknown, StatusCode::NOT_FOUND, "not-found").await;
    let missing = server.get("/payments/return").await;
    invalid(missing, "session_id").await;
}

#[actix_rt::test]
async fn tickets_in_checkout_cannot_be_bought_with_a_token_or_released() {
    let server = sandbox_server().await;
    let (_show, buyer, tickets) = holding_two(&server).await;

    let bought = server.purchase(&buyer, &tickets, "tok_visa").await;
    problem(bought, StatusCode::CONFLICT, "checkout-required").await;

    json_of(server.checkout(&buyer, &tickets).await, StatusCode::CREATED).await;
    let released = server.release(&buyer, &tickets[0]).await;
    problem(released, StatusCode::CONFLICT, "in-checkout").await;
}

#[actix_rt::test]
async fn forged_and_replayed_webhooks_change_nothing() {
    let server = sandbox_server().await;
    let (_show, buyer, tickets) = holding_two(&server).await;
    let started = json_of(server.checkout(&buyer, &tickets).await, StatusCode::CREATED).await;
    let payload = completed_event(&started).to_string();
    let now = jiff::Timestamp::now().as_second();

    let unsigned = server.webhook(payload.as_bytes(), None).await;
    problem(unsigned, StatusCode::BAD_REQUEST, "missing-signature").await;

    let forged = signature::sign(payload.as_bytes(), "whsec_not_ours", now);
    let forged = server.webhook(payload.as_bytes(), Some(&forged)).await;
    problem(forged, StatusCode::BAD_REQUEST, "invalid-signature").await;

    let stale = signature::sign(payload.as_bytes(), WEBHOOK_SECRET, now - 3600);
    let replayed = server.webhook(payload.as_bytes(), Some(&stale)).await;
    problem(replayed, StatusCode::BAD_REQUEST, "invalid-signature").await;

    let tampered = signature::sign(payload.as_bytes(), WEBHOOK_SECRET, now);
    let altered = payload.replace("10000", "1");
    let tampered = server.webhook(altered.as_bytes(), Some(&tampered)).await;
    problem(tampered, StatusCode::BAD_REQUEST, "invalid-signature").await;

    assert_eq!(statuses(&server.own(&buyer).await), ["reserved", "reserved"]);
    let order_id = started["order_id"].as_str().unwrap();
    assert_eq!(server.order(order_id).await["state"], "awaiting-payment");
}

/// A `checkout.session.completed` event for a checkout, paid.
fn completed_event(started: &Value) -> Value {
    json!({
        "id": "evt_test_forged",
        "object": "event",
        "type": "checkout.session.completed",
        "data": { "object": {
            "id": started["session_id"],
            "object": "checkout.session",
            "status": "complete",
            "payment_status": "paid",
            "payment_intent": "pi_forged",
            "amount_total": 10000,
            "currency": "chf",
            "client_reference_id": started["order_id"],
            "metadata": { "order_id": started["order_id"] },
        }},
    })
}

#[actix_rt::test]
async fn a_currency_the_provider_cannot_take_is_refused_before_any_hold_is_extended() {
    let server = sandbox_server().await;
    let city =
        json!({ "name": "Tehran", "country": "IR", "time_zone": "Asia/Tehran", "currency": "IRR" });
    let city = json_of(server.admin_post("/cities", city).await, StatusCode::CREATED).await;
    let city = city["id"].as_u64().unwrap();
    let venue = create_venue(&server, city, "Vahdat Hall").await;
    let performance = create_performance(&server, city, venue, json!({})).await;
    let buyer = user(&server).await;
    let ticket = format!("{performance}-0");
    let held = server
        .reserve(&buyer, json!({ "performance_id": performance, "ticket_ids": [ticket] }))
        .await;
    let held = json_of(held, StatusCode::CREATED).await;

    let refused = server.checkout(&buyer, &[ticket]).await;
    problem(refused, StatusCode::UNPROCESSABLE_ENTITY, "currency-not-accepted").await;

    let own = server.own(&buyer).await;
    assert_eq!(own[0]["reserved_until"], held["reserved_until"], "the hold was not extended");
}

#[actix_rt::test]
async fn checkouts_refuse_bad_input_clearly() {
    let server = sandbox_server().await;
    let (show, buyer, tickets) = holding_two(&server).await;
    let other = user(&server).await;

    let empty = server.checkout(&buyer, &[]).await;
    problem(empty, StatusCode::UNPROCESSABLE_ENTITY, "empty-ticket-list").await;
    let not_an_id = server.checkout(&buyer, &["seat-one".into()]).await;
    invalid(not_an_id, "ticket_ids").await;
    let not_theirs = server.checkout(&other, &tickets).await;
    problem(not_theirs, StatusCode::CONFLICT, "not-held").await;
    let unknown = server.checkout(&buyer, &[format!("{}-0", show.performance + 100)]).await;
    problem(unknown, StatusCode::UNPROCESSABLE_ENTITY, "unknown-ticket").await;
    let path = format!("/users/{}/checkout", buyer.id);
    let without_token =
        server.send(Method::POST, &path, None, Some(&json!({ "ticket_ids": tickets }))).await;
    problem(without_token, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let extra = json!({ "ticket_ids": tickets, "amount": 1 });
    let extra = server.send(Method::POST, &path, Some(&buyer.token), Some(&extra)).await;
    invalid(extra, "amount").await;

    assert_eq!(statuses(&server.own(&buyer).await), ["reserved", "reserved"]);
}

/// A paid order of two 5000 tickets; its id.
async fn paid_order(server: &Server) -> (Show, User, String) {
    let (show, buyer, tickets) = holding_two(server).await;
    let started = json_of(server.checkout(&buyer, &tickets).await, StatusCode::CREATED).await;
    let (status, page) = server.pay_on_page(started["payment_url"].as_str().unwrap(), "card").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let order_id = started["order_id"].as_str().unwrap().to_owned();
    server.await_order_state(&order_id, "paid").await;
    (show, buyer, order_id)
}

#[actix_rt::test]
async fn admins_refund_and_cancel_within_what_was_paid() {
    let server = sandbox_server().await;
    let (show, _buyer, order_id) = paid_order(&server).await;
    let refund = format!("/orders/{order_id}/refund");

    let partial = server.order_action(&refund, Some(json!({ "amount": 3000 }))).await;
    let partial = json_of(partial, StatusCode::OK).await;
    assert_eq!(partial["refunded"]["amount_minor"], 3000);
    let too_much = server.order_action(&refund, Some(json!({ "amount": 7001 }))).await;
    let too_much = problem(too_much, StatusCode::CONFLICT, "refund-too-large").await;
    assert_eq!(too_much["refundable"], 7000);
    let nothing = server.order_action(&refund, Some(json!({ "amount": 0 }))).await;
    invalid(nothing, "amount").await;
    let words = server.order_action(&refund, Some(json!({ "amount": "all" }))).await;
    invalid(words, "amount").await;

    let one = format!("/orders/{order_id}/tickets/{}/cancel", show.ticket(0));
    let cancelled = json_of(server.order_action(&one, None).await, StatusCode::OK).await;
    assert_eq!(cancelled["refunded"]["amount_minor"], 8000);
    assert_eq!(cancelled["tickets"][0]["in_order"], "gone");
    let again = json_of(server.order_action(&one, None).await, StatusCode::OK).await;
    assert_eq!(again["refunded"]["amount_minor"], 8000, "a second cancel refunds nothing");

    let cancel = format!("/orders/{order_id}/cancel");
    let whole = json_of(server.order_action(&cancel, None).await, StatusCode::OK).await;
    assert_eq!(whole["state"], "cancelled");
    assert_eq!(whole["refunded"]["amount_minor"], 10000);
    assert_eq!(whole["refundable"]["amount_minor"], 0);
    assert_eq!(server.available(&show).await, u64::from(CAPACITY));
    let twice = json_of(server.order_action(&cancel, None).await, StatusCode::OK).await;
    assert_eq!(twice["refunded"]["amount_minor"], 10000);
    assert_eq!(server.available(&show).await, u64::from(CAPACITY));
}

#[actix_rt::test]
async fn concurrent_refunds_never_add_up_to_more_than_was_paid() {
    let server = sandbox_server().await;
    let (_show, _buyer, order_id) = paid_order(&server).await;
    let refund = format!("/orders/{order_id}/refund");

    let mut attempts = tokio::task::JoinSet::new();
    for _ in 0..24 {
        let request = server
            .client
            .post(server.url(&refund))
            .bearer_auth(ADMIN)
            .json(&json!({ "amount": 3000 }));
        attempts.spawn(async move { request.send().await.expect("the server answers").status() });
    }
    let answers = attempts.join_all().await;
    let accepted = answers.iter().filter(|status| **status == StatusCode::OK).count();
    let refused = answers.iter().filter(|status| **status == StatusCode::CONFLICT).count();

    assert_eq!((accepted, refused), (3, 21));
    assert_eq!(server.order(&order_id).await["refunded"]["amount_minor"], 9000);
}

#[actix_rt::test]
async fn orders_are_for_admins_and_unknown_ones_are_not_found() {
    let server = sandbox_server().await;
    let (_show, buyer, order_id) = paid_order(&server).await;
    let path = format!("/orders/{order_id}");

    let anonymous = server.get(&path).await;
    problem(anonymous, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let buyer_token = server.send(Method::GET, &path, Some(&buyer.token), None).await;
    problem(buyer_token, StatusCode::FORBIDDEN, "forbidden").await;
    for unknown in ["/orders/999-1", "/orders/1-999", "/orders/nonsense", "/orders/1-01"] {
        let answer = server.send(Method::GET, unknown, Some(ADMIN), None).await;
        problem(answer, StatusCode::NOT_FOUND, "not-found").await;
    }
}

/// The files in a receipts directory, once there are `count` of them.
async fn await_files(dir: &std::path::Path, count: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map(|entries| {
                entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect()
            })
            .unwrap_or_default();
        names.retain(|name| !name.starts_with('.'));
        names.sort();
        if names.len() >= count || Instant::now() > deadline {
            return names;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_rt::test]
async fn a_sale_sends_one_receipt_by_email_and_one_by_sms() {
    let server = sandbox_server().await;
    let (_show, _buyer, order_id) = paid_order(&server).await;

    let emails = await_files(&server.data_dir().join("receipts/email"), 1).await;
    let texts = await_files(&server.data_dir().join("receipts/sms"), 1).await;
    assert_eq!(emails, [format!("sale-{order_id}-email.eml")]);
    assert_eq!(texts, [format!("sale-{order_id}-sms.json")]);

    let email =
        std::fs::read_to_string(server.data_dir().join("receipts/email").join(&emails[0])).unwrap();
    assert!(
        email.contains(&format!("Message-ID: <sale-{order_id}-email@boxoffice.invalid>")),
        "{email}"
    );
    assert!(email.contains("Quartet") && email.contains("Tonhalle"), "{email}");
    assert!(email.contains("100.00 CHF"), "{email}");
    assert!(email.contains("text/html") && email.contains("text/plain"), "{email}");

    // The webhook and the return both reported the payment: still one each.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(await_files(&server.data_dir().join("receipts/email"), 1).await.len(), 1);
    assert_eq!(await_files(&server.data_dir().join("receipts/sms"), 1).await.len(), 1);
}

#[actix_rt::test]
async fn refunds_reach_the_provider_once_each() {
    let server = sandbox_server().await;
    let (_show, _buyer, order_id) = paid_order(&server).await;
    let payment = server.order(&order_id).await["payment"].as_str().unwrap().to_owned();
    let sandbox = server.sandbox.as_ref().expect("the server runs the sandbox");

    let refund = format!("/orders/{order_id}/refund");
    json_of(server.order_action(&refund, Some(json!({ "amount": 2500 }))).await, StatusCode::OK)
        .await;
    json_of(server.order_action(&format!("/orders/{order_id}/cancel"), None).await, StatusCode::OK)
        .await;

    let deadline = Instant::now() + Duration::from_secs(20);
    while sandbox.amount_refunded(&payment) != Some(10000) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(sandbox.amount_refunded(&payment), Some(10000));
    let parked = server.send(Method::GET, "/admin/outbox/provider/parked", Some(ADMIN), None).await;
    assert_eq!(json_of(parked, StatusCode::OK).await, json!([]));
}

#[actix_rt::test]
async fn an_unpaid_checkout_ends_with_its_hold_and_its_session_is_expired_at_the_provider() {
    let payments = sandbox_payments();
    let hold_ttl = Duration::from_millis(1500);
    let server = Server::with(Options { payments, hold_ttl, ..Options::default() }).await;
    let (show, buyer, tickets) = holding_two(&server).await;
    let started = json_of(server.checkout(&buyer, &tickets).await, StatusCode::CREATED).await;
    let order_id = started["order_id"].as_str().unwrap();
    let session = started["session_id"].as_str().unwrap();

    server.await_order_state(order_id, "expired").await;
    let sandbox_session = format!("/sandbox/v1/checkout/sessions/{session}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let state = loop {
        let answer =
            server.send(Method::GET, &sandbox_session, Some("sk_test_checkout"), None).await;
        let state = json_of(answer, StatusCode::OK).await;
        if state["status"] == "expired" || Instant::now() > deadline {
            break state;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(state["status"], "expired", "{state}");
    assert_eq!(server.available(&show).await, u64::from(CAPACITY));

    // The page can no longer take a payment, so no money without tickets.
    let payment_url = started["payment_url"].as_str().unwrap();
    let paid = server.client.post(payment_url).form(&[("method", "card")]).send().await.unwrap();
    assert!(paid.status().is_client_error(), "{}", paid.status());
}

#[actix_rt::test]
async fn the_return_page_tells_the_order_as_it_stands() {
    let server = sandbox_server().await;
    let (_show, buyer, order_id) = paid_order(&server).await;
    let session = server.order(&order_id).await["session_id"].as_str().unwrap().to_owned();
    let return_page = format!("/payments/return?session_id={session}");
    assert!(server.get(&return_page).await.text().await.unwrap().contains("Payment received"));

    let cancel = format!("/orders/{order_id}/cancel");
    json_of(server.order_action(&cancel, None).await, StatusCode::OK).await;

    let page = server.get(&return_page).await.text().await.unwrap();
    assert!(page.contains("Order cancelled") && page.contains("refunded"), "{page}");
    assert!(!page.contains("Payment received"), "{page}");
    assert!(server.own(&buyer).await.is_empty());
}

#[actix_rt::test]
async fn cancelling_part_of_a_waiting_checkout_is_refused() {
    let server = sandbox_server().await;
    let (show, buyer, tickets) = holding_two(&server).await;
    let started = json_of(server.checkout(&buyer, &tickets).await, StatusCode::CREATED).await;
    let order_id = started["order_id"].as_str().unwrap();

    let one = format!("/orders/{order_id}/tickets/{}/cancel", show.ticket(0));
    problem(server.order_action(&one, None).await, StatusCode::CONFLICT, "awaiting-payment").await;
    assert_eq!(statuses(&server.own(&buyer).await), ["reserved", "reserved"]);
}

#[actix_rt::test]
async fn refund_bodies_say_what_they_mean() {
    let server = sandbox_server().await;
    let (_show, _buyer, order_id) = paid_order(&server).await;
    let refund = format!("/orders/{order_id}/refund");

    invalid(server.order_action(&refund, Some(json!({ "amount": null }))).await, "amount").await;
    let array = server.order_action(&refund, Some(json!([1]))).await;
    problem(array, StatusCode::UNPROCESSABLE_ENTITY, "not-an-object").await;
    assert_eq!(server.order(&order_id).await["refunded"]["amount_minor"], 0);
}

#[actix_rt::test]
async fn an_oversized_webhook_is_refused_as_a_problem() {
    let server = sandbox_server().await;
    let huge = vec![b' '; 300 * 1024];
    let answer = server.webhook(&huge, Some("t=1,v1=00")).await;
    problem(answer, StatusCode::PAYLOAD_TOO_LARGE, "body-too-large").await;
}
