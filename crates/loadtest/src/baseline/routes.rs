//! The baseline's HTTP routes: Boxoffice's paths and methods, what every
//! handler shares, and paging.
//!
//! This is the baseline (the design Boxoffice replaces), not the product.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use mysql_async::Pool;
use parking_lot::RwLock;
use serde::Deserialize;

use super::catalogue::{self, Performance};
use super::problem::Problem;
use super::{booking, users};

/// What all workers share. The performance and user caches hold what never
/// changes once written (a performance's plan, a user's token digest), so
/// no request waits on the database for them twice; every booking state
/// lives in the database only.
pub struct Shared {
    pub hold_ttl: Duration,
    pub admin_token: Option<String>,
    pub performances: RwLock<HashMap<u32, Arc<Performance>>>,
    pub users: RwLock<HashMap<u32, [u8; 32]>>,
}

/// One worker's state: its own pool, so a connection's socket is always
/// driven by the thread that uses it (each actix worker is a runtime of its
/// own), and the shared caches.
pub struct AppState {
    pub pool: Pool,
    pub shared: Arc<Shared>,
}

pub type State = web::Data<AppState>;
pub type Answer = Result<HttpResponse, Problem>;

pub fn configure(config: &mut web::ServiceConfig) {
    let resource = |path: &str| web::resource(path).default_service(web::to(method_not_allowed));
    config
        .service(
            resource("/cities")
                .route(web::get().to(catalogue::list_cities))
                .route(web::post().to(catalogue::create_city)),
        )
        .service(
            resource("/cities/{city}/venues")
                .route(web::get().to(catalogue::list_venues))
                .route(web::post().to(catalogue::create_venue)),
        )
        .service(
            resource("/cities/{city}/venues/{venue}/performances")
                .route(web::get().to(catalogue::list_performances))
                .route(web::post().to(catalogue::create_performance)),
        )
        .service(
            resource("/cities/{city}/venues/{venue}/performances/{performance}")
                .route(web::get().to(catalogue::show_performance)),
        )
        .service(
            resource("/cities/{city}/venues/{venue}/performances/{performance}/tickets")
                .route(web::get().to(catalogue::list_tickets)),
        )
        .service(resource("/users").route(web::post().to(users::register)))
        .service(
            resource("/users/{user}/tickets")
                .route(web::get().to(booking::own_tickets))
                .route(web::post().to(booking::reserve))
                .route(web::put().to(booking::purchase))
                .route(web::patch().to(booking::purchase)),
        )
        .service(
            resource("/users/{user}/tickets/{ticket}").route(web::delete().to(booking::release)),
        )
        .service(resource("/health").route(web::get().to(health)));
}

pub async fn not_found() -> Answer {
    Err(Problem::not_found("no such resource"))
}

async fn method_not_allowed() -> Answer {
    let detail = "this method is not allowed here";
    Err(Problem::new(StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed", detail))
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok", "design": "baseline" }))
}

/// An id from the path; anything that is not one names nothing (404).
pub fn path_id(text: &str, what: &str) -> Result<u32, Problem> {
    super::views::parse_u32(text).ok_or_else(|| Problem::not_found(format!("no {what} {text:?}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Paging {
    pub limit: Option<u32>,
    pub after: Option<String>,
    pub status: Option<String>,
}

const PAGE_DEFAULT: usize = 100;
const PAGE_MAX: usize = 1000;

impl Paging {
    pub fn limit(&self) -> Result<usize, Problem> {
        match self.limit {
            None => Ok(PAGE_DEFAULT),
            Some(limit) if (1..=PAGE_MAX as u32).contains(&limit) => Ok(limit as usize),
            Some(_) => Err(Problem::invalid("limit", format!("limit must be 1 to {PAGE_MAX}"))),
        }
    }

    /// `after` as a plain id; 0 when absent (ids start at 1).
    pub fn after_id(&self) -> Result<u32, Problem> {
        let Some(after) = &self.after else { return Ok(0) };
        super::views::parse_u32(after)
            .ok_or_else(|| Problem::invalid("after", "after must be an id from a page"))
    }
}

/// One page of a list with its `Link` header, as Boxoffice answers it.
pub use api::routes::page;
