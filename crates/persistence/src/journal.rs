//! [`SledJournal`]: the engine's [`Journal`] on sled, with group commit.
//!
//! `append` only queues, and so do the outbox's finishes and retry
//! requests. One committer thread takes the first queued request, drains
//! whatever else is already queued (no timer: a lone request is committed
//! at once, and batches grow only under load), writes the batch with plain
//! sled inserts closed by a commit mark (see [`crate::outbox`]'s `write`
//! and `recovery` for why that keeps a commit whole across a crash), makes
//! it durable with one flush and one `fdatasync`, and then runs the acks in
//! request order.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};
use engine::events::Event;
use engine::journal::{Ack, Checkpoint, Journal, JournalError, LogPosition};
use engine::outbox::OutboxSeq;
use tokio::sync::Notify;

use crate::codec::{checked_value, encode_log_values, starts_record};
use crate::durability::Durability;
use crate::fault::{CommitStep, FaultInjector, FaultPlan};
use crate::outbox::{self, CommitMark, MarkChange, NewEntry, OutboxEffects};
use crate::snapshots::SnapshotState;
use crate::StoreError;

/// The most requests (appends, and the outbox's finishes and retry
/// requests) one group commit takes, so that one commit's latency stays
/// bounded however long the queue grows.
pub const MAX_APPENDS_PER_COMMIT: usize = 10_000;

/// The sled state the committer, the checkpoints and the outbox share.
pub(crate) struct Shared {
    pub(crate) log: sled::Tree,
    pub(crate) snapshots: sled::Tree,
    pub(crate) outbox: sled::Tree,
    pub(crate) durability: Durability,
    /// The sequence number after the last durable log value.
    durable_seq: AtomicU64,
    /// The number after the last durable outbox entry. Entries are numbered
    /// in commit order, so every entry below it is durable; readers see
    /// none at or past it, which sled would otherwise show them before the
    /// sync.
    outbox_durable_seq: AtomicU64,
    /// Notified after every commit that added outbox entries or asked for
    /// retries.
    pub(crate) appended: Arc<Notify>,
    commits: AtomicU64,
}

impl Shared {
    pub(crate) fn new(trees: Trees, durability: Durability) -> Shared {
        Shared {
            log: trees.log,
            snapshots: trees.snapshots,
            outbox: trees.outbox,
            durability,
            durable_seq: AtomicU64::new(0),
            outbox_durable_seq: AtomicU64::new(0),
            appended: Arc::new(Notify::new()),
            commits: AtomicU64::new(0),
        }
    }

    /// How many group commits reached the disk since the store opened.
    pub(crate) fn commits(&self) -> u64 {
        self.commits.load(Ordering::Acquire)
    }

    /// The number after the last durable outbox entry.
    pub(crate) fn outbox_durable_seq(&self) -> u64 {
        self.outbox_durable_seq.load(Ordering::Acquire)
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

/// The store's trees.
pub(crate) struct Trees {
    pub(crate) log: sled::Tree,
    pub(crate) snapshots: sled::Tree,
    pub(crate) outbox: sled::Tree,
}

/// Where the committer's numbering resumes at start.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NextSeqs {
    pub(crate) log: u64,
    pub(crate) outbox: OutboxSeq,
}

/// What the committer is asked to make durable.
pub(crate) enum Work {
    /// A journal append; its `Event::Outbox` entries go to the outbox.
    Append(Vec<Event>),
    /// A consumer's finish or retry request.
    Mark(MarkChange),
}

struct Request {
    work: Work,
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
    /// Starts the committer; new log values and outbox entries follow
    /// `next`.
    pub(crate) fn start(
        shared: Arc<Shared>,
        snapshots: SnapshotState,
        next: NextSeqs,
        fault: Option<FaultPlan>,
    ) -> Result<SledJournal, StoreError> {
        shared.durable_seq.store(next.log, Ordering::Release);
        shared.outbox_durable_seq.store(next.outbox.0, Ordering::Release);
        let (sender, receiver) = crossbeam_channel::unbounded();

        let committer = Committer {
            receiver,
            shared: Arc::clone(&shared),
            next_seq: next.log,
            next_outbox_seq: next.outbox.0,
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
        self.shared.commits()
    }

    fn is_record_boundary(&self, position: LogPosition) -> Result<bool, JournalError> {
        let value = self
            .shared
            .log
            .get(log_key(position.0))
            .map_err(|error| self.shared.fail(format!("reading the log: {error}")))?;
        Ok(value.is_none_or(|value| starts_record(&value)))
    }

    /// Queues `work` for the next group commit; `ack` runs once it is
    /// durable, or with the error that stopped the journal.
    pub(crate) fn submit(&self, work: Work, ack: Ack) {
        let request = Request { work, ack, queued_at: Instant::now() };

        if let Err(unsent) = self.sender().send(request) {
            // Only if the committer thread died, which it should never do.
            let reason = "the journal's committer thread has stopped";
            (unsent.into_inner().ack)(Err(self.shared.fail(reason)));
        }
    }

    fn sender(&self) -> &Sender<Request> {
        self.sender.as_ref().expect("the sender lives until the journal is dropped")
    }
}

impl Journal for SledJournal {
    fn append(&self, events: Vec<Event>, ack: Ack) {
        self.submit(Work::Append(events), ack);
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

/// The one thread that writes the log and the outbox.
struct Committer {
    receiver: Receiver<Request>,
    shared: Arc<Shared>,
    next_seq: u64,
    next_outbox_seq: u64,
    faults: FaultInjector,
}

/// One batch's writes, encoded before anything is written.
struct CommitPlan<'a> {
    log_values: Vec<Vec<u8>>,
    entries: Vec<NewEntry>,
    changes: Vec<&'a MarkChange>,
    /// The outbox number after this batch's last entry.
    next_outbox_seq: u64,
    /// Events the batch's appends carry, outbox entries included.
    events: usize,
}

impl<'a> CommitPlan<'a> {
    /// Sends each event to the log or, numbered from `next_outbox_seq`, to
    /// the outbox, and encodes it.
    fn new(batch: &'a [Request], next_outbox_seq: u64) -> Result<CommitPlan<'a>, String> {
        let mut log_events = Vec::new();
        let mut plan = CommitPlan {
            log_values: Vec::new(),
            entries: Vec::new(),
            changes: Vec::new(),
            next_outbox_seq,
            events: 0,
        };

        for request in batch {
            match &request.work {
                Work::Append(events) => {
                    plan.events += events.len();
                    for event in events {
                        match event {
                            Event::Outbox(entry) => plan.add_entry(entry)?,
                            other => log_events.push(other),
                        }
                    }
                }
                Work::Mark(change) => plan.changes.push(change),
            }
        }

        let log_values = encode_log_values(log_events).map_err(|error| error.to_string())?;
        plan.log_values = log_values.into_iter().map(checked_value).collect();
        Ok(plan)
    }

    fn add_entry(&mut self, entry: &engine::outbox::OutboxEntry) -> Result<(), String> {
        self.entries.push(NewEntry::new(OutboxSeq(self.next_outbox_seq), entry)?);
        self.next_outbox_seq += 1;
        Ok(())
    }

    fn is_empty(&self) -> bool {
        self.log_values.is_empty() && self.entries.is_empty() && self.changes.is_empty()
    }
}

/// What a durable commit held.
#[derive(Clone, Copy, Debug, Default)]
struct Committed {
    events: usize,
    entries_added: usize,
    marks: usize,
    outbox: OutboxEffects,
}

impl Committed {
    /// Whether consumers have something new to look at.
    fn wakes_consumers(&self) -> bool {
        self.entries_added > 0 || self.outbox.retries_requested > 0
    }
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

        if let Ok(committed) = &outcome {
            record_commit(&batch, committed);
        }

        for request in batch {
            let result = match &outcome {
                Ok(_) => Ok(()),
                Err(error) => Err(error.clone()),
            };
            run_ack(request.ack, result);
        }

        // After the sync: a consumer woken now reads only durable entries.
        if outcome.is_ok_and(|committed| committed.wakes_consumers()) {
            self.shared.appended.notify_waiters();
        }
    }

    /// Writes and syncs the batch; returns what it held.
    fn make_durable(&mut self, batch: &[Request]) -> Result<Committed, JournalError> {
        // Once failed, nothing more is written: what reached the disk is unknown.
        self.shared.durability.fail_stop.check()?;

        let plan = CommitPlan::new(batch, self.next_outbox_seq)
            .map_err(|error| self.shared.fail(format!("could not encode a commit: {error}")))?;
        if plan.is_empty() {
            // Appends of no events: everything before them is durable already.
            return Ok(Committed::default());
        }

        let outbox = self.write(&plan)?;

        let faults = &self.faults;
        self.shared.durability.make_durable_unless(|| faults.check(CommitStep::Sync))?;

        self.publish(&plan);
        Ok(Committed {
            events: plan.events,
            entries_added: plan.entries.len(),
            marks: plan.changes.len(),
            outbox,
        })
    }

    /// Writes the plan: new entries, then log values, then marks, and last
    /// the commit mark. sled recovers a prefix of these writes, and at open
    /// `outbox::repair` removes whatever lies past the last commit mark, so
    /// a crash never leaves a change without the outbox entries it owes, or
    /// the reverse.
    fn write(&self, plan: &CommitPlan<'_>) -> Result<OutboxEffects, JournalError> {
        let failed = |what: &str, error: &dyn std::fmt::Display| {
            self.shared.fail(format!("writing a commit's {what}: {error}"))
        };
        let injected = |step| self.faults.check(step).map_err(|reason| self.shared.fail(reason));

        outbox::write_entries(&self.shared.outbox, &plan.entries)
            .map_err(|error| failed("outbox entries", &error))?;

        // Between the trees: the entries are written and the change not.
        injected(CommitStep::Write)?;

        for (offset, value) in plan.log_values.iter().enumerate() {
            let key = log_key(self.next_seq + offset as u64);
            self.shared
                .log
                .insert(key, value.as_slice())
                .map_err(|error| failed("log values", &error))?;
        }

        let effects = outbox::apply_changes(&self.shared.outbox, &plan.changes)
            .map_err(|error| failed("outbox marks", &error))?;

        // Everything but the commit mark is written: the most torn commit.
        injected(CommitStep::CommitMark)?;

        if !plan.entries.is_empty() || !plan.log_values.is_empty() {
            let mark = CommitMark {
                outbox_next: OutboxSeq(plan.next_outbox_seq),
                log_next: Some(self.next_seq + plan.log_values.len() as u64),
            };
            outbox::write_commit_mark(&self.shared.outbox, mark)
                .map_err(|error| failed("commit mark", &error))?;
        }
        Ok(effects)
    }

    fn publish(&mut self, plan: &CommitPlan<'_>) {
        self.next_seq += plan.log_values.len() as u64;
        self.next_outbox_seq = plan.next_outbox_seq;
        self.faults.commit_succeeded();
        self.shared.commits.fetch_add(1, Ordering::AcqRel);
        self.shared.durable_seq.store(self.next_seq, Ordering::Release);
        self.shared.outbox_durable_seq.store(self.next_outbox_seq, Ordering::Release);
    }
}

/// Runs one ack, so that a panicking ack (a bug in its caller) costs only
/// its own reply, not the thread that every other append depends on.
fn run_ack(ack: Ack, result: Result<(), JournalError>) {
    if std::panic::catch_unwind(AssertUnwindSafe(move || ack(result))).is_err() {
        tracing::error!("an append's ack panicked; the journal carries on");
    }
}

fn record_commit(batch: &[Request], committed: &Committed) {
    let oldest = batch.first().expect("a batch holds at least one request").queued_at;
    let latency = oldest.elapsed();
    let Committed { events, entries_added, marks, outbox } = *committed;

    metrics::counter!("boxoffice_journal_events_committed_total").increment(events as u64);
    if events > 0 {
        metrics::histogram!("boxoffice_journal_batch_events").record(events as f64);
    }
    metrics::histogram!("boxoffice_journal_commit_latency_seconds").record(latency.as_secs_f64());
    metrics::counter!("boxoffice_outbox_entries_added_total").increment(entries_added as u64);
    metrics::counter!("boxoffice_outbox_marks_committed_total").increment(marks as u64);
    metrics::counter!("boxoffice_outbox_entries_removed_total")
        .increment(outbox.entries_removed as u64);

    tracing::debug!(
        requests = batch.len(),
        events,
        entries_added,
        marks,
        marks_ignored = outbox.changes_ignored,
        ?latency,
        "group commit durable"
    );
}
