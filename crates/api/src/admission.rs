//! Admission at the HTTP edge: past `max` requests in flight in the whole
//! server, a request is refused with 503 and `Retry-After` before any work
//! is done on it.
//!
//! The engine also bounds what waits for each performance, but that check
//! comes after a request is parsed, authenticated and routed. Under an
//! overload on a small machine the HTTP work itself is the bottleneck, so
//! the queue forms in front of the engine's check and refusals come late.
//! This one comes first, and a refusal costs almost nothing.
//!
//! Not every request is worth the same when the server is full. Refusing a
//! purchase wastes the buyer's look and hold, and leaves the seats held
//! until the hold lapses; refusing a first look wastes nothing. So the
//! door turns away requests by how far along a sale they are ([`Stage`]):
//! browsing past three quarters of `max`, reserving past seven eighths,
//! and finishing a sale only at `max`. Under an overload the excess is then
//! refused at its first request, and the buyers already holding seats pay.
//! The shares round down (but never below one), so at a small `max` two
//! stages may share a limit: at 4, browsing and reserving both stop at 3.
//!
//! An admitted request must bring its body within a deadline of its head.
//! actix times out a request's head, not its body, so without one a client
//! that never finished its body would keep its place for as long as its
//! connection stayed open, and a few idle clients could fill the door.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::{header, Method};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage as _, ResponseError};

use crate::problem::Problem;

pub struct Admission {
    in_flight: AtomicUsize,
    max: usize,
    /// How long an admitted request's body may take to arrive.
    body_deadline: Duration,
}

/// How far along a sale a request is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Looking: the catalogue, a performance, its tickets, signing up, and
    /// everything else not named below.
    Browse,
    /// Reserving tickets (`POST /users/{user}/tickets`).
    Hold,
    /// Finishing a sale already under way: a purchase, a release, a
    /// checkout, and the payment provider's calls back.
    Finish,
}

impl Stage {
    pub fn of(method: &Method, path: &str) -> Stage {
        if path.starts_with("/payments/") {
            return Stage::Finish;
        }
        let Some(rest) = path.strip_prefix("/users/") else { return Stage::Browse };
        let below_user = rest.split_once('/').map_or("", |(_, below)| below);
        match (method, below_user) {
            (&Method::POST, "tickets") => Stage::Hold,
            (&Method::PUT | &Method::PATCH, "tickets") | (&Method::POST, "checkout") => {
                Stage::Finish
            }
            (&Method::DELETE, below) if below.starts_with("tickets/") => Stage::Finish,
            _ => Stage::Browse,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Stage::Browse => "browse",
            Stage::Hold => "hold",
            Stage::Finish => "finish",
        }
    }
}

/// One admitted request; leaving frees its place.
struct Admitted(Arc<Admission>);

impl Drop for Admitted {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Admission {
    pub fn new(max: usize, body_deadline: Duration) -> Admission {
        Admission { in_flight: AtomicUsize::new(0), max, body_deadline }
    }

    /// Requests admitted and not yet answered.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// How many requests may be in flight for one at `stage` to come in.
    fn limit(&self, stage: Stage) -> usize {
        let share = match stage {
            Stage::Browse => self.max * 3 / 4,
            Stage::Hold => self.max * 7 / 8,
            Stage::Finish => self.max,
        };
        share.max(1)
    }

    /// Takes a place if one is free for `stage`. A refused request never
    /// takes one, not even for a moment, so a flood of refusals cannot turn
    /// away a purchase while places are free for it.
    fn admit(self: &Arc<Self>, stage: Stage) -> Option<Admitted> {
        let limit = self.limit(stage);
        let taken = self.in_flight.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |now| {
            (now < limit).then_some(now + 1)
        });
        taken.ok().map(|_| Admitted(self.clone()))
    }
}

/// Paths the door never refuses: a load balancer must not take a busy
/// server for dead, and an overload is when its metrics matter most.
const ALWAYS_ADMITTED: [&str; 2] = ["/health", "/metrics"];

/// The middleware: admits the request or refuses it at once.
pub async fn admit(
    mut request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let admission =
        request.app_data::<web::Data<Admission>>().map(|data| data.clone().into_inner());
    let admitted = match admission {
        Some(admission) if !ALWAYS_ADMITTED.contains(&request.path()) => {
            let stage = Stage::of(request.method(), request.path());
            match admission.admit(stage) {
                Some(admitted) => {
                    bound_body_in_time(&mut request, admission.body_deadline);
                    Some(admitted)
                }
                None => return Ok(refuse(request, stage).await),
            }
        }
        _ => None,
    };

    let response = next.call(request).await?;
    drop(admitted);
    Ok(response.map_into_left_body())
}

/// The largest body read before a refusal, and how long it may take to come.
const DRAIN_MAX_BYTES: usize = 16 * 1024;
const DRAIN_WAIT: Duration = Duration::from_millis(20);

async fn refuse<B>(mut request: ServiceRequest, stage: Stage) -> ServiceResponse<EitherBody<B>> {
    metrics::counter!("http_requests_shed_total", "stage" => stage.name()).increment(1);
    drain_small_body(&mut request).await;
    let problem = Problem::unavailable("overloaded", "the server is at capacity; retry shortly");
    request.into_response(problem.error_response()).map_into_right_body()
}

/// Reads and drops a small body that has arrived with its request. actix
/// closes a connection whose request body was left unread, and a client
/// refused that way must connect again: under an overload, a reconnection
/// per refused reserve or purchase costs both sides more than the refusal
/// itself. A body that is large or slow to come is left, and the
/// connection closes as before.
async fn drain_small_body(request: &mut ServiceRequest) {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|length| length.to_str().ok()?.parse::<usize>().ok());
    // A client that asked to be told before it sends the body has not sent
    // it; reading would invite the upload only to refuse it.
    let waits_to_send = request.headers().contains_key(header::EXPECT);
    if waits_to_send || !matches!(declared, Some(1..=DRAIN_MAX_BYTES)) {
        return;
    }
    let Ok(payload) = request.extract::<web::Payload>().await else { return };
    let _ =
        actix_web::rt::time::timeout(DRAIN_WAIT, payload.to_bytes_limited(DRAIN_MAX_BYTES)).await;
}

/// Gives the request's body until `deadline` from now to arrive whole.
/// A request without a body needs no deadline.
fn bound_body_in_time(request: &mut ServiceRequest, deadline: Duration) {
    let no_body = !request.headers().contains_key(header::TRANSFER_ENCODING)
        && request
            .headers()
            .get(header::CONTENT_LENGTH)
            .is_none_or(|length| length.as_bytes() == b"0");
    if no_body {
        return;
    }
    let body = request.take_payload();
    let deadline = actix_web::rt::time::Instant::now() + deadline;
    let in_time = BodyInTime { body, deadline, timer: None };
    request.set_payload(Payload::Stream { payload: Box::pin(in_time) });
}

/// A body that fails with [`body_too_slow`] once its deadline has passed.
struct BodyInTime {
    body: Payload,
    deadline: actix_web::rt::time::Instant,
    /// Set the first time the body is not all there: most bodies come with
    /// their head and never need a timer.
    timer: Option<Pin<Box<actix_web::rt::time::Sleep>>>,
}

impl futures_core::Stream for BodyInTime {
    type Item = Result<web::Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Poll::Ready(chunk) = Pin::new(&mut self.body).poll_next(context) {
            return Poll::Ready(chunk);
        }

        let deadline = self.deadline;
        let timer =
            self.timer.get_or_insert_with(|| Box::pin(actix_web::rt::time::sleep_until(deadline)));
        match timer.as_mut().poll(context) {
            Poll::Ready(()) => Poll::Ready(Some(Err(body_too_slow()))),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The error a body past its deadline ends with; see [`is_body_too_slow`].
fn body_too_slow() -> PayloadError {
    let error = std::io::Error::new(std::io::ErrorKind::TimedOut, "the body came too slowly");
    PayloadError::Io(error)
}

/// Whether a body read failed because its deadline passed.
pub fn is_body_too_slow(error: &PayloadError) -> bool {
    matches!(error, PayloadError::Io(error) if error.kind() == std::io::ErrorKind::TimedOut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_staged_by_how_far_along_a_sale_it_is() {
        let cases = [
            (Method::GET, "/cities/1/venues/2/performances/3", Stage::Browse),
            (Method::GET, "/cities/1/venues/2/performances/3/tickets", Stage::Browse),
            (Method::POST, "/users", Stage::Browse),
            (Method::GET, "/users/7/tickets", Stage::Browse),
            (Method::POST, "/users/7/tickets", Stage::Hold),
            (Method::PUT, "/users/7/tickets", Stage::Finish),
            (Method::PATCH, "/users/7/tickets", Stage::Finish),
            (Method::DELETE, "/users/7/tickets/3-17", Stage::Finish),
            (Method::POST, "/users/7/checkout", Stage::Finish),
            (Method::POST, "/payments/webhook", Stage::Finish),
            (Method::GET, "/payments/return", Stage::Finish),
            // Look-alikes stay browsing.
            (Method::POST, "/users/7/tickets/extra", Stage::Browse),
            (Method::PUT, "/users/7", Stage::Browse),
            (Method::POST, "/users/tickets", Stage::Browse),
            (Method::POST, "/cities", Stage::Browse),
        ];
        for (method, path, stage) in cases {
            assert_eq!(Stage::of(&method, path), stage, "{method} {path}");
        }
    }

    #[test]
    fn a_full_server_turns_away_browsing_first_and_finishing_last() {
        let door = Arc::new(Admission::new(8, Duration::from_secs(10)));
        let mut held: Vec<Admitted> = (0..6).map(|_| door.admit(Stage::Browse).unwrap()).collect();

        assert!(door.admit(Stage::Browse).is_none(), "6 of 8 is three quarters");
        held.push(door.admit(Stage::Hold).expect("a reserve comes in up to 7"));
        assert!(door.admit(Stage::Hold).is_none());
        held.push(door.admit(Stage::Finish).expect("a purchase comes in up to 8"));
        assert!(door.admit(Stage::Finish).is_none());
        assert_eq!(door.in_flight(), 8, "refusals take no place");

        held.clear();
        assert_eq!(door.in_flight(), 0);
        assert!(door.admit(Stage::Browse).is_some());
    }

    #[test]
    fn a_door_of_one_still_admits_every_stage() {
        let door = Arc::new(Admission::new(1, Duration::from_secs(10)));
        for stage in [Stage::Browse, Stage::Hold, Stage::Finish] {
            let admitted = door.admit(stage);
            assert!(admitted.is_some(), "{stage:?}");
        }
    }
}
