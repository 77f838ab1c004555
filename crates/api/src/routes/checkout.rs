//! Paying through the provider: the checkout that sends the buyer to the
//! provider's page, the webhook the provider calls, and the pages the
//! buyer's browser comes back to.
//!
//! A payment counts only once the provider vouches for it: by a webhook
//! whose signature checks out, or by the provider's own answer when asked
//! about the session a returning browser names. The redirect itself proves
//! nothing.

use engine::booking::{Order, OrderState};
use engine::box_office::{CheckoutUrls, SessionOutcome};
use engine::ids::OrderId;
use engine::payment::{SessionState, SessionStatus};
use payments::signature;
use payments::stripe::{parse_webhook_event, WebhookKind};

use super::booking::{body_tickets, Caller};
use super::*;
use crate::body::RawBody;

/// How the server takes payments, as the routes need to know it.
#[derive(Clone, Debug)]
pub struct PaymentsState {
    /// `instant`, `sandbox` or `stripe`.
    pub mode: &'static str,
    /// Verifies webhooks; `None` refuses them all (the instant provider
    /// sends none).
    pub webhook_secret: Option<String>,
    /// Where the buyer's browser reaches this server, for the provider's
    /// redirects: `http://127.0.0.1:8080`.
    pub public_url: String,
}

impl PaymentsState {
    /// Whether tickets may be bought with a payment token directly, without
    /// a checkout: only where no real money moves.
    pub fn takes_tokens(&self) -> bool {
        self.mode == "instant"
    }

    fn urls(&self) -> CheckoutUrls {
        let base = self.public_url.trim_end_matches('/');
        CheckoutUrls {
            success_url: format!("{base}/payments/return?session_id={{CHECKOUT_SESSION_ID}}"),
            cancel_url: format!("{base}/payments/cancelled"),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CheckoutRequest {
    ticket_ids: Vec<String>,
}

#[derive(Serialize)]
struct CheckoutView {
    order_id: String,
    amount: Money,
    /// Where to send the buyer to pay.
    payment_url: String,
    session_id: String,
    /// The tickets stay held for the order until then.
    held_until: String,
}

pub(super) async fn checkout(
    state: State,
    Caller(user): Caller,
    body: Body<CheckoutRequest>,
) -> Answer {
    let (performance, tickets) = body_tickets(&body.0.ticket_ids)?;

    let urls = state.payments.urls();
    let started = state.office.checkout(user, performance, tickets, urls).await;
    let started = started.map_err(|error| match error {
        BookingError::UnknownPerformance(_) => {
            Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "unknown-ticket", "no such tickets")
                .with("field", "ticket_ids")
        }
        error => booking_problem(performance, error),
    })?;
    tracing::info!(%user, order = %started.order, session = %started.session, "checkout started");

    let view = CheckoutView {
        order_id: started.order.to_string(),
        amount: Money::new(started.amount_minor, &started.currency),
        payment_url: started.url,
        session_id: started.session,
        held_until: instant(started.until),
    };
    Ok(HttpResponse::Created().json(view))
}

/// The provider's webhook: checked, then applied. Answers 2xx once the
/// change is durable, so the provider retries anything we did not keep.
pub(super) async fn webhook(state: State, request: HttpRequest, payload: RawBody) -> Answer {
    let RawBody(payload) = payload;
    let secret = state.payments.webhook_secret.as_deref().ok_or_else(|| {
        Problem::new(StatusCode::NOT_FOUND, "not-found", "this server takes no webhooks")
    })?;
    verify_signature(&request, &payload, secret, state.clock.now())?;

    let event = parse_webhook_event(&payload).map_err(|error| {
        Problem::new(StatusCode::BAD_REQUEST, "invalid-webhook", error.to_string())
    })?;
    let outcome = match &event.kind {
        WebhookKind::Completed(session) | WebhookKind::AsyncPaymentSucceeded(session) => {
            settle(&state.office, session).await?
        }
        WebhookKind::AsyncPaymentFailed(session) => fail(&state.office, session).await?,
        WebhookKind::Expired(_) | WebhookKind::Other(_) => "ignored",
    };
    tracing::info!(event = %event.id, kind = ?event.kind.session().map(|s| &s.id), outcome, "webhook applied");
    Ok(HttpResponse::Ok().json(serde_json::json!({ "received": true, "outcome": outcome })))
}

fn verify_signature(
    request: &HttpRequest,
    payload: &[u8],
    secret: &str,
    now: Timestamp,
) -> Result<(), Problem> {
    let header = request.headers().get(signature::HEADER).and_then(|value| value.to_str().ok());
    let header = header.ok_or_else(|| {
        Problem::new(StatusCode::BAD_REQUEST, "missing-signature", "no Stripe-Signature header")
    })?;
    let now_secs = now.as_millis().div_euclid(1000);
    match signature::verify(payload, header, secret, now_secs, signature::DEFAULT_TOLERANCE_SECS) {
        Ok(_) => Ok(()),
        Err(error) => {
            metrics::counter!("boxoffice_webhooks_refused_total").increment(1);
            tracing::warn!(%error, "refused a webhook");
            Err(Problem::new(StatusCode::BAD_REQUEST, "invalid-signature", error.to_string()))
        }
    }
}

/// Applies a paid (or pending) session; a session of no order of ours is
/// acknowledged and left alone, so the provider stops sending it.
async fn settle(office: &BoxOffice, session: &SessionState) -> Result<&'static str, Problem> {
    match office.settle_session(session).await {
        Ok(outcome) => Ok(outcome_name(&outcome)),
        Err(BookingError::UnknownPerformance(_))
        | Err(BookingError::Rejected(engine::booking::Rejection::UnknownOrder { .. }))
        | Err(BookingError::Provider(_)) => {
            tracing::warn!(session = %session.id, "a webhook named a session of no order of ours");
            Ok("unknown-order")
        }
        Err(error) => Err(provider_side_problem(error)),
    }
}

async fn fail(office: &BoxOffice, session: &SessionState) -> Result<&'static str, Problem> {
    let Some(order) = session.order else { return Ok("unknown-order") };
    match office.fail_payment(order).await {
        Ok(()) => Ok("payment-failed"),
        Err(BookingError::UnknownPerformance(_)) | Err(BookingError::Rejected(_)) => {
            Ok("unknown-order")
        }
        Err(error) => Err(provider_side_problem(error)),
    }
}

/// A failure to keep what the provider told us: 503, so it tries again.
fn provider_side_problem(error: BookingError) -> Problem {
    tracing::warn!(%error, "could not apply a payment report; the provider will retry");
    Problem::unavailable("unavailable", "the payment report could not be stored; retry later")
}

fn outcome_name(outcome: &SessionOutcome) -> &'static str {
    match outcome {
        SessionOutcome::Paid(_) => "paid",
        SessionOutcome::AlreadyKnown => "already-known",
        SessionOutcome::TurnedBack => "refunded",
        SessionOutcome::PaymentPending => "payment-pending",
        SessionOutcome::NotPaid => "not-paid",
    }
}

#[derive(Deserialize)]
pub(super) struct ReturnQuery {
    session_id: Option<String>,
}

/// Where the provider sends the buyer after paying. No bearer token: the
/// session id names the checkout, and the provider, asked about it, says
/// whether it is paid.
pub(super) async fn payment_return(state: State, query: Query<ReturnQuery>) -> Answer {
    let Some(session) = query.0.session_id.filter(|id| !id.is_empty() && id.len() <= 255) else {
        return Err(Problem::invalid("session_id", "session_id names the checkout session"));
    };

    let refreshed = state.office.refresh_session(&session).await;
    let (session, outcome) = match refreshed {
        Ok(refreshed) => refreshed,
        Err(BookingError::Provider(engine::payment::ProviderError::UnknownSession(_)))
        | Err(BookingError::UnknownPerformance(_)) => {
            return Err(Problem::not_found("no such checkout session"))
        }
        Err(error @ BookingError::Provider(_)) => {
            tracing::warn!(%error, %session, "could not ask the provider about a returning buyer");
            let detail = "the payment provider could not be asked; reload this page in a moment";
            return Err(Problem::new(
                StatusCode::BAD_GATEWAY,
                "payment-provider-unavailable",
                detail,
            ));
        }
        Err(error) => return Err(provider_side_problem(error)),
    };

    // What the buyer reads is the order as it is now: a payment seen before
    // may since have been refunded, or the order cancelled.
    let order = match session.order {
        Some(id) => state.office.order(id).await.ok().map(|details| (id, details.order)),
        None => None,
    };
    let (title, message) = match &order {
        Some((id, order)) => describe_order(*id, order, &session),
        None => describe_outcome(&outcome),
    };
    Ok(html_page(title, &message))
}

/// The order a returning buyer paid for, as it stands.
fn describe_order(id: OrderId, order: &Order, session: &SessionState) -> (&'static str, String) {
    let payment = session.payment.clone().unwrap_or_else(|| session.id.clone());
    let this_payment = order.payment.as_deref() == Some(payment.as_str());
    let seats = order.tickets.len();
    match order.state {
        OrderState::Paid if this_payment => (
            "Payment received",
            format!("Thank you: order {id} is paid, {seats} tickets. Your receipt is on its way by email and SMS."),
        ),
        OrderState::Cancelled if this_payment => (
            "Order cancelled",
            format!("Order {id} was cancelled, and its payment is refunded."),
        ),
        _ if order.turned_back.contains(&payment) => (
            "Payment refunded",
            format!(
                "Your payment for order {id} arrived after its tickets had gone, so it is being refunded in full."
            ),
        ),
        OrderState::PaymentFailed => (
            "Payment failed",
            format!("The payment for order {id} failed; nothing was charged, and its seats were released."),
        ),
        _ if session.status == SessionStatus::Complete => (
            "Payment pending",
            format!("Your payment for order {id} is on its way; we will email you once it settles."),
        ),
        state if state == OrderState::Expired || session.status == SessionStatus::Expired => {
            ("Checkout expired", format!("The checkout of order {id} has expired; nothing was charged."))
        }
        _ => ("Not paid yet", format!("Order {id} is not paid yet; nothing was charged.")),
    }
}

/// What happened, when the order itself could not be read.
fn describe_outcome(outcome: &SessionOutcome) -> (&'static str, String) {
    match outcome {
        SessionOutcome::Paid(_) | SessionOutcome::AlreadyKnown => {
            ("Payment received", "Thank you: your order is paid.".into())
        }
        SessionOutcome::TurnedBack => (
            "Payment refunded",
            "Your payment arrived after the tickets had gone, so it is being refunded in full."
                .into(),
        ),
        SessionOutcome::PaymentPending => ("Payment pending", "Your payment is on its way.".into()),
        SessionOutcome::NotPaid => {
            ("Not paid yet", "Your order is not paid yet; nothing was charged.".into())
        }
    }
}

/// Where the provider sends a buyer who left its page without paying.
pub(super) async fn payment_cancelled() -> HttpResponse {
    let message = "You left the payment page; nothing was charged. Your tickets stay held until \
                   the checkout ends: start the checkout again to get back to the payment page.";
    html_page("Payment not completed", message)
}

fn html_page(title: &str, message: &str) -> HttpResponse {
    let body = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body><h1>{title}</h1><p>{message}</p></body></html>\n",
        title = html_escape::encode_quoted_attribute(title),
        message = html_escape::encode_quoted_attribute(message),
    );
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(body)
}
