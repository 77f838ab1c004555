//! The HTTP routes: parse and check the request, ask the engine, shape the
//! answer. No booking state lives here.
//!
//! One module an area: [`catalogue`] for browsing, [`admin`] for creating
//! what is for sale, [`users`] for signing up, [`booking`] for a user's own
//! tickets. This module holds what they share (the state, paging, the
//! lookups of path ids, text checks), and its imports serve them all
//! through `use super::*`.

use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::{header, StatusCode};
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use engine::booking::{Selection, TicketStatus};
use engine::box_office::{BookingError, BoxOffice, NewCity, NewPerformance};
use engine::catalogue::{City, Layout, PerformanceInfo, Section, SectionKind, Venue};
use engine::civil;
use engine::ids::{CityId, PerformanceId, TicketId, UserId, VenueId};
use engine::index::Holding;
use engine::time::{Clock, Timestamp};
use serde::{Deserialize, Serialize};

use crate::auth;
use crate::body::{Body, Query};
use crate::problem::{booking_problem, Problem};
use crate::views::{
    instant, sections, CityView, Money, OwnTicketView, PerformanceView, TicketView, VenueView,
};

mod admin;
mod booking;
mod catalogue;
mod checkout;
mod orders;
mod users;

pub use admin::LayoutRequest;
pub use checkout::PaymentsState;

/// What every handler shares.
pub struct AppState {
    pub office: BoxOffice,
    pub admin_token: Option<String>,
    pub clock: Arc<dyn Clock>,
    /// Renders the process's metrics, when it installed a recorder.
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    pub payments: PaymentsState,
    /// The outbox, for admins to see and retry parked messages.
    pub outbox: Option<Arc<dyn engine::outbox::Outbox>>,
    pub pages: crate::performance_page::PageCache,
}

type State = web::Data<AppState>;
type Answer = Result<HttpResponse, Problem>;

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .service(
            web::resource("/cities")
                .route(web::get().to(catalogue::list_cities))
                .route(web::post().to(admin::create_city))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/cities/{city}/venues")
                .route(web::get().to(catalogue::list_venues))
                .route(web::post().to(admin::create_venue))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/cities/{city}/venues/{venue}/performances")
                .route(web::get().to(catalogue::list_performances))
                .route(web::post().to(admin::create_performance))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/cities/{city}/venues/{venue}/performances/{performance}")
                .route(web::get().to(catalogue::show_performance))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/cities/{city}/venues/{venue}/performances/{performance}/tickets")
                .route(web::get().to(catalogue::list_tickets))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/users")
                .route(web::post().to(users::register))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/users/{user}/tickets")
                .route(web::get().to(booking::own_tickets))
                .route(web::post().to(booking::reserve))
                .route(web::put().to(booking::purchase))
                .route(web::patch().to(booking::purchase))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/users/{user}/tickets/{ticket}")
                .route(web::delete().to(booking::release))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/users/{user}/checkout")
                .route(web::post().to(checkout::checkout))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/payments/webhook")
                .route(web::post().to(checkout::webhook))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/payments/return")
                .route(web::get().to(checkout::payment_return))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/payments/cancelled")
                .route(web::get().to(checkout::payment_cancelled))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/orders/{order}")
                .route(web::get().to(orders::show))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/orders/{order}/cancel")
                .route(web::post().to(orders::cancel))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/orders/{order}/refund")
                .route(web::post().to(orders::refund))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/orders/{order}/tickets/{ticket}/cancel")
                .route(web::post().to(orders::cancel_ticket))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/admin/outbox/{consumer}/parked")
                .route(web::get().to(orders::list_parked))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/admin/outbox/{consumer}/parked/{seq}/retry")
                .route(web::post().to(orders::retry_parked))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/health")
                .route(web::get().to(health))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/metrics")
                .route(web::get().to(render_metrics))
                .default_service(web::to(method_not_allowed)),
        );
}

pub async fn not_found() -> Answer {
    Err(Problem::not_found("no such resource"))
}

async fn method_not_allowed() -> Answer {
    let detail = "this method is not allowed here";
    Err(Problem::new(StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed", detail))
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// The Prometheus text format, for scraping.
async fn render_metrics(state: State) -> Answer {
    let handle = state.metrics.as_ref().ok_or_else(|| Problem::not_found("metrics are off"))?;
    Ok(HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(handle.render()))
}

// Paths and paging.

/// An id from the path; anything that is not one names nothing (404).
fn path_id<T: std::str::FromStr>(text: &str, what: &str) -> Result<T, Problem> {
    text.parse().map_err(|_| Problem::not_found(format!("no {what} {text:?}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Paging {
    // Text, not numbers, so a bad value is refused naming its parameter.
    limit: Option<String>,
    after: Option<String>,
    status: Option<String>,
}

const PAGE_DEFAULT: usize = 100;
const PAGE_MAX: usize = 1000;

impl Paging {
    fn limit(&self) -> Result<usize, Problem> {
        let Some(limit) = &self.limit else { return Ok(PAGE_DEFAULT) };
        match limit.parse::<usize>() {
            Ok(limit) if (1..=PAGE_MAX).contains(&limit) => Ok(limit),
            _ => Err(Problem::invalid("limit", format!("limit must be 1 to {PAGE_MAX}"))),
        }
    }

    /// Lists other than tickets take no status filter.
    fn without_status(&self) -> Result<&Paging, Problem> {
        match self.status {
            None => Ok(self),
            Some(_) => Err(Problem::invalid("status", "only the ticket list filters by status")),
        }
    }

    fn after<T: std::str::FromStr>(&self) -> Result<Option<T>, Problem> {
        let Some(after) = &self.after else { return Ok(None) };
        after
            .parse()
            .map(Some)
            .map_err(|_| Problem::invalid("after", "after must be an id from a page"))
    }
}

/// Answers one page of a list, naming the next page in a `Link` header when
/// `items` holds more than `limit` (callers fetch one extra to tell).
pub fn page<T: Serialize>(
    request: &HttpRequest,
    mut items: Vec<T>,
    limit: usize,
    id_of: impl Fn(&T) -> String,
) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    if items.len() > limit {
        items.truncate(limit);
        let last = id_of(items.last().expect("limit is at least 1"));
        let mut query: Vec<(String, String)> =
            serde_urlencoded::from_str(request.query_string()).unwrap_or_default();
        query.retain(|(key, _)| key != "after" && key != "limit");
        query.push(("limit".into(), limit.to_string()));
        query.push(("after".into(), last));
        let query = serde_urlencoded::to_string(&query).unwrap_or_default();
        response
            .insert_header((header::LINK, format!("<{}?{query}>; rel=\"next\"", request.path())));
    }
    response.json(items)
}

// Lookups of the path's ids, shared by browsing and admin.

fn city(office: &BoxOffice, id: &str) -> Result<City, Problem> {
    let id: CityId = path_id(id, "city")?;
    office
        .with_catalogue(|catalogue| catalogue.cities.get(&id).cloned())
        .ok_or_else(|| Problem::not_found(format!("no city {id}")))
}

fn venue_of(office: &BoxOffice, city: &City, id: &str) -> Result<Venue, Problem> {
    let id: VenueId = path_id(id, "venue")?;
    let venue = office.with_catalogue(|catalogue| catalogue.venues.get(&id).cloned());
    venue
        .filter(|venue| venue.city == city.id)
        .ok_or_else(|| Problem::not_found(format!("no venue {id} in this city")))
}

fn performance_of(office: &BoxOffice, venue: &Venue, id: &str) -> Result<PerformanceInfo, Problem> {
    let id: PerformanceId = path_id(id, "performance")?;
    let info = office.with_catalogue(|catalogue| catalogue.performances.get(&id).cloned());
    info.filter(|info| info.venue == venue.id)
        .ok_or_else(|| Problem::not_found(format!("no performance {id} at this venue")))
}

async fn availability(office: &BoxOffice, performance: PerformanceId) -> Result<Vec<u32>, Problem> {
    office.availability(performance).await.map_err(|error| booking_problem(performance, error))
}

/// Text that must be present and of sensible length.
fn text(field: &str, value: &str, max_chars: usize) -> Result<String, Problem> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(Problem::invalid(field, format!("{field} must not be empty")));
    }
    if trimmed.chars().count() > max_chars {
        return Err(Problem::invalid(
            field,
            format!("{field} may have at most {max_chars} characters"),
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(Problem::invalid(
            field,
            format!("{field} must not contain control characters"),
        ));
    }
    Ok(trimmed.to_owned())
}
