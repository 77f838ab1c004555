//! Browsing: cities, venues, performances and their tickets.

use actix_web::http::header::ContentType;

use super::*;
use crate::performance_page::PerformancePage;

pub(super) async fn list_cities(
    state: State,
    request: HttpRequest,
    paging: Query<Paging>,
) -> Answer {
    let paging = paging.0.without_status()?;
    let (limit, after) = (paging.limit()?, paging.after::<CityId>()?);
    let cities: Vec<CityView> = state.office.with_catalogue(|catalogue| {
        let from = after.map_or(CityId(0), |id| CityId(id.0.saturating_add(1)));
        catalogue.cities.range(from..).take(limit + 1).map(|(_, city)| city.into()).collect()
    });
    Ok(page(&request, cities, limit, |city| city.id.to_string()))
}

pub(super) async fn list_venues(
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

pub(super) async fn list_performances(
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

pub(super) async fn show_performance(
    state: State,
    path: web::Path<(String, String, String)>,
) -> Answer {
    let page = match cached_page(&state, &path) {
        Some(page) => page,
        None => {
            // Looked up in this order, so a bad path is refused as always.
            let city = city(&state.office, &path.0)?;
            let venue = venue_of(&state.office, &city, &path.1)?;
            let info = performance_of(&state.office, &venue, &path.2)?;
            match PerformancePage::new(&info, &city, &venue) {
                Some(page) => state.pages.insert(info.id, page),
                None => return whole_performance_view(&state, &info, &city, &venue).await,
            }
        }
    };

    let available = availability(&state.office, page.performance).await?;
    let json = page.render(&available);
    Ok(HttpResponse::Ok().content_type(ContentType::json()).body(json))
}

/// The page of the performance at this path, if it was built before and
/// the path names its city and venue.
fn cached_page(state: &AppState, path: &(String, String, String)) -> Option<Arc<PerformancePage>> {
    let page = state.pages.get(path.2.parse().ok()?)?;
    let right_place = path.0.parse() == Ok(page.city) && path.1.parse() == Ok(page.venue);
    right_place.then_some(page)
}

/// The page serialized whole, should its cached form be unavailable.
async fn whole_performance_view(
    state: &AppState,
    info: &PerformanceInfo,
    city: &City,
    venue: &Venue,
) -> Answer {
    let available = availability(&state.office, info.id).await?;
    let mut view = PerformanceView::new(info, city, venue, &available);
    view.sections = Some(sections(venue, &city.currency, Some(&available)));
    Ok(HttpResponse::Ok().json(view))
}

pub(super) async fn list_tickets(
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
