//! What admins do with orders: look, cancel, refund; and the outbox's
//! parked messages, which an admin can look at and send again.

use std::sync::Arc;

use engine::actor::OrderDetails;
use engine::booking::{OrderState, OrderTicket};
use engine::ids::OrderId;
use engine::outbox::{Consumer, Outbox, OutboxEntry, OutboxSeq, Parked};
use tokio::sync::oneshot;

use super::admin::Admin;
use super::*;
use crate::body::OptionalBody;

#[derive(Serialize)]
struct OrderView {
    id: String,
    performance_id: u32,
    user_id: u32,
    state: &'static str,
    amount: Money,
    refunded: Money,
    refundable: Money,
    #[serde(skip_serializing_if = "Option::is_none")]
    payment: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    held_until: Option<String>,
    /// Payments that arrived when they could not buy the order, refunded.
    refunded_payments: Vec<String>,
    tickets: Vec<OrderTicketView>,
}

#[derive(Serialize)]
struct OrderTicketView {
    #[serde(flatten)]
    ticket: TicketView,
    /// `held` for the order, `sold` to it, or `gone` (expired or cancelled).
    in_order: &'static str,
}

fn order_id(text: &str) -> Result<OrderId, Problem> {
    path_id(text, "order")
}

fn order_view(
    office: &BoxOffice,
    id: OrderId,
    details: OrderDetails,
) -> Result<OrderView, Problem> {
    let handle =
        office.performance(id.performance).map_err(|e| booking_problem(id.performance, e))?;
    let OrderDetails { order, tickets, held_until } = details;
    let currency = &handle.currency;

    let tickets = tickets
        .into_iter()
        .map(|(index, where_now, status)| {
            let ticket = TicketId { performance: id.performance, index };
            let in_order = match where_now {
                OrderTicket::Held => "held",
                OrderTicket::Sold => "sold",
                OrderTicket::Gone => "gone",
            };
            OrderTicketView {
                ticket: TicketView::new(ticket, &handle.plan, currency, status),
                in_order,
            }
        })
        .collect();

    Ok(OrderView {
        id: id.to_string(),
        performance_id: id.performance.0,
        user_id: order.user.0,
        state: state_name(order.state),
        amount: Money::new(order.amount_minor, currency),
        refunded: Money::new(order.refunded_minor, currency),
        refundable: Money::new(order.refundable_minor(), currency),
        payment: order.payment.clone(),
        session_id: order.session.as_ref().map(|session| session.id.clone()),
        held_until: held_until.map(instant),
        refunded_payments: order.turned_back.clone(),
        tickets,
    })
}

fn state_name(state: OrderState) -> &'static str {
    match state {
        OrderState::AwaitingPayment { .. } => "awaiting-payment",
        OrderState::Paid => "paid",
        OrderState::Expired => "expired",
        OrderState::PaymentFailed => "payment-failed",
        OrderState::TurnedBack => "refunded-late-payment",
        OrderState::Cancelled => "cancelled",
    }
}

async fn answer_order(office: &BoxOffice, id: OrderId) -> Answer {
    let details = office.order(id).await.map_err(|error| order_problem(id, error))?;
    Ok(HttpResponse::Ok().json(order_view(office, id, details)?))
}

/// An order id that names no performance is as unknown as one that names
/// no order of it.
fn order_problem(id: OrderId, error: BookingError) -> Problem {
    match error {
        BookingError::UnknownPerformance(_) => Problem::not_found(format!("no order {id}")),
        error => booking_problem(id.performance, error),
    }
}

pub(super) async fn show(state: State, _admin: Admin, path: web::Path<String>) -> Answer {
    let id = order_id(&path)?;
    answer_order(&state.office, id).await
}

/// Frees the order's tickets and refunds what is left of its payment.
pub(super) async fn cancel(state: State, _admin: Admin, path: web::Path<String>) -> Answer {
    let id = order_id(&path)?;
    let cancelled = state.office.cancel_order(id, None).await;
    cancelled.map_err(|error| order_problem(id, error))?;
    answer_order(&state.office, id).await
}

pub(super) async fn cancel_ticket(
    state: State,
    _admin: Admin,
    path: web::Path<(String, String)>,
) -> Answer {
    let id = order_id(&path.0)?;
    let ticket: TicketId = path_id(&path.1, "ticket")?;
    if ticket.performance != id.performance {
        return Err(Problem::not_found(format!("no ticket {ticket} in order {id}")));
    }

    let cancelled = state.office.cancel_order(id, Some(vec![ticket.index])).await;
    cancelled.map_err(|error| match error {
        BookingError::Rejected(engine::booking::Rejection::UnknownTickets { .. }) => {
            Problem::not_found(format!("no ticket {ticket} in order {id}"))
        }
        error => order_problem(id, error),
    })?;
    answer_order(&state.office, id).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RefundRequest {
    /// In minor units; all that is left when absent. `null` is refused,
    /// not read as absent: a client bug must not refund everything.
    #[serde(default, deserialize_with = "present")]
    amount: Option<Option<i64>>,
}

/// Marks a member as given, so `null` can be told from absent.
fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<i64>>, D::Error> {
    Option::<i64>::deserialize(deserializer).map(Some)
}

pub(super) async fn refund(
    state: State,
    _admin: Admin,
    path: web::Path<String>,
    body: OptionalBody<RefundRequest>,
) -> Answer {
    let id = order_id(&path)?;
    let amount = match body.0.and_then(|body| body.amount) {
        None => None,
        Some(Some(amount)) => Some(amount),
        Some(None) => {
            return Err(Problem::invalid(
                "amount",
                "amount is a number of minor units, or left out",
            ))
        }
    };
    let refunded = state.office.refund_order(id, amount).await;
    refunded.map_err(|error| order_problem(id, error))?;
    answer_order(&state.office, id).await
}

// The outbox's parked messages.

fn consumer(text: &str) -> Result<Consumer, Problem> {
    Consumer::from_name(text)
        .ok_or_else(|| Problem::not_found(format!("no outbox consumer {text:?}")))
}

fn outbox(state: &AppState) -> Result<&Arc<dyn Outbox>, Problem> {
    state.outbox.as_ref().ok_or_else(|| Problem::not_found("this server has no outbox"))
}

#[derive(Serialize)]
struct ParkedView {
    seq: u64,
    attempts: u32,
    reason: String,
    parked_at: String,
    retry_requested: bool,
    entry: serde_json::Value,
}

impl From<Parked> for ParkedView {
    fn from(parked: Parked) -> ParkedView {
        ParkedView {
            seq: parked.seq.0,
            attempts: parked.attempts,
            reason: parked.reason,
            parked_at: instant(parked.parked_at),
            retry_requested: parked.retry_requested,
            entry: entry_json(&parked.entry),
        }
    }
}

fn entry_json(entry: &OutboxEntry) -> serde_json::Value {
    match entry {
        OutboxEntry::Sale(sale) => {
            serde_json::json!({ "kind": "receipt", "order_id": sale.order.to_string() })
        }
        OutboxEntry::LatePaymentRefunded(sale) => {
            serde_json::json!({ "kind": "late-payment-notice", "order_id": sale.order.to_string() })
        }
        OutboxEntry::ExpireSession { order, session } => serde_json::json!({
            "kind": "expire-session", "order_id": order.to_string(), "session_id": session
        }),
        OutboxEntry::Refund(refund) => serde_json::json!({
            "kind": "refund",
            "order_id": refund.order.to_string(),
            "payment": refund.payment,
            "amount_minor": refund.amount_minor,
            "idempotency_key": refund.idempotency_key,
        }),
    }
}

pub(super) async fn list_parked(state: State, _admin: Admin, path: web::Path<String>) -> Answer {
    let consumer = consumer(&path)?;
    let parked = outbox(&state)?.parked(consumer).map_err(stored_problem)?;
    let views: Vec<ParkedView> = parked.into_iter().map(ParkedView::from).collect();
    Ok(HttpResponse::Ok().json(views))
}

pub(super) async fn retry_parked(
    state: State,
    _admin: Admin,
    path: web::Path<(String, String)>,
) -> Answer {
    let consumer = consumer(&path.0)?;
    let seq = OutboxSeq(path_id(&path.1, "parked message")?);

    let (done, durable) = oneshot::channel();
    let ack = Box::new(move |result| drop(done.send(result)));
    let known = outbox(&state)?.request_retry(consumer, seq, ack).map_err(stored_problem)?;
    if !known {
        return Err(Problem::not_found(format!("no parked {} message {seq}", consumer.name())));
    }
    let durable = durable
        .await
        .unwrap_or_else(|_| Err(engine::journal::JournalError::new("the journal stopped")));
    durable.map_err(stored_problem)?;
    tracing::info!(consumer = consumer.name(), %seq, "an admin asked to retry a parked message");
    Ok(HttpResponse::Accepted().json(serde_json::json!({ "seq": seq.0, "retry_requested": true })))
}

fn stored_problem(error: engine::journal::JournalError) -> Problem {
    tracing::warn!(%error, "the outbox could not be read or written");
    Problem::unavailable("unavailable", "the server cannot store changes right now")
}
