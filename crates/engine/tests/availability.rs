//! A performance's counts, read without asking its actor, are never stale:
//! they show every change the actor made before the read, and never a hold
//! that has lapsed.

use std::sync::Arc;
use std::time::Duration;

use engine::booking::Selection;
use engine::box_office::{BoxOffice, EngineConfig, EngineDeps, Recovered};
use engine::catalogue::{Layout, Section, SectionKind};
use engine::ids::{PerformanceId, UserId};
use engine::payment::{InstantCheckout, InstantProvider};
use engine::time::{Clock, ManualClock, SystemClock};
use support::{one_performance, ImmediateJournal};

mod support;

const HOLD_TTL: Duration = Duration::from_secs(600);
const STALLS: u32 = 40;
const CIRCLE: u32 = 24;

async fn start(clock: Arc<dyn Clock>) -> (BoxOffice, PerformanceId) {
    let config = EngineConfig {
        hold_ttl: HOLD_TTL,
        max_in_flight: 4096,
        shard_count: 1,
        checkout_ttl: HOLD_TTL,
    };
    let deps = EngineDeps {
        journal: Arc::new(ImmediateJournal),
        clock: clock.clone(),
        payments: Arc::new(InstantProvider),
        checkout: Arc::new(InstantCheckout::default()),
    };
    let office = BoxOffice::start(config, deps, Recovered::default()).expect("an empty start");

    let section = |name: &str, seats| Section {
        name: name.into(),
        kind: SectionKind::Standing { capacity: seats },
        price_minor: 4200,
    };
    let layout = Layout { sections: vec![section("Stalls", STALLS), section("Circle", CIRCLE)] };
    let performance = one_performance(&office, clock.now(), layout, 100).await;
    (office, performance)
}

async fn user(office: &BoxOffice, n: usize) -> UserId {
    let registered = office.register_user(
        format!("Buyer {n}"),
        format!("buyer{n}@example.org"),
        "+41 31 000 00 00".into(),
        [n as u8; 32],
    );
    registered.await.expect("a user").id
}

fn one_of(section: &str) -> Selection {
    Selection::Quantity { section: section.into(), quantity: 1 }
}

#[actix_rt::test]
async fn a_hold_past_its_instant_is_counted_free_before_its_timer_fires() {
    let clock = ManualClock::starting_at(SystemClock.now());
    let (office, performance) = start(Arc::new(clock.clone())).await;
    let buyer = user(&office, 1).await;

    assert_eq!(office.availability(performance).await.unwrap(), vec![STALLS, CIRCLE]);
    office.reserve(buyer, performance, one_of("Stalls")).await.expect("a hold");
    assert_eq!(office.availability(performance).await.unwrap(), vec![STALLS - 1, CIRCLE]);

    // The actor's timer waits in real time, which has not passed: only the
    // read can notice that the hold has lapsed.
    clock.advance(HOLD_TTL);
    assert_eq!(office.availability(performance).await.unwrap(), vec![STALLS, CIRCLE]);
    assert_eq!(office.availability(performance).await.unwrap(), vec![STALLS, CIRCLE]);
}

#[actix_rt::test]
async fn racing_readers_never_see_a_count_go_back_up() {
    let (office, performance) = start(Arc::new(SystemClock)).await;
    let mut buyers = Vec::new();
    for n in 0..8 {
        buyers.push(user(&office, n).await);
    }

    // Nothing is ever freed, so every count a reader sees must be at most
    // the one it saw before: a stale read would show one going back up.
    let reserving = buyers.into_iter().map(|buyer| {
        let office = office.clone();
        actix_rt::spawn(async move {
            for _ in 0..3 {
                office.reserve(buyer, performance, one_of("Stalls")).await.expect("a stall");
                office.reserve(buyer, performance, one_of("Circle")).await.expect("a circle");
            }
        })
    });
    let reserving: Vec<_> = reserving.collect();

    let reading = (0..4).map(|_| {
        let office = office.clone();
        actix_rt::spawn(async move {
            let mut last = vec![STALLS, CIRCLE];
            for _ in 0..2_000 {
                let counts = office.availability(performance).await.expect("counts");
                assert!(counts[0] <= last[0] && counts[1] <= last[1], "{counts:?} after {last:?}");
                last = counts;
                tokio::task::yield_now().await;
            }
        })
    });
    let reading: Vec<_> = reading.collect();

    for task in reserving.into_iter().chain(reading) {
        task.await.expect("no task panicked");
    }
    assert_eq!(office.availability(performance).await.unwrap(), vec![STALLS - 24, CIRCLE - 24]);
}
