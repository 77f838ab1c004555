//! A user's own tickets: reserve, purchase, release, and the list.

use super::*;

/// The user named in the path, once the bearer token proves it is them.
fn caller(state: &AppState, request: &HttpRequest, id: &str) -> Result<UserId, Problem> {
    let user: UserId = path_id(id, "user")?;
    auth::authorize_user(&state.office, request, user)?;
    Ok(user)
}

/// The caller of a `/users/{user}/…` route. As an extractor listed before
/// the body, it is checked first: a request without the user's own token is
/// 401 or 403 whatever its body holds, and the body is not even read.
pub(super) struct Caller(pub(super) UserId);

impl FromRequest for Caller {
    type Error = Problem;
    type Future = std::future::Ready<Result<Caller, Problem>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let state = request.app_data::<State>().expect("the app has its state");
        let id = request.match_info().get("user").unwrap_or_default();
        std::future::ready(caller(state, request, id).map(Caller))
    }
}

/// Parses ticket ids from a body, all of one performance.
pub(super) fn body_tickets(ids: &[String]) -> Result<(PerformanceId, Vec<u32>), Problem> {
    let mut parsed = Vec::with_capacity(ids.len());
    for id in ids {
        let ticket: TicketId = id
            .parse()
            .map_err(|_| Problem::invalid("ticket_ids", format!("{id:?} is not a ticket id")))?;
        parsed.push(ticket);
    }

    let Some(first) = parsed.first() else {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "empty-ticket-list",
            "ticket_ids is empty",
        )
        .with("field", "ticket_ids"));
    };
    let performance = first.performance;
    if parsed.iter().any(|ticket| ticket.performance != performance) {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "mixed-performances",
            "the tickets of one request must be of one performance",
        )
        .with("field", "ticket_ids"));
    }
    Ok((performance, parsed.into_iter().map(|ticket| ticket.index).collect()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ReserveRequest {
    performance_id: u32,
    #[serde(default)]
    ticket_ids: Option<Vec<String>>,
    #[serde(default)]
    section: Option<String>,
    #[serde(default)]
    quantity: Option<u32>,
}

#[derive(Serialize)]
pub(super) struct ReservationView {
    performance_id: u32,
    reserved_until: String,
    tickets: Vec<TicketView>,
}

pub(super) async fn reserve(
    state: State,
    Caller(user): Caller,
    body: Body<ReserveRequest>,
) -> Answer {
    let body = body.0;
    let performance = PerformanceId(body.performance_id);

    let selection = match (body.ticket_ids, body.section, body.quantity) {
        (Some(ids), None, None) => {
            let (of, tickets) = body_tickets(&ids)?;
            if of != performance {
                return Err(Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "wrong-performance",
                    "every ticket must be of performance_id",
                )
                .with("field", "ticket_ids"));
            }
            Selection::Tickets(tickets)
        }
        (None, Some(section), Some(quantity)) => Selection::Quantity { section, quantity },
        (None, Some(_), None) => {
            return Err(Problem::invalid("quantity", "quantity is required with section"))
        }
        (None, None, Some(_)) => {
            return Err(Problem::invalid("section", "section is required with quantity"))
        }
        _ => {
            return Err(Problem::invalid(
                "ticket_ids",
                "give either ticket_ids, or section and quantity",
            ))
        }
    };

    let reservation = state.office.reserve(user, performance, selection).await;
    let reservation = reservation.map_err(|error| booking_problem(performance, error))?;
    let handle =
        state.office.performance(performance).map_err(|e| booking_problem(performance, e))?;
    let tickets = reservation
        .tickets
        .iter()
        .map(|&index| {
            let id = TicketId { performance, index };
            TicketView::new(id, &handle.plan, &handle.currency, TicketStatus::Reserved)
        })
        .collect();
    let view = ReservationView {
        performance_id: performance.0,
        reserved_until: instant(reservation.until),
        tickets,
    };
    Ok(HttpResponse::Created().json(view))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PurchaseRequest {
    ticket_ids: Vec<String>,
    payment_token: String,
}

#[derive(Serialize)]
pub(super) struct OrderView {
    id: String,
    performance_id: u32,
    amount: Money,
    tickets: Vec<TicketView>,
}

pub(super) async fn purchase(
    state: State,
    Caller(user): Caller,
    body: Body<PurchaseRequest>,
) -> Answer {
    if !state.payments.takes_tokens() {
        let detail = format!(
            "this server takes payments through {}: pay with POST /users/{user}/checkout",
            state.payments.mode
        );
        return Err(Problem::new(StatusCode::CONFLICT, "checkout-required", detail));
    }
    let body = body.0;
    let (performance, tickets) = body_tickets(&body.ticket_ids)?;
    if body.payment_token.is_empty() {
        return Err(Problem::invalid("payment_token", "payment_token must not be empty"));
    }

    let purchase = state.office.purchase(user, performance, tickets, body.payment_token).await;
    let purchase = purchase.map_err(|error| match error {
        BookingError::UnknownPerformance(_) => {
            Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "unknown-ticket", "no such tickets")
                .with("field", "ticket_ids")
        }
        error => booking_problem(performance, error),
    })?;
    tracing::info!(%user, order = %purchase.order, tickets = purchase.tickets.len(), "purchase completed");

    let handle =
        state.office.performance(performance).map_err(|e| booking_problem(performance, e))?;
    let tickets = purchase
        .tickets
        .iter()
        .map(|&index| {
            let id = TicketId { performance, index };
            TicketView::new(id, &handle.plan, &handle.currency, TicketStatus::Purchased)
        })
        .collect();
    let order = OrderView {
        id: purchase.order.to_string(),
        performance_id: performance.0,
        amount: Money::new(purchase.amount_minor, &handle.currency),
        tickets,
    };
    Ok(HttpResponse::Ok().json(serde_json::json!({ "order": order })))
}

pub(super) async fn release(
    state: State,
    request: HttpRequest,
    path: web::Path<(String, String)>,
) -> Answer {
    let user = caller(&state, &request, &path.0)?;
    let ticket: TicketId = path_id(&path.1, "ticket")?;
    if state.office.performance(ticket.performance).is_err() {
        return Err(Problem::not_found(format!("no ticket {ticket}")));
    }

    let released = state.office.release(user, ticket.performance, vec![ticket.index]).await;
    match released {
        Ok(()) => Ok(HttpResponse::NoContent().finish()),
        Err(engine::box_office::BookingError::Rejected(
            engine::booking::Rejection::UnknownTickets { .. },
        )) => Err(Problem::not_found(format!("no ticket {ticket}"))),
        Err(error) => Err(booking_problem(ticket.performance, error)),
    }
}

pub(super) async fn own_tickets(
    state: State,
    request: HttpRequest,
    path: web::Path<String>,
) -> Answer {
    let user = caller(&state, &request, &path)?;
    let now = state.clock.now();

    let mut views = Vec::new();
    for (ticket, holding) in state.office.user_tickets(user).await {
        let Ok(handle) = state.office.performance(ticket.performance) else { continue };
        let (status, reserved_until, order_id) = match holding {
            // The index hears of an expiry when the actor's timer fires; a
            // hold past its instant is already gone for every purpose.
            Holding::Reserved { until } if until <= now => continue,
            Holding::Reserved { until } => (TicketStatus::Reserved, Some(instant(until)), None),
            Holding::Purchased { order } => {
                (TicketStatus::Purchased, None, Some(order.to_string()))
            }
        };
        let ticket = TicketView::new(ticket, &handle.plan, &handle.currency, status);
        views.push(OwnTicketView { ticket, reserved_until, order_id });
    }
    Ok(HttpResponse::Ok().json(views))
}
