//! Reserving, buying and giving back tickets in the baseline: one InnoDB
//! transaction per reservation and per purchase, row locks on the tickets
//! they take, and guarded updates that check the hold in the database.
//!
//! This is the baseline (the design Boxoffice replaces), not the product.
//! Unlike Boxoffice it picks the first free tickets of a section in
//! numbering order rather than the best adjacent seats: that is the query
//! the design has, and it only makes the baseline's work lighter.

use std::future::Future;
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use mysql_async::prelude::Queryable;
use mysql_async::{Pool, Transaction, TxOpts, Value};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::catalogue::{performance, Performance};
use super::db::{instant_of, is_retryable, placeholders, sql_instant, ATTEMPTS};
use super::problem::{Body, Problem};
use super::routes::{Answer, State};
use super::users::Caller;
use super::views::{order_id, parse_ticket_id, ticket_id, Money, OwnTicketView, TicketView};

/// Why a transaction did not commit: a refusal to answer, or a database
/// error (which may be worth another try).
enum Failure {
    Refused(Problem),
    Db(mysql_async::Error),
}

impl From<mysql_async::Error> for Failure {
    fn from(error: mysql_async::Error) -> Failure {
        Failure::Db(error)
    }
}

/// Runs a transaction again when InnoDB rolled it back for a deadlock or a
/// lock wait timeout, as its manual says to.
async fn retrying<T, F, Fut>(mut attempt: F) -> Result<T, Problem>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Failure>>,
{
    let mut tries = 1;
    loop {
        match attempt().await {
            Ok(value) => return Ok(value),
            Err(Failure::Refused(problem)) => return Err(problem),
            Err(Failure::Db(error)) if is_retryable(&error) && tries < ATTEMPTS => {
                tracing::debug!(%error, tries, "transaction rolled back by InnoDB; trying again");
                tries += 1;
            }
            Err(Failure::Db(error)) => return Err(error.into()),
        }
    }
}

/// Rolls back at once, so the locks go now rather than when the pool
/// recycles the connection, and answers the refusal.
async fn refuse<T>(tx: Transaction<'static>, problem: Problem) -> Result<T, Failure> {
    tx.rollback().await?;
    Err(Failure::Refused(problem))
}

/// `performance_id, i, j, …` then more: the parameters of a statement
/// about some tickets of one performance.
fn ticket_params(first: Vec<Value>, performance: u32, tickets: &[u32]) -> Vec<Value> {
    let mut params = first;
    params.push(performance.into());
    params.extend(tickets.iter().map(|&ticket| Value::from(ticket)));
    params
}

fn id_list(performance: u32, tickets: &[u32]) -> serde_json::Value {
    tickets.iter().map(|&ticket| ticket_id(performance, ticket)).collect()
}

async fn known_performance(state: &State, id: u32) -> Result<Arc<Performance>, Problem> {
    let found = performance(state, id).await?;
    found.ok_or_else(|| {
        let detail = format!("no performance {id}");
        Problem::unprocessable("unknown-performance", "performance_id", detail)
    })
}

// Checks made before any transaction, as Boxoffice makes them.

/// Parses ticket ids, all of one performance.
fn parse_tickets(ids: &[String]) -> Result<(u32, Vec<u32>), Problem> {
    let mut parsed = Vec::with_capacity(ids.len());
    for id in ids {
        let ticket = parse_ticket_id(id)
            .ok_or_else(|| Problem::invalid("ticket_ids", format!("{id:?} is not a ticket id")))?;
        parsed.push(ticket);
    }
    let Some(&(performance, _)) = parsed.first() else {
        return Err(Problem::unprocessable(
            "empty-ticket-list",
            "ticket_ids",
            "ticket_ids is empty",
        ));
    };
    if parsed.iter().any(|&(of, _)| of != performance) {
        let detail = "the tickets of one request must be of one performance";
        return Err(Problem::unprocessable("mixed-performances", "ticket_ids", detail));
    }
    Ok((performance, parsed.into_iter().map(|(_, index)| index).collect()))
}

/// Refuses tickets the plan does not have, duplicates, and more than one
/// order may hold.
fn check_list(performance: &Performance, tickets: &[u32]) -> Result<(), Problem> {
    let capacity = performance.plan.capacity();
    let unknown: Vec<u32> = tickets.iter().copied().filter(|&t| t >= capacity).collect();
    if !unknown.is_empty() {
        let problem = Problem::unprocessable("unknown-ticket", "ticket_ids", "no such tickets");
        return Err(problem.with("tickets", id_list(performance.id, &unknown)));
    }
    let mut seen = std::collections::HashSet::with_capacity(tickets.len());
    if let Some(&twice) = tickets.iter().find(|&&ticket| !seen.insert(ticket)) {
        let detail = "a ticket is listed twice";
        let problem = Problem::unprocessable("duplicate-ticket", "ticket_ids", detail);
        return Err(problem.with("tickets", id_list(performance.id, &[twice])));
    }
    check_order_size(performance, tickets.len())
}

fn check_order_size(performance: &Performance, count: usize) -> Result<(), Problem> {
    if count > performance.order_max as usize {
        let max = performance.order_max;
        let detail = format!("one order may have at most {max} tickets");
        let problem = Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "order-limit", detail);
        return Err(problem.with("max", max));
    }
    Ok(())
}

// Reserve.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReserveRequest {
    performance_id: u32,
    #[serde(default)]
    ticket_ids: Option<Vec<String>>,
    #[serde(default)]
    section: Option<String>,
    #[serde(default)]
    quantity: Option<u32>,
}

enum Selection {
    Tickets(Vec<u32>),
    Quantity { section: usize, quantity: u32 },
}

impl Selection {
    fn count(&self) -> u64 {
        match self {
            Selection::Tickets(tickets) => tickets.len() as u64,
            Selection::Quantity { quantity, .. } => *quantity as u64,
        }
    }
}

fn selection_of(performance: &Performance, body: ReserveRequest) -> Result<Selection, Problem> {
    match (body.ticket_ids, body.section, body.quantity) {
        (Some(ids), None, None) => {
            let (of, tickets) = parse_tickets(&ids)?;
            if of != performance.id {
                let detail = "every ticket must be of performance_id";
                return Err(Problem::unprocessable("wrong-performance", "ticket_ids", detail));
            }
            check_list(performance, &tickets)?;
            Ok(Selection::Tickets(tickets))
        }
        (None, Some(section), Some(quantity)) => {
            if quantity == 0 {
                return Err(Problem::invalid("quantity", "quantity must be at least 1"));
            }
            let Some(index) = performance.plan.section_index(&section) else {
                let detail = format!("no section {section:?}");
                return Err(Problem::unprocessable("unknown-section", "section", detail));
            };
            check_order_size(performance, quantity as usize)?;
            Ok(Selection::Quantity { section: index, quantity })
        }
        (None, Some(_), None) => {
            Err(Problem::invalid("quantity", "quantity is required with section"))
        }
        (None, None, Some(_)) => {
            Err(Problem::invalid("section", "section is required with quantity"))
        }
        _ => Err(Problem::invalid("ticket_ids", "give either ticket_ids, or section and quantity")),
    }
}

#[derive(Serialize)]
struct ReservationView {
    performance_id: u32,
    reserved_until: String,
    tickets: Vec<TicketView>,
}

pub async fn reserve(state: State, Caller(user): Caller, body: Body<ReserveRequest>) -> Answer {
    let body = body.0;
    let performance = known_performance(&state, body.performance_id).await?;
    let selection = selection_of(&performance, body)?;
    let now = jiff::Timestamp::now();
    if !performance.is_on_sale(now) {
        return Err(Problem::conflict("not-on-sale", "this performance is not on sale"));
    }
    // Milliseconds, as Boxoffice's instants.
    let ttl_ms = state.shared.hold_ttl.as_millis() as i64;
    let until = jiff::Timestamp::from_millisecond(now.as_millisecond() + ttl_ms)
        .map_err(|_| Problem::invalid("hold_ttl", "the hold would end out of range"))?;

    let tickets =
        retrying(|| reserve_once(&state.pool, &performance, user, &selection, until)).await?;
    let tickets = tickets.iter().map(|&t| TicketView::new(&performance, t, "reserved")).collect();
    let view = ReservationView {
        performance_id: performance.id,
        reserved_until: until.to_string(),
        tickets,
    };
    Ok(HttpResponse::Created().json(view))
}

/// What `user` holds live or bought of one performance, for the limit.
const OWNED: &str = "SELECT COUNT(*) FROM tickets WHERE holder = ? AND performance_id = ? \
     AND (state = 'purchased' OR (state = 'reserved' AND reserved_until > NOW(6)))";

/// One reservation, one transaction: lock the user (so two of their
/// reserves at once cannot both pass the limit), count what they own,
/// lock the tickets, mark them reserved, commit.
async fn reserve_once(
    pool: &Pool,
    performance: &Performance,
    user: u32,
    selection: &Selection,
    until: jiff::Timestamp,
) -> Result<Vec<u32>, Failure> {
    let mut tx = pool.start_transaction(TxOpts::default()).await?;
    tx.exec_drop("SELECT id FROM users WHERE id = ? FOR UPDATE", (user,)).await?;
    let owned: u64 = tx.exec_first(OWNED, (user, performance.id)).await?.unwrap_or(0);
    if owned + selection.count() > performance.user_max as u64 {
        let max = performance.user_max;
        let detail = format!("one user may hold at most {max} tickets of a performance");
        return refuse(tx, Problem::conflict("user-limit", detail).with("max", max)).await;
    }

    let locked = match selection {
        Selection::Tickets(tickets) => lock_named(&mut tx, performance, tickets).await?,
        Selection::Quantity { section, quantity } => {
            lock_any(&mut tx, performance, *section, *quantity).await?
        }
    };
    let tickets = match locked {
        Ok(tickets) => tickets,
        Err(problem) => return refuse(tx, problem).await,
    };

    let mut sorted = tickets.clone();
    sorted.sort_unstable();
    let sql = format!(
        "UPDATE tickets FORCE INDEX (PRIMARY) SET state = 'reserved', holder = ?, \
         reserved_until = ?, lapsed_holder = NULL \
         WHERE performance_id = ? AND ticket_index IN ({}) AND state = 'available'",
        placeholders(sorted.len())
    );
    let params = ticket_params(vec![user.into(), sql_instant(until)], performance.id, &sorted);
    tx.exec_drop(sql, params).await?;
    if tx.affected_rows() != sorted.len() as u64 {
        // Cannot happen while we hold the rows' locks; refuse rather than
        // commit a partial hold.
        let problem = Problem::conflict("not-available", "some tickets are not available");
        return refuse(tx, problem).await;
    }
    tx.commit().await?;
    Ok(tickets)
}

/// Locks the named tickets that are available, waiting for any another
/// transaction holds (in index order, so named reserves cannot deadlock
/// each other); all or nothing.
async fn lock_named(
    tx: &mut Transaction<'static>,
    performance: &Performance,
    tickets: &[u32],
) -> Result<Result<Vec<u32>, Problem>, mysql_async::Error> {
    let mut sorted = tickets.to_vec();
    sorted.sort_unstable();
    let sql = format!(
        "SELECT ticket_index FROM tickets FORCE INDEX (PRIMARY) WHERE performance_id = ? \
         AND ticket_index IN ({}) AND state = 'available' FOR UPDATE",
        placeholders(sorted.len())
    );
    let free: Vec<u32> = tx.exec(sql, ticket_params(Vec::new(), performance.id, &sorted)).await?;
    if free.len() == tickets.len() {
        return Ok(Ok(tickets.to_vec()));
    }
    let taken: Vec<u32> = sorted.into_iter().filter(|ticket| !free.contains(ticket)).collect();
    let problem = Problem::conflict("not-available", "some tickets are not available");
    Ok(Err(problem.with("tickets", id_list(performance.id, &taken))))
}

/// Locks the first `quantity` available tickets of a section, skipping
/// rows other transactions have locked (they are being taken), so buyers
/// of one section do not queue behind each other.
async fn lock_any(
    tx: &mut Transaction<'static>,
    performance: &Performance,
    section: usize,
    quantity: u32,
) -> Result<Result<Vec<u32>, Problem>, mysql_async::Error> {
    let found: Vec<u32> = tx
        .exec(
            "SELECT ticket_index FROM tickets FORCE INDEX (by_state) WHERE performance_id = ? \
             AND state = 'available' AND section = ? ORDER BY ticket_index LIMIT ? \
             FOR UPDATE SKIP LOCKED",
            (performance.id, section as u16, quantity),
        )
        .await?;
    if found.len() == quantity as usize {
        return Ok(Ok(found));
    }
    let name = &performance.plan.sections[section].name;
    let detail = format!("section {name:?} has fewer than {quantity} tickets available");
    let problem = Problem::conflict("not-available", detail)
        .with("section", name.clone())
        .with("available", found.len());
    Ok(Err(problem))
}

// Purchase.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurchaseRequest {
    ticket_ids: Vec<String>,
    payment_token: String,
}

#[derive(Serialize)]
struct OrderView {
    id: String,
    performance_id: u32,
    amount: Money,
    tickets: Vec<TicketView>,
}

pub async fn purchase(state: State, Caller(user): Caller, body: Body<PurchaseRequest>) -> Answer {
    let body = body.0;
    let (of, tickets) = parse_tickets(&body.ticket_ids)?;
    if body.payment_token.is_empty() || body.payment_token.chars().count() > 200 {
        return Err(Problem::invalid(
            "payment_token",
            "payment_token must have 1 to 200 characters",
        ));
    }
    let performance = known_performance(&state, of).await?;
    check_list(&performance, &tickets)?;
    let amount: i64 = tickets.iter().map(|&ticket| performance.plan.price_minor(ticket)).sum();

    let payment = body.payment_token.as_str();
    let order =
        retrying(|| purchase_once(&state.pool, &performance, user, &tickets, amount, payment))
            .await?;
    tracing::debug!(user, order, tickets = tickets.len(), "purchase completed");

    let order = OrderView {
        id: order_id(performance.id, order),
        performance_id: performance.id,
        amount: Money { amount_minor: amount, currency: performance.currency.clone() },
        tickets: tickets.iter().map(|&t| TicketView::new(&performance, t, "purchased")).collect(),
    };
    Ok(HttpResponse::Ok().json(json!({ "order": order })))
}

/// The guard of a purchase: each ticket a live hold of the buyer.
const BUY: &str = "UPDATE tickets FORCE INDEX (PRIMARY) \
     SET state = 'purchased', order_id = ?, reserved_until = NULL \
     WHERE performance_id = ? AND ticket_index IN ({}) \
     AND state = 'reserved' AND holder = ? AND reserved_until > NOW(6)";

/// One purchase, one transaction: the order row, then the guarded update
/// of all its tickets; unless every one of them changed, roll back.
async fn purchase_once(
    pool: &Pool,
    performance: &Performance,
    user: u32,
    tickets: &[u32],
    amount: i64,
    payment: &str,
) -> Result<u64, Failure> {
    let mut tx = pool.start_transaction(TxOpts::default()).await?;
    tx.exec_drop(
        "INSERT INTO orders (performance_id, user_id, amount_minor, payment_token, created_at) \
         VALUES (?, ?, ?, ?, NOW(6))",
        (performance.id, user, amount, payment),
    )
    .await?;
    let order = tx.last_insert_id().unwrap_or_default();

    let mut sorted = tickets.to_vec();
    sorted.sort_unstable();
    let sql = BUY.replace("{}", &placeholders(sorted.len()));
    let mut params = ticket_params(vec![order.into()], performance.id, &sorted);
    params.push(user.into());
    tx.exec_drop(sql, params).await?;
    if tx.affected_rows() != sorted.len() as u64 {
        let problem = unheld_problem(&mut tx, performance, user, &sorted).await?;
        return refuse(tx, problem).await;
    }
    // The `instant` provider's one refusal, as Boxoffice's.
    if payment == "decline" {
        let problem = Problem::new(
            StatusCode::PAYMENT_REQUIRED,
            "payment-declined",
            "the payment was declined",
        );
        return refuse(tx, problem).await;
    }
    tx.commit().await?;
    Ok(order)
}

/// Why a guarded update missed some tickets: 409 `not-held` if any is not
/// the user's, else 410 `hold-expired` if the user's hold on any lapsed
/// (still marked reserved, or already freed by the poller).
async fn unheld_problem<Q: Queryable>(
    conn: &mut Q,
    performance: &Performance,
    user: u32,
    tickets: &[u32],
) -> Result<Problem, mysql_async::Error> {
    let sql = format!(
        "SELECT ticket_index, state, holder, lapsed_holder, reserved_until > NOW(6) \
         FROM tickets FORCE INDEX (PRIMARY) WHERE performance_id = ? AND ticket_index IN ({})",
        placeholders(tickets.len())
    );
    type Found = (u32, String, Option<u32>, Option<u32>, Option<i64>);
    let found: Vec<Found> =
        conn.exec(sql, ticket_params(Vec::new(), performance.id, tickets)).await?;

    let (mut not_held, mut expired) = (Vec::new(), Vec::new());
    for (ticket, state, holder, lapsed, live) in found {
        let mine = holder == Some(user);
        match state.as_str() {
            "reserved" if mine && live == Some(1) => {}
            "reserved" if mine => expired.push(ticket),
            "available" if lapsed == Some(user) => expired.push(ticket),
            _ => not_held.push(ticket),
        }
    }
    if !not_held.is_empty() || expired.is_empty() {
        let missed = if not_held.is_empty() { tickets.to_vec() } else { not_held };
        let problem = Problem::conflict("not-held", "some tickets are not held by you");
        return Ok(problem.with("tickets", id_list(performance.id, &missed)));
    }
    let problem = Problem::new(StatusCode::GONE, "hold-expired", "your hold has expired");
    Ok(problem.with("tickets", id_list(performance.id, &expired)))
}

// Release and the user's own tickets.

pub async fn release(
    state: State,
    Caller(user): Caller,
    path: web::Path<(String, String)>,
) -> Answer {
    let ticket = &path.1;
    let no_ticket = || Problem::not_found(format!("no ticket {ticket}"));
    let (of, index) = parse_ticket_id(ticket).ok_or_else(no_ticket)?;
    let performance = performance(&state, of).await?.ok_or_else(no_ticket)?;
    if index >= performance.plan.capacity() {
        return Err(no_ticket());
    }
    retrying(|| release_once(&state.pool, &performance, user, index)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A release is one guarded update, committed on its own.
async fn release_once(
    pool: &Pool,
    performance: &Performance,
    user: u32,
    ticket: u32,
) -> Result<(), Failure> {
    let mut conn = pool.get_conn().await?;
    conn.exec_drop(
        "UPDATE tickets FORCE INDEX (PRIMARY) SET state = 'available', holder = NULL, \
         reserved_until = NULL, lapsed_holder = NULL WHERE performance_id = ? AND ticket_index = ? \
         AND state = 'reserved' AND holder = ? AND reserved_until > NOW(6)",
        (performance.id, ticket, user),
    )
    .await?;
    if conn.affected_rows() == 1 {
        return Ok(());
    }
    Err(Failure::Refused(unheld_problem(&mut conn, performance, user, &[ticket]).await?))
}

pub async fn own_tickets(state: State, Caller(user): Caller) -> Answer {
    type Found = (u32, u32, String, Option<Value>, Option<u64>);
    let rows: Vec<Found> = state
        .pool
        .get_conn()
        .await?
        .exec(
            "SELECT performance_id, ticket_index, state, reserved_until, order_id FROM tickets \
             WHERE holder = ? AND (state = 'purchased' \
             OR (state = 'reserved' AND reserved_until > NOW(6))) \
             ORDER BY performance_id, ticket_index",
            (user,),
        )
        .await?;

    let mut views = Vec::with_capacity(rows.len());
    for (of, index, ticket_state, until, order) in rows {
        let Some(performance) = performance(&state, of).await? else { continue };
        let status = super::catalogue::status_name(&ticket_state);
        let reserved_until = until.as_ref().and_then(instant_of).map(|at| at.to_string());
        let order_id = order.map(|order| order_id(of, order));
        let ticket = TicketView::new(&performance, index, status);
        views.push(OwnTicketView { ticket, reserved_until, order_id });
    }
    Ok(HttpResponse::Ok().json(views))
}
