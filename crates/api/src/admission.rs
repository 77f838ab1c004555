//! Admission at the HTTP edge: past `max` requests in flight in the whole
//! server, a request is refused with 503 and `Retry-After` before any work
//! is done on it.
//!
//! The engine also bounds what waits for each performance, but that check
//! comes after a request is parsed, authenticated and routed. Under an
//! overload on a small machine the HTTP work itself is the bottleneck, so
//! the queue forms in front of the engine's check and refusals come late.
//! This one comes first, and a refusal costs almost nothing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, ResponseError};

use crate::problem::Problem;

pub struct Admission {
    in_flight: AtomicUsize,
    max: usize,
}

/// One admitted request; leaving frees its place.
struct Admitted(Arc<Admission>);

impl Drop for Admitted {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Admission {
    pub fn new(max: usize) -> Admission {
        Admission { in_flight: AtomicUsize::new(0), max }
    }

    /// Requests in flight now, refused ones included while they are refused.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    fn admit(self: &Arc<Self>) -> Option<Admitted> {
        let before = self.in_flight.fetch_add(1, Ordering::Relaxed);
        let admitted = Admitted(self.clone());
        (before < self.max).then_some(admitted)
    }
}

/// The middleware: admits the request or refuses it at once. `/health`
/// always passes, so a load balancer does not take a busy server for dead.
pub async fn admit(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let admission =
        request.app_data::<web::Data<Admission>>().map(|data| data.clone().into_inner());
    let admitted = match admission {
        Some(admission) if request.path() != "/health" => match admission.admit() {
            Some(admitted) => Some(admitted),
            None => return Ok(refuse(request)),
        },
        _ => None,
    };

    let response = next.call(request).await?;
    drop(admitted);
    Ok(response.map_into_left_body())
}

fn refuse<B>(request: ServiceRequest) -> ServiceResponse<EitherBody<B>> {
    metrics::counter!("http_requests_shed_total").increment(1);
    let problem = Problem::unavailable("overloaded", "the server is at capacity; retry shortly");
    request.into_response(problem.error_response()).map_into_right_body()
}
