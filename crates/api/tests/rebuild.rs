//! A restart rebuilds every performance exactly, through the real engine and
//! the real sled store: random reserves, purchases, releases, clock moves,
//! checkpoints and restarts, and after each restart every seat map equals
//! the one before it, holds and their instants included, and every
//! acknowledged purchase is still there.
//!
//! A restart here stops every actor, closes the store, reopens it from disk
//! and recovers, as a new process would. (The crash test does the same with
//! SIGKILL and the real binary; this one can compare whole seat maps.)

use std::sync::Arc;
use std::time::Duration;

use api::server::recovered;
use engine::booking::{BookingSnapshot, Selection};
use engine::box_office::{BoxOffice, EngineConfig, EngineDeps, NewCity, NewPerformance};
use engine::catalogue::{Currency, Layout, Section, SectionKind};
use engine::ids::{PerformanceId, UserId};
use engine::journal::Journal;
use engine::payment::InstantProvider;
use engine::time::{ManualClock, Timestamp};
use persistence::{SledJournal, Store, StoreOptions};
use proptest::prelude::*;

const HOLD_TTL: Duration = Duration::from_secs(10);
const USERS: u32 = 3;
const PERFORMANCES: u32 = 2;
/// The small layout below: 3 rows of 6 seats, then 4 standing places.
const TICKETS: u32 = 22;

#[derive(Clone, Debug)]
enum Op {
    ReserveTickets { user: u32, performance: u32, tickets: Vec<u32> },
    ReserveQuantity { user: u32, performance: u32, standing: bool, quantity: u32 },
    Purchase { user: u32, performance: u32, count: usize, token: &'static str },
    Release { user: u32, performance: u32 },
    Advance { seconds: u64 },
    Checkpoint,
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    let user = 1..=USERS;
    let performance = 1..=PERFORMANCES;
    prop_oneof![
        3 => (user.clone(), performance.clone(), prop::collection::vec(0..TICKETS, 1..4))
            .prop_map(|(user, performance, tickets)| Op::ReserveTickets { user, performance, tickets }),
        3 => (user.clone(), performance.clone(), any::<bool>(), 1..4u32).prop_map(
            |(user, performance, standing, quantity)| Op::ReserveQuantity { user, performance, standing, quantity }
        ),
        3 => (user.clone(), performance.clone(), 1..4usize, prop::sample::select(vec!["tok", "decline"]))
            .prop_map(|(user, performance, count, token)| Op::Purchase { user, performance, count, token }),
        1 => (user, performance).prop_map(|(user, performance)| Op::Release { user, performance }),
        2 => (0..15u64).prop_map(|seconds| Op::Advance { seconds }),
        1 => Just(Op::Checkpoint),
        2 => Just(Op::Restart),
    ]
}

/// A running engine on a store in a directory.
struct Running {
    store: Store,
    journal: Arc<SledJournal>,
    office: BoxOffice,
}

async fn open(dir: &std::path::Path, clock: &ManualClock) -> Running {
    let store = open_store(dir).await;
    let journal = store.journal();
    let recovered = recovered(store.recover().expect("recovery"));
    let config = EngineConfig {
        hold_ttl: HOLD_TTL,
        max_in_flight: 1024,
        shard_count: 2,
        checkout_ttl: HOLD_TTL,
    };
    let deps = EngineDeps {
        journal: journal.clone(),
        clock: Arc::new(clock.clone()),
        payments: Arc::new(InstantProvider),
        checkout: Arc::new(engine::payment::InstantCheckout::default()),
    };
    let office = BoxOffice::start(config, deps, recovered).expect("rebuilding the state");
    Running { store, journal, office }
}

/// Opens the store, waiting out the moment sled's threads of a store just
/// closed still hold its lock.
async fn open_store(dir: &std::path::Path) -> Store {
    for _ in 0..200 {
        match Store::open(dir, StoreOptions::default()) {
            Ok(store) => return store,
            Err(_) => tokio::time::sleep(Duration::from_millis(25)).await,
        }
    }
    panic!("the store stayed locked");
}

/// Waits until everything appended so far is durable.
async fn barrier(journal: &SledJournal) {
    let (done, durable) = tokio::sync::oneshot::channel();
    journal.append(Vec::new(), Box::new(move |result| drop(done.send(result))));
    durable.await.expect("the journal answers").expect("the journal works");
}

/// Every seat map, with the holds that are due expired first, so two
/// engines that saw the same events compare equal.
async fn seat_maps(running: &Running) -> Vec<BookingSnapshot> {
    for performance in 1..=PERFORMANCES {
        running.office.availability(PerformanceId(performance)).await.expect("availability");
    }
    barrier(&running.journal).await;
    running.office.snapshots().await.expect("snapshots")
}

async fn restart(running: Running, dir: &std::path::Path, clock: &ManualClock) -> Running {
    let before = seat_maps(&running).await;

    let Running { store, journal, office } = running;
    office.stop();
    drop((office, journal, store));

    let running = open(dir, clock).await;
    let after = seat_maps(&running).await;
    assert_eq!(before, after, "a restart changed a seat map");
    running
}

async fn create_world(office: &BoxOffice, now: Timestamp) {
    let currency = Currency { code: "CHF".into(), exponent: 2 };
    let new_city = NewCity {
        name: "Zürich".into(),
        country: "CH".into(),
        time_zone: "Europe/Zurich".into(),
        currency,
    };
    let city = office.create_city(new_city).await.expect("a city");

    let seated = SectionKind::Seated { rows: 3, seats_per_row: 6 };
    let sections = vec![
        Section { name: "Stalls".into(), kind: seated, price_minor: 6500 },
        Section {
            name: "Floor".into(),
            kind: SectionKind::Standing { capacity: 4 },
            price_minor: 3000,
        },
    ];
    let venue = office
        .create_venue(city.id, "Opernhaus".into(), Layout { sections })
        .await
        .expect("a venue");

    for n in 0..PERFORMANCES {
        let start = now.plus(Duration::from_secs(86_400 + 3_600 * n as u64));
        let new = NewPerformance {
            title: format!("Vorstellung {n}"),
            start_local: "2030-01-01T20:00:00".into(),
            start,
            utc_offset_seconds: 3_600,
            on_sale: Timestamp(now.0 - 3_600_000),
            order_max: 4,
            user_max: 6,
        };
        office.create_performance(venue.id, new).await.expect("a performance");
    }

    for n in 0..USERS {
        let email = format!("user-{n}@example.org");
        let user = office.register_user("Käufer".into(), email, "+41 44 000 00 00".into(), [0; 32]);
        user.await.expect("a user");
    }
}

/// Runs one sequence; returns the number of purchases acknowledged.
async fn run(ops: Vec<Op>) -> usize {
    let dir = tempfile::tempdir().expect("a temp dir");
    let clock = ManualClock::starting_at(Timestamp(1_900_000_000_000));
    let mut running = open(dir.path(), &clock).await;
    create_world(&running.office, Timestamp(1_900_000_000_000)).await;
    let mut sold: Vec<(PerformanceId, Vec<u32>)> = Vec::new();

    for op in ops {
        running = apply(running, op, dir.path(), &clock, &mut sold).await;
        check_sold(&running, &sold).await;
    }

    let _ = restart(running, dir.path(), &clock).await;
    sold.len()
}

async fn apply(
    running: Running,
    op: Op,
    dir: &std::path::Path,
    clock: &ManualClock,
    sold: &mut Vec<(PerformanceId, Vec<u32>)>,
) -> Running {
    let office = &running.office;
    match op {
        Op::ReserveTickets { user, performance, tickets } => {
            let selection = Selection::Tickets(tickets);
            let _ = office.reserve(UserId(user), PerformanceId(performance), selection).await;
        }
        Op::ReserveQuantity { user, performance, standing, quantity } => {
            let section = if standing { "Floor" } else { "Stalls" }.to_owned();
            let selection = Selection::Quantity { section, quantity };
            let _ = office.reserve(UserId(user), PerformanceId(performance), selection).await;
        }
        Op::Purchase { user, performance, count, token } => {
            let held = held_by(office, UserId(user), PerformanceId(performance)).await;
            let tickets: Vec<u32> = held.into_iter().take(count).collect();
            let bought = office
                .purchase(UserId(user), PerformanceId(performance), tickets, token.into())
                .await;
            if let Ok(purchase) = bought {
                sold.push((PerformanceId(performance), purchase.tickets));
            }
        }
        Op::Release { user, performance } => {
            let held = held_by(office, UserId(user), PerformanceId(performance)).await;
            let _ = office.release(UserId(user), PerformanceId(performance), held).await;
        }
        Op::Advance { seconds } => clock.advance(Duration::from_secs(seconds)),
        Op::Checkpoint => drop(office.checkpoint().await.expect("a checkpoint")),
        Op::Restart => return restart(running, dir, clock).await,
    }
    running
}

/// The tickets of one performance the index says `user` holds.
async fn held_by(office: &BoxOffice, user: UserId, performance: PerformanceId) -> Vec<u32> {
    let tickets = office.user_tickets(user).await;
    let held = tickets.into_iter().filter(|(ticket, holding)| {
        ticket.performance == performance
            && matches!(holding, engine::index::Holding::Reserved { .. })
    });
    held.map(|(ticket, _)| ticket.index).collect()
}

async fn check_sold(running: &Running, sold: &[(PerformanceId, Vec<u32>)]) {
    let maps = running.office.snapshots().await.expect("snapshots");
    for (performance, tickets) in sold {
        let map = maps.iter().find(|map| map.performance == *performance).expect("a seat map");
        for &ticket in tickets {
            assert_eq!(
                map.status[ticket as usize], 2,
                "sold ticket {performance}-{ticket} is not purchased"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn restarts_rebuild_every_seat_map_exactly(ops in prop::collection::vec(op(), 1..40)) {
        actix_rt::System::new().block_on(run(ops));
    }
}
