//! A performance's page, serialized once but for its counts.
//!
//! Every buyer of an on-sale looks at the performance before reserving. For
//! a stadium of 93 sections that page is some 13 KB of JSON, and only its
//! counts change. So the rest is serialized once per performance, and each
//! request writes the counts into it: the same bytes as serializing the
//! whole [`PerformanceView`] (a test holds them equal), for a fraction of
//! the work.
//!
//! Cities, venues and performances never change once created, so a page
//! never goes stale and the cache never evicts: it holds one page per
//! performance, as the catalogue does.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Arc;

use engine::catalogue::{City, PerformanceInfo, Venue};
use engine::ids::{CityId, PerformanceId, VenueId};
use parking_lot::RwLock;

use crate::views::{sections, PerformanceView};

/// Where each serialized part stops: right before its count, which
/// [`PerformanceView`] and its sections serialize last.
const COUNT_AND_CLOSE: &str = "0}";

pub struct PerformancePage {
    pub performance: PerformanceId,
    pub city: CityId,
    pub venue: VenueId,
    /// The page up to its total: `{"id":…,"available":`.
    head: String,
    /// Each section up to its count: `{"name":…,"available":`.
    sections: Vec<String>,
    /// The length of the page with short counts, to allocate it at once.
    typical_len: usize,
}

impl PerformancePage {
    /// `None` only if the views stopped serializing their counts last,
    /// which the tests would catch; callers then serialize the whole view.
    pub fn new(info: &PerformanceInfo, city: &City, venue: &Venue) -> Option<PerformancePage> {
        let no_counts = vec![0; venue.layout.sections.len()];
        let head = serialized_before_count(&PerformanceView::new(info, city, venue, &[]))?;
        let sections = sections(venue, &city.currency, Some(&no_counts))
            .iter()
            .map(serialized_before_count)
            .collect::<Option<Vec<String>>>()?;

        let typical_len = head.len() + sections.iter().map(|s| s.len() + 8).sum::<usize>() + 32;
        let (performance, city, venue) = (info.id, info.city, info.venue);
        Some(PerformancePage { performance, city, venue, head, sections, typical_len })
    }

    /// The page's JSON with these counts per section, in layout order.
    pub fn render(&self, counts: &[u32]) -> String {
        let mut page = String::with_capacity(self.typical_len);
        page.push_str(&self.head);
        write_count(&mut page, counts.iter().sum());
        page.push_str(",\"sections\":[");

        for (position, (section, &count)) in self.sections.iter().zip(counts).enumerate() {
            if position > 0 {
                page.push(',');
            }
            page.push_str(section);
            write_count(&mut page, count);
            page.push('}');
        }

        page.push_str("]}");
        page
    }
}

/// The serialized `view` without its last field's value, a zero count, and
/// the closing brace.
fn serialized_before_count(view: &impl serde::Serialize) -> Option<String> {
    let mut json = serde_json::to_string(view).ok()?;
    let kept = json.strip_suffix(COUNT_AND_CLOSE)?.len();
    json.truncate(kept);
    Some(json)
}

fn write_count(page: &mut String, count: u32) {
    write!(page, "{count}").expect("writing to a String cannot fail");
}

/// The pages served so far.
#[derive(Default)]
pub struct PageCache {
    pages: RwLock<HashMap<PerformanceId, Arc<PerformancePage>>>,
}

impl PageCache {
    pub fn get(&self, performance: PerformanceId) -> Option<Arc<PerformancePage>> {
        self.pages.read().get(&performance).cloned()
    }

    pub fn insert(
        &self,
        performance: PerformanceId,
        page: PerformancePage,
    ) -> Arc<PerformancePage> {
        let page = Arc::new(page);
        self.pages.write().insert(performance, page.clone());
        page
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use engine::catalogue::{City, Currency, PerformanceInfo, Venue};
    use engine::ids::{CityId, PerformanceId, VenueId};
    use engine::time::Timestamp;
    use proptest::prelude::*;

    use super::PerformancePage;
    use crate::views::{sections, PerformanceView};

    /// Names to test escaping with: quotes, backslashes, controls, Unicode.
    const AWKWARD: &str = "Zürich \"Hallen\\stadion\" \u{1}\u{1F3AB} </script>";

    fn world(layout: usize) -> (PerformanceInfo, City, Venue) {
        let layouts = crate::seed::layouts();
        let (_, layout) = layouts[layout % layouts.len()].clone();
        let city = City {
            id: CityId(7),
            name: AWKWARD.into(),
            country: "CH".into(),
            time_zone: "Europe/Zurich".into(),
            currency: Currency { code: "CHF".into(), exponent: 2 },
        };
        let venue =
            Venue { id: VenueId(3), city: city.id, name: AWKWARD.into(), layout: Arc::new(layout) };
        let info = PerformanceInfo {
            id: PerformanceId(11),
            venue: venue.id,
            city: city.id,
            title: AWKWARD.into(),
            start_local: "2030-10-27T20:00:00".into(),
            start: Timestamp(1_919_526_000_000),
            utc_offset_seconds: 3_600,
            on_sale: Timestamp(1_900_000_000_123),
            order_max: 10,
            user_max: 40,
        };
        (info, city, venue)
    }

    fn whole(info: &PerformanceInfo, city: &City, venue: &Venue, counts: &[u32]) -> String {
        let mut view = PerformanceView::new(info, city, venue, counts);
        view.sections = Some(sections(venue, &city.currency, Some(counts)));
        serde_json::to_string(&view).expect("a view serializes")
    }

    proptest! {
        #[test]
        fn the_page_is_the_whole_view_byte_for_byte(
            layout in 0usize..16,
            counts in proptest::collection::vec(any::<u32>(), 200),
        ) {
            let (info, city, venue) = world(layout);
            let counts: Vec<u32> = counts
                .into_iter()
                .take(venue.layout.sections.len())
                .map(|count| count % 100_000)
                .collect();
            let page = PerformancePage::new(&info, &city, &venue).expect("a page");
            prop_assert_eq!(page.render(&counts), whole(&info, &city, &venue, &counts));
        }
    }
}
