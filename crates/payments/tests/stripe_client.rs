//! The Stripe client against a fake Stripe that checks exactly what the
//! client sent (method, path, query, headers, form fields) and answers the
//! way Stripe does, including its errors and its odd answers.

#[path = "stripe_client/fake_stripe.rs"]
mod fake_stripe;

use std::sync::Arc;
use std::time::Duration;

use engine::catalogue::Currency;
use engine::ids::{OrderId, PerformanceId};
use engine::payment::{
    CheckoutProvider, CheckoutSession, ProviderError, SessionPayment, SessionRequest, SessionState,
    SessionStatus,
};
use engine::time::{ManualClock, Timestamp};
use fake_stripe::{Answer, FakeStripe};
use payments::stripe::{StripeClient, StripeConfig};
use serde_json::{json, Value};

const SECRET_KEY: &str = "sk_test_boxoffice";

/// "Now" for every client here, in milliseconds: 2027-01-15T08:00:00Z.
const NOW_MS: i64 = 1_800_000_000_000;

fn client_of(fake: &FakeStripe) -> StripeClient {
    client_with_timeout(&fake.base_url, Duration::from_secs(5))
}

fn client_with_timeout(base_url: &str, timeout: Duration) -> StripeClient {
    let config =
        StripeConfig { base_url: base_url.to_string(), secret_key: SECRET_KEY.into(), timeout };
    let clock = Arc::new(ManualClock::starting_at(Timestamp::from_millis(NOW_MS)));
    StripeClient::with_clock(config, clock).expect("a client")
}

fn order() -> OrderId {
    OrderId { performance: PerformanceId(17), number: 3 }
}

fn euros() -> Currency {
    Currency { code: "EUR".into(), exponent: 2 }
}

fn session_request() -> SessionRequest {
    SessionRequest {
        order: order(),
        amount_minor: 4_990,
        currency: euros(),
        description: "2 tickets, Stalls, Tosca".into(),
        customer_email: Some("zoe@example.org".into()),
        success_url: "https://boxoffice.test/paid?session={CHECKOUT_SESSION_ID}".into(),
        cancel_url: "https://boxoffice.test/cancelled".into(),
        expires_at: Timestamp::from_millis(NOW_MS + 2 * 3_600_000),
        idempotency_key: "checkout-17-3-1".into(),
    }
}

/// A Checkout Session as Stripe writes it, with fields we do not read.
fn stripe_session(id: &str, status: &str, payment_status: &str) -> Value {
    json!({
        "id": id,
        "object": "checkout.session",
        "amount_subtotal": 4990,
        "amount_total": 4990,
        "client_reference_id": "17-3",
        "currency": "eur",
        "customer_details": null,
        "expires_at": 1_800_007_200,
        "livemode": false,
        "metadata": {"order_id": "17-3"},
        "mode": "payment",
        "payment_intent": null,
        "payment_status": payment_status,
        "status": status,
        "url": format!("https://checkout.stripe.com/c/pay/{id}")
    })
}

fn stripe_error(code: &str, message: &str) -> Value {
    json!({"error": {"type": "invalid_request_error", "code": code, "message": message}})
}

fn expected_state(id: &str, status: SessionStatus, payment_status: SessionPayment) -> SessionState {
    SessionState {
        id: id.into(),
        order: Some(order()),
        status,
        payment_status,
        payment: None,
        amount_minor: 4_990,
        currency: euros(),
    }
}

fn pairs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(key, value)| (key.to_string(), value.to_string())).collect()
}

/// Creating a session sends Stripe's form, authenticated, with the request's
/// idempotency key, and reads back the session's id and URL.
#[tokio::test]
async fn create_session_posts_stripes_form_with_the_idempotency_key() {
    let fake =
        FakeStripe::start(vec![Answer::json(200, stripe_session("cs_test_1", "open", "unpaid"))]);

    let session = client_of(&fake).create_session(session_request()).await;

    let url = "https://checkout.stripe.com/c/pay/cs_test_1".to_string();
    assert_eq!(session, Ok(CheckoutSession { id: "cs_test_1".into(), url }));
    let request = fake.only_request();
    assert_eq!((request.method.as_str(), request.path.as_str()), ("POST", "/v1/checkout/sessions"));
    assert_eq!(request.header("authorization"), Some("Bearer sk_test_boxoffice"));
    assert_eq!(request.header("idempotency-key"), Some("checkout-17-3-1"));
    assert_eq!(request.header("content-type"), Some("application/x-www-form-urlencoded"));
    let expires_at = (NOW_MS / 1000 + 2 * 3600).to_string();
    let expected = pairs(&[
        ("mode", "payment"),
        ("line_items[0][price_data][currency]", "eur"),
        ("line_items[0][price_data][unit_amount]", "4990"),
        ("line_items[0][price_data][product_data][name]", "2 tickets, Stalls, Tosca"),
        ("line_items[0][quantity]", "1"),
        ("success_url", "https://boxoffice.test/paid?session={CHECKOUT_SESSION_ID}"),
        ("cancel_url", "https://boxoffice.test/cancelled"),
        ("client_reference_id", "17-3"),
        ("metadata[order_id]", "17-3"),
        ("expires_at", &expires_at),
        ("customer_email", "zoe@example.org"),
    ]);
    assert_eq!(request.form, expected);
}

/// Amounts go to Stripe in its units (5 ISK is 500), and an expiry sooner
/// than Stripe's 30 minutes is moved to 31.
#[tokio::test]
async fn create_session_converts_the_amount_and_clamps_the_expiry() {
    let fake =
        FakeStripe::start(vec![Answer::json(200, stripe_session("cs_test_2", "open", "unpaid"))]);
    let request = SessionRequest {
        amount_minor: 5,
        currency: Currency { code: "ISK".into(), exponent: 0 },
        customer_email: None,
        expires_at: Timestamp::from_millis(NOW_MS + 10 * 60_000),
        ..session_request()
    };

    client_of(&fake).create_session(request).await.expect("a session");

    let form = fake.only_request().form;
    let field = |key: &str| form.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    assert_eq!(field("line_items[0][price_data][currency]").as_deref(), Some("isk"));
    assert_eq!(field("line_items[0][price_data][unit_amount]").as_deref(), Some("500"));
    assert_eq!(field("expires_at"), Some((NOW_MS / 1000 + 31 * 60).to_string()));
    assert_eq!(field("customer_email"), None);
}

/// A base URL with a path (a sandbox mounted under `/sandbox`) keeps it.
#[tokio::test]
async fn paths_go_under_the_base_urls_own_path() {
    let answer = Answer::json(200, stripe_session("cs_test_3", "open", "unpaid"));
    let fake = FakeStripe::start_under("/sandbox", vec![answer]);

    client_of(&fake).retrieve_session("cs_test_3").await.expect("a session");

    assert_eq!(fake.only_request().path, "/sandbox/v1/checkout/sessions/cs_test_3");
}

/// An amount Stripe cannot take is refused before anything is sent.
#[tokio::test]
async fn an_amount_stripe_cannot_take_is_refused_without_a_call() {
    let fake = FakeStripe::start(vec![]);
    let request = SessionRequest {
        amount_minor: 5_124,
        currency: Currency { code: "KWD".into(), exponent: 3 },
        ..session_request()
    };

    let result = client_of(&fake).create_session(request).await;

    assert!(
        matches!(&result, Err(ProviderError::Refused(reason)) if reason.contains("last digit"))
    );
    assert!(fake.requests().is_empty());
}

/// Retrieving reads the session, whatever shape its payment intent has.
#[tokio::test]
async fn retrieve_reads_an_expanded_payment_intent() {
    let mut session = stripe_session("cs_test_4", "complete", "paid");
    session["payment_intent"] = json!({"id": "pi_4", "object": "payment_intent", "amount": 4990});
    let fake = FakeStripe::start(vec![Answer::json(200, session)]);

    let state = client_of(&fake).retrieve_session("cs_test_4").await;

    let expected = SessionState {
        payment: Some("pi_4".into()),
        ..expected_state("cs_test_4", SessionStatus::Complete, SessionPayment::Paid)
    };
    assert_eq!(state, Ok(expected));
    let request = fake.only_request();
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("GET", "/v1/checkout/sessions/cs_test_4")
    );
    assert_eq!(request.header("authorization"), Some("Bearer sk_test_boxoffice"));
    assert_eq!(request.header("idempotency-key"), None);
}

#[tokio::test]
async fn a_session_stripe_does_not_know_is_an_unknown_session() {
    let missing = stripe_error("resource_missing", "No such checkout.session: 'cs_test_gone'");
    let fake = FakeStripe::start(vec![Answer::json(404, missing)]);

    let result = client_of(&fake).retrieve_session("cs_test_gone").await;

    assert_eq!(result, Err(ProviderError::UnknownSession("cs_test_gone".into())));
}

#[tokio::test]
async fn expiring_an_open_session_returns_it_expired() {
    let fake =
        FakeStripe::start(vec![Answer::json(200, stripe_session("cs_5", "expired", "unpaid"))]);

    let state = client_of(&fake).expire_session("cs_5").await;

    assert_eq!(state, Ok(expected_state("cs_5", SessionStatus::Expired, SessionPayment::Unpaid)));
    let request = fake.only_request();
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", "/v1/checkout/sessions/cs_5/expire")
    );
    assert!(request.form.is_empty());
}

/// Stripe refuses to expire a session that completed first; the client then
/// retrieves it, so the caller sees the payment it must honour or refund.
#[tokio::test]
async fn expiring_a_completed_session_returns_its_payment() {
    let not_open = json!({"error": {"type": "invalid_request_error",
        "message": "Only Checkout Sessions with a status in [\"open\"] can be expired."}});
    let mut completed = stripe_session("cs_6", "complete", "paid");
    completed["payment_intent"] = json!("pi_6");
    let fake = FakeStripe::start(vec![Answer::json(400, not_open), Answer::json(200, completed)]);

    let state = client_of(&fake).expire_session("cs_6").await;

    let expected = SessionState {
        payment: Some("pi_6".into()),
        ..expected_state("cs_6", SessionStatus::Complete, SessionPayment::Paid)
    };
    assert_eq!(state, Ok(expected));
    let calls: Vec<_> = fake.requests().into_iter().map(|r| (r.method, r.path)).collect();
    let expected_calls =
        [("POST", "/v1/checkout/sessions/cs_6/expire"), ("GET", "/v1/checkout/sessions/cs_6")];
    assert_eq!(calls, expected_calls.map(|(m, p)| (m.to_string(), p.to_string())));
}

#[tokio::test]
async fn expiring_an_expired_session_returns_it_as_it_is() {
    let not_open = stripe_error("checkout_session_not_open", "Not open");
    let expired = stripe_session("cs_7", "expired", "unpaid");
    let fake = FakeStripe::start(vec![Answer::json(400, not_open), Answer::json(200, expired)]);

    let state = client_of(&fake).expire_session("cs_7").await;

    assert_eq!(state, Ok(expected_state("cs_7", SessionStatus::Expired, SessionPayment::Unpaid)));
}

/// A refusal of a session that is still open was about something else, and
/// is passed on.
#[tokio::test]
async fn a_refused_expiry_of_a_session_still_open_stays_refused() {
    let refusal = stripe_error("parameter_unknown", "Received unknown parameter");
    let open = stripe_session("cs_8", "open", "unpaid");
    let fake = FakeStripe::start(vec![Answer::json(400, refusal), Answer::json(200, open)]);

    let result = client_of(&fake).expire_session("cs_8").await;

    let reason = "Received unknown parameter (parameter_unknown, HTTP 400)";
    assert_eq!(result, Err(ProviderError::Refused(reason.into())));
}

#[tokio::test]
async fn expiring_an_unknown_session_is_an_unknown_session() {
    let fake =
        FakeStripe::start(vec![Answer::json(404, stripe_error("resource_missing", "No such"))]);

    let result = client_of(&fake).expire_session("cs_9").await;

    assert_eq!(result, Err(ProviderError::UnknownSession("cs_9".into())));
}

/// A session id that is not Stripe's never reaches the URL.
#[tokio::test]
async fn an_implausible_session_id_is_unknown_without_a_call() {
    let fake = FakeStripe::start(vec![]);

    let result = client_of(&fake).retrieve_session("../../v1/refunds").await;

    assert_eq!(result, Err(ProviderError::UnknownSession("../../v1/refunds".into())));
    assert!(fake.requests().is_empty());
}

fn page(sessions: Vec<Value>, has_more: bool) -> Answer {
    let list = json!({
        "object": "list",
        "url": "/v1/checkout/sessions",
        "data": sessions,
        "has_more": has_more
    });
    Answer::json(200, list)
}

fn session_of(id: &str, client_reference: Value, metadata: Value) -> Value {
    let mut session = stripe_session(id, "open", "unpaid");
    session["client_reference_id"] = client_reference;
    session["metadata"] = metadata;
    session
}

/// Open sessions are listed page after page, and those naming the order (by
/// client reference or metadata) kept; another integration's session that
/// we could not read does not get in the way.
#[tokio::test]
async fn open_sessions_of_follows_the_pages_and_keeps_the_orders() {
    let other_order = session_of("cs_other", json!("17-4"), json!({"order_id": "17-4"}));
    let ours_by_reference = session_of("cs_a", json!("17-3"), json!({}));
    let mut foreign = session_of("cs_foreign", json!("invoice-991"), json!({}));
    foreign["currency"] = json!("xts");
    let ours_by_metadata = session_of("cs_b", json!(null), json!({"order_id": "17-3"}));
    let fake = FakeStripe::start(vec![
        page(vec![other_order, ours_by_reference], true),
        page(vec![foreign, ours_by_metadata], true),
        page(vec![], false),
    ]);

    let sessions = client_of(&fake).open_sessions_of(order()).await.expect("the open sessions");

    let ids: Vec<_> = sessions.iter().map(|session| session.id.as_str()).collect();
    assert_eq!(ids, ["cs_a", "cs_b"]);
    let requests = fake.requests();
    let after: Vec<_> = requests.iter().map(|r| r.query_value("starting_after")).collect();
    assert_eq!(after, [None, Some("cs_a"), Some("cs_b")]);
    for request in &requests {
        assert_eq!(
            (request.method.as_str(), request.path.as_str()),
            ("GET", "/v1/checkout/sessions")
        );
        assert_eq!(request.query_value("status"), Some("open"));
        assert_eq!(request.query_value("limit"), Some("100"));
    }
}

/// An account with endless open sessions costs a bounded number of pages.
#[tokio::test]
async fn open_sessions_of_reads_a_bounded_number_of_pages() {
    let pages =
        (0..30).map(|n| page(vec![session_of(&format!("cs_{n}"), json!("17-3"), json!({}))], true));
    let fake = FakeStripe::start(pages.collect());

    let sessions = client_of(&fake).open_sessions_of(order()).await.expect("the open sessions");

    assert_eq!(sessions.len(), 20);
    assert_eq!(fake.requests().len(), 20);
}

/// A refund names the payment intent, in Stripe's units, with the refund's
/// idempotency key.
#[tokio::test]
async fn refund_posts_the_payment_intent_and_the_converted_amount() {
    let refund = json!({"id": "re_1", "object": "refund", "amount": 500, "status": "succeeded"});
    let fake = FakeStripe::start(vec![Answer::json(200, refund)]);
    let isk = Currency { code: "ISK".into(), exponent: 0 };

    let reference = client_of(&fake).refund("pi_1", Some(5), &isk, "refund-17-3").await;

    assert_eq!(reference, Ok("re_1".into()));
    let request = fake.only_request();
    assert_eq!((request.method.as_str(), request.path.as_str()), ("POST", "/v1/refunds"));
    assert_eq!(request.header("idempotency-key"), Some("refund-17-3"));
    assert_eq!(request.form, pairs(&[("payment_intent", "pi_1"), ("amount", "500")]));
}

#[tokio::test]
async fn a_refund_stripe_reports_failed_is_refused() {
    let refund = json!({"id": "re_2", "object": "refund", "status": "failed"});
    let fake = FakeStripe::start(vec![Answer::json(200, refund)]);

    let result = client_of(&fake).refund("pi_2", Some(100), &euros(), "refund-2").await;

    assert_eq!(result, Err(ProviderError::Refused("Stripe reports refund re_2 as failed".into())));
}

#[tokio::test]
async fn a_refund_stripe_refuses_carries_its_message() {
    let refused = stripe_error("charge_already_refunded", "Charge ch_1 has already been refunded.");
    let fake = FakeStripe::start(vec![Answer::json(400, refused)]);

    let result = client_of(&fake).refund("pi_3", Some(100), &euros(), "refund-3").await;

    let reason = "Charge ch_1 has already been refunded. (charge_already_refunded, HTTP 400)";
    assert_eq!(result, Err(ProviderError::Refused(reason.into())));
}

/// Server errors, rate limits and answers we cannot read are worth retrying;
/// a refusal is not.
#[tokio::test]
async fn failures_map_to_what_the_caller_can_do_about_them() {
    let cases = [
        (
            Answer::json(500, json!({"error": {"type": "api_error", "message": "boom"}})),
            "unavailable",
        ),
        (Answer::raw(503, "<html>Service Unavailable</html>"), "unavailable"),
        (Answer::json(429, stripe_error("rate_limit", "Too many requests")), "unavailable"),
        (Answer::raw(200, "{\"id\": \"cs_1\", \"status\""), "unavailable"),
        (Answer::raw(200, "[]"), "unavailable"),
        (Answer::json(400, stripe_error("parameter_missing", "Missing required param")), "refused"),
        (Answer::json(401, json!({"error": {"message": "Invalid API Key provided"}})), "refused"),
    ];
    for (answer, expected) in cases {
        let fake = FakeStripe::start(vec![answer.clone()]);
        let result = client_of(&fake).create_session(session_request()).await;
        let kind = match result {
            Err(ProviderError::Unavailable(_)) => "unavailable",
            Err(ProviderError::Refused(_)) => "refused",
            other => panic!("{answer:?} gave {other:?}"),
        };
        assert_eq!(kind, expected, "{answer:?}");
    }
}

#[tokio::test]
async fn no_answer_in_time_is_a_timeout() {
    let slow = Answer::json(200, stripe_session("cs_slow", "open", "unpaid"))
        .after(Duration::from_secs(3));
    let fake = FakeStripe::start(vec![slow]);
    let client = client_with_timeout(&fake.base_url, Duration::from_millis(300));

    let result = client.create_session(session_request()).await;

    assert_eq!(result, Err(ProviderError::Timeout));
}

#[tokio::test]
async fn no_one_listening_is_unavailable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let address = listener.local_addr().expect("its address");
    drop(listener);
    let client = client_with_timeout(&format!("http://{address}"), Duration::from_secs(5));

    let result = client.retrieve_session("cs_test_1").await;

    assert!(matches!(result, Err(ProviderError::Unavailable(_))), "{result:?}");
}
