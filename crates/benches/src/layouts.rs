//! The venue archetypes of `crates/api/data/venue-layouts.json`, as engine
//! layouts and as the JSON the admin API takes.

use engine::catalogue::Layout;
use serde_json::Value;

/// The 78,584-place stadium: a standing pitch and many seated sections.
pub const STADIUM: &str = "stadium";
/// The 1,001-seat theatre: three seated sections.
pub const THEATRE: &str = "theatre";

/// The layout with this id, priced in euro cents as the data gives it.
pub fn layout(id: &str) -> Layout {
    api::seed::layouts()
        .into_iter()
        .find(|(name, _)| name == id)
        .map(|(_, layout)| layout)
        .unwrap_or_else(|| panic!("no layout {id:?} in venue-layouts.json"))
}

/// The same layout as the admin API takes it: its entry of the data file.
pub fn layout_json(id: &str) -> Value {
    let all: Value = serde_json::from_str(include_str!("../../api/data/venue-layouts.json"))
        .expect("venue-layouts.json is JSON");
    let layouts = all["layouts"].as_array().expect("venue-layouts.json has a layouts array");
    layouts
        .iter()
        .find(|layout| layout["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("no layout {id:?} in venue-layouts.json"))
}

/// The names of a layout's sections, in layout order.
pub fn section_names(layout: &Layout) -> Vec<String> {
    layout.sections.iter().map(|section| section.name.clone()).collect()
}
