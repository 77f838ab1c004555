//! The outbox's share of a group commit: new entries, consumers' marks and
//! the commit mark that closes every commit adding anything.
//!
//! These are plain sled writes, not a transaction (a sled transaction or
//! batch rolls and writes two extra IO buffers per commit, which cost more
//! than the whole commit did before). What makes a commit whole instead is
//! the order of its writes, and that sled recovers a prefix of one
//! thread's writes (its log is recovered up to the first tear):
//!
//! 1. the new entries, with their pending marks;
//! 2. the log values (written by the journal);
//! 3. the consumers' marks, each ordered so that a tear in it never drops
//!    work not done (see [`park`]);
//! 4. last, the commit mark: the outbox number and the log sequence number
//!    after this commit.
//!
//! Only the last commit can be torn (each is synced before the next
//! begins), and everything of it lies past the commit mark of the one
//! before: [`super::recovery`] removes that at open.

use engine::outbox::{Consumer, Finished, OutboxEntry, OutboxSeq};

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

/// Step 1: writes `entries`, each with a pending mark for its consumers.
pub(crate) fn write_entries(outbox: &sled::Tree, entries: &[NewEntry]) -> sled::Result<()> {
    for entry in entries {
        insert_entry(outbox, entry)?;
    }
    Ok(())
}

/// Step 3: applies `changes` in order.
pub(crate) fn apply_changes(
    outbox: &sled::Tree,
    changes: &[&MarkChange],
) -> Result<OutboxEffects, String> {
    let mut effects = OutboxEffects::default();
    for change in changes {
        apply(outbox, change, &mut effects).map_err(|error| error.to_string())?;
    }
    Ok(effects)
}

/// Step 4: closes the commit. `mark` says where the next commit's entries
/// and log values begin; numbers are never given out twice once a commit
/// mark past them is written.
pub(crate) fn write_commit_mark(outbox: &sled::Tree, mark: CommitMark) -> sled::Result<()> {
    outbox.insert(keys::NEXT_SEQ_KEY, &mark.encode()[..])?;
    Ok(())
}

/// Where a complete commit left the numbering: everything before both
/// numbers belongs to commits written whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CommitMark {
    /// The number the next entry gets.
    pub(crate) outbox_next: OutboxSeq,
    /// The sequence number of the next log value; `None` in a mark written
    /// by a version that kept commits whole with a sled transaction, whose
    /// commits are never torn.
    pub(crate) log_next: Option<u64>,
}

impl CommitMark {
    fn encode(self) -> [u8; 16] {
        let mut value = [0; 16];
        value[..8].copy_from_slice(&self.outbox_next.0.to_be_bytes());
        value[8..].copy_from_slice(&self.log_next.unwrap_or(0).to_be_bytes());
        value
    }

    /// Reads a mark: 16 bytes, or the 8 of the transactional version.
    pub(crate) fn decode(value: &[u8]) -> Option<CommitMark> {
        let number = |bytes: &[u8]| u64::from_be_bytes(bytes.try_into().expect("8 bytes"));
        match value.len() {
            8 => Some(CommitMark { outbox_next: OutboxSeq(number(value)), log_next: None }),
            16 => Some(CommitMark {
                outbox_next: OutboxSeq(number(&value[..8])),
                log_next: Some(number(&value[8..])),
            }),
            _ => None,
        }
    }
}

fn insert_entry(outbox: &sled::Tree, entry: &NewEntry) -> sled::Result<()> {
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
    outbox: &sled::Tree,
    change: &MarkChange,
    effects: &mut OutboxEffects,
) -> Result<(), MarkError> {
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
///
/// A tear after the marks go and before the entry does leaves an entry no
/// consumer owes: [`super::recovery`] sweeps those at open.
fn finish_done(
    outbox: &sled::Tree,
    consumer: Consumer,
    seq: OutboxSeq,
    effects: &mut OutboxEffects,
) -> Result<bool, MarkError> {
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
///
/// The parked mark is written before the pending one goes, so that a tear
/// between them leaves the entry both pending and parked (it is delivered
/// again), never neither (dropped without being delivered).
fn park(
    outbox: &sled::Tree,
    consumer: Consumer,
    seq: OutboxSeq,
    mark: ParkedMark,
) -> Result<bool, MarkError> {
    let parked_key = keys::mark_key(Mark::Parked, consumer, seq);
    let pending_key = keys::mark_key(Mark::Pending, consumer, seq);
    if outbox.get(pending_key)?.is_none() && outbox.get(parked_key)?.is_none() {
        return Ok(false);
    }

    outbox.insert(&parked_key[..], encode_mark(&mark)?)?;
    remove_if_present(outbox, &pending_key)?;
    Ok(true)
}

/// Flags a parked entry for another try. Whether it was parked.
fn request_retry(
    outbox: &sled::Tree,
    consumer: Consumer,
    seq: OutboxSeq,
) -> Result<bool, MarkError> {
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
    outbox: &sled::Tree,
    consumer: Consumer,
    seq: OutboxSeq,
) -> Result<bool, MarkError> {
    for other in Consumer::ALL.into_iter().filter(|&other| other != consumer) {
        for mark in [Mark::Pending, Mark::Parked] {
            if outbox.get(&keys::mark_key(mark, other, seq)[..])?.is_some() {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// Removes every value of entry `seq`, which sit under consecutive keys.
fn remove_entry(outbox: &sled::Tree, seq: OutboxSeq) -> sled::Result<()> {
    for fragment in 0..=u16::MAX {
        if outbox.remove(keys::entry_key(seq, fragment))?.is_none() {
            break;
        }
    }
    Ok(())
}

fn remove_if_present(outbox: &sled::Tree, key: &[u8]) -> sled::Result<bool> {
    Ok(outbox.remove(key)?.is_some())
}

fn encode_mark(mark: &ParkedMark) -> Result<Vec<u8>, MarkError> {
    let value = postcard::to_stdvec(mark)
        .map_err(|error| MarkError::Encoding(format!("encoding a parked mark: {error}")))?;
    Ok(checked_value(value))
}

/// Why a change could not be recorded.
#[derive(Debug, thiserror::Error)]
enum MarkError {
    #[error("{0}")]
    Sled(#[from] sled::Error),
    #[error("{0}")]
    Encoding(String),
}
