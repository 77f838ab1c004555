//! [`MemoryOutbox`]: an [`Outbox`] in memory, for tests of the workers and
//! of the crates that deliver entries.
//!
//! It keeps the trait's promises the way the durable outbox does, with
//! memory standing in for the disk: entries in push order under numbers
//! never reused, each consumer's own pending and parked entries, an entry
//! forgotten once every consumer it is for is done with it, acks after the
//! change is made, and a wake-up after every push or retry request. It can
//! also be made to fail stop, as a broken disk would.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::Notify;

use super::{Consumer, Finished, Outbox, OutboxEntry, OutboxSeq, Parked};
use crate::journal::{Ack, JournalError};
use crate::time::Timestamp;

/// The outbox of a test.
#[derive(Debug, Default)]
pub struct MemoryOutbox {
    state: Mutex<State>,
    appended: Arc<Notify>,
}

#[derive(Debug, Default)]
struct State {
    next_seq: u64,
    /// Entries some consumer still has pending or parked.
    entries: BTreeMap<OutboxSeq, Kept>,
    failure: Option<JournalError>,
}

#[derive(Debug)]
struct Kept {
    entry: OutboxEntry,
    pending: BTreeSet<Consumer>,
    parked: BTreeMap<Consumer, Mark>,
}

#[derive(Clone, Debug)]
struct Mark {
    attempts: u32,
    reason: String,
    at: Timestamp,
    retry_requested: bool,
}

impl MemoryOutbox {
    /// An empty outbox whose first entry gets number 0.
    pub fn new() -> MemoryOutbox {
        MemoryOutbox::default()
    }

    /// Adds `entry` as a journal commit would, and wakes the consumers.
    pub fn push(&self, entry: OutboxEntry) -> OutboxSeq {
        let seq = self.state.lock().push(entry);
        self.appended.notify_waiters();
        seq
    }

    /// How many entries are kept: those some consumer has not done yet.
    pub fn len(&self) -> usize {
        self.state.lock().entries.len()
    }

    /// Whether every consumer is done with every entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Fails the outbox for good: every later call reports `reason`, as
    /// the durable outbox does once its disk failed.
    pub fn fail(&self, reason: &str) {
        let mut state = self.state.lock();
        state.failure.get_or_insert_with(|| JournalError::new(reason));
    }
}

impl State {
    fn check_running(&self) -> Result<(), JournalError> {
        match &self.failure {
            Some(failure) => Err(failure.clone()),
            None => Ok(()),
        }
    }

    fn push(&mut self, entry: OutboxEntry) -> OutboxSeq {
        let seq = OutboxSeq(self.next_seq);
        self.next_seq += 1;

        let pending: BTreeSet<Consumer> =
            Consumer::ALL.into_iter().filter(|&consumer| entry.is_for(consumer)).collect();
        if !pending.is_empty() {
            self.entries.insert(seq, Kept { entry, pending, parked: BTreeMap::new() });
        }
        seq
    }

    /// Records how `consumer` finished `seq`; a finish of an entry it has
    /// done already, or never had, changes nothing.
    fn finish(&mut self, consumer: Consumer, seq: OutboxSeq, finished: Finished) {
        let Some(kept) = self.entries.get_mut(&seq) else { return };
        let was_pending = kept.pending.remove(&consumer);
        if !was_pending && !kept.parked.contains_key(&consumer) {
            return;
        }

        match finished {
            Finished::Done => {
                kept.parked.remove(&consumer);
                if kept.pending.is_empty() && kept.parked.is_empty() {
                    self.entries.remove(&seq);
                }
            }
            Finished::Parked { attempts, reason, at } => {
                let mark = Mark { attempts, reason, at, retry_requested: false };
                kept.parked.insert(consumer, mark);
            }
        }
    }
}

impl Outbox for MemoryOutbox {
    fn pending(
        &self,
        consumer: Consumer,
        after: Option<OutboxSeq>,
        limit: usize,
    ) -> Result<Vec<(OutboxSeq, OutboxEntry)>, JournalError> {
        let state = self.state.lock();
        state.check_running()?;

        let from = after.map_or(0, |after| after.0.saturating_add(1));
        let pending = state
            .entries
            .range(OutboxSeq(from)..)
            .filter(|(_, kept)| kept.pending.contains(&consumer))
            .take(limit)
            .map(|(&seq, kept)| (seq, kept.entry.clone()))
            .collect();
        Ok(pending)
    }

    fn finish(&self, consumer: Consumer, seq: OutboxSeq, finished: Finished, ack: Ack) {
        let outcome = {
            let mut state = self.state.lock();
            state.check_running().map(|()| state.finish(consumer, seq, finished))
        };
        // Outside the lock: an ack may call back into the outbox.
        ack(outcome);
    }

    fn parked(&self, consumer: Consumer) -> Result<Vec<Parked>, JournalError> {
        let state = self.state.lock();
        state.check_running()?;

        let parked = state.entries.iter().filter_map(|(&seq, kept)| {
            let mark = kept.parked.get(&consumer)?;
            Some(Parked {
                seq,
                entry: kept.entry.clone(),
                attempts: mark.attempts,
                reason: mark.reason.clone(),
                parked_at: mark.at,
                retry_requested: mark.retry_requested,
            })
        });
        Ok(parked.collect())
    }

    fn request_retry(
        &self,
        consumer: Consumer,
        seq: OutboxSeq,
        ack: Ack,
    ) -> Result<bool, JournalError> {
        let outcome = {
            let mut state = self.state.lock();
            state.check_running().map(|()| {
                let mark =
                    state.entries.get_mut(&seq).and_then(|kept| kept.parked.get_mut(&consumer));
                mark.map(|mark| mark.retry_requested = true).is_some()
            })
        };

        ack(outcome.as_ref().map(|_| ()).map_err(Clone::clone));
        if outcome == Ok(true) {
            self.appended.notify_waiters();
        }
        outcome
    }

    fn appended(&self) -> Arc<Notify> {
        Arc::clone(&self.appended)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{OrderId, PerformanceId};
    use crate::outbox::Refund;

    fn refund(number: u32) -> OutboxEntry {
        OutboxEntry::Refund(Refund {
            order: OrderId { performance: PerformanceId(1), number },
            payment: format!("pay-{number}"),
            amount_minor: Some(100),
            idempotency_key: format!("refund-{number}-1"),
        })
    }

    fn finish(
        outbox: &MemoryOutbox,
        seq: OutboxSeq,
        finished: Finished,
    ) -> Result<(), JournalError> {
        let (sender, receiver) = std::sync::mpsc::channel();
        outbox.finish(Consumer::Provider, seq, finished, Box::new(move |r| drop(sender.send(r))));
        receiver.recv().expect("the ack ran")
    }

    fn parked(reason: &str) -> Finished {
        Finished::Parked { attempts: 2, reason: reason.into(), at: Timestamp(5) }
    }

    #[test]
    fn a_parked_entry_stays_until_done_and_numbers_are_never_reused() {
        let outbox = MemoryOutbox::new();
        let first = outbox.push(refund(1));
        finish(&outbox, first, parked("timeout")).expect("recorded");
        assert!(outbox.pending(Consumer::Provider, None, 10).expect("reads").is_empty());
        assert_eq!(outbox.parked(Consumer::Provider).expect("reads")[0].reason, "timeout");

        finish(&outbox, first, Finished::Done).expect("recorded");

        assert!(outbox.is_empty() && outbox.parked(Consumer::Provider).expect("reads").is_empty());
        assert_eq!(outbox.push(refund(2)), OutboxSeq(1));
    }

    #[test]
    fn a_failed_outbox_refuses_everything() {
        let outbox = MemoryOutbox::new();
        let seq = outbox.push(refund(1));
        outbox.fail("the disk is gone");

        assert!(outbox.pending(Consumer::Provider, None, 10).is_err());
        assert!(finish(&outbox, seq, Finished::Done).is_err());
        let retry =
            outbox.request_retry(Consumer::Provider, seq, Box::new(|r| assert!(r.is_err())));
        assert!(retry.is_err());
        assert_eq!(outbox.len(), 1);
    }
}
