//! What is for sale: cities, their venues with seat layouts, and the
//! performances held in them.
//!
//! The catalogue changes rarely and is read on every request, so it is plain
//! data here. A performance's tickets are not stored: they follow from its
//! venue's layout through a [`SeatPlan`], so creating a performance of a
//! 78,584-seat stadium is one small event, not 78,584.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::ids::{CityId, PerformanceId, VenueId};
use crate::time::Timestamp;

/// A currency by its ISO 4217 code, with the number of digits after the
/// decimal point that its minor unit stands for (0 for KRW, 2 for EUR, 3 for
/// IQD). Amounts are always integers of minor units.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Currency {
    pub code: String,
    pub exponent: u8,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct City {
    pub id: CityId,
    pub name: String,
    /// ISO 3166 alpha-2.
    pub country: String,
    /// An IANA time zone name, such as `Europe/Zurich`.
    pub time_zone: String,
    pub currency: Currency,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Venue {
    pub id: VenueId,
    pub city: CityId,
    pub name: String,
    pub layout: Arc<Layout>,
}

/// The sections of a venue, in the order their tickets are numbered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    pub sections: Vec<Section>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Section {
    pub name: String,
    pub kind: SectionKind,
    /// The face value of one ticket, in minor units of the city's currency.
    pub price_minor: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SectionKind {
    /// Rows lettered A, B, … Z, AA, … from the stage, seats numbered from 1.
    Seated { rows: u32, seats_per_row: u32 },
    /// A capacity sold by quantity, without seat numbers.
    Standing { capacity: u32 },
}

impl SectionKind {
    pub fn capacity(self) -> u32 {
        match self {
            SectionKind::Seated { rows, seats_per_row } => rows * seats_per_row,
            SectionKind::Standing { capacity } => capacity,
        }
    }
}

/// Why a layout cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    #[error("a layout needs at least one section")]
    NoSections,
    #[error("section {index} has an empty name")]
    EmptyName { index: usize },
    #[error("section {name:?} appears more than once")]
    DuplicateName { name: String },
    #[error("section {name:?} has no places")]
    ZeroCapacity { name: String },
    #[error("section {name:?} has a negative price")]
    NegativePrice { name: String },
    #[error("section {name:?} costs more than {max} minor units", max = Layout::PRICE_MINOR_MAX)]
    PriceTooHigh { name: String },
    #[error("the layout has more than {max} places", max = Layout::CAPACITY_MAX)]
    TooLarge,
}

impl Layout {
    /// The most places one venue may have: ten times the largest stadium we
    /// know of, and small enough that indices fit comfortably in a `u32`.
    pub const CAPACITY_MAX: u64 = 1_000_000;

    /// The highest price of one ticket, in minor units: far above any real
    /// ticket in any currency, and low enough that an order's total can
    /// never overflow.
    pub const PRICE_MINOR_MAX: i64 = 1_000_000_000_000;

    pub fn validate(&self) -> Result<(), LayoutError> {
        if self.sections.is_empty() {
            return Err(LayoutError::NoSections);
        }

        let mut names = std::collections::HashSet::new();
        let mut capacity = 0u64;
        for (index, section) in self.sections.iter().enumerate() {
            if section.name.trim().is_empty() {
                return Err(LayoutError::EmptyName { index });
            }
            if !names.insert(section.name.as_str()) {
                return Err(LayoutError::DuplicateName { name: section.name.clone() });
            }
            let places = match section.kind {
                SectionKind::Seated { rows, seats_per_row } => rows as u64 * seats_per_row as u64,
                SectionKind::Standing { capacity } => capacity as u64,
            };
            if places == 0 {
                return Err(LayoutError::ZeroCapacity { name: section.name.clone() });
            }
            if section.price_minor < 0 {
                return Err(LayoutError::NegativePrice { name: section.name.clone() });
            }
            if section.price_minor > Layout::PRICE_MINOR_MAX {
                return Err(LayoutError::PriceTooHigh { name: section.name.clone() });
            }
            capacity += places;
        }

        if capacity > Layout::CAPACITY_MAX {
            return Err(LayoutError::TooLarge);
        }
        Ok(())
    }

    pub fn capacity(&self) -> u32 {
        self.sections.iter().map(|section| section.kind.capacity()).sum()
    }

    pub fn section_index(&self, name: &str) -> Option<usize> {
        self.sections.iter().position(|section| section.name == name)
    }
}

/// A performance's description. Its tickets come from its venue's layout.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PerformanceInfo {
    pub id: PerformanceId,
    pub venue: VenueId,
    pub city: CityId,
    pub title: String,
    /// The start as the wall-clock time in the city's zone, such as
    /// `2030-10-27T20:00:00`, exactly as the organiser gave it.
    pub start_local: String,
    /// The instant that local time means.
    pub start: Timestamp,
    /// The zone's offset from UTC at the start, in seconds.
    pub utc_offset_seconds: i32,
    /// When sales open. They close at `start`.
    pub on_sale: Timestamp,
    /// The most tickets one reserve or purchase may cover.
    pub order_max: u32,
    /// The most tickets one user may hold and own together.
    pub user_max: u32,
}

impl PerformanceInfo {
    pub fn is_on_sale(&self, now: Timestamp) -> bool {
        self.on_sale <= now && now < self.start
    }
}

/// Where each ticket of a layout sits: the map from a ticket's index to its
/// section, row and seat, and back.
///
/// Tickets are numbered section by section in layout order, and within a
/// seated section row by row from A, seat by seat from 1.
#[derive(Clone, Debug)]
pub struct SeatPlan {
    layout: Arc<Layout>,
    /// The index of each section's first ticket, plus the total at the end.
    section_starts: Vec<u32>,
}

/// Where one ticket is, in words a buyer understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Place {
    pub section: usize,
    /// Zero-based row and seat; `None` in a standing section.
    pub row_seat: Option<(u32, u32)>,
}

impl SeatPlan {
    pub fn new(layout: Arc<Layout>) -> SeatPlan {
        let mut section_starts = Vec::with_capacity(layout.sections.len() + 1);
        let mut next = 0u32;
        for section in &layout.sections {
            section_starts.push(next);
            next += section.kind.capacity();
        }
        section_starts.push(next);
        SeatPlan { layout, section_starts }
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    pub fn ticket_count(&self) -> u32 {
        *self.section_starts.last().expect("the plan always holds the total")
    }

    /// The ticket indices of one section, in numbering order.
    pub fn section_range(&self, section: usize) -> std::ops::Range<u32> {
        self.section_starts[section]..self.section_starts[section + 1]
    }

    pub fn place(&self, ticket: u32) -> Place {
        debug_assert!(ticket < self.ticket_count());
        let section = self.section_starts.partition_point(|&start| start <= ticket) - 1;
        let offset = ticket - self.section_starts[section];
        let row_seat = match self.layout.sections[section].kind {
            SectionKind::Seated { seats_per_row, .. } => {
                Some((offset / seats_per_row, offset % seats_per_row))
            }
            SectionKind::Standing { .. } => None,
        };
        Place { section, row_seat }
    }

    pub fn price_minor(&self, ticket: u32) -> i64 {
        self.layout.sections[self.place(ticket).section].price_minor
    }
}

/// The row letters: A … Z, then AA, AB, … as on a spreadsheet.
pub fn row_name(row: u32) -> String {
    let mut letters = Vec::new();
    let mut rest = row as u64 + 1;
    while rest > 0 {
        rest -= 1;
        letters.push(b'A' + (rest % 26) as u8);
        rest /= 26;
    }
    letters.reverse();
    String::from_utf8(letters).expect("ASCII letters")
}

/// Everything for sale, as the log has described it so far.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Catalogue {
    pub cities: BTreeMap<CityId, City>,
    pub venues: BTreeMap<VenueId, Venue>,
    pub performances: BTreeMap<PerformanceId, PerformanceInfo>,
}

impl Catalogue {
    pub fn next_city_id(&self) -> CityId {
        CityId(self.cities.keys().next_back().map_or(1, |id| id.0 + 1))
    }

    pub fn next_venue_id(&self) -> VenueId {
        VenueId(self.venues.keys().next_back().map_or(1, |id| id.0 + 1))
    }

    pub fn next_performance_id(&self) -> PerformanceId {
        PerformanceId(self.performances.keys().next_back().map_or(1, |id| id.0 + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_lettered_like_spreadsheet_columns() {
        let names: Vec<String> = [0, 1, 25, 26, 27, 51, 52, 701, 702].map(row_name).to_vec();
        assert_eq!(names, ["A", "B", "Z", "AA", "AB", "AZ", "BA", "ZZ", "AAA"]);
    }

    #[test]
    fn plan_maps_tickets_to_places() {
        let layout = Layout {
            sections: vec![
                Section {
                    name: "Floor".into(),
                    kind: SectionKind::Standing { capacity: 3 },
                    price_minor: 100,
                },
                Section {
                    name: "Stalls".into(),
                    kind: SectionKind::Seated { rows: 2, seats_per_row: 4 },
                    price_minor: 200,
                },
            ],
        };
        let plan = SeatPlan::new(Arc::new(layout));
        assert_eq!(plan.ticket_count(), 11);
        assert_eq!(plan.place(2), Place { section: 0, row_seat: None });
        assert_eq!(plan.place(3), Place { section: 1, row_seat: Some((0, 0)) });
        assert_eq!(plan.place(10), Place { section: 1, row_seat: Some((1, 3)) });
        assert_eq!(plan.price_minor(10), 200);
    }
}
