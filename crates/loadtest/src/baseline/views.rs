//! The JSON the baseline answers with: Boxoffice's field names and shapes,
//! so the same harness reads both. A ticket never says who holds it.
//!
//! This is the baseline (the design Boxoffice replaces), not the product.

use serde::Serialize;

use super::catalogue::Performance;
use super::layout::{row_name, Kind, Section};

#[derive(Serialize)]
pub struct Money {
    pub amount_minor: i64,
    pub currency: String,
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

/// A layout's sections; with `available`, as of one performance.
pub fn sections(layout: &[Section], currency: &str, available: Option<&[u32]>) -> Vec<SectionView> {
    let sections = layout.iter().enumerate();
    sections
        .map(|(index, section)| {
            let (kind, rows, seats_per_row) = match section.kind {
                Kind::Seated { rows, seats_per_row } => ("seated", Some(rows), Some(seats_per_row)),
                Kind::Standing { .. } => ("standing", None, None),
            };
            SectionView {
                name: section.name.clone(),
                kind,
                rows,
                seats_per_row,
                capacity: section.kind.capacity(),
                price: Money { amount_minor: section.price_minor, currency: currency.to_owned() },
                available: available.and_then(|counts| counts.get(index).copied()),
            }
        })
        .collect()
}

#[derive(Serialize)]
pub struct VenueView {
    pub id: u32,
    pub city_id: u32,
    pub name: String,
    pub capacity: u32,
    pub sections: Vec<SectionView>,
}

#[derive(Serialize)]
pub struct PerformanceView {
    pub id: u32,
    pub city_id: u32,
    pub venue_id: u32,
    pub title: String,
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
    /// The view with `available` per section; `with_sections` lists them.
    pub fn new(performance: &Performance, available: &[u32], with_sections: bool) -> Self {
        let plan = &performance.plan;
        PerformanceView {
            id: performance.id,
            city_id: performance.city_id,
            venue_id: performance.venue_id,
            title: performance.title.clone(),
            start: performance.start_text.clone(),
            start_local: performance.start_local.clone(),
            time_zone: performance.time_zone.clone(),
            on_sale: performance.on_sale.to_string(),
            order_max: performance.order_max,
            user_max: performance.user_max,
            capacity: plan.capacity(),
            available: available.iter().sum(),
            sections: with_sections
                .then(|| sections(&plan.sections, &performance.currency, Some(available))),
        }
    }
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
    /// A ticket's view, its place taken from the performance's plan (the
    /// same plan its row was written from).
    pub fn new(performance: &Performance, index: u32, status: &'static str) -> TicketView {
        let place = performance.plan.place(index);
        let section = &performance.plan.sections[place.section];
        TicketView {
            id: ticket_id(performance.id, index),
            performance_id: performance.id,
            section: section.name.clone(),
            row: place.row_seat.map(|(row, _)| row_name(row)),
            seat: place.row_seat.map(|(_, seat)| seat + 1),
            price: Money {
                amount_minor: section.price_minor,
                currency: performance.currency.clone(),
            },
            status,
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

/// Boxoffice's ticket id: `"{performance}-{index}"`.
pub fn ticket_id(performance: u32, index: u32) -> String {
    format!("{performance}-{index}")
}

/// An order id in Boxoffice's shape, `"{performance}-{number}"`; the
/// number here is the `orders` row's id.
pub fn order_id(performance: u32, order: u64) -> String {
    format!("{performance}-{order}")
}

/// Parses `"{performance}-{index}"`: plain decimal numbers only.
pub fn parse_ticket_id(text: &str) -> Option<(u32, u32)> {
    let (performance, index) = text.split_once('-')?;
    Some((parse_u32(performance)?, parse_u32(index)?))
}

pub fn parse_u32(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}
