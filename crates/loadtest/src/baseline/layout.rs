//! Venue layouts and seat plans, numbered exactly as Boxoffice numbers
//! them (section by section in layout order; in a seated section row by
//! row from A, seat by seat from 1), so a ticket id names the same seat in
//! both systems.
//!
//! This is the baseline (the design Boxoffice replaces), not the product.

use serde::{Deserialize, Serialize};

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

/// The most places of one venue, and the highest price, as Boxoffice's.
const CAPACITY_MAX: u64 = 1_000_000;
const PRICE_MINOR_MAX: i64 = 1_000_000_000_000;

/// A layout as an admin sends it.
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
pub struct SectionRequest {
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
    pub fn into_sections(self) -> Result<Vec<Section>, Problem> {
        // Accepted for the shape of venue-layouts.json; nothing keeps them.
        let _ = (self.id, self.description);
        if self.sections.is_empty() {
            return Err(Problem::invalid("layout.sections", "a layout needs at least one section"));
        }
        let sections: Vec<Section> = self
            .sections
            .into_iter()
            .enumerate()
            .map(|(index, section)| section.into_section(index))
            .collect::<Result<_, _>>()?;

        let mut names = std::collections::HashSet::new();
        if let Some(twice) = sections.iter().find(|section| !names.insert(section.name.as_str())) {
            let detail = format!("two sections are named {:?}", twice.name);
            return Err(Problem::invalid("layout.sections", detail));
        }
        let total: u64 = sections.iter().map(|section| section.kind.capacity() as u64).sum();
        if total > CAPACITY_MAX {
            let detail = format!("the layout has more than {CAPACITY_MAX} places");
            return Err(Problem::invalid("layout.sections", detail));
        }
        if self.capacity.is_some_and(|capacity| capacity as u64 != total) {
            let detail = "capacity must be the sum of the sections";
            return Err(Problem::invalid("layout.capacity", detail));
        }
        Ok(sections)
    }
}

impl SectionRequest {
    fn into_section(self, index: usize) -> Result<Section, Problem> {
        let field = |name: &str| format!("layout.sections[{index}].{name}");
        let kind = match (self.kind.as_str(), self.rows, self.seats_per_row, self.capacity) {
            ("seated", Some(rows), Some(seats_per_row), None) => {
                Kind::Seated { rows, seats_per_row }
            }
            ("standing", None, None, Some(capacity)) => Kind::Standing { capacity },
            ("seated", ..) => {
                let detail = "a seated section has rows and seats_per_row, no capacity";
                return Err(Problem::invalid(&field("rows"), detail));
            }
            ("standing", ..) => {
                let detail = "a standing section has a capacity, no rows";
                return Err(Problem::invalid(&field("capacity"), detail));
            }
            _ => return Err(Problem::invalid(&field("kind"), "kind must be seated or standing")),
        };
        let places = match kind {
            Kind::Seated { rows, seats_per_row } => rows as u64 * seats_per_row as u64,
            Kind::Standing { capacity } => capacity as u64,
        };
        if places == 0 || places > CAPACITY_MAX {
            let detail = format!("a section has 1 to {CAPACITY_MAX} places");
            return Err(Problem::invalid(&field("capacity"), detail));
        }
        if !(0..=PRICE_MINOR_MAX).contains(&self.price_minor) {
            let detail = format!("price_minor must be 0 to {PRICE_MINOR_MAX}");
            return Err(Problem::invalid(&field("price_minor"), detail));
        }
        let name = self.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(Problem::invalid(
                &field("name"),
                "a section's name has 1 to 100 characters",
            ));
        }
        Ok(Section { name, kind, price_minor: self.price_minor })
    }
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

/// A row's name as on the ticket: A to Z, then AA, AB, …
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
