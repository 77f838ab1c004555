//! [`SledOutbox`]: the engine's [`Outbox`] on the `outbox` tree.
//!
//! Entries arrive as [`engine::events::Event::Outbox`] in journal appends;
//! the committer writes them, numbered, into the `outbox` tree in the same
//! commit (one flush and `fdatasync`) as the log values of their commit,
//! and [`recovery`] makes sure a crash keeps that commit whole or not at
//! all. Consumers' finishes and retry requests go through the
//! committer too, so that many of them share a commit with appends, and
//! each is acknowledged only once it is durable.
//!
//! Each consumer has its own marks: `q` for an entry it has still to
//! finish, `p` for one it parked. The lowest `q` key is the consumer's low
//! water mark, and finishes may arrive in any order. An entry goes once no
//! consumer has either mark on it (all are done); see [`keys`] for the
//! layout.

mod keys;
mod recovery;
mod write;

use std::sync::Arc;

use engine::journal::{Ack, JournalError};
use engine::outbox::{Consumer, Finished, Outbox, OutboxEntry, OutboxSeq, Parked};
use tokio::sync::Notify;

pub(crate) use recovery::{mark_resumption, repair, Repaired};
pub(crate) use write::{
    apply_changes, write_commit_mark, write_entries, CommitMark, MarkChange, NewEntry,
    OutboxEffects,
};

use crate::codec::decode_entry_values;
use crate::journal::{Shared, SledJournal, Work};
use crate::StoreError;
use keys::{Mark, ParkedMark};

/// The durable outbox. Cheap to share: hand out `Arc<SledOutbox>`.
///
/// Readers see an entry only once the commit that added it is durable, so
/// nothing is delivered for a change a crash could still take back.
pub struct SledOutbox {
    /// Finishes and retry requests are queued on the journal's committer;
    /// holding the journal keeps the committer running for them.
    journal: Arc<SledJournal>,
    shared: Arc<Shared>,
}

impl SledOutbox {
    pub(crate) fn new(journal: Arc<SledJournal>, shared: Arc<Shared>) -> SledOutbox {
        SledOutbox { journal, shared }
    }

    fn check_running(&self) -> Result<(), JournalError> {
        self.shared.durability.fail_stop.check()
    }

    /// The entry `seq` that the mark under `mark_key` was read from;
    /// `None` if a commit since finished it for good (reads are no
    /// snapshot, and the commit that takes the last mark deletes the entry).
    fn read_marked_entry(
        &self,
        seq: OutboxSeq,
        mark_key: &[u8],
    ) -> Result<Option<OutboxEntry>, JournalError> {
        let io_failure = |error| self.io_failure(error);
        let values = self.shared.outbox.range(keys::entry_values(seq)).values();
        let values = values.collect::<Result<Vec<_>, _>>().map_err(io_failure)?;
        if values.is_empty() && self.shared.outbox.get(mark_key).map_err(io_failure)?.is_none() {
            return Ok(None);
        }

        let entry = decode_entry_values(values.iter().map(|value| value.as_ref()));
        let corrupt =
            |detail| unreadable(StoreError::corrupt(format!("outbox entry {seq}"), detail));
        entry.map(Some).map_err(corrupt)
    }

    fn read_parked(&self, key: &[u8], value: &[u8]) -> Result<Option<Parked>, JournalError> {
        let seq = keys::mark_seq(key).map_err(unreadable)?;
        let mark: ParkedMark = postcard::from_bytes(value).map_err(|error| {
            unreadable(StoreError::corrupt(format!("parked mark {seq}"), error))
        })?;
        let Some(entry) = self.read_marked_entry(seq, key)? else { return Ok(None) };

        Ok(Some(Parked {
            seq,
            entry,
            attempts: mark.attempts,
            reason: mark.reason,
            parked_at: mark.at,
            retry_requested: mark.retry_requested,
        }))
    }

    /// A read sled could not do leaves the store in a state nobody knows:
    /// it fails stop, as a failed write does.
    fn io_failure(&self, error: sled::Error) -> JournalError {
        self.shared.fail(format!("reading the outbox: {error}"))
    }
}

/// Data that does not decode is reported, but does not stop the store: it
/// says nothing about what later writes will do.
fn unreadable(error: StoreError) -> JournalError {
    JournalError::new(error.to_string())
}

impl Outbox for SledOutbox {
    fn pending(
        &self,
        consumer: Consumer,
        after: Option<OutboxSeq>,
        limit: usize,
    ) -> Result<Vec<(OutboxSeq, OutboxEntry)>, JournalError> {
        self.check_running()?;
        let from = after.map_or(0, |after| after.0.saturating_add(1));
        let durable = self.shared.outbox_durable_seq();
        if from >= durable {
            return Ok(Vec::new());
        }

        let mut pending = Vec::new();
        for key in self
            .shared
            .outbox
            .range(keys::marks(Mark::Pending, consumer, from..durable))
            .keys()
            .take(limit)
        {
            let key = key.map_err(|error| self.io_failure(error))?;
            let seq = keys::mark_seq(&key).map_err(unreadable)?;
            if let Some(entry) = self.read_marked_entry(seq, &key)? {
                pending.push((seq, entry));
            }
        }
        Ok(pending)
    }

    fn finish(&self, consumer: Consumer, seq: OutboxSeq, finished: Finished, ack: Ack) {
        self.journal.submit(Work::Mark(MarkChange::Finish { consumer, seq, finished }), ack);
    }

    fn parked(&self, consumer: Consumer) -> Result<Vec<Parked>, JournalError> {
        self.check_running()?;
        let mut parked = Vec::new();
        for mark in self.shared.outbox.range(keys::marks(Mark::Parked, consumer, 0..u64::MAX)) {
            let (key, value) = mark.map_err(|error| self.io_failure(error))?;
            parked.extend(self.read_parked(&key, &value)?);
        }
        Ok(parked)
    }

    fn request_retry(
        &self,
        consumer: Consumer,
        seq: OutboxSeq,
        ack: Ack,
    ) -> Result<bool, JournalError> {
        let is_parked = self.check_running().and_then(|()| {
            let key = keys::mark_key(Mark::Parked, consumer, seq);
            let mark = self.shared.outbox.get(&key[..]).map_err(|error| self.io_failure(error))?;
            Ok(mark.is_some())
        });

        match is_parked {
            Ok(true) => {
                self.journal.submit(Work::Mark(MarkChange::RequestRetry { consumer, seq }), ack);
                Ok(true)
            }
            Ok(false) => {
                ack(Ok(()));
                Ok(false)
            }
            Err(error) => {
                ack(Err(error.clone()));
                Err(error)
            }
        }
    }

    fn appended(&self) -> Arc<Notify> {
        Arc::clone(&self.shared.appended)
    }
}

/// The number the next entry gets: after every entry present and every
/// number ever given out, so that none is reused.
pub(crate) fn next_seq(outbox: &sled::Tree) -> Result<OutboxSeq, StoreError> {
    let recorded = recovery::commit_mark(outbox)?.map_or(0, |mark| mark.outbox_next.0);

    let after_last = match outbox.range(keys::all_entry_values()).next_back() {
        Some(entry) => keys::entry_seq(&entry?.0)?.0 + 1,
        None => 0,
    };
    Ok(OutboxSeq(recorded.max(after_last)))
}
