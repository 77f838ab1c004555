//! `persistence`: the durable log alone, no engine, no HTTP. Events per
//! second appended and made durable, each appender waiting for its event's
//! ack before appending the next (as a buyer waits for their reply):
//!
//! - `persistence/append/sled-group-commit-64-appenders`: `SledJournal` with
//!   64 appenders in flight, so its committer packs many events into one
//!   flush + fdatasync (the design).
//! - `persistence/append/sled-group-commit-1024-appenders`: the same with a
//!   crowd of 1,024, as under a stadium rush: batches grow with the load.
//! - `persistence/append/sled-one-at-a-time-1-appender`: the same journal
//!   with a single appender, so every event pays its own commit: the naive
//!   design of one fsync per event.
//! - `persistence/append/raw-file-fdatasync-per-event`: no sled at all, a
//!   hand-rolled append of the event to a plain file and `fdatasync` after
//!   each one: the floor of any one-sync-per-event design on this disk.
//!
//! - `persistence/append/sled-group-commit-64-appenders-during-checkpoints`:
//!   the first case while another thread takes checkpoints back to back of
//!   a sold-out stadium's snapshot (943,008 places, 300,000 orders, 19.6
//!   MB encoded): what a checkpoint costs the commits that go on meanwhile.
//!
//! The ratio of the first to the second is what group commit buys.
//!
//! - `persistence/checkpoint/sold-out-stadium`: one checkpoint of that
//!   snapshot, encoded, written to its pack and made durable, with no
//!   commits going on (so at full speed, without pauses).

use std::fs::File;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use engine::booking::{BookingSnapshot, Order, OrderState};
use engine::events::{BookingEvent, Change, Event};
use engine::ids::{PerformanceId, UserId};
use engine::journal::{Checkpoint, Journal};
use engine::time::Timestamp;
use persistence::{SledJournal, Store, StoreOptions};
use tokio::runtime::Runtime;
use tokio::sync::oneshot;

/// Appenders in flight for the group-commit case: the engine sees about as
/// many replies waiting under an on-sale rush (cf. 64 HTTP connections).
const GROUP_APPENDERS: usize = 64;

/// A bigger crowd: the engine's events during a stadium rush, when every
/// actor's replies wait on the same log (batches grow only with load).
const CROWD_APPENDERS: usize = 1024;

type Group<'a> = BenchmarkGroup<'a, WallTime>;

/// A typical state change: a hold of two seats.
fn event(seq: u64) -> Event {
    Event::Booking(BookingEvent {
        performance: PerformanceId(1),
        seq,
        change: Change::Reserved {
            hold: seq as u32,
            user: UserId(seq as u32 % 1000 + 1),
            until: Timestamp::from_millis(1_900_000_000_000),
            tickets: vec![seq as u32 % 78_000, seq as u32 % 78_000 + 1],
        },
    })
}

/// A store in a temp dir; the dir must outlive the journal.
struct SledLog {
    journal: Arc<SledJournal>,
    _store: Store,
    _dir: tempfile::TempDir,
}

impl SledLog {
    fn open() -> SledLog {
        let dir = tempfile::tempdir().expect("a temp dir for the store");
        let store = Store::open(dir.path(), StoreOptions::default()).expect("the store opens");
        SledLog { journal: store.journal(), _store: store, _dir: dir }
    }
}

/// Appends `events` events from `appenders` concurrent appenders, each
/// waiting for its ack before its next append; returns the time taken.
async fn append_all(journal: &Arc<SledJournal>, appenders: usize, events: u64) -> Duration {
    let started = Instant::now();
    let tasks: Vec<_> = (0..appenders as u64)
        .map(|nth| {
            let journal = journal.clone();
            // Appender `nth` takes events nth, nth + appenders, …
            let mine = (nth..events).step_by(appenders);
            tokio::spawn(async move {
                for seq in mine {
                    append_and_wait(journal.as_ref(), event(seq)).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("an appender failed");
    }
    started.elapsed()
}

async fn append_and_wait(journal: &dyn Journal, event: Event) {
    let (done, durable) = oneshot::channel();
    journal.append(vec![event], Box::new(move |result| drop(done.send(result))));
    durable.await.expect("the journal acks").expect("the append is durable");
}

/// Each case gets a fresh store, so none pays for another's log.
fn bench_sled(group: &mut Group, runtime: &Runtime, name: &str, appenders: usize) {
    let log = SledLog::open();
    group.bench_function(name, |b| {
        b.iter_custom(|events| runtime.block_on(append_all(&log.journal, appenders, events)))
    });
}

/// A sold-out stadium's snapshot: every place sold, 300,000 orders.
fn sold_out_stadium() -> BookingSnapshot {
    const PLACES: u32 = 943_008;
    const ORDERS: u32 = 300_000;
    let order = |number: u32| {
        let tickets = (number * 3..number * 3 + 3).filter(|&ticket| ticket < PLACES).collect();
        let order = Order {
            user: UserId(number % 100_000 + 1),
            tickets,
            amount_minor: 28_500,
            state: OrderState::Paid,
            payment: Some(format!("pi_{number:024}")),
            session: None,
            refunded_minor: 0,
            refunds: 0,
            turned_back: Vec::new(),
        };
        (number + 1, Arc::new(order))
    };
    BookingSnapshot {
        performance: PerformanceId(1),
        seq: u64::from(ORDERS),
        status: vec![2; PLACES as usize],
        link: (0..PLACES).map(|ticket| ticket / 3 + 1).collect(),
        holds: Vec::new(),
        orders: (0..ORDERS).map(order).collect(),
        next_hold: 1,
        next_order: ORDERS + 1,
    }
}

/// Takes checkpoints of `snapshot` back to back until stopped.
struct Checkpointing {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Checkpointing {
    fn start(journal: Arc<SledJournal>, snapshot: BookingSnapshot) -> Checkpointing {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            while !stopped.load(Ordering::Acquire) {
                let bookings = vec![snapshot.clone()];
                let checkpoint = Checkpoint { bookings, ..Checkpoint::default() };
                let position = journal.durable_position();
                journal.checkpoint(position, checkpoint).expect("the checkpoint is durable");
            }
        });
        Checkpointing { stop, thread }
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Release);
        self.thread.join().expect("the checkpoints ran");
    }
}

fn bench_sled_during_checkpoints(group: &mut Group, runtime: &Runtime) {
    let log = SledLog::open();
    runtime.block_on(append_and_wait(log.journal.as_ref(), event(0)));
    let checkpointing = Checkpointing::start(log.journal.clone(), sold_out_stadium());
    let name = format!("sled-group-commit-{GROUP_APPENDERS}-appenders-during-checkpoints");
    group.bench_function(name, |b| {
        b.iter_custom(|events| runtime.block_on(append_all(&log.journal, GROUP_APPENDERS, events)))
    });
    checkpointing.stop();
}

/// A hand-rolled log: one JSON line per event, appended to a plain file
/// and `fdatasync`ed before the next. No batching, no index, no sled.
struct RawFile {
    file: File,
    _dir: tempfile::TempDir,
}

impl RawFile {
    fn open() -> RawFile {
        let dir = tempfile::tempdir().expect("a temp dir for the file");
        let file = File::options()
            .create(true)
            .append(true)
            .open(dir.path().join("log"))
            .expect("the log file opens");
        RawFile { file, _dir: dir }
    }

    fn append_synced(&mut self, seq: u64) {
        let mut line = serde_json::to_vec(&event(seq)).expect("events encode");
        line.push(b'\n');
        self.file.write_all(&line).expect("the write succeeds");
        self.file.sync_data().expect("fdatasync succeeds");
    }
}

fn bench_raw_file(group: &mut Group) {
    let mut raw = RawFile::open();
    let mut next = 0;
    group.bench_function("raw-file-fdatasync-per-event", |b| {
        b.iter(|| {
            raw.append_synced(next);
            next += 1;
        })
    });
}

fn bench_checkpoint(c: &mut Criterion) {
    let log = SledLog::open();
    let snapshot = sold_out_stadium();
    let mut group = c.benchmark_group("persistence/checkpoint");
    // Each takes a tenth of a second or more: ten samples say enough.
    group.sample_size(10);
    group.bench_function("sold-out-stadium", |b| {
        b.iter(|| {
            let checkpoint =
                Checkpoint { bookings: vec![snapshot.clone()], ..Checkpoint::default() };
            let position = log.journal.durable_position();
            log.journal.checkpoint(position, checkpoint).expect("the checkpoint is durable");
        })
    });
    group.finish();
}

fn persistence(c: &mut Criterion) {
    // The appenders run on one thread; the committer is the journal's own.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a tokio runtime for the appenders");
    let mut group = c.benchmark_group("persistence/append");
    // One iteration is one event appended and made durable.
    group.throughput(Throughput::Elements(1));
    let grouped = format!("sled-group-commit-{GROUP_APPENDERS}-appenders");
    bench_sled(&mut group, &runtime, &grouped, GROUP_APPENDERS);
    let crowd = format!("sled-group-commit-{CROWD_APPENDERS}-appenders");
    bench_sled(&mut group, &runtime, &crowd, CROWD_APPENDERS);
    bench_sled_during_checkpoints(&mut group, &runtime);
    bench_sled(&mut group, &runtime, "sled-one-at-a-time-1-appender", 1);
    bench_raw_file(&mut group);
    group.finish();
}

criterion_group!(benches, persistence, bench_checkpoint);
criterion_main!(benches);
