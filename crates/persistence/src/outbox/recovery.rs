//! Repairs at open what a crash left of the commit it cut short.
//!
//! Commits are plain sled writes closed by a commit mark (see
//! [`super::write`]), and sled recovers a prefix of them. So after a crash
//! everything before the last commit mark is whole, and whatever lies past
//! it (entries numbered from the mark's outbox number on, log values from
//! its log sequence number on) is what is left of one commit that was never
//! acknowledged. [`repair`] removes that, so the commit is gone whole: no
//! change without the entries it owes, no entry without its change.
//!
//! It also removes entries no consumer has a mark on any more, which a
//! tear inside a finish can leave (the marks went, the entry not yet), and
//! then writes a commit mark for where numbering resumes, so that even the
//! first commit after an upgrade has one to be judged by.

use std::collections::BTreeSet;

use engine::outbox::{Consumer, OutboxSeq};

use super::keys::{self, Mark};
use super::write::{write_commit_mark, CommitMark};
use crate::journal::log_key;
use crate::StoreError;

/// What [`repair`] removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Repaired {
    /// Entries and log values of a commit a crash cut short.
    pub(crate) torn_entries: usize,
    pub(crate) torn_log_values: usize,
    /// Entries no consumer owed any more.
    pub(crate) orphans: usize,
}

impl Repaired {
    pub(crate) fn changed_anything(&self) -> bool {
        *self != Repaired::default()
    }
}

/// The commit mark, if one was ever written.
pub(crate) fn commit_mark(outbox: &sled::Tree) -> Result<Option<CommitMark>, StoreError> {
    let Some(value) = outbox.get(keys::NEXT_SEQ_KEY)? else { return Ok(None) };
    let mark = CommitMark::decode(&value).ok_or_else(|| {
        StoreError::corrupt("the outbox's commit mark", format!("{} bytes", value.len()))
    })?;
    Ok(Some(mark))
}

/// Removes the torn commit past the commit mark and entries nobody owes.
/// The caller makes the removals durable before any new commit.
pub(crate) fn repair(log: &sled::Tree, outbox: &sled::Tree) -> Result<Repaired, StoreError> {
    let mut repaired = Repaired::default();

    if let Some(CommitMark { outbox_next, log_next: Some(log_next) }) = commit_mark(outbox)? {
        for key in log.range(log_key(log_next)..).keys() {
            log.remove(key?)?;
            repaired.torn_log_values += 1;
        }
        repaired.torn_entries = remove_entries_from(outbox, outbox_next)?;
    }

    repaired.orphans = remove_orphans(outbox)?;
    Ok(repaired)
}

/// Writes the commit mark `mark` unless it is the one stored already.
pub(crate) fn mark_resumption(outbox: &sled::Tree, mark: CommitMark) -> Result<bool, StoreError> {
    if commit_mark(outbox)? == Some(mark) {
        return Ok(false);
    }
    write_commit_mark(outbox, mark)?;
    Ok(true)
}

/// Removes entries `from` on, with every consumer's marks on them.
fn remove_entries_from(outbox: &sled::Tree, from: OutboxSeq) -> Result<usize, StoreError> {
    for consumer in Consumer::ALL {
        for mark in [Mark::Pending, Mark::Parked] {
            for key in outbox.range(keys::marks(mark, consumer, from.0..u64::MAX)).keys() {
                outbox.remove(key?)?;
            }
        }
    }

    let torn = entry_seqs(outbox)?.split_off(&from);
    for &seq in &torn {
        remove_entry(outbox, seq)?;
    }
    Ok(torn.len())
}

/// Removes every entry on which no consumer has a mark.
fn remove_orphans(outbox: &sled::Tree) -> Result<usize, StoreError> {
    let mut owed = BTreeSet::new();
    for consumer in Consumer::ALL {
        for mark in [Mark::Pending, Mark::Parked] {
            for key in outbox.range(keys::marks(mark, consumer, 0..u64::MAX)).keys() {
                owed.insert(keys::mark_seq(&key?)?);
            }
        }
    }

    let orphans: Vec<OutboxSeq> =
        entry_seqs(outbox)?.into_iter().filter(|seq| !owed.contains(seq)).collect();
    for &seq in &orphans {
        tracing::warn!(%seq, "removing an outbox entry no consumer owes (a finish a crash cut short)");
        remove_entry(outbox, seq)?;
    }
    Ok(orphans.len())
}

/// Removes whatever values of entry `seq` are stored: a tear may have left
/// any of them.
fn remove_entry(outbox: &sled::Tree, seq: OutboxSeq) -> Result<(), StoreError> {
    for key in outbox.range(keys::entry_values(seq)).keys() {
        outbox.remove(key?)?;
    }
    Ok(())
}

/// The numbers of the entries stored.
fn entry_seqs(outbox: &sled::Tree) -> Result<BTreeSet<OutboxSeq>, StoreError> {
    let mut seqs = BTreeSet::new();
    for key in outbox.range(keys::all_entry_values()).keys() {
        seqs.insert(keys::entry_seq(&key?)?);
    }
    Ok(seqs)
}
