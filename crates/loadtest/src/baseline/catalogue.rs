//! The catalogue of the baseline: cities, venues and performances in their
//! tables, a performance's tickets as rows written when it is created, and
//! the lists and counts the rush reads.
//!
//! This is the baseline (the design Boxoffice replaces), not the product.

use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};
use jiff::tz::TimeZone;
use mysql_async::prelude::Queryable;
use mysql_async::{Pool, Row, TxOpts};
use serde::Deserialize;

use super::db::{instant_of, sql_instant};
use super::layout::{sections_of, LayoutRequest, Plan, Section};
use super::problem::{Body, Problem, Query};
use super::routes::{page, path_id, Answer, Paging, State};
use super::users::Admin;
use super::views::{self, CityView, PerformanceView, TicketView, VenueView};

/// A performance as every request needs it: immutable once created, so it
/// is read from the database once per process and kept.
#[derive(Debug)]
pub struct Performance {
    pub id: u32,
    pub city_id: u32,
    pub venue_id: u32,
    pub title: String,
    pub start_local: String,
    /// RFC 3339 with the offset at the venue.
    pub start_text: String,
    pub start: jiff::Timestamp,
    pub on_sale: jiff::Timestamp,
    pub order_max: u32,
    pub user_max: u32,
    pub time_zone: String,
    pub currency: String,
    pub plan: Plan,
}

impl Performance {
    /// Sales are open from `on_sale` until the performance starts.
    pub fn is_on_sale(&self, now: jiff::Timestamp) -> bool {
        self.on_sale <= now && now < self.start
    }
}

const PERFORMANCE_BY_ID: &str = "SELECT p.id, v.city_id, p.venue_id, p.title, p.start_local, \
     p.start_text, p.start_at, p.on_sale, p.order_max, p.user_max, c.time_zone, c.currency, \
     v.layout FROM performances p JOIN venues v ON v.id = p.venue_id \
     JOIN cities c ON c.id = v.city_id WHERE p.id = ?";

/// The performance `id`, from the cache or else the database.
pub async fn performance(state: &State, id: u32) -> Result<Option<Arc<Performance>>, Problem> {
    if let Some(found) = state.shared.performances.read().get(&id) {
        return Ok(Some(found.clone()));
    }
    let row: Option<Row> =
        state.pool.get_conn().await?.exec_first(PERFORMANCE_BY_ID, (id,)).await?;
    let Some(row) = row else { return Ok(None) };
    let loaded = Arc::new(performance_of_row(row)?);
    state.shared.performances.write().insert(id, loaded.clone());
    Ok(Some(loaded))
}

fn performance_of_row(mut row: Row) -> Result<Performance, Problem> {
    let corrupt = || Problem::from(mysql_async::Error::Other("a malformed performance row".into()));
    let instant = |value: Option<mysql_async::Value>| value.as_ref().and_then(instant_of);
    let layout: String = row.take(12).ok_or_else(corrupt)?;
    let sections: Vec<Section> = serde_json::from_str(&layout).map_err(|_| corrupt())?;
    Ok(Performance {
        id: row.take(0).ok_or_else(corrupt)?,
        city_id: row.take(1).ok_or_else(corrupt)?,
        venue_id: row.take(2).ok_or_else(corrupt)?,
        title: row.take(3).ok_or_else(corrupt)?,
        start_local: row.take(4).ok_or_else(corrupt)?,
        start_text: row.take(5).ok_or_else(corrupt)?,
        start: instant(row.take(6)).ok_or_else(corrupt)?,
        on_sale: instant(row.take(7)).ok_or_else(corrupt)?,
        order_max: row.take(8).ok_or_else(corrupt)?,
        user_max: row.take(9).ok_or_else(corrupt)?,
        time_zone: row.take(10).ok_or_else(corrupt)?,
        currency: row.take(11).ok_or_else(corrupt)?,
        plan: Plan::new(sections),
    })
}

/// The performance of a path, checked to be at that venue of that city.
async fn performance_at(
    state: &State,
    path: &(String, String, String),
) -> Result<Arc<Performance>, Problem> {
    let (city, venue) = (path_id(&path.0, "city")?, path_id(&path.1, "venue")?);
    let id = path_id(&path.2, "performance")?;
    let found = performance(state, id).await?;
    found
        .filter(|p| p.city_id == city && p.venue_id == venue)
        .ok_or_else(|| Problem::not_found(format!("no performance {id} at this venue")))
}

/// Tickets available per section, counted on the `by_state` index.
pub async fn availability(pool: &Pool, performance: &Performance) -> Result<Vec<u32>, Problem> {
    let counts: Vec<(u16, u64)> = pool
        .get_conn()
        .await?
        .exec(
            "SELECT section, COUNT(*) FROM tickets FORCE INDEX (by_state) \
             WHERE performance_id = ? AND state = 'available' GROUP BY section",
            (performance.id,),
        )
        .await?;
    let mut available = vec![0u32; performance.plan.sections.len()];
    for (section, count) in counts {
        if let Some(slot) = available.get_mut(section as usize) {
            *slot = count as u32;
        }
    }
    Ok(available)
}

// Cities.

struct City {
    time_zone: String,
    currency: String,
}

async fn city(pool: &Pool, text: &str) -> Result<City, Problem> {
    let id = path_id(text, "city")?;
    let row: Option<(String, String)> = pool
        .get_conn()
        .await?
        .exec_first("SELECT time_zone, currency FROM cities WHERE id = ?", (id,))
        .await?;
    let (time_zone, currency) = row.ok_or_else(|| Problem::not_found(format!("no city {id}")))?;
    Ok(City { time_zone, currency })
}

pub async fn list_cities(state: State, request: HttpRequest, paging: Query<Paging>) -> Answer {
    let (limit, after) = (paging.0.limit()?, paging.0.after_id()?);
    let rows: Vec<(u32, String, String, String, String, u8)> = state
        .pool
        .get_conn()
        .await?
        .exec(
            "SELECT id, name, country, time_zone, currency, currency_exponent FROM cities \
             WHERE id > ? ORDER BY id LIMIT ?",
            (after, limit as u64 + 1),
        )
        .await?;
    let cities = rows
        .into_iter()
        .map(|(id, name, country, time_zone, currency, currency_exponent)| CityView {
            id,
            name,
            country,
            time_zone,
            currency,
            currency_exponent,
        })
        .collect();
    Ok(page(&request, cities, limit, |city| city.id.to_string()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CityRequest {
    name: String,
    country: String,
    time_zone: String,
    currency: String,
}

pub async fn create_city(state: State, _admin: Admin, body: Body<CityRequest>) -> Answer {
    let body = body.0;
    let name = text("name", &body.name, 200)?;
    let country = body.country.trim().to_owned();
    if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(Problem::invalid("country", "country must be an ISO 3166 alpha-2 code"));
    }
    if TimeZone::get(&body.time_zone).is_err() {
        return Err(Problem::invalid("time_zone", "time_zone must be an IANA zone"));
    }
    let currency = body.currency.trim().to_owned();
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(Problem::invalid("currency", "currency must be an ISO 4217 code"));
    }
    let exponent = currency_exponent(&currency);

    let mut conn = state.pool.get_conn().await?;
    conn.exec_drop(
        "INSERT INTO cities (name, country, time_zone, currency, currency_exponent) \
         VALUES (?, ?, ?, ?, ?)",
        (&name, &country, &body.time_zone, &currency, exponent),
    )
    .await?;
    let id = conn.last_insert_id().unwrap_or_default() as u32;
    tracing::info!(city = id, %name, "city created");
    let view = CityView {
        id,
        name,
        country,
        time_zone: body.time_zone,
        currency,
        currency_exponent: exponent,
    };
    Ok(HttpResponse::Created().json(view))
}

/// Minor units per major unit, as ISO 4217 has them: two but for these.
fn currency_exponent(code: &str) -> u8 {
    const NONE: &[&str] = &[
        "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND",
        "VUV", "XAF", "XOF", "XPF",
    ];
    const THREE: &[&str] = &["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"];
    if NONE.contains(&code) {
        0
    } else if THREE.contains(&code) {
        3
    } else {
        2
    }
}

/// Text that must be present and of sensible length.
pub fn text(field: &str, value: &str, max_chars: usize) -> Result<String, Problem> {
    let trimmed = value.trim();
    if trimmed.is_empty() || trimmed.chars().count() > max_chars {
        let detail = format!("{field} must have 1 to {max_chars} characters");
        return Err(Problem::invalid(field, detail));
    }
    if trimmed.chars().any(char::is_control) {
        let detail = format!("{field} must not contain control characters");
        return Err(Problem::invalid(field, detail));
    }
    Ok(trimmed.to_owned())
}

// Venues.

fn venue_view(id: u32, city_id: u32, name: String, layout: &str, currency: &str) -> VenueView {
    let sections: Vec<Section> = serde_json::from_str(layout).unwrap_or_default();
    VenueView {
        id,
        city_id,
        name,
        capacity: sections.iter().map(|section| section.kind.capacity()).sum(),
        sections: views::sections(&sections, currency, None),
    }
}

pub async fn list_venues(
    state: State,
    request: HttpRequest,
    path: web::Path<String>,
    paging: Query<Paging>,
) -> Answer {
    let city_id = path_id(&path, "city")?;
    let city = city(&state.pool, &path).await?;
    let (limit, after) = (paging.0.limit()?, paging.0.after_id()?);
    let rows: Vec<(u32, String, String)> = state
        .pool
        .get_conn()
        .await?
        .exec(
            "SELECT id, name, layout FROM venues WHERE city_id = ? AND id > ? ORDER BY id LIMIT ?",
            (city_id, after, limit as u64 + 1),
        )
        .await?;
    let venues = rows
        .into_iter()
        .map(|(id, name, layout)| venue_view(id, city_id, name, &layout, &city.currency))
        .collect();
    Ok(page(&request, venues, limit, |venue| venue.id.to_string()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VenueRequest {
    name: String,
    layout: LayoutRequest,
}

pub async fn create_venue(
    state: State,
    _admin: Admin,
    path: web::Path<String>,
    body: Body<VenueRequest>,
) -> Answer {
    let city_id = path_id(&path, "city")?;
    let city = city(&state.pool, &path).await?;
    let body = body.0;
    let name = text("name", &body.name, 200)?;
    let sections = sections_of(body.layout)?;
    let layout = serde_json::to_string(&sections).expect("a layout serializes");
    let capacity: u32 = sections.iter().map(|section| section.kind.capacity()).sum();

    let mut conn = state.pool.get_conn().await?;
    conn.exec_drop(
        "INSERT INTO venues (city_id, name, capacity, layout) VALUES (?, ?, ?, ?)",
        (city_id, &name, capacity, &layout),
    )
    .await?;
    let id = conn.last_insert_id().unwrap_or_default() as u32;
    tracing::info!(venue = id, city = city_id, capacity, "venue created");
    Ok(HttpResponse::Created().json(venue_view(id, city_id, name, &layout, &city.currency)))
}

/// The layout of venue `text` in city `city_id`.
async fn venue_layout(pool: &Pool, city_id: u32, text: &str) -> Result<(u32, String), Problem> {
    let id = path_id(text, "venue")?;
    let layout: Option<String> = pool
        .get_conn()
        .await?
        .exec_first("SELECT layout FROM venues WHERE id = ? AND city_id = ?", (id, city_id))
        .await?;
    let layout = layout.ok_or_else(|| Problem::not_found(format!("no venue {id} in this city")))?;
    Ok((id, layout))
}

// Performances.

pub async fn list_performances(
    state: State,
    request: HttpRequest,
    path: web::Path<(String, String)>,
    paging: Query<Paging>,
) -> Answer {
    let city_id = path_id(&path.0, "city")?;
    city(&state.pool, &path.0).await?;
    let (venue_id, _) = venue_layout(&state.pool, city_id, &path.1).await?;
    let (limit, after) = (paging.0.limit()?, paging.0.after_id()?);
    let ids: Vec<u32> = state
        .pool
        .get_conn()
        .await?
        .exec(
            "SELECT id FROM performances WHERE venue_id = ? AND id > ? ORDER BY id LIMIT ?",
            (venue_id, after, limit as u64 + 1),
        )
        .await?;

    let mut views = Vec::with_capacity(ids.len());
    for id in ids {
        let Some(performance) = performance(&state, id).await? else { continue };
        let available = availability(&state.pool, &performance).await?;
        views.push(PerformanceView::new(&performance, &available, false));
    }
    Ok(page(&request, views, limit, |view| view.id.to_string()))
}

pub async fn show_performance(state: State, path: web::Path<(String, String, String)>) -> Answer {
    let performance = performance_at(&state, &path).await?;
    let available = availability(&state.pool, &performance).await?;
    Ok(HttpResponse::Ok().json(PerformanceView::new(&performance, &available, true)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerformanceRequest {
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

/// When a performance starts: the instant, and the RFC 3339 text with the
/// offset at the venue.
struct Start {
    local: String,
    text: String,
    at: jiff::Timestamp,
}

/// Resolves the local start in the city's zone, or at the offset given.
/// (Boxoffice also refuses an offset the zone never has; the rush does not
/// need that.)
fn resolve_start(time_zone: &str, local: &str, offset: Option<&str>) -> Result<Start, Problem> {
    let invalid =
        || Problem::invalid("start_local", "start_local must be such as 2030-10-27T20:00:00");
    let civil: jiff::civil::DateTime = local.parse().map_err(|_| invalid())?;
    let local = civil.strftime("%Y-%m-%dT%H:%M:%S").to_string();
    if let Some(offset) = offset {
        let text = format!("{local}{offset}");
        let at: jiff::Timestamp = text
            .parse()
            .map_err(|_| Problem::invalid("utc_offset", "utc_offset must be such as +01:00"))?;
        return Ok(Start { local, text, at });
    }
    let zone = TimeZone::get(time_zone).map_err(|_| invalid())?;
    let zoned = civil.to_zoned(zone).map_err(|_| invalid())?;
    let text = zoned.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string();
    Ok(Start { local, text, at: zoned.timestamp() })
}

fn limit_field(field: &str, value: Option<u32>) -> Result<u32, Problem> {
    match value {
        None => Ok(10),
        Some(limit) if (1..=100).contains(&limit) => Ok(limit),
        Some(_) => Err(Problem::invalid(field, format!("{field} must be 1 to 100"))),
    }
}

pub async fn create_performance(
    state: State,
    _admin: Admin,
    path: web::Path<(String, String)>,
    body: Body<PerformanceRequest>,
) -> Answer {
    let city_id = path_id(&path.0, "city")?;
    let city = city(&state.pool, &path.0).await?;
    let (venue_id, layout) = venue_layout(&state.pool, city_id, &path.1).await?;
    let body = body.0;
    let title = text("title", &body.title, 300)?;
    let start = resolve_start(&city.time_zone, &body.start_local, body.utc_offset.as_deref())?;
    let on_sale: jiff::Timestamp = body
        .on_sale
        .parse()
        .map_err(|_| Problem::invalid("on_sale", "on_sale must be an RFC 3339 instant"))?;
    if on_sale >= start.at {
        return Err(Problem::invalid("on_sale", "sales must open before the performance starts"));
    }
    let sections: Vec<Section> = serde_json::from_str(&layout)
        .map_err(|_| mysql_async::Error::Other("a malformed venue layout".into()))?;

    let performance = Performance {
        id: 0,
        city_id,
        venue_id,
        title,
        start_local: start.local,
        start_text: start.text,
        start: start.at,
        on_sale,
        order_max: limit_field("order_max", body.order_max)?,
        user_max: limit_field("user_max", body.user_max)?,
        time_zone: city.time_zone,
        currency: city.currency,
        plan: Plan::new(sections),
    };
    let performance = Arc::new(insert_performance(&state.pool, performance).await?);
    state.shared.performances.write().insert(performance.id, performance.clone());
    tracing::info!(performance = performance.id, venue = venue_id, "performance created");
    let available: Vec<u32> =
        performance.plan.sections.iter().map(|section| section.kind.capacity()).collect();
    Ok(HttpResponse::Created().json(PerformanceView::new(&performance, &available, false)))
}

/// Rows per multi-row `INSERT` of tickets: big enough to amortise the
/// round trip and the commit, small enough for any `max_allowed_packet`.
const TICKET_BATCH: u32 = 1000;

/// Inserts the performance and all its tickets in one transaction, so a
/// performance is never seen with part of its tickets.
async fn insert_performance(
    pool: &Pool,
    mut performance: Performance,
) -> Result<Performance, Problem> {
    let mut tx = pool.start_transaction(TxOpts::default()).await?;
    tx.exec_drop(
        "INSERT INTO performances (venue_id, title, start_local, start_text, start_at, on_sale, \
         order_max, user_max) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            performance.venue_id,
            &performance.title,
            &performance.start_local,
            &performance.start_text,
            sql_instant(performance.start),
            sql_instant(performance.on_sale),
            performance.order_max,
            performance.user_max,
        ),
    )
    .await?;
    performance.id = tx.last_insert_id().unwrap_or_default() as u32;

    let capacity = performance.plan.capacity();
    for first in (0..capacity).step_by(TICKET_BATCH as usize) {
        let last = (first + TICKET_BATCH).min(capacity);
        tx.query_drop(ticket_insert(&performance, first..last)).await?;
    }
    tx.commit().await?;
    Ok(performance)
}

/// One multi-row `INSERT`; only integers go into the text, so it is built
/// as text rather than bound (thousands of parameters would be no faster).
fn ticket_insert(performance: &Performance, tickets: std::ops::Range<u32>) -> String {
    use std::fmt::Write as _;
    let mut sql = String::from(
        "INSERT INTO tickets (performance_id, ticket_index, section, row_no, seat_no, price_minor) \
         VALUES ",
    );
    for (n, ticket) in tickets.enumerate() {
        let place = performance.plan.place(ticket);
        let price = performance.plan.sections[place.section].price_minor;
        let (row, seat) = match place.row_seat {
            Some((row, seat)) => (row.to_string(), seat.to_string()),
            None => ("NULL".into(), "NULL".into()),
        };
        let comma = if n == 0 { "" } else { "," };
        let id = performance.id;
        let _ = write!(sql, "{comma}({id},{ticket},{},{row},{seat},{price})", place.section);
    }
    sql
}

// Tickets.

pub async fn list_tickets(
    state: State,
    request: HttpRequest,
    path: web::Path<(String, String, String)>,
    paging: Query<Paging>,
) -> Answer {
    let performance = performance_at(&state, &path).await?;
    let limit = paging.0.limit()?;
    let from = match paging.0.after.as_deref().map(views::parse_ticket_id) {
        None => 0,
        Some(Some((of, index))) if of == performance.id => index.saturating_add(1),
        Some(_) => {
            let detail = "after must be a ticket of this performance";
            return Err(Problem::invalid("after", detail));
        }
    };
    let status = match paging.0.status.as_deref() {
        None => None,
        Some(status @ ("available" | "reserved" | "purchased")) => Some(status),
        Some(_) => {
            let detail = "status must be available, reserved or purchased";
            return Err(Problem::invalid("status", detail));
        }
    };

    let found = ticket_page(&state.pool, &performance, from, limit + 1, status).await?;
    let tickets: Vec<TicketView> = found
        .into_iter()
        .map(|(index, state)| TicketView::new(&performance, index, status_name(&state)))
        .collect();
    Ok(page(&request, tickets, limit, |ticket| ticket.id.clone()))
}

/// Up to `count` tickets from index `from` on, in index order. With a
/// status, the `by_state` index is walked in (section, index) order, which
/// is index order: sections are numbered in layout order.
async fn ticket_page(
    pool: &Pool,
    performance: &Performance,
    from: u32,
    count: usize,
    status: Option<&str>,
) -> Result<Vec<(u32, String)>, Problem> {
    if from >= performance.plan.capacity() {
        return Ok(Vec::new());
    }
    let mut conn = pool.get_conn().await?;
    let rows = match status {
        None => {
            conn.exec(
                "SELECT ticket_index, state FROM tickets WHERE performance_id = ? \
                 AND ticket_index >= ? ORDER BY ticket_index LIMIT ?",
                (performance.id, from, count as u64),
            )
            .await?
        }
        Some(status) => {
            let section = performance.plan.place(from).section as u16;
            conn.exec(
                "SELECT ticket_index, state FROM tickets FORCE INDEX (by_state) \
                 WHERE performance_id = ? AND state = ? \
                 AND section >= ? AND ticket_index >= ? ORDER BY section, ticket_index LIMIT ?",
                (performance.id, status, section, from, count as u64),
            )
            .await?
        }
    };
    Ok(rows)
}

pub fn status_name(state: &str) -> &'static str {
    match state {
        "reserved" => "reserved",
        "purchased" => "purchased",
        _ => "available",
    }
}
