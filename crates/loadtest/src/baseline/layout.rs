//! Venue layouts and seat plans, numbered exactly as Boxoffice numbers
//! them (section by section in layout order; in a seated section row by
//! row from A, seat by seat from 1), so a ticket id names the same seat in
//! both systems.
//!
//! This is the baseline (the design Boxoffice replaces), not the product.

use serde::{Deserialize, Serialize};

pub use api::routes::LayoutRequest;
pub use engine::catalogue::row_name;
use engine::catalogue::SectionKind;

use super::problem::Problem;

/// Seated with rows, or standing with a capacity; the JSON is the shape of
/// `crates/api/data/venue-layouts.json`, which is also how a venue's layout
/// is kept in the `venues` table.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Kind {
    Seated { rows: u32, seats_per_row: u32 },
    Standing { capacity: u32 },
}

impl Kind {
    pub fn capacity(self) -> u32 {
        match self {
            Kind::Seated { rows, seats_per_row } => rows * seats_per_row,
            Kind::Standing { capacity } => capacity,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Section {
    pub name: String,
    #[serde(flatten)]
    pub kind: Kind,
    pub price_minor: i64,
}

/// A venue's sections from a layout as an admin sends it, checked by
/// Boxoffice's own rules (the same request shape, the same refusals).
pub fn sections_of(request: LayoutRequest) -> Result<Vec<Section>, Problem> {
    let layout = request.into_layout()?;
    let sections = layout.sections.into_iter().map(|section| {
        let kind = match section.kind {
            SectionKind::Seated { rows, seats_per_row } => Kind::Seated { rows, seats_per_row },
            SectionKind::Standing { capacity } => Kind::Standing { capacity },
        };
        Section { name: section.name, kind, price_minor: section.price_minor }
    });
    Ok(sections.collect())
}

/// Where each ticket of a layout sits.
#[derive(Clone, Debug)]
pub struct Plan {
    pub sections: Vec<Section>,
    /// The index of each section's first ticket, plus the total at the end.
    starts: Vec<u32>,
}

/// One ticket's place: its section, and its zero-based row and seat if
/// seated.
pub struct Place {
    pub section: usize,
    pub row_seat: Option<(u32, u32)>,
}

impl Plan {
    pub fn new(sections: Vec<Section>) -> Plan {
        let mut starts = Vec::with_capacity(sections.len() + 1);
        let mut next = 0u32;
        for section in &sections {
            starts.push(next);
            next += section.kind.capacity();
        }
        starts.push(next);
        Plan { sections, starts }
    }

    pub fn capacity(&self) -> u32 {
        *self.starts.last().expect("the plan always holds the total")
    }

    pub fn section_index(&self, name: &str) -> Option<usize> {
        self.sections.iter().position(|section| section.name == name)
    }

    pub fn place(&self, ticket: u32) -> Place {
        let section = self.starts.partition_point(|&start| start <= ticket) - 1;
        let offset = ticket - self.starts[section];
        let row_seat = match self.sections[section].kind {
            Kind::Seated { seats_per_row, .. } => {
                Some((offset / seats_per_row, offset % seats_per_row))
            }
            Kind::Standing { .. } => None,
        };
        Place { section, row_seat }
    }

    pub fn price_minor(&self, ticket: u32) -> i64 {
        self.sections[self.place(ticket).section].price_minor
    }
}
