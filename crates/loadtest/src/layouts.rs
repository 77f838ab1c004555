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
}
