//! The Stripe client against the sandbox, which speaks the same protocol:
//! a contract test of the two halves, from opening a session through its
//! webhooks to the refund, with the sandbox's own test harness.

#[path = "sandbox/harness.rs"]
mod harness;

use std::time::Duration;

use engine::catalogue::Currency;
use engine::ids::{OrderId, PerformanceId};
use engine::payment::{
    CheckoutProvider, ProviderError, SessionPayment, SessionRequest, SessionState, SessionStatus,
};
use engine::time::{Clock, SystemClock};
use harness::{Setup, World, SECRET_KEY};
use payments::sandbox::PaymentMethod;
use payments::stripe::{parse_webhook_event, StripeClient, StripeConfig, WebhookKind};

fn client_of(world: &World, secret_key: &str) -> StripeClient {
    let config = StripeConfig {
        base_url: world.api_base.clone(),
        secret_key: secret_key.into(),
        timeout: Duration::from_secs(10),
    };
    StripeClient::new(config).expect("a client")
}

fn order(number: u32) -> OrderId {
    OrderId { performance: PerformanceId(17), number }
}

fn euros() -> Currency {
    Currency { code: "EUR".into(), exponent: 2 }
}

/// A session request as the engine makes one: it expires with the hold, in
/// 10 minutes, sooner than Stripe allows, so the client moves it.
fn request(order: OrderId, amount_minor: i64, currency: Currency) -> SessionRequest {
    SessionRequest {
        order,
        amount_minor,
        currency,
        description: "2 tickets, Stalls, Tosca".into(),
        customer_email: Some("zoe@example.org".into()),
        success_url: "http://shop.test/paid?session={CHECKOUT_SESSION_ID}".into(),
        cancel_url: "http://shop.test/cancelled".into(),
        expires_at: SystemClock.now().plus(Duration::from_secs(600)),
        idempotency_key: format!("checkout-{order}"),
    }
}

/// The webhook events of `session`, read by the client's parser, once
/// there are `count`.
async fn webhooks_of(world: &World, session: &str, count: usize) -> Vec<WebhookKind> {
    world.receiver.await_types(session, count).await;
    let received = world.receiver.of_session(session);
    let parse = |payload: &str| parse_webhook_event(payload.as_bytes()).expect("a readable event");
    received.iter().map(|webhook| parse(&webhook.payload).kind).collect()
}

/// The whole paid path: opened (twice, one session), listed while open,
/// paid, seen paid by retrieval and by webhook, not expirable any more,
/// refunded.
#[actix_rt::test]
async fn a_paid_session_is_seen_by_retrieval_and_webhook_and_refunded() {
    let world = World::start(Setup::system_clock()).await;
    let client = client_of(&world, SECRET_KEY);
    let order = order(3);

    // A retry sends the very same request, with an expiry Stripe takes as
    // it is (as the engine's always is). One it must move is moved from the
    // clock, so two attempts a second apart would differ, and Stripe refuses
    // an idempotent retry whose parameters changed.
    let mut opening = request(order, 4_990, euros());
    opening.expires_at = SystemClock.now().plus(Duration::from_secs(3600));
    let session = client.create_session(opening.clone()).await.expect("a session");
    let again = client.create_session(opening).await.expect("the same");
    assert_eq!(again, session, "the idempotency key finds the first session");
    let open = client.open_sessions_of(order).await.expect("the open sessions");
    assert_eq!(open.iter().map(|state| state.id.as_str()).collect::<Vec<_>>(), [&session.id]);

    world.sandbox.pay(&session.id, PaymentMethod::Card).await.expect("paid");

    let state = client.retrieve_session(&session.id).await.expect("the session");
    assert_eq!(
        (state.status, state.payment_status),
        (SessionStatus::Complete, SessionPayment::Paid)
    );
    assert_eq!((state.order, state.amount_minor, &state.currency), (Some(order), 4_990, &euros()));
    let payment = state.payment.clone().expect("a paid session names its payment");
    assert_eq!(webhooks_of(&world, &session.id, 1).await, [WebhookKind::Completed(state.clone())]);
    assert_eq!(client.expire_session(&session.id).await, Ok(state));
    assert_eq!(client.open_sessions_of(order).await, Ok(Vec::new()));

    let refund = client.refund(&payment, Some(4_990), &euros(), &format!("refund-{order}")).await;
    assert!(refund.expect("a refund").starts_with("re_"));
    world.stop().await;
}

#[actix_rt::test]
async fn an_open_session_is_expired_and_its_webhook_says_so() {
    let world = World::start(Setup::system_clock()).await;
    let client = client_of(&world, SECRET_KEY);

    let session =
        client.create_session(request(order(4), 2_500, euros())).await.expect("a session");
    let expired = client.expire_session(&session.id).await.expect("the expired session");

    assert_eq!((expired.status, &expired.payment), (SessionStatus::Expired, &None));
    assert_eq!(webhooks_of(&world, &session.id, 1).await, [WebhookKind::Expired(expired)]);
    world.stop().await;
}

/// A delayed method completes the session unpaid, then tells the outcome.
#[actix_rt::test]
async fn a_delayed_payment_ends_in_its_own_event() {
    let world = World::start(Setup::system_clock()).await;
    let client = client_of(&world, SECRET_KEY);

    let session =
        client.create_session(request(order(5), 2_500, euros())).await.expect("a session");
    world.sandbox.pay(&session.id, PaymentMethod::DelayedSuccess).await.expect("paid later");

    let events = webhooks_of(&world, &session.id, 2).await;
    let states: Vec<&SessionState> = events.iter().filter_map(WebhookKind::session).collect();
    assert!(matches!(events[0], WebhookKind::Completed(_)), "{events:?}");
    assert!(matches!(events[1], WebhookKind::AsyncPaymentSucceeded(_)), "{events:?}");
    assert_eq!(states[0].payment_status, SessionPayment::Unpaid);
    assert_eq!(states[1].payment_status, SessionPayment::Paid);
    world.stop().await;
}

/// Amounts cross in Stripe's units both ways: 7,900 ISK goes as 790000 and
/// comes back as 7,900.
#[actix_rt::test]
async fn amounts_come_back_in_iso_minor_units() {
    let world = World::start(Setup::system_clock()).await;
    let client = client_of(&world, SECRET_KEY);
    let isk = Currency { code: "ISK".into(), exponent: 0 };

    let session = client.create_session(request(order(6), 7_900, isk.clone())).await;
    let session = session.expect("a session");
    let (status, raw) = world.get(&format!("/v1/checkout/sessions/{}", session.id)).await;
    let state = client.retrieve_session(&session.id).await.expect("the session");

    assert_eq!(
        (status, &raw["amount_total"], &raw["currency"]),
        (200, &790_000.into(), &"isk".into())
    );
    assert_eq!((state.amount_minor, state.currency), (7_900, isk));
    world.stop().await;
}

#[actix_rt::test]
async fn the_sandboxs_refusals_map_as_stripes_do() {
    let world = World::start(Setup::system_clock()).await;
    let client = client_of(&world, SECRET_KEY);

    let unknown = client.retrieve_session("cs_test_none").await;
    let wrong_key = client_of(&world, "sk_test_wrong_key").retrieve_session("cs_test_none").await;
    let no_payment = client.refund("pi_none", Some(100), &euros(), "refund-none").await;

    assert_eq!(unknown, Err(ProviderError::UnknownSession("cs_test_none".into())));
    assert!(matches!(wrong_key, Err(ProviderError::Refused(_))), "{wrong_key:?}");
    assert!(matches!(no_payment, Err(ProviderError::Refused(_))), "{no_payment:?}");
    world.stop().await;
}
