//! Venue layouts to rush: the archetypes of `crates/api/data/venue-layouts.json`
//! by id, or a layout file of the same shape.

use anyhow::{bail, Context as _};
use serde_json::Value;

const LAYOUTS: &str = include_str!("../../api/data/venue-layouts.json");

/// The layout named `choice` (`club`, `theatre`, `concert-hall`, `arena`,
/// `stadium`), or read from `choice` when it is a path to a `.json` file.
pub fn layout(choice: &str) -> anyhow::Result<Value> {
    if choice.ends_with(".json") {
        let text = std::fs::read_to_string(choice).with_context(|| format!("reading {choice}"))?;
        return serde_json::from_str(&text).with_context(|| format!("parsing {choice}"));
    }
    let all: Value = serde_json::from_str(LAYOUTS).context("parsing the embedded layouts")?;
    let layouts = all["layouts"].as_array().context("the embedded layouts have no list")?;
    if let Some(found) = layouts.iter().find(|layout| layout["id"] == choice) {
        return Ok(found.clone());
    }
    let names: Vec<&str> = layouts.iter().filter_map(|layout| layout["id"].as_str()).collect();
    bail!("no layout {choice:?}: choose one of {} or a .json file", names.join(", "))
}

/// `layout` with every section `factor` times as large: seated sections
/// get `factor` times the rows, standing ones `factor` times the capacity.
/// The names, kinds and prices stay, so the page a buyer reads is the same
/// size.
pub fn scaled(mut layout: Value, factor: u32) -> Value {
    let factor = u64::from(factor);
    let sections = layout["sections"].as_array_mut().into_iter().flatten();
    for section in sections {
        for field in ["rows", "capacity"] {
            if let Some(count) = section[field].as_u64() {
                section[field] = Value::from(count * factor);
            }
        }
    }
    let places = capacity(&layout);
    if layout.get("capacity").is_some() {
        layout["capacity"] = Value::from(places);
    }
    layout
}

/// The number of places of a layout: the sum of its sections.
pub fn capacity(layout: &Value) -> u64 {
    let sections = layout["sections"].as_array().into_iter().flatten();
    sections
        .map(|section| match section["capacity"].as_u64() {
            Some(capacity) => capacity,
            None => {
                section["rows"].as_u64().unwrap_or(0)
                    * section["seats_per_row"].as_u64().unwrap_or(0)
            }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_archetypes_have_their_capacities() {
        assert_eq!(capacity(&layout("stadium").unwrap()), 78_584);
        assert_eq!(capacity(&layout("club").unwrap()), 300);
        assert!(layout("moon-base").is_err());
    }

    #[test]
    fn a_scaled_layout_has_that_many_times_the_places_in_the_same_sections() {
        let stadium = layout("stadium").unwrap();
        let big = scaled(stadium.clone(), 10);
        assert_eq!(capacity(&big), 785_840);
        assert_eq!(big["capacity"], 785_840);
        assert_eq!(big["sections"].as_array().unwrap().len(), 93);
        assert_eq!(big["sections"][1]["seats_per_row"], stadium["sections"][1]["seats_per_row"]);
        assert_eq!(scaled(stadium.clone(), 1), stadium);
    }
}
