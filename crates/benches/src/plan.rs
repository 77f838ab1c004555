//! A sale plan: the orders one performance can take without ever running
//! dry, so a benchmark never times a refusal it did not mean to.

use engine::catalogue::Layout;

/// One order of the plan: so many tickets of one section, by quantity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedOrder {
    pub section: String,
    pub quantity: u32,
}

/// The most tickets one planned order asks for; quantities cycle 1 to this.
pub const MAX_QUANTITY: u32 = 4;

/// Orders that together never ask a section for more than it holds, in
/// whatever order they run. Quantities cycle 1, 2, 3, 4 (2.5 on average);
/// each section takes orders until the next would not fit. Sections are
/// interleaved in proportion to their size, so concurrent buyers spread over
/// the venue as in a rush rather than filling one section after another.
pub fn sale_plan(layout: &Layout) -> Vec<PlannedOrder> {
    let mut keyed: Vec<(f64, usize, PlannedOrder)> = Vec::new();
    for (index, section) in layout.sections.iter().enumerate() {
        let quantities = fill(section.kind.capacity());
        let count = quantities.len() as f64;
        for (nth, quantity) in quantities.into_iter().enumerate() {
            // Where this order falls in its section's share of the sale.
            let position = (nth as f64 + 0.5) / count;
            let order = PlannedOrder { section: section.name.clone(), quantity };
            keyed.push((position, index, order));
        }
    }
    keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    keyed.into_iter().map(|(_, _, order)| order).collect()
}

/// The quantities one section of `capacity` places takes, cycling 1 to 4.
fn fill(capacity: u32) -> Vec<u32> {
    let mut quantities = Vec::new();
    let mut sold = 0;
    loop {
        let quantity = quantities.len() as u32 % MAX_QUANTITY + 1;
        if sold + quantity > capacity {
            return quantities;
        }
        sold += quantity;
        quantities.push(quantity);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layouts::{layout, STADIUM};

    #[test]
    fn the_stadium_plan_fits_every_section_and_sells_about_31k_orders() {
        let stadium = layout(STADIUM);
        let plan = sale_plan(&stadium);
        for section in &stadium.sections {
            let asked: u32 =
                plan.iter().filter(|o| o.section == section.name).map(|o| o.quantity).sum();
            assert!(asked <= section.kind.capacity(), "{} over capacity", section.name);
            assert!(asked + MAX_QUANTITY > section.kind.capacity(), "{} left unsold", section.name);
        }
        assert!((31_000..32_000).contains(&plan.len()), "{} orders", plan.len());
    }
}
