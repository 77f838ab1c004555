//! Both halves of the checkout against each other: Boxoffice's own Stripe
//! client (`payments::stripe`) drives the sandbox over HTTP, and reads the
//! sandbox's webhooks once `payments::signature` has verified them.

#[path = "sandbox/harness.rs"]
mod harness;

use std::time::Duration;

use engine::catalogue::Currency;
use engine::ids::{OrderId, PerformanceId};
use engine::payment::{CheckoutProvider, SessionPayment, SessionRequest, SessionStatus};
use engine::time::{Clock, SystemClock};
use harness::{Setup, World, SECRET_KEY};
use payments::sandbox::PaymentMethod;
use payments::stripe::{parse_webhook_event, StripeClient, StripeConfig, WebhookKind};

fn client_of(world: &World) -> StripeClient {
    let config = StripeConfig {
        base_url: world.api_base.clone(),
        secret_key: SECRET_KEY.into(),
        timeout: Duration::from_secs(10),
    };
    StripeClient::new(config).expect("a client")
}

fn euros() -> Currency {
    Currency { code: "EUR".into(), exponent: 2 }
}

fn request_for(order: OrderId, key: &str) -> SessionRequest {
    SessionRequest {
        order,
        amount_minor: 4_990,
        currency: euros(),
        description: "2 tickets, Stalls, Tosca".into(),
        customer_email: Some("zoe@example.org".into()),
        success_url: "http://shop.test/paid?session={CHECKOUT_SESSION_ID}".into(),
        cancel_url: "http://shop.test/cancelled".into(),
        expires_at: SystemClock.now().plus(Duration::from_secs(600)),
        idempotency_key: key.into(),
    }
}

#[actix_rt::test]
async fn the_boxoffice_stripe_client_checks_out_against_the_sandbox() {
    let world = World::start(Setup::system_clock()).await;
    let client = client_of(&world);
    let order = OrderId { performance: PerformanceId(17), number: 3 };
    let other_order = OrderId { performance: PerformanceId(17), number: 4 };

    let session = client.create_session(request_for(order, "checkout-17-3")).await.unwrap();
    let again = client.create_session(request_for(order, "checkout-17-3")).await.unwrap();
    let abandoned = client.create_session(request_for(other_order, "checkout-17-4")).await.unwrap();
    let open = client.retrieve_session(&session.id).await.unwrap();
    let open_of_order = client.open_sessions_of(order).await.unwrap();

    assert_eq!(again, session);
    assert!(session.url.starts_with(&world.api_base));
    assert_eq!(
        (open.status, open.order, open.amount_minor),
        (SessionStatus::Open, Some(order), 4_990)
    );
    assert_eq!(open_of_order.iter().map(|state| &state.id).collect::<Vec<_>>(), [&session.id]);

    world.sandbox.pay(&session.id, PaymentMethod::Card).await.unwrap();
    let paid = client.retrieve_session(&session.id).await.unwrap();
    let expired_late = client.expire_session(&session.id).await.unwrap();
    let expired = client.expire_session(&abandoned.id).await.unwrap();
    let payment = paid.payment.clone().expect("a paid session names its payment");
    let refund = client.refund(&payment, 1_000, &euros(), "refund-17-3").await.unwrap();
    let too_much = client.refund(&payment, 4_990, &euros(), "refund-17-3-b").await;

    assert_eq!((paid.status, paid.payment_status), (SessionStatus::Complete, SessionPayment::Paid));
    assert_eq!(expired_late.status, SessionStatus::Complete, "a paid session stays paid");
    assert_eq!(expired.status, SessionStatus::Expired);
    assert!(refund.starts_with("re_"), "{refund}");
    assert!(too_much.is_err_and(|error| !error.is_transient()));

    let completed = world.receiver.await_types(&session.id, 1).await;
    let webhook = &world.receiver.of_session(&session.id)[0];
    let event = parse_webhook_event(webhook.payload.as_bytes()).expect("the client reads it");

    assert_eq!(completed, ["checkout.session.completed"]);
    assert!(webhook.verified.is_ok());
    match event.kind {
        WebhookKind::Completed(state) => {
            assert_eq!((state.order, state.payment_status), (Some(order), SessionPayment::Paid));
            assert_eq!(state.payment, paid.payment);
        }
        other => panic!("a completed session's event, not {other:?}"),
    }
    world.stop().await;
}
