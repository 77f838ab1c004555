//! The rush itself: virtual buyers arriving open-loop at their due times,
//! each viewing the performance, reserving, then paying or walking away.
//!
//! The dispatcher starts each buyer at its due time, never waiting for
//! earlier buyers, and every latency counts from when the request was meant
//! to go out (the buyer's due time for its first request, the previous
//! answer for the next), so time spent queueing for a connection is
//! measured rather than hidden.
//!
//! In the waiting room, as at a real on-sale, a buyer is served from start
//! to finish once admitted, by one of as many servers of visits as there
//! are connections; the rest wait their turn in arrival order. Without it,
//! a buyer who got seats would queue behind every newcomer's first look,
//! and in a burst its hold would lapse before it could pay. A buyer waiting
//! is only a place in a queue, not a task, so a burst of 150,000 costs
//! next to nothing until each is served.
//!
//! Without the waiting room (`--no-waiting-room`) every buyer starts at
//! once, so an overload reaches the server; a buyer it turns away (503 or
//! 429) leaves as `refused`.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::audit::{AckedOrder, Ledger};
use crate::client::{
    Account, Api, Failure, Glance, ListedTicket, Order, PerformanceRef, Pick, Reply,
};
use crate::stats::{is_shed, Op, Outcome, Recorder, Stats};

/// What every buyer of one rush does, and when.
#[derive(Clone, Debug)]
pub struct Plan {
    pub performance: PerformanceRef,
    /// Each buyer's due offset from the on-sale instant.
    pub due: Vec<Duration>,
    /// The rush stops here, whatever is still under way.
    pub duration: Duration,
    pub pay_share: f64,
    pub by_seat_share: f64,
    /// Tickets per buyer, drawn uniformly from this range.
    pub quantity: (u32, u32),
    pub seed: u64,
    /// With a waiting room, how many buyers are served at once; without
    /// one, every buyer starts at its due time.
    pub waiting_room: Option<usize>,
    /// The performance's sections in layout order, as its page lists them.
    pub sections: Vec<String>,
}

/// The first page of available tickets a by-seat buyer chooses from: the
/// best seats, which is what a crowd goes for.
const SEAT_PAGE: u32 = 100;

/// What the rush leaves for the report and the audit.
pub struct Finished {
    pub stats: Stats,
    pub ledger: Ledger,
    /// From the on-sale instant to the last answer.
    pub elapsed: Duration,
    /// Buyers whose due time came before the rush stopped.
    pub arrived: usize,
    /// The latest instant any hold taken lasts until.
    pub latest_hold: Option<SystemTime>,
}

/// The purchases made so far, for the audit.
#[derive(Default)]
struct Book {
    acked: Vec<AckedOrder>,
    unknown: Vec<Vec<String>>,
    /// Purchases sent and not yet answered, by buyer.
    pending: HashMap<usize, Vec<String>>,
    latest_hold: Option<SystemTime>,
}

struct Shared {
    api: Api,
    plan: Plan,
    recorder: Recorder,
    book: Mutex<Book>,
    /// Buyers whose visit has ended.
    done: AtomicUsize,
}

/// A buyer due to start.
struct Arrival {
    index: usize,
    account: Account,
    due: Instant,
}

/// Buyers who have arrived and wait to be served, in arrival order.
type Queue = Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Arrival>>>;

/// Runs the rush; buyers take `accounts` round-robin (one each, when there
/// are as many as buyers).
pub async fn run(api: Api, plan: Plan, accounts: Vec<Account>) -> Finished {
    // A moment's lead, so the first due times are not already late.
    let start = Instant::now() + Duration::from_millis(20);
    let deadline = start + plan.duration;
    let buyers = plan.due.len();
    let book = Mutex::default();
    let recorder = Recorder::new(start);
    let shared = Arc::new(Shared { api, plan, recorder, book, done: AtomicUsize::new(0) });

    let progress = crate::setup::bar(buyers as u64, "rush");
    let ticker = tokio::spawn(show_progress(shared.clone(), progress.clone()));
    let mut tasks = JoinSet::new();
    let arrived = match shared.plan.waiting_room {
        Some(served_at_once) => {
            let (queue, waiting) = mpsc::unbounded_channel();
            let waiting: Queue = Arc::new(tokio::sync::Mutex::new(waiting));
            for _ in 0..served_at_once.max(1) {
                tasks.spawn(serve_in_turn(shared.clone(), waiting.clone()));
            }
            let admit = |arrival: Arrival, _: &mut JoinSet<()>| {
                let _ = queue.send(arrival);
            };
            let arrived = dispatch(&shared, &accounts, start, deadline, &mut tasks, admit).await;
            // Once the queue is empty, each server of visits ends.
            drop(queue);
            arrived
        }
        None => {
            let start_at_once = |arrival: Arrival, tasks: &mut JoinSet<()>| {
                tasks.spawn(buyer(shared.clone(), arrival));
            };
            dispatch(&shared, &accounts, start, deadline, &mut tasks, start_at_once).await
        }
    };
    let _ = tokio::time::timeout_at(deadline.into(), drain(&mut tasks)).await;
    stop_unfinished(&shared, &mut tasks, arrived).await;
    ticker.abort();
    // Awaited so the ticker's handle on the shared state is gone.
    let _ = ticker.await;
    progress.finish_and_clear();

    let shared = Arc::into_inner(shared).expect("every buyer is done");
    finish(shared, arrived)
}

/// Hands each buyer to `admit` at its due time, until the rush's time is
/// up.
async fn dispatch(
    shared: &Shared,
    accounts: &[Account],
    start: Instant,
    deadline: Instant,
    tasks: &mut JoinSet<()>,
    admit: impl Fn(Arrival, &mut JoinSet<()>),
) -> usize {
    let mut arrived = 0;
    for (index, offset) in shared.plan.due.iter().enumerate() {
        let due = start + *offset;
        if due >= deadline {
            break;
        }
        tokio::time::sleep_until(due.into()).await;
        let account = accounts[index % accounts.len()].clone();
        admit(Arrival { index, account, due }, tasks);
        shared.recorder.arrived(Instant::now());
        arrived += 1;
        while tasks.try_join_next().is_some() {}
    }
    arrived
}

/// Serves the waiting buyers one after another, each from start to finish.
async fn serve_in_turn(shared: Arc<Shared>, waiting: Queue) {
    loop {
        let next = waiting.lock().await.recv().await;
        let Some(arrival) = next else { return };
        buyer(shared.clone(), arrival).await;
    }
}

async fn drain(tasks: &mut JoinSet<()>) {
    while tasks.join_next().await.is_some() {}
}

/// Stops the buyers still under way or waiting when time ran out; a
/// purchase they had sent may still complete on the server, so its outcome
/// is unknown.
async fn stop_unfinished(shared: &Shared, tasks: &mut JoinSet<()>, arrived: usize) {
    tasks.abort_all();
    drain(tasks).await;
    let unfinished = arrived.saturating_sub(shared.done.load(Ordering::SeqCst));
    let now = Instant::now();
    for _ in 0..unfinished {
        shared.recorder.finished(Outcome::Unfinished, now, now);
    }
    let mut book = shared.book.lock();
    let pending: Vec<Vec<String>> = book.pending.drain().map(|(_, tickets)| tickets).collect();
    book.unknown.extend(pending);
}

fn finish(shared: Shared, arrived: usize) -> Finished {
    let book = shared.book.into_inner();
    let stats = shared.recorder.into_stats();
    Finished {
        elapsed: stats.last_answer,
        stats,
        ledger: Ledger { acked: book.acked, unknown: book.unknown, ..Ledger::default() },
        arrived,
        latest_hold: book.latest_hold,
    }
}

async fn show_progress(shared: Arc<Shared>, progress: indicatif::ProgressBar) {
    let mut ticks = tokio::time::interval(Duration::from_millis(200));
    loop {
        ticks.tick().await;
        let (done, purchased, sold_out) = shared.recorder.snapshot();
        progress.set_position(done);
        progress.set_message(format!("purchased {purchased}, sold out {sold_out}"));
    }
}

/// One buyer's visit, from its due time to its outcome.
async fn buyer(shared: Arc<Shared>, arrival: Arrival) {
    let Arrival { index, account, due } = arrival;
    // In a waiting room a buyer's wait in line is what is modelled; without
    // one, a buyer starts when it arrives, and any delay is the harness's.
    if shared.plan.waiting_room.is_none() {
        shared.recorder.started(due, Instant::now());
    }
    let seed = shared.plan.seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut rng = StdRng::seed_from_u64(seed);
    let (outcome, done) = visit(&shared, index, &account, due, &mut rng).await;
    shared.recorder.finished(outcome, due, done);
    shared.done.fetch_add(1, Ordering::SeqCst);
}

/// Runs `call` as `op`, timed from `intended`; answers with when it ended.
async fn timed<T>(
    shared: &Shared,
    op: Op,
    intended: Instant,
    call: impl Future<Output = Reply<T>>,
) -> (Reply<T>, Instant) {
    let reply = call.await;
    let done = Instant::now();
    let failure = reply.as_ref().err().map(Failure::key);
    shared.recorder.request(op, intended, done, failure.as_deref());
    (reply, done)
}

async fn visit(
    shared: &Shared,
    index: usize,
    account: &Account,
    due: Instant,
    rng: &mut StdRng,
) -> (Outcome, Instant) {
    let plan = &shared.plan;
    let glance = shared.api.glance(&plan.performance, plan.sections.len());
    let (view, at) = timed(shared, Op::View, due, glance).await;
    let view = match view {
        Ok(view) => view,
        Err(failure) => return (failed(&failure), at),
    };
    shared.recorder.availability(at, view.available);
    if view.available == 0 {
        return (Outcome::SoldOut, at);
    }

    let quantity = rng.random_range(plan.quantity.0..=plan.quantity.1);
    let by_seat = rng.random_bool(plan.by_seat_share) || view.sections.is_none();
    let (pick, at) = if by_seat {
        match pick_seats(shared, at, quantity, rng).await {
            Ok((pick, at)) => (pick, at),
            Err(ended) => return ended,
        }
    } else {
        (pick_section(&plan.sections, &view, quantity, rng), at)
    };

    let performance = plan.performance.performance;
    let reserve = shared.api.reserve(account, performance, &pick);
    let (reserved, at) = timed(shared, Op::Reserve, at, reserve).await;
    let reservation = match reserved {
        Ok(reservation) => reservation,
        Err(failure) if failure.is_code("not-available") && by_seat => {
            return (Outcome::SeatTaken, at)
        }
        Err(failure) if failure.is_code("not-available") => return (Outcome::SoldOut, at),
        Err(failure) if failure.is_code("user-limit") => return (Outcome::UserLimit, at),
        Err(failure) => return (failed(&failure), at),
    };
    shared.recorder.reserved(at);
    note_hold(shared, &reservation.reserved_until);

    if !rng.random_bool(plan.pay_share) {
        return (Outcome::Abandoned, at);
    }
    let tickets: Vec<String> = reservation.tickets.into_iter().map(|ticket| ticket.id).collect();
    purchase(shared, index, account, tickets, at).await
}

/// A named-seat buyer looks at the best seats left and picks some at
/// random; with none left, the show is sold out.
async fn pick_seats(
    shared: &Shared,
    intended: Instant,
    quantity: u32,
    rng: &mut StdRng,
) -> Result<(Pick, Instant), (Outcome, Instant)> {
    let list = shared.api.tickets::<ListedTicket>(
        &shared.plan.performance,
        Some("available"),
        SEAT_PAGE,
        None,
    );
    let (seats, at) = timed(shared, Op::Seats, intended, list).await;
    let seats = seats.map_err(|failure| (failed(&failure), at))?;
    if seats.is_empty() {
        shared.recorder.availability(at, 0);
        return Err((Outcome::SoldOut, at));
    }
    let chosen = seats.choose_multiple(rng, quantity as usize);
    Ok((Pick::Tickets(chosen.map(|ticket| ticket.id.clone()).collect()), at))
}

/// A quantity buyer picks a section with enough places left, or, when no
/// section has, takes what the fullest-left section still has.
fn pick_section(names: &[String], view: &Glance, quantity: u32, rng: &mut StdRng) -> Pick {
    let counts = view.sections.as_deref().unwrap_or_default();
    let sections: Vec<(&String, u32)> = names
        .iter()
        .zip(counts)
        .map(|(name, count)| (name, count.available.unwrap_or(0)))
        .collect();
    let roomy: Vec<_> = sections.iter().filter(|(_, left)| *left >= quantity).collect();
    if let Some((name, _)) = roomy.choose(rng) {
        return Pick::Quantity { section: (*name).clone(), quantity };
    }
    match sections.iter().max_by_key(|(_, left)| *left) {
        Some((name, left)) => Pick::Quantity { section: (*name).clone(), quantity: (*left).max(1) },
        None => Pick::Quantity { section: String::new(), quantity },
    }
}

fn note_hold(shared: &Shared, reserved_until: &str) {
    let Ok(until) = humantime::parse_rfc3339_weak(reserved_until) else { return };
    let mut book = shared.book.lock();
    book.latest_hold = Some(book.latest_hold.map_or(until, |latest| latest.max(until)));
}

/// Pays for held tickets, keeping the ledger the audit checks: the purchase
/// is pending from before it is sent until its answer says what happened.
async fn purchase(
    shared: &Shared,
    index: usize,
    account: &Account,
    tickets: Vec<String>,
    intended: Instant,
) -> (Outcome, Instant) {
    shared.book.lock().pending.insert(index, tickets.clone());
    let (bought, at) =
        timed(shared, Op::Purchase, intended, shared.api.purchase(account, &tickets)).await;
    let mut book = shared.book.lock();
    let sent = book.pending.remove(&index).unwrap_or_default();
    match bought {
        Ok(order) => {
            drop(book);
            acknowledged(shared, order, at);
            (Outcome::Purchased, at)
        }
        Err(failure) if failure.outcome_unknown() => {
            book.unknown.push(sent);
            (Outcome::PurchaseUnknown, at)
        }
        // Lapsed (410), or lapsed and taken by another buyer (409 not-held):
        // either way the buyer paid too late.
        Err(failure) if failure.is_code("hold-expired") || failure.is_code("not-held") => {
            (Outcome::HoldExpired, at)
        }
        // Shed before it reached the performance: nothing was bought.
        Err(failure) => (failed(&failure), at),
    }
}

/// How a visit ends on an unexpected answer: `refused` when the server shed
/// the request, `failed` otherwise.
fn failed(failure: &Failure) -> Outcome {
    if is_shed(&failure.key()) {
        Outcome::Refused
    } else {
        Outcome::Failed
    }
}

fn acknowledged(shared: &Shared, order: Order, at: Instant) {
    let tickets: Vec<String> = order.tickets.into_iter().map(|ticket| ticket.id).collect();
    shared.recorder.purchased(at, tickets.len());
    shared.book.lock().acked.push(AckedOrder { order_id: order.id, tickets });
}
