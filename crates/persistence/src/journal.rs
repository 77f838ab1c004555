//! [`SledJournal`]: the engine's [`Journal`] on sled, with group commit.
//!
//! `append` only queues. One committer thread takes the first queued
//! append, drains whatever else is already queued (no timer: a lone append
//! is committed at once, and batches grow only under load), writes the
//! batch, makes it durable with one flush and one `fdatasync`, and then runs
//! the acks in append order.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};
use engine::events::Event;
use engine::journal::{Ack, Checkpoint, Journal, JournalError, LogPosition};

use crate::codec::{checked_value, encode_log_values, starts_record};
use crate::durability::Durability;
use crate::fault::{CommitStep, FaultInjector, FaultPlan};
use crate::snapshots::SnapshotState;
use crate::StoreError;

/// The most appends one group commit takes, so that one commit's latency
/// stays bounded however long the queue grows.
pub const MAX_APPENDS_PER_COMMIT: usize = 10_000;

/// The sled state the committer and the checkpoints share.
pub(crate) struct Shared {
    pub(crate) log: sled::Tree,
    pub(crate) snapshots: sled::Tree,
    pub(crate) durability: Durability,
    /// The sequence number after the last durable log value.
    durable_seq: AtomicU64,
    commits: AtomicU64,
}

impl Shared {
    pub(crate) fn new(log: sled::Tree, snapshots: sled::Tree, durability: Durability) -> Shared {
        Shared {
            log,
            snapshots,
            durability,
            durable_seq: AtomicU64::new(0),
            commits: AtomicU64::new(0),
        }
    }

    /// Turns a failure of a durable step into the store's failure.
    pub(crate) fn fail(&self, reason: impl std::fmt::Display) -> JournalError {
        self.durability.fail_stop.fail(reason.to_string())
    }
}

/// The big-endian key of log sequence number `seq`, so keys sort by number.
pub(crate) fn log_key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

/// The sequence number a log key stands for.
pub(crate) fn log_seq(key: &[u8]) -> Result<u64, StoreError> {
    let bytes: [u8; 8] = key
        .try_into()
        .map_err(|_| StoreError::corrupt("log key", format!("{} bytes, not 8", key.len())))?;
    Ok(u64::from_be_bytes(bytes))
}

struct Request {
    events: Vec<Event>,
    ack: Ack,
    queued_at: Instant,
}

/// The durable log. Cheap to share: hand out `Arc<SledJournal>`.
pub struct SledJournal {
    /// `None` only while dropping, so the committer sees the queue close.
    sender: Option<Sender<Request>>,
    committer: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
    /// Serialises checkpoints and holds what the last one wrote.
    snapshots: Mutex<SnapshotState>,
}

impl SledJournal {
    /// Starts the committer; new log values follow `next_seq`.
    pub(crate) fn start(
        shared: Arc<Shared>,
        snapshots: SnapshotState,
        next_seq: u64,
        fault: Option<FaultPlan>,
    ) -> Result<SledJournal, StoreError> {
        shared.durable_seq.store(next_seq, Ordering::Release);
        let (sender, receiver) = crossbeam_channel::unbounded();

        let committer = Committer {
            receiver,
            shared: Arc::clone(&shared),
            next_seq,
            faults: FaultInjector::new(fault),
        };
        let thread = std::thread::Builder::new()
            .name("journal-committer".into())
            .spawn(move || committer.run())
            .map_err(StoreError::Thread)?;

        Ok(SledJournal {
            sender: Some(sender),
            committer: Some(thread),
            shared,
            snapshots: Mutex::new(snapshots),
        })
    }

    /// Whether the journal has failed and refuses every append.
    pub fn is_failed(&self) -> bool {
        self.shared.durability.fail_stop.error().is_some()
    }

    /// The failure that stopped the journal, if it has stopped.
    pub fn failure(&self) -> Option<JournalError> {
        self.shared.durability.fail_stop.error()
    }

    /// How many group commits reached the disk since the store opened.
    pub fn commits(&self) -> u64 {
        self.shared.commits.load(Ordering::Acquire)
    }

    fn is_record_boundary(&self, position: LogPosition) -> Result<bool, JournalError> {
        let value = self
            .shared
            .log
            .get(log_key(position.0))
            .map_err(|error| self.shared.fail(format!("reading the log: {error}")))?;
        Ok(value.is_none_or(|value| starts_record(&value)))
    }

    fn sender(&self) -> &Sender<Request> {
        self.sender.as_ref().expect("the sender lives until the journal is dropped")
    }
}

impl Journal for SledJournal {
    fn append(&self, events: Vec<Event>, ack: Ack) {
        let request = Request { events, ack, queued_at: Instant::now() };

        if let Err(unsent) = self.sender().send(request) {
            // Only if the committer thread died, which it should never do.
            let reason = "the journal's committer thread has stopped";
            (unsent.into_inner().ack)(Err(self.shared.fail(reason)));
        }
    }

    fn durable_position(&self) -> LogPosition {
        LogPosition(self.shared.durable_seq.load(Ordering::Acquire))
    }

    fn checkpoint(
        &self,
        position: LogPosition,
        checkpoint: Checkpoint,
    ) -> Result<(), JournalError> {
        let mut snapshots = self.snapshots.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        self.shared.durability.fail_stop.check()?;

        // The log may be trimmed only where the committer is done writing.
        let durable = self.durable_position();
        if position > durable {
            return Err(JournalError::new(format!(
                "refused a checkpoint at {position:?}, past the durable position {durable:?}"
            )));
        }

        // Cutting inside a record would leave a tail recovery cannot read.
        if !self.is_record_boundary(position)? {
            return Err(JournalError::new(format!(
                "refused a checkpoint at {position:?}, which is inside a log record"
            )));
        }

        snapshots.write(&self.shared, position, &checkpoint)
    }
}

impl Drop for SledJournal {
    fn drop(&mut self) {
        // Closing the queue lets the committer finish what is queued and exit.
        drop(self.sender.take());

        let Some(committer) = self.committer.take() else { return };
        // The last handle may be dropped by an ack, on the committer itself.
        if committer.thread().id() != std::thread::current().id() {
            let _ = committer.join();
        }
    }
}

/// The one thread that writes the log.
struct Committer {
    receiver: Receiver<Request>,
    shared: Arc<Shared>,
    next_seq: u64,
    faults: FaultInjector,
}

impl Committer {
    fn run(mut self) {
        while let Ok(first) = self.receiver.recv() {
            let batch = self.drain_after(first);
            self.commit(batch);
        }
    }

    /// `first` and whatever else is queued already, up to the cap.
    fn drain_after(&self, first: Request) -> Vec<Request> {
        let mut batch = vec![first];
        while batch.len() < MAX_APPENDS_PER_COMMIT {
            match self.receiver.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
        batch
    }

    fn commit(&mut self, batch: Vec<Request>) {
        let outcome = self.make_durable(&batch);

        if let Ok(events) = outcome {
            record_commit(&batch, events);
        }

        for request in batch {
            let result = match &outcome {
                Ok(_) => Ok(()),
                Err(error) => Err(error.clone()),
            };
            run_ack(request.ack, result);
        }
    }

    /// Writes and syncs the batch; returns how many events it held.
    fn make_durable(&mut self, batch: &[Request]) -> Result<usize, JournalError> {
        // Once failed, nothing more is written: what reached the disk is unknown.
        self.shared.durability.fail_stop.check()?;

        let events = batch.iter().flat_map(|request| &request.events);
        let values = encode_log_values(events)
            .map_err(|error| self.shared.fail(format!("could not encode events: {error}")))?;
        if values.is_empty() {
            // Appends of no events: everything before them is durable already.
            return Ok(0);
        }

        let next_seq = self.write(values)?;

        let faults = &self.faults;
        self.shared.durability.make_durable_unless(|| faults.check(CommitStep::Sync))?;

        self.publish(next_seq);
        Ok(batch.iter().map(|request| request.events.len()).sum())
    }

    /// Inserts the values under the next sequence numbers; returns the one
    /// after the last.
    fn write(&self, values: Vec<Vec<u8>>) -> Result<u64, JournalError> {
        self.faults.check(CommitStep::Write).map_err(|reason| self.shared.fail(reason))?;

        let mut seq = self.next_seq;
        for value in values {
            self.shared
                .log
                .insert(log_key(seq), checked_value(value))
                .map_err(|error| self.shared.fail(format!("writing log entry {seq}: {error}")))?;
            seq += 1;
        }
        Ok(seq)
    }

    fn publish(&mut self, next_seq: u64) {
        self.next_seq = next_seq;
        self.faults.commit_succeeded();
        self.shared.commits.fetch_add(1, Ordering::AcqRel);
        self.shared.durable_seq.store(next_seq, Ordering::Release);
    }
}

/// Runs one ack, so that a panicking ack (a bug in its caller) costs only
/// its own reply, not the thread that every other append depends on.
fn run_ack(ack: Ack, result: Result<(), JournalError>) {
    if std::panic::catch_unwind(AssertUnwindSafe(move || ack(result))).is_err() {
        tracing::error!("an append's ack panicked; the journal carries on");
    }
}

fn record_commit(batch: &[Request], events: usize) {
    let oldest = batch.first().expect("a batch holds at least one append").queued_at;
    let latency = oldest.elapsed();

    metrics::counter!("boxoffice_journal_events_committed_total").increment(events as u64);
    metrics::histogram!("boxoffice_journal_batch_events").record(events as f64);
    metrics::histogram!("boxoffice_journal_commit_latency_seconds").record(latency.as_secs_f64());

    tracing::debug!(appends = batch.len(), events, ?latency, "group commit durable");
}
