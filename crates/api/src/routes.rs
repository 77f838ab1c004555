//! The HTTP routes: parse and check the request, ask the engine, shape the
//! answer. No booking state lives here.

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

/// What every handler shares.
pub struct AppState {
    pub office: BoxOffice,
    pub admin_token: Option<String>,
    pub clock: Arc<dyn Clock>,
    /// Renders the process's metrics, when it installed a recorder.
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
}

type State = web::Data<AppState>;
type Answer = Result<HttpResponse, Problem>;

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .service(
            web::resource("/cities")
                .route(web::get().to(list_cities))
                .route(web::post().to(create_city))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/cities/{city}/venues")
                .route(web::get().to(list_venues))
                .route(web::post().to(create_venue))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/cities/{city}/venues/{venue}/performances")
                .route(web::get().to(list_performances))
                .route(web::post().to(create_performance))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/cities/{city}/venues/{venue}/performances/{performance}")
                .route(web::get().to(show_performance))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/cities/{city}/venues/{venue}/performances/{performance}/tickets")
                .route(web::get().to(list_tickets))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/users")
                .route(web::post().to(register))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/users/{user}/tickets")
                .route(web::get().to(own_tickets))
                .route(web::post().to(reserve))
                .route(web::put().to(purchase))
                .route(web::patch().to(purchase))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/users/{user}/tickets/{ticket}")
                .route(web::delete().to(release))
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
fn page<T: Serialize>(
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

// The catalogue.

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

async fn list_cities(state: State, request: HttpRequest, paging: Query<Paging>) -> Answer {
    let paging = paging.0.without_status()?;
    let (limit, after) = (paging.limit()?, paging.after::<CityId>()?);
    let cities: Vec<CityView> = state.office.with_catalogue(|catalogue| {
        let from = after.map_or(CityId(0), |id| CityId(id.0.saturating_add(1)));
        catalogue.cities.range(from..).take(limit + 1).map(|(_, city)| city.into()).collect()
    });
    Ok(page(&request, cities, limit, |city| city.id.to_string()))
}

async fn list_venues(
    state: State,
    request: HttpRequest,
    path: web::Path<String>,
    paging: Query<Paging>,
) -> Answer {
    let city = city(&state.office, &path)?;
    let paging = paging.0.without_status()?;
    let (limit, after) = (paging.limit()?, paging.after::<VenueId>()?);
    let venues: Vec<VenueView> = state.office.with_catalogue(|catalogue| {
        let from = after.map_or(VenueId(0), |id| VenueId(id.0.saturating_add(1)));
        let in_city = catalogue.venues.range(from..).map(|(_, v)| v).filter(|v| v.city == city.id);
        in_city.take(limit + 1).map(|venue| VenueView::new(venue, &city.currency)).collect()
    });
    Ok(page(&request, venues, limit, |venue| venue.id.to_string()))
}

async fn list_performances(
    state: State,
    request: HttpRequest,
    path: web::Path<(String, String)>,
    paging: Query<Paging>,
) -> Answer {
    let city = city(&state.office, &path.0)?;
    let venue = venue_of(&state.office, &city, &path.1)?;
    let paging = paging.0.without_status()?;
    let (limit, after) = (paging.limit()?, paging.after::<PerformanceId>()?);
    let infos: Vec<PerformanceInfo> = state.office.with_catalogue(|catalogue| {
        let from = after.map_or(PerformanceId(0), |id| PerformanceId(id.0.saturating_add(1)));
        let here =
            catalogue.performances.range(from..).map(|(_, p)| p).filter(|p| p.venue == venue.id);
        here.take(limit + 1).cloned().collect()
    });

    let mut views = Vec::with_capacity(infos.len());
    for info in &infos {
        let available = availability(&state.office, info.id).await?;
        views.push(PerformanceView::new(info, &city, &venue, &available));
    }
    Ok(page(&request, views, limit, |view| view.id.to_string()))
}

async fn availability(office: &BoxOffice, performance: PerformanceId) -> Result<Vec<u32>, Problem> {
    office.availability(performance).await.map_err(|error| booking_problem(performance, error))
}

async fn show_performance(state: State, path: web::Path<(String, String, String)>) -> Answer {
    let city = city(&state.office, &path.0)?;
    let venue = venue_of(&state.office, &city, &path.1)?;
    let info = performance_of(&state.office, &venue, &path.2)?;

    let available = availability(&state.office, info.id).await?;
    let mut view = PerformanceView::new(&info, &city, &venue, &available);
    view.sections = Some(sections(&venue, &city.currency, Some(&available)));
    Ok(HttpResponse::Ok().json(view))
}

async fn list_tickets(
    state: State,
    request: HttpRequest,
    path: web::Path<(String, String, String)>,
    paging: Query<Paging>,
) -> Answer {
    let city = city(&state.office, &path.0)?;
    let venue = venue_of(&state.office, &city, &path.1)?;
    let info = performance_of(&state.office, &venue, &path.2)?;
    let limit = paging.0.limit()?;
    let after = match paging.0.after::<TicketId>()? {
        Some(ticket) if ticket.performance != info.id => {
            return Err(Problem::invalid("after", "after must be a ticket of this performance"))
        }
        after => after.map(|ticket| ticket.index),
    };
    let only = match paging.0.status.as_deref() {
        None => None,
        Some("available") => Some(TicketStatus::Available),
        Some("reserved") => Some(TicketStatus::Reserved),
        Some("purchased") => Some(TicketStatus::Purchased),
        Some(_) => {
            return Err(Problem::invalid(
                "status",
                "status must be available, reserved or purchased",
            ))
        }
    };

    let handle = state.office.performance(info.id).map_err(|e| booking_problem(info.id, e))?;
    let found = state.office.tickets(info.id, after, limit + 1, only).await;
    let found = found.map_err(|error| booking_problem(info.id, error))?;
    let tickets: Vec<TicketView> = found
        .into_iter()
        .map(|(index, status)| {
            let id = TicketId { performance: info.id, index };
            TicketView::new(id, &handle.plan, &city.currency, status)
        })
        .collect();
    Ok(page(&request, tickets, limit, |ticket| ticket.id.clone()))
}

// Admin: the catalogue.

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CityRequest {
    name: String,
    country: String,
    time_zone: String,
    currency: String,
}

async fn create_city(state: State, _admin: Admin, body: Body<CityRequest>) -> Answer {
    let body = body.0;

    let name = text("name", &body.name, 200)?;
    let country = body.country.trim().to_owned();
    if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(Problem::invalid(
            "country",
            "country must be an ISO 3166 alpha-2 code, such as CH",
        ));
    }
    if !civil::is_valid_zone(&body.time_zone) {
        return Err(Problem::invalid(
            "time_zone",
            "time_zone must be an IANA zone, such as Europe/Zurich",
        ));
    }
    let currency = crate::seed::currency_of(&body.currency)
        .ok_or_else(|| Problem::invalid("currency", "currency must be a known ISO 4217 code"))?;

    let new = NewCity { name, country, time_zone: body.time_zone, currency };
    let city = state.office.create_city(new).await?;
    tracing::info!(city = %city.id, name = %city.name, "city created");
    Ok(HttpResponse::Created().json(CityView::from(&city)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VenueRequest {
    name: String,
    layout: LayoutRequest,
}

/// A layout in the shape of `venue-layouts.json`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayoutRequest {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    capacity: Option<u32>,
    sections: Vec<SectionRequest>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SectionRequest {
    name: String,
    kind: String,
    #[serde(default)]
    rows: Option<u32>,
    #[serde(default)]
    seats_per_row: Option<u32>,
    #[serde(default)]
    capacity: Option<u32>,
    price_minor: i64,
}

impl LayoutRequest {
    fn into_layout(self) -> Result<Layout, Problem> {
        let _ = (self.id, self.description);
        let sections = self
            .sections
            .into_iter()
            .enumerate()
            .map(|(i, s)| s.into_section(i))
            .collect::<Result<_, _>>()?;
        let layout = Layout { sections };
        layout
            .validate()
            .map_err(|error| Problem::invalid("layout.sections", error.to_string()))?;
        if self.capacity.is_some_and(|capacity| capacity != layout.capacity()) {
            return Err(Problem::invalid(
                "layout.capacity",
                "capacity must be the sum of the sections",
            ));
        }
        Ok(layout)
    }
}

/// Checked here too, to name the field; the engine's layout check is the
/// one that keeps sums of prices from overflowing.
const PRICE_MINOR_MAX: i64 = Layout::PRICE_MINOR_MAX;

impl SectionRequest {
    fn into_section(self, index: usize) -> Result<Section, Problem> {
        let field = |name: &str| format!("layout.sections[{index}].{name}");
        let kind = match (self.kind.as_str(), self.rows, self.seats_per_row, self.capacity) {
            ("seated", Some(rows), Some(seats_per_row), None) => {
                SectionKind::Seated { rows, seats_per_row }
            }
            ("standing", None, None, Some(capacity)) => SectionKind::Standing { capacity },
            ("seated", ..) => {
                return Err(Problem::invalid(
                    &field("rows"),
                    "a seated section has rows and seats_per_row, no capacity",
                ))
            }
            ("standing", ..) => {
                return Err(Problem::invalid(
                    &field("capacity"),
                    "a standing section has a capacity, no rows",
                ))
            }
            _ => return Err(Problem::invalid(&field("kind"), "kind must be seated or standing")),
        };
        if !(0..=PRICE_MINOR_MAX).contains(&self.price_minor) {
            return Err(Problem::invalid(
                &field("price_minor"),
                format!("price_minor must be 0 to {PRICE_MINOR_MAX}"),
            ));
        }
        Ok(Section {
            name: text(&field("name"), &self.name, 100)?,
            kind,
            price_minor: self.price_minor,
        })
    }
}

async fn create_venue(
    state: State,
    _admin: Admin,
    path: web::Path<String>,
    body: Body<VenueRequest>,
) -> Answer {
    let city = city(&state.office, &path)?;
    let body = body.0;

    let name = text("name", &body.name, 200)?;
    let layout = body.layout.into_layout()?;
    let venue = state.office.create_venue(city.id, name, layout).await?;
    tracing::info!(venue = %venue.id, city = %city.id, capacity = venue.layout.capacity(), "venue created");
    Ok(HttpResponse::Created().json(VenueView::new(&venue, &city.currency)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PerformanceRequest {
    title: String,
    start_local: String,
    #[serde(default)]
    utc_offset: Option<String>,
    on_sale: String,
    #[serde(default)]
    order_max: Option<u32>,
    #[serde(default)]
    user_max: Option<u32>,
}

/// The most tickets one order may be allowed: a limit above this is a typo.
const ORDER_MAX_LIMIT: u32 = 100;

async fn create_performance(
    state: State,
    _admin: Admin,
    path: web::Path<(String, String)>,
    body: Body<PerformanceRequest>,
) -> Answer {
    let city = city(&state.office, &path.0)?;
    let venue = venue_of(&state.office, &city, &path.1)?;
    let body = body.0;

    let title = text("title", &body.title, 300)?;
    let start =
        civil::resolve_local_start(&city.time_zone, &body.start_local, body.utc_offset.as_deref())
            .map_err(civil_problem)?;
    if start.start <= state.clock.now() {
        return Err(Problem::invalid("start_local", "the performance must start in the future"));
    }
    let on_sale: jiff::Timestamp = body.on_sale.parse().map_err(|_| {
        Problem::invalid("on_sale", "on_sale must be an RFC 3339 instant with an offset")
    })?;
    let on_sale = Timestamp::from_jiff(on_sale);
    if on_sale >= start.start {
        return Err(Problem::invalid("on_sale", "sales must open before the performance starts"));
    }
    let order_max = limit_field("order_max", body.order_max)?;
    let user_max = limit_field("user_max", body.user_max)?;

    let new = NewPerformance {
        title,
        start_local: start.start_local,
        start: start.start,
        utc_offset_seconds: start.utc_offset_seconds,
        on_sale,
        order_max,
        user_max,
    };
    let info = state.office.create_performance(venue.id, new).await?;
    tracing::info!(performance = %info.id, venue = %venue.id, title = %info.title, "performance created");
    let available = availability(&state.office, info.id).await?;
    Ok(HttpResponse::Created().json(PerformanceView::new(&info, &city, &venue, &available)))
}

/// A start time that cannot be, naming the field at fault.
fn civil_problem(error: civil::CivilError) -> Problem {
    let field = match error {
        civil::CivilError::MalformedOffset { .. } | civil::CivilError::OffsetMismatch { .. } => {
            "utc_offset"
        }
        _ => "start_local",
    };
    Problem::invalid(field, error.to_string())
}

fn limit_field(field: &str, value: Option<u32>) -> Result<u32, Problem> {
    match value {
        None => Ok(10),
        Some(limit) if (1..=ORDER_MAX_LIMIT).contains(&limit) => Ok(limit),
        Some(_) => Err(Problem::invalid(field, format!("{field} must be 1 to {ORDER_MAX_LIMIT}"))),
    }
}

// Users.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserRequest {
    name: String,
    email: String,
    phone: String,
}

#[derive(Serialize)]
struct NewUserView {
    id: u32,
    name: String,
    email: String,
    phone: String,
    /// Shown once; only its digest is kept.
    token: String,
}

async fn register(state: State, body: Body<UserRequest>) -> Answer {
    let body = body.0;
    let name = text("name", &body.name, 200)?;
    let email = email(&body.email)?;
    let phone = phone(&body.phone)?;

    let (secret, digest) = auth::new_secret();
    let user = state.office.register_user(name, email, phone, digest).await?;
    tracing::info!(user = %user.id, "user registered");
    let token = auth::user_token(user.id, &secret);
    let view =
        NewUserView { id: user.id.0, name: user.name, email: user.email, phone: user.phone, token };
    Ok(HttpResponse::Created().json(view))
}

fn email(value: &str) -> Result<String, Problem> {
    let email = text("email", value, 254)?;
    let valid = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !email.contains(char::is_whitespace)
        }
        None => false,
    };
    if !valid {
        return Err(Problem::invalid("email", "email must be an address such as ada@example.org"));
    }
    Ok(email)
}

fn phone(value: &str) -> Result<String, Problem> {
    let phone = text("phone", value, 32)?;
    let digits = phone.chars().filter(char::is_ascii_digit).count();
    let allowed = phone.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c));
    if !allowed || !(6..=15).contains(&digits) {
        return Err(Problem::invalid("phone", "phone must be a number such as +41 44 668 18 00"));
    }
    Ok(phone)
}

/// The user named in the path, once the bearer token proves it is them.
fn caller(state: &AppState, request: &HttpRequest, id: &str) -> Result<UserId, Problem> {
    let user: UserId = path_id(id, "user")?;
    auth::authorize_user(&state.office, request, user)?;
    Ok(user)
}

/// The caller of a `/users/{user}/…` route. As an extractor listed before
/// the body, it is checked first: a request without the user's own token is
/// 401 or 403 whatever its body holds, and the body is not even read.
struct Caller(UserId);

impl FromRequest for Caller {
    type Error = Problem;
    type Future = std::future::Ready<Result<Caller, Problem>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let state = request.app_data::<State>().expect("the app has its state");
        let id = request.match_info().get("user").unwrap_or_default();
        std::future::ready(caller(state, request, id).map(Caller))
    }
}

/// Proof that a request carries the admin token; like [`Caller`], checked
/// before the body.
struct Admin;

impl FromRequest for Admin {
    type Error = Problem;
    type Future = std::future::Ready<Result<Admin, Problem>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let state = request.app_data::<State>().expect("the app has its state");
        std::future::ready(
            auth::authorize_admin(state.admin_token.as_deref(), request).map(|()| Admin),
        )
    }
}

/// Parses ticket ids from a body, all of one performance.
fn body_tickets(ids: &[String]) -> Result<(PerformanceId, Vec<u32>), Problem> {
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
struct ReserveRequest {
    performance_id: u32,
    #[serde(default)]
    ticket_ids: Option<Vec<String>>,
    #[serde(default)]
    section: Option<String>,
    #[serde(default)]
    quantity: Option<u32>,
}

#[derive(Serialize)]
struct ReservationView {
    performance_id: u32,
    reserved_until: String,
    tickets: Vec<TicketView>,
}

async fn reserve(state: State, Caller(user): Caller, body: Body<ReserveRequest>) -> Answer {
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
struct PurchaseRequest {
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

async fn purchase(state: State, Caller(user): Caller, body: Body<PurchaseRequest>) -> Answer {
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

async fn release(state: State, request: HttpRequest, path: web::Path<(String, String)>) -> Answer {
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

async fn own_tickets(state: State, request: HttpRequest, path: web::Path<String>) -> Answer {
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
