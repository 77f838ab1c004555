//! Every error the API answers, and the one place where each becomes an
//! HTTP status and an RFC 9457 `application/problem+json` body.
//!
//! Each problem has a stable `code` member that clients can branch on; the
//! `title` and `detail` are for people and may change.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use engine::booking::Rejection;
use engine::box_office::{BookingError, CatalogueError, RegisterError};
use engine::ids::{PerformanceId, TicketId};
use serde_json::{json, Map, Value};

/// An answer other than success.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {detail}")]
pub struct Problem {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    /// Members beyond the standard ones, such as `field` or `tickets`.
    pub extra: Map<String, Value>,
    /// Seconds after which a retry may succeed, for 503.
    pub retry_after: Option<u32>,
}

impl Problem {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Problem {
        let detail = shortened(detail.into());
        Problem { status, code, detail, extra: Map::new(), retry_after: None }
    }

    pub fn with(mut self, member: &str, value: impl Into<Value>) -> Problem {
        self.extra.insert(member.to_owned(), value.into());
        self
    }

    /// 422 for a body that parses but says something impossible.
    pub fn invalid(field: &str, detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-field", detail).with("field", field)
    }

    pub fn not_found(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::NOT_FOUND, "not-found", detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    pub fn unavailable(code: &'static str, detail: impl Into<String>) -> Problem {
        let mut problem = Problem::new(StatusCode::SERVICE_UNAVAILABLE, code, detail);
        problem.retry_after = Some(1);
        problem
    }
}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut body = Map::new();
        body.insert(
            "type".into(),
            json!(format!("https://boxoffice.invalid/problems/{}", self.code)),
        );
        body.insert("title".into(), json!(self.status.canonical_reason().unwrap_or("Error")));
        body.insert("status".into(), json!(self.status.as_u16()));
        body.insert("code".into(), json!(self.code));
        body.insert("detail".into(), json!(self.detail));
        body.extend(self.extra.clone());

        let mut response = HttpResponse::build(self.status);
        response.insert_header((header::CONTENT_TYPE, "application/problem+json"));
        if let Some(seconds) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        response.body(Value::Object(body).to_string())
    }
}

/// The longest `detail`, in characters. Details quote the client's input,
/// and a 100 KB name should not come back as a 100 KB answer.
const DETAIL_CHARS_MAX: usize = 300;

/// The most tickets a problem lists.
const TICKETS_LISTED_MAX: usize = 100;

fn shortened(mut detail: String) -> String {
    if let Some((cut, _)) = detail.char_indices().nth(DETAIL_CHARS_MAX) {
        detail.truncate(cut);
        detail.push('…');
    }
    detail
}

/// Ticket indices of one performance, as the ids clients know.
fn ticket_ids(performance: PerformanceId, indices: &[u32]) -> Value {
    let listed = indices.iter().take(TICKETS_LISTED_MAX);
    let ids = listed.map(|&index| TicketId { performance, index }.to_string());
    Value::Array(ids.map(Value::String).collect())
}

/// Maps a refusal of the engine, which knows the performance it concerns.
pub fn booking_problem(performance: PerformanceId, error: BookingError) -> Problem {
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let conflict = StatusCode::CONFLICT;
    let detail = error.to_string();
    match error {
        BookingError::Rejected(rejection) => match rejection {
            Rejection::NoTickets => {
                Problem::new(unprocessable, "empty-ticket-list", detail).with("field", "ticket_ids")
            }
            Rejection::ZeroQuantity => Problem::invalid("quantity", detail),
            Rejection::UnknownSection { .. } => {
                Problem::new(unprocessable, "unknown-section", detail).with("field", "section")
            }
            Rejection::UnknownTickets { tickets } => {
                Problem::new(unprocessable, "unknown-ticket", "no such tickets")
                    .with("field", "ticket_ids")
                    .with("tickets", ticket_ids(performance, &tickets))
            }
            Rejection::DuplicateTicket { ticket } => {
                Problem::new(unprocessable, "duplicate-ticket", "a ticket is listed twice")
                    .with("field", "ticket_ids")
                    .with("tickets", ticket_ids(performance, &[ticket]))
            }
            Rejection::OrderLimit { max } => {
                Problem::new(unprocessable, "order-limit", detail).with("max", max)
            }
            Rejection::NotOnSale => Problem::new(conflict, "not-on-sale", detail),
            Rejection::UserLimit { max } => {
                Problem::new(conflict, "user-limit", detail).with("max", max)
            }
            Rejection::NotAvailable { tickets } => {
                Problem::new(conflict, "not-available", "some tickets are not available")
                    .with("tickets", ticket_ids(performance, &tickets))
            }
            Rejection::SoldOut { section, available } => {
                Problem::new(conflict, "not-available", detail)
                    .with("section", section)
                    .with("available", available)
            }
            Rejection::NotHeld { tickets } => {
                Problem::new(conflict, "not-held", "some tickets are not held by you")
                    .with("tickets", ticket_ids(performance, &tickets))
            }
            Rejection::HoldExpired { tickets } => {
                Problem::new(StatusCode::GONE, "hold-expired", "your hold has expired")
                    .with("tickets", ticket_ids(performance, &tickets))
            }
            Rejection::InCheckout { tickets } => Problem::new(
                conflict,
                "in-checkout",
                "some tickets wait in a checkout: pay it, or let it expire",
            )
            .with("tickets", ticket_ids(performance, &tickets)),
            Rejection::UnknownOrder { .. } => Problem::not_found(detail),
            Rejection::NotInOrder { tickets } => {
                Problem::new(StatusCode::NOT_FOUND, "not-in-order", "no such ticket in the order")
                    .with("tickets", ticket_ids(performance, &tickets))
            }
            Rejection::NotPaid => Problem::new(conflict, "not-paid", detail),
            Rejection::AwaitingPayment => Problem::new(conflict, "awaiting-payment", detail),
            Rejection::ZeroRefund => Problem::invalid("amount", detail),
            Rejection::RefundTooLarge { refundable } => {
                Problem::new(conflict, "refund-too-large", detail).with("refundable", refundable)
            }
        },
        BookingError::UnknownPerformance(_) => {
            Problem::new(unprocessable, "unknown-performance", detail)
                .with("field", "performance_id")
        }
        BookingError::Overloaded => Problem::unavailable("overloaded", detail),
        BookingError::Stopped(error) => stopped(error),
        BookingError::PaymentDeclined { .. } => {
            Problem::new(StatusCode::PAYMENT_REQUIRED, "payment-declined", detail)
        }
        BookingError::PaymentFailed { .. } => {
            Problem::new(StatusCode::BAD_GATEWAY, "payment-failed", detail)
        }
        BookingError::CurrencyNotAccepted(_) => {
            Problem::new(unprocessable, "currency-not-accepted", detail)
        }
        BookingError::Provider(error) => provider_problem(error),
    }
}

/// The payment provider did not do what was asked: the checkout keeps its
/// tickets until its hold ends, and the same request may be retried.
fn provider_problem(error: engine::payment::ProviderError) -> Problem {
    use engine::payment::ProviderError;
    let detail = error.to_string();
    match error {
        ProviderError::Timeout => {
            Problem::new(StatusCode::GATEWAY_TIMEOUT, "payment-provider-timeout", detail)
        }
        ProviderError::Unavailable(_) => {
            Problem::new(StatusCode::BAD_GATEWAY, "payment-provider-unavailable", detail)
        }
        ProviderError::Refused(_) => {
            Problem::new(StatusCode::BAD_GATEWAY, "payment-provider-refused", detail)
        }
        ProviderError::UnknownSession(_) => Problem::not_found(detail),
    }
}

fn stopped(error: engine::journal::JournalError) -> Problem {
    tracing::warn!(%error, "refused a change: the log is not taking writes");
    Problem::unavailable("unavailable", "the server cannot store changes right now")
}

impl From<CatalogueError> for Problem {
    fn from(error: CatalogueError) -> Problem {
        match error {
            CatalogueError::UnknownCity(_) | CatalogueError::UnknownVenue(_) => {
                Problem::not_found(error.to_string())
            }
            CatalogueError::Layout(error) => Problem::invalid("layout", error.to_string()),
            CatalogueError::Stopped(error) => stopped(error),
        }
    }
}

impl From<RegisterError> for Problem {
    fn from(error: RegisterError) -> Problem {
        match error {
            RegisterError::EmailTaken => {
                Problem::new(StatusCode::CONFLICT, "email-taken", error.to_string())
                    .with("field", "email")
            }
            RegisterError::Stopped(error) => stopped(error),
        }
    }
}
