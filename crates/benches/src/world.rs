//! An in-process engine world for the `engine` bench: a [`BoxOffice`] with
//! its cities, venues, performances and buyers, on the real sled journal or
//! on the [`NullJournal`], and a [`Sale`] that replaces the world whenever
//! its seats run out, outside the timed part.
//!
//! Everything here must run inside an actix system, as the engine does.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use engine::box_office::{BoxOffice, EngineConfig, EngineDeps, NewCity, NewPerformance, Recovered};
use engine::catalogue::{Currency, Layout};
use engine::ids::{PerformanceId, UserId, VenueId};
use engine::journal::Journal;
use engine::payment::{InstantCheckout, InstantProvider};
use engine::time::{Clock, SystemClock, Timestamp};
use persistence::{SledJournal, Store, StoreOptions};

use crate::layouts::layout;
use crate::null_journal::NullJournal;
use crate::plan::{sale_plan, PlannedOrder};

/// Every order is a reserve then a purchase: two state changes, two events.
pub const CHANGES_PER_ORDER: u64 = 2;

/// How the log is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// The [`NullJournal`]: acked at once, nothing kept.
    Off,
    /// The real `persistence::Store` in a temp dir: group commit, fdatasync.
    Sled,
}

impl Durability {
    /// The name a bench reports it under.
    pub fn name(self) -> &'static str {
        match self {
            Durability::Off => "null-journal",
            Durability::Sled => "sled-fdatasync",
        }
    }
}

/// What the world holds, and how hard it is driven.
#[derive(Clone, Debug)]
pub struct Shape {
    pub cities: u32,
    pub performances_per_city: u32,
    /// A layout id of `venue-layouts.json`, the same for every venue.
    pub layout: &'static str,
    /// Concurrent buyer tasks, each its own registered user.
    pub tasks: usize,
    /// Actor threads: one arbiter per shard, cities spread over them.
    pub shards: usize,
}

/// The real store and what must outlive it, for a durable world.
struct DurableStore {
    journal: Arc<SledJournal>,
    store: Store,
    dir: tempfile::TempDir,
}

/// A running engine with performances on sale and buyers registered.
pub struct World {
    office: BoxOffice,
    performances: Arc<[PerformanceId]>,
    /// The same plan serves every performance: they share one layout.
    plan: Arc<[PlannedOrder]>,
    users: Arc<[UserId]>,
    durable: Option<DurableStore>,
}

impl World {
    /// Starts an engine on the chosen journal and builds the catalogue and
    /// the buyers through its own API, as an admin and sign-ups would.
    pub async fn start(shape: &Shape, durability: Durability) -> World {
        let (journal, durable) = open_journal(durability);
        let office = start_office(journal, shape.shards);
        let layout = layout(shape.layout);
        let performances = create_performances(&office, shape, &layout).await;
        let users = register_users(&office, shape.tasks).await;
        World {
            office,
            performances: performances.into(),
            plan: sale_plan(&layout).into(),
            users: users.into(),
            durable,
        }
    }

    /// How many orders the world takes before any section runs dry.
    pub fn capacity(&self) -> usize {
        self.plan.len() * self.performances.len()
    }

    /// Runs `orders` orders of the plan over all buyer tasks at once and
    /// returns how long they took. Order `k` goes to performance
    /// `k % performances`, so consecutive orders spread over every shard.
    pub async fn run_orders(&self, first: usize, orders: usize) -> Duration {
        let next = Arc::new(AtomicUsize::new(first));
        let end = first + orders;
        assert!(end <= self.capacity(), "the world would run dry");

        let started = Instant::now();
        let buyers: Vec<_> = self
            .users
            .iter()
            .map(|&user| actix_rt::spawn(self.buyer(user, next.clone(), end)))
            .collect();
        for buyer in buyers {
            buyer.await.expect("a buyer task failed");
        }
        started.elapsed()
    }

    /// One buyer: takes the next planned order until `end`, reserving by
    /// quantity and then buying what it was given.
    fn buyer(
        &self,
        user: UserId,
        next: Arc<AtomicUsize>,
        end: usize,
    ) -> impl std::future::Future<Output = ()> + 'static {
        let (office, performances, plan) =
            (self.office.clone(), self.performances.clone(), self.plan.clone());
        async move {
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= end {
                    return;
                }
                let performance = performances[k % performances.len()];
                let order = &plan[k / performances.len()];
                buy(&office, user, performance, order).await;
            }
        }
    }

    /// Stops the engine and, for a durable world, waits until its journal
    /// has closed so no thread or file outlives the world.
    pub async fn shutdown(self) {
        self.office.stop();
        drop(self.office);
        let Some(DurableStore { journal, store, dir }) = self.durable else { return };
        wait_until_actors_let_go(&journal).await;
        drop((journal, store));
        drop(dir);
    }
}

/// Waits until the stopped actors have dropped their journal handles: ours
/// and the store's are then the last two, and dropping them closes the log.
async fn wait_until_actors_let_go(journal: &Arc<SledJournal>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Arc::strong_count(journal) > 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

async fn buy(office: &BoxOffice, user: UserId, performance: PerformanceId, order: &PlannedOrder) {
    let selection = engine::booking::Selection::Quantity {
        section: order.section.clone(),
        quantity: order.quantity,
    };
    let held = office.reserve(user, performance, selection).await;
    let held = held.unwrap_or_else(|error| panic!("reserve {order:?}: {error}"));
    let bought = office.purchase(user, performance, held.tickets, "bench-card".into()).await;
    bought.unwrap_or_else(|error| panic!("purchase {order:?}: {error}"));
}

fn open_journal(durability: Durability) -> (Arc<dyn Journal>, Option<DurableStore>) {
    match durability {
        Durability::Off => (Arc::new(NullJournal), None),
        Durability::Sled => {
            let dir = tempfile::tempdir().expect("a temp dir for the store");
            let store = Store::open(dir.path(), StoreOptions::default()).expect("the store opens");
            let journal = store.journal();
            let shared: Arc<dyn Journal> = journal.clone();
            (shared, Some(DurableStore { journal, store, dir }))
        }
    }
}

fn start_office(journal: Arc<dyn Journal>, shards: usize) -> BoxOffice {
    let config = EngineConfig {
        // Long enough that no hold lapses while a bench runs: expiries
        // would be state changes the bench did not ask for.
        hold_ttl: Duration::from_secs(3600),
        max_in_flight: 4096,
        shard_count: shards,
        checkout_ttl: Duration::from_secs(600),
    };
    let deps = EngineDeps {
        journal,
        clock: Arc::new(SystemClock),
        payments: Arc::new(InstantProvider),
        checkout: Arc::new(InstantCheckout::default()),
    };
    BoxOffice::start(config, deps, Recovered::default()).expect("an empty engine starts")
}

async fn create_performances(
    office: &BoxOffice,
    shape: &Shape,
    layout: &Layout,
) -> Vec<PerformanceId> {
    let mut performances = Vec::new();
    for city in 0..shape.cities {
        let venue = create_venue(office, city, layout).await;
        for nth in 0..shape.performances_per_city {
            let info = office
                .create_performance(venue, new_performance(nth))
                .await
                .expect("the performance is created");
            performances.push(info.id);
        }
    }
    performances
}

async fn create_venue(office: &BoxOffice, city: u32, layout: &Layout) -> VenueId {
    let new = NewCity {
        name: format!("Bench City {city}"),
        country: "CH".into(),
        time_zone: "Europe/Zurich".into(),
        currency: Currency { code: "CHF".into(), exponent: 2 },
    };
    let city = office.create_city(new).await.expect("the city is created");
    let venue = office.create_venue(city.id, format!("Bench Venue {}", city.id), layout.clone());
    venue.await.expect("the venue is created").id
}

/// On sale since an hour ago, starting in 30 days; no per-user maximum to
/// speak of, since each buyer task buys many orders.
fn new_performance(nth: u32) -> NewPerformance {
    let now = SystemClock.now();
    let start = now.plus(Duration::from_secs(30 * 24 * 3600));
    NewPerformance {
        title: format!("Bench Show {nth}"),
        // Shown to buyers only; the engine goes by `start`.
        start_local: start.to_string(),
        start,
        utc_offset_seconds: 0,
        on_sale: Timestamp::from_millis(now.as_millis() - 3_600_000),
        order_max: 10,
        user_max: u32::MAX,
    }
}

async fn register_users(office: &BoxOffice, count: usize) -> Vec<UserId> {
    let sign_ups: Vec<_> = (0..count)
        .map(|n| {
            let office = office.clone();
            actix_rt::spawn(async move {
                let (name, email) = (format!("Buyer {n}"), format!("buyer{n}@bench.example"));
                let user = office.register_user(name, email, "+41 44 000 00 00".into(), [0; 32]);
                user.await.expect("the buyer registers").id
            })
        })
        .collect();
    let mut users = Vec::with_capacity(count);
    for sign_up in sign_ups {
        users.push(sign_up.await.expect("a sign-up task failed"));
    }
    users
}

/// A sale that goes on across criterion's calls: each call takes the next
/// orders of the current world, and a world that runs dry is replaced by a
/// fresh one outside the timed part. So every sample sees the venue at all
/// levels of fill, and none ever times a sold-out refusal.
pub struct Sale {
    shape: Shape,
    durability: Durability,
    world: Option<World>,
    /// Orders the current world has taken.
    sold: usize,
}

impl Sale {
    pub fn new(shape: Shape, durability: Durability) -> Sale {
        Sale { shape, durability, world: None, sold: 0 }
    }

    /// Runs `orders` orders and returns the time they took, not counting
    /// the set-up and tear-down of worlds.
    pub async fn take(&mut self, orders: u64) -> Duration {
        let mut left = orders as usize;
        let mut took = Duration::ZERO;
        while left > 0 {
            self.ensure_seats().await;
            let world = self.world.as_ref().expect("a world with seats left");
            let chunk = left.min(world.capacity() - self.sold);
            took += world.run_orders(self.sold, chunk).await;
            self.sold += chunk;
            left -= chunk;
        }
        took
    }

    /// Makes sure a world with seats left is open, replacing a dry one.
    async fn ensure_seats(&mut self) {
        let dry = self.world.as_ref().is_some_and(|world| self.sold >= world.capacity());
        if dry {
            self.world.take().expect("checked above").shutdown().await;
        }
        if self.world.is_none() {
            self.world = Some(World::start(&self.shape, self.durability).await);
            self.sold = 0;
        }
    }

    /// Shuts the last world down.
    pub async fn finish(mut self) {
        if let Some(world) = self.world.take() {
            world.shutdown().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layouts::layout;

    /// A 300-place standing club: its plan is exactly 120 orders.
    fn club(tasks: usize) -> Shape {
        Shape { cities: 1, performances_per_city: 1, layout: "club", tasks, shards: 1 }
    }

    async fn available(world: &World) -> u32 {
        let performance = world.performances[0];
        world.office.availability(performance).await.expect("availability").iter().sum()
    }

    #[test]
    fn a_sale_sells_every_planned_seat_and_then_starts_a_fresh_world() {
        actix_rt::System::new().block_on(async {
            let mut sale = Sale::new(club(8), Durability::Off);
            assert_eq!(sale_plan(&layout("club")).len(), 120);
            sale.take(120).await;
            let world = sale.world.as_ref().expect("a world");
            assert_eq!(available(world).await, 0, "the plan sells the club out");

            sale.take(5).await;
            let fresh = sale.world.as_ref().expect("a world");
            assert_eq!(available(fresh).await, 300 - (1 + 2 + 3 + 4 + 1));
            sale.finish().await;
        });
    }

    #[test]
    fn a_durable_world_logs_two_booking_events_per_order() {
        actix_rt::System::new().block_on(async {
            let world = World::start(&club(8), Durability::Sled).await;
            world.run_orders(0, 120).await;
            world.office.stop();
            let DurableStore { journal, store, dir } = world.durable.expect("durable");
            assert!(journal.commits() > 0);
            drop(world.office);
            wait_until_actors_let_go(&journal).await;
            drop((journal, store));

            let tail = reopen(dir.path()).await.recover().expect("the store recovers").tail;
            let booked = tail.iter().filter(|e| matches!(e, engine::events::Event::Booking(_)));
            assert_eq!(booked.count(), 240, "a reserve and a purchase per order");
        });
    }

    /// Opens the store again, waiting while sled's background threads still
    /// hold the directory's lock a moment after the last handle dropped.
    async fn reopen(dir: &std::path::Path) -> Store {
        for _ in 0..400 {
            match Store::open(dir, StoreOptions::default()) {
                Err(error) if error.to_string().contains("could not acquire lock") => {
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
                opened => return opened.expect("the store reopens"),
            }
        }
        panic!("the store stayed locked");
    }
}
