//! What the engine's in-process tests share: a journal that keeps nothing,
//! and one performance in a small world to sell it in.

use engine::box_office::{BoxOffice, NewCity, NewPerformance};
use engine::catalogue::{Currency, Layout};
use engine::events::Event;
use engine::ids::PerformanceId;
use engine::journal::{Ack, Checkpoint, Journal, JournalError, LogPosition};
use engine::time::Timestamp;

/// Acknowledges every append at once; durability is not what these test.
pub struct ImmediateJournal;

impl Journal for ImmediateJournal {
    fn append(&self, _events: Vec<Event>, ack: Ack) {
        ack(Ok(()));
    }

    fn durable_position(&self) -> LogPosition {
        LogPosition(0)
    }

    fn checkpoint(&self, _: LogPosition, _: Checkpoint) -> Result<(), JournalError> {
        Ok(())
    }
}

/// A city in CHF, a venue of `layout`, and a performance of it on sale
/// since an hour before `now` and starting a day after, with at most 10
/// tickets an order and `user_max` a user.
pub async fn one_performance(
    office: &BoxOffice,
    now: Timestamp,
    layout: Layout,
    user_max: u32,
) -> PerformanceId {
    let city = NewCity {
        name: "Bern".into(),
        country: "CH".into(),
        time_zone: "Europe/Zurich".into(),
        currency: Currency { code: "CHF".into(), exponent: 2 },
    };
    let city = office.create_city(city).await.expect("a city");
    let venue = office.create_venue(city.id, "Stadttheater".into(), layout).await.expect("a venue");

    let new = NewPerformance {
        title: "Tell".into(),
        start_local: "2099-01-01T20:00:00".into(),
        start: Timestamp(now.0 + 86_400_000),
        utc_offset_seconds: 3_600,
        on_sale: Timestamp(now.0 - 3_600_000),
        order_max: 10,
        user_max,
    };
    office.create_performance(venue.id, new).await.expect("a performance").id
}
