//! The outbox's share of a group commit: new entries and consumers' marks,
//! written inside the commit's sled transaction, so that they are durable
//! together with the log values of the same commit or not at all.

use engine::outbox::{Consumer, Finished, OutboxEntry, OutboxSeq};
use sled::transaction::{ConflictableTransactionResult, TransactionalTree};

use super::keys::{self, Mark, ParkedMark};
use crate::codec::{checked_value, encode_entry_values};

/// What a consumer asks the committer to record about one entry.
#[derive(Clone, Debug)]
pub(crate) enum MarkChange {
    Finish { consumer: Consumer, seq: OutboxSeq, finished: Finished },
    RequestRetry { consumer: Consumer, seq: OutboxSeq },
}

/// An entry a commit adds, encoded and numbered.
#[derive(Debug)]
pub(crate) struct NewEntry {
    seq: OutboxSeq,
    values: Vec<Vec<u8>>,
    consumers: Vec<Consumer>,
}

impl NewEntry {
    pub(crate) fn new(seq: OutboxSeq, entry: &OutboxEntry) -> Result<NewEntry, String> {
        let values = encode_entry_values(entry).map_err(|error| error.to_string())?;
        let values: Vec<Vec<u8>> = values.into_iter().map(checked_value).collect();
        if values.len() > usize::from(u16::MAX) {
            return Err(format!("outbox entry {seq} needs {} values", values.len()));
        }

        let consumers = Consumer::ALL.into_iter().filter(|&c| entry.is_for(c)).collect();
        Ok(NewEntry { seq, values, consumers })
    }
}

/// What the outbox part of a commit did, beyond what was asked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct OutboxEffects {
    /// Parked entries whose consumer must now try again.
    pub(crate) retries_requested: usize,
    /// Entries every consumer is done with, and so deleted.
    pub(crate) entries_removed: usize,
    /// Changes about an entry the consumer had already finished (or never
    /// had): a repeated finish, or a retry of an entry no longer parked.
    pub(crate) changes_ignored: usize,
}

/// Writes `entries` and applies `changes` in order; `next_seq` is the
/// number after the last entry ever given out, kept so that numbers are
/// never reused.
pub(crate) fn write_commit(
    outbox: &TransactionalTree,
    entries: &[NewEntry],
    next_seq: OutboxSeq,
    changes: &[&MarkChange],
) -> ConflictableTransactionResult<OutboxEffects, String> {
    for entry in entries {
        insert_entry(outbox, entry)?;
    }
    if !entries.is_empty() {
        outbox.insert(keys::NEXT_SEQ_KEY, &next_seq.0.to_be_bytes()[..])?;
    }

    let mut effects = OutboxEffects::default();
    for change in changes {
        apply(outbox, change, &mut effects)?;
    }
    Ok(effects)
}

fn insert_entry(
    outbox: &TransactionalTree,
    entry: &NewEntry,
) -> ConflictableTransactionResult<(), String> {
    for (fragment, value) in entry.values.iter().enumerate() {
        let key = keys::entry_key(entry.seq, fragment as u16);
        outbox.insert(&key[..], value.as_slice())?;
    }
    for &consumer in &entry.consumers {
        outbox.insert(&keys::mark_key(Mark::Pending, consumer, entry.seq)[..], &[][..])?;
    }
    Ok(())
}

fn apply(
    outbox: &TransactionalTree,
    change: &MarkChange,
    effects: &mut OutboxEffects,
) -> ConflictableTransactionResult<(), String> {
    let applied = match change {
        MarkChange::Finish { consumer, seq, finished: Finished::Done } => {
            finish_done(outbox, *consumer, *seq, effects)?
        }
        MarkChange::Finish {
            consumer,
            seq,
            finished: Finished::Parked { attempts, reason, at },
        } => park(outbox, *consumer, *seq, ParkedMark::new(*attempts, reason, *at))?,
        MarkChange::RequestRetry { consumer, seq } => {
            let requested = request_retry(outbox, *consumer, *seq)?;
            effects.retries_requested += usize::from(requested);
            requested
        }
    };

    if !applied {
        effects.changes_ignored += 1;
    }
    Ok(())
}

/// Takes the entry off the consumer's pending or parked marks, and deletes
/// it once no consumer has either. Whether the consumer had it to finish.
fn finish_done(
    outbox: &TransactionalTree,
    consumer: Consumer,
    seq: OutboxSeq,
    effects: &mut OutboxEffects,
) -> ConflictableTransactionResult<bool, String> {
    let was_pending = remove_if_present(outbox, &keys::mark_key(Mark::Pending, consumer, seq))?;
    let was_parked = remove_if_present(outbox, &keys::mark_key(Mark::Parked, consumer, seq))?;
    if !was_pending && !was_parked {
        return Ok(false);
    }

    if !owed_by_another(outbox, consumer, seq)? {
        remove_entry(outbox, seq)?;
        effects.entries_removed += 1;
    }
    Ok(true)
}

/// Parks the entry, or updates the mark of an entry parked already (a
/// retry that failed again). Whether the consumer had it to finish.
fn park(
    outbox: &TransactionalTree,
    consumer: Consumer,
    seq: OutboxSeq,
    mark: ParkedMark,
) -> ConflictableTransactionResult<bool, String> {
    let parked_key = keys::mark_key(Mark::Parked, consumer, seq);
    let was_pending = remove_if_present(outbox, &keys::mark_key(Mark::Pending, consumer, seq))?;
    if !was_pending && outbox.get(&parked_key[..])?.is_none() {
        return Ok(false);
    }

    outbox.insert(&parked_key[..], encode_mark(&mark)?)?;
    Ok(true)
}

/// Flags a parked entry for another try. Whether it was parked.
fn request_retry(
    outbox: &TransactionalTree,
    consumer: Consumer,
    seq: OutboxSeq,
) -> ConflictableTransactionResult<bool, String> {
    let parked_key = keys::mark_key(Mark::Parked, consumer, seq);
    let Some(value) = outbox.get(&parked_key[..])? else { return Ok(false) };

    // The caller read this mark before asking, so garbage here is rare
    // enough to skip rather than to fail the store for.
    let Ok(mut mark) = postcard::from_bytes::<ParkedMark>(&value) else {
        tracing::warn!(%seq, consumer = consumer.name(), "a parked mark is unreadable; no retry");
        return Ok(false);
    };
    mark.retry_requested = true;
    outbox.insert(&parked_key[..], encode_mark(&mark)?)?;
    Ok(true)
}

/// Whether a consumer other than `consumer` still has the entry pending or
/// parked.
fn owed_by_another(
    outbox: &TransactionalTree,
    consumer: Consumer,
    seq: OutboxSeq,
) -> ConflictableTransactionResult<bool, String> {
    for other in Consumer::ALL.into_iter().filter(|&other| other != consumer) {
        for mark in [Mark::Pending, Mark::Parked] {
            if outbox.get(&keys::mark_key(mark, other, seq)[..])?.is_some() {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// Removes every value of entry `seq`: fragments sit under consecutive
/// keys, and a transaction can read keys but not scan them.
fn remove_entry(
    outbox: &TransactionalTree,
    seq: OutboxSeq,
) -> ConflictableTransactionResult<(), String> {
    for fragment in 0..=u16::MAX {
        if !remove_if_present(outbox, &keys::entry_key(seq, fragment))? {
            break;
        }
    }
    Ok(())
}

fn remove_if_present(
    outbox: &TransactionalTree,
    key: &[u8],
) -> ConflictableTransactionResult<bool, String> {
    if outbox.get(key)?.is_none() {
        return Ok(false);
    }
    outbox.remove(key)?;
    Ok(true)
}

fn encode_mark(mark: &ParkedMark) -> ConflictableTransactionResult<Vec<u8>, String> {
    let value = postcard::to_stdvec(mark).map_err(|error| {
        sled::transaction::ConflictableTransactionError::Abort(format!(
            "encoding a parked mark: {error}"
        ))
    })?;
    Ok(checked_value(value))
}
