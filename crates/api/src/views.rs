//! The JSON shapes the API answers with, built from engine types.
//!
//! Nothing here reveals who holds a ticket: a ticket shows only its status.

use engine::booking::TicketStatus;
use engine::catalogue::{row_name, City, Currency, PerformanceInfo, SeatPlan, SectionKind, Venue};
use engine::civil;
use engine::ids::TicketId;
use engine::time::Timestamp;
use serde::Serialize;

#[derive(Serialize)]
pub struct Money {
    pub amount_minor: i64,
    pub currency: String,
}

impl Money {
    pub fn new(amount_minor: i64, currency: &Currency) -> Money {
        Money { amount_minor, currency: currency.code.clone() }
    }
}

#[derive(Serialize)]
pub struct CityView {
    pub id: u32,
    pub name: String,
    pub country: String,
    pub time_zone: String,
    pub currency: String,
    pub currency_exponent: u8,
}

impl From<&City> for CityView {
    fn from(city: &City) -> CityView {
        CityView {
            id: city.id.0,
            name: city.name.clone(),
            country: city.country.clone(),
            time_zone: city.time_zone.clone(),
            currency: city.currency.code.clone(),
            currency_exponent: city.currency.exponent,
        }
    }
}

#[derive(Serialize)]
pub struct SectionView {
    pub name: String,
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seats_per_row: Option<u32>,
    pub capacity: u32,
    pub price: Money,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available: Option<u32>,
}

#[derive(Serialize)]
pub struct VenueView {
    pub id: u32,
    pub city_id: u32,
    pub name: String,
    pub capacity: u32,
    pub sections: Vec<SectionView>,
}

/// The sections of a venue; with `available`, as of one performance.
pub fn sections(venue: &Venue, currency: &Currency, available: Option<&[u32]>) -> Vec<SectionView> {
    let sections = venue.layout.sections.iter().enumerate();
    sections
        .map(|(index, section)| {
            let (kind, rows, seats_per_row) = match section.kind {
                SectionKind::Seated { rows, seats_per_row } => {
                    ("seated", Some(rows), Some(seats_per_row))
                }
                SectionKind::Standing { .. } => ("standing", None, None),
            };
            SectionView {
                name: section.name.clone(),
                kind,
                rows,
                seats_per_row,
                capacity: section.kind.capacity(),
                price: Money::new(section.price_minor, currency),
                available: available.and_then(|counts| counts.get(index).copied()),
            }
        })
        .collect()
}

impl VenueView {
    pub fn new(venue: &Venue, currency: &Currency) -> VenueView {
        VenueView {
            id: venue.id.0,
            city_id: venue.city.0,
            name: venue.name.clone(),
            capacity: venue.layout.capacity(),
            sections: sections(venue, currency, None),
        }
    }
}

#[derive(Serialize)]
pub struct PerformanceView {
    pub id: u32,
    pub city_id: u32,
    pub venue_id: u32,
    pub title: String,
    /// RFC 3339 in the venue's offset at the time.
    pub start: String,
    pub start_local: String,
    pub time_zone: String,
    pub on_sale: String,
    pub order_max: u32,
    pub user_max: u32,
    pub capacity: u32,
    pub available: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sections: Option<Vec<SectionView>>,
}

impl PerformanceView {
    pub fn new(info: &PerformanceInfo, city: &City, venue: &Venue, available: &[u32]) -> Self {
        PerformanceView {
            id: info.id.0,
            city_id: info.city.0,
            venue_id: info.venue.0,
            title: info.title.clone(),
            start: civil::format_local(info.start, info.utc_offset_seconds),
            start_local: info.start_local.clone(),
            time_zone: city.time_zone.clone(),
            on_sale: instant(info.on_sale),
            order_max: info.order_max,
            user_max: info.user_max,
            capacity: venue.layout.capacity(),
            available: available.iter().sum(),
            sections: None,
        }
    }
}

/// An instant in UTC, RFC 3339.
pub fn instant(at: Timestamp) -> String {
    at.to_jiff().to_string()
}

#[derive(Serialize)]
pub struct TicketView {
    pub id: String,
    pub performance_id: u32,
    pub section: String,
    pub row: Option<String>,
    pub seat: Option<u32>,
    pub price: Money,
    pub status: &'static str,
}

impl TicketView {
    pub fn new(
        ticket: TicketId,
        plan: &SeatPlan,
        currency: &Currency,
        status: TicketStatus,
    ) -> Self {
        let place = plan.place(ticket.index);
        let section = &plan.layout().sections[place.section];
        TicketView {
            id: ticket.to_string(),
            performance_id: ticket.performance.0,
            section: section.name.clone(),
            row: place.row_seat.map(|(row, _)| row_name(row)),
            seat: place.row_seat.map(|(_, seat)| seat + 1),
            price: Money::new(section.price_minor, currency),
            status: match status {
                TicketStatus::Available => "available",
                TicketStatus::Reserved => "reserved",
                TicketStatus::Purchased => "purchased",
            },
        }
    }
}

/// A ticket of the caller's own, with what they have of it.
#[derive(Serialize)]
pub struct OwnTicketView {
    #[serde(flatten)]
    pub ticket: TicketView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reserved_until: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
}
