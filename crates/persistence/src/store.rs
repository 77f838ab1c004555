//! [`Store`]: opening the sled database, starting the journal, recovery.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use engine::events::Event;

use crate::codec::LogDecoder;
use crate::durability::Durability;
use crate::fault::{FaultPlan, FaultPlanError};
use crate::journal::{log_key, log_seq, NextSeqs, Shared, SledJournal, Trees};
use crate::outbox::{self, CommitMark, Repaired, SledOutbox};
use crate::snapshots::{read_checkpoint, RecoveredCheckpoint, SnapshotState};
use crate::StoreError;

/// How to open a [`Store`].
#[derive(Clone, Debug, Default)]
pub struct StoreOptions {
    /// A fault to inject, for tests of fail-stop. `None` in production.
    pub fault: Option<FaultPlan>,
}

impl StoreOptions {
    /// Options with the fault named by `BOXOFFICE_INJECT_FAULT`, if any.
    pub fn from_env() -> Result<StoreOptions, FaultPlanError> {
        Ok(StoreOptions { fault: FaultPlan::from_env()? })
    }
}

/// What the store held when it was opened.
#[derive(Clone, Debug, Default)]
pub struct Recovery {
    /// The last durable checkpoint, if one was ever taken.
    pub checkpoint: Option<RecoveredCheckpoint>,
    /// Every logged event at or after the checkpoint's position, in order.
    /// Never an [`Event::Outbox`]: those are in [`Store::outbox`].
    pub tail: Vec<Event>,
    /// Records a crash cut short; their batches were never acknowledged.
    pub torn_records: u64,
}

/// Boxoffice's durable state in one directory.
pub struct Store {
    shared: Arc<Shared>,
    journal: Arc<SledJournal>,
    outbox: Arc<SledOutbox>,
    db: sled::Db,
    dir: PathBuf,
}

impl Store {
    /// Opens (or creates) the store in `dir` and starts its journal.
    pub fn open(dir: &Path, options: StoreOptions) -> Result<Store, StoreError> {
        // We flush (and sync) ourselves, after each group commit.
        let db = sled::Config::new().path(dir).flush_every_ms(None).open()?;
        let trees = Trees {
            log: db.open_tree("log")?,
            snapshots: db.open_tree("snapshots")?,
            outbox: db.open_tree("outbox")?,
        };
        db.flush()?;

        let durability = Durability::open(dir, db.clone())?;
        let snapshot_state = SnapshotState::load(&trees.snapshots, dir)?;

        // What a crash left of its last commit goes before anything else.
        let repaired = outbox::repair(&trees.log, &trees.outbox)?;
        if repaired.changed_anything() {
            let Repaired { torn_entries, torn_log_values, orphans } = repaired;
            tracing::warn!(
                torn_entries,
                torn_log_values,
                orphans,
                "removed what a crash left of an unacknowledged commit"
            );
        }

        let next = NextSeqs {
            log: next_seq(&trees.log, &snapshot_state)?,
            outbox: outbox::next_seq(&trees.outbox)?,
        };
        // The first commit from here is judged by this mark if it is torn.
        let resumes = CommitMark { outbox_next: next.outbox, log_next: Some(next.log) };
        let marked = outbox::mark_resumption(&trees.outbox, resumes)?;
        if repaired.changed_anything() || marked {
            durability
                .make_durable()
                .map_err(|error| StoreError::Repair(error.reason.to_string()))?;
        }

        let shared = Arc::new(Shared::new(trees, durability));
        let journal = SledJournal::start(Arc::clone(&shared), snapshot_state, next, options.fault)?;
        let journal = Arc::new(journal);
        let outbox = Arc::new(SledOutbox::new(Arc::clone(&journal), Arc::clone(&shared)));
        Ok(Store { shared, journal, outbox, db, dir: dir.to_owned() })
    }

    /// A tree of its own in the store's database, for a part that keeps
    /// state beside the log (the sandbox payment provider). Its writes are
    /// not part of any group commit: the part flushes them itself.
    pub fn side_tree(&self, name: &str) -> Result<sled::Tree, StoreError> {
        Ok(self.db.open_tree(format!("side/{name}"))?)
    }

    /// The journal to hand to the engine.
    pub fn journal(&self) -> Arc<SledJournal> {
        Arc::clone(&self.journal)
    }

    /// The outbox to hand to its consumers' workers. It shares the
    /// journal's committer: the journal runs while either is held.
    pub fn outbox(&self) -> Arc<SledOutbox> {
        Arc::clone(&self.outbox)
    }

    /// The last durable checkpoint and the log after it. Meant to be called
    /// at start, before the first append.
    pub fn recover(&self) -> Result<Recovery, StoreError> {
        let checkpoint = read_checkpoint(&self.shared.snapshots, &self.dir)?;
        let position = checkpoint.as_ref().map_or(0, |checkpoint| checkpoint.position.0);

        let mut decoder = LogDecoder::default();
        let mut tail = Vec::new();
        for entry in self.shared.log.range(log_key(position)..) {
            let (key, value) = entry?;
            decoder.push(log_seq(&key)?, &value, &mut tail)?;
        }

        let torn_records = decoder.finish();
        if torn_records > 0 {
            tracing::warn!(torn_records, "dropped log records a crash cut short");
        }
        Ok(Recovery { checkpoint, tail, torn_records })
    }
}

/// The first sequence number for new log values: after every existing one,
/// and never before the checkpoint, even when the log behind it is empty.
fn next_seq(log: &sled::Tree, snapshots: &SnapshotState) -> Result<u64, StoreError> {
    let after_last = match log.last()? {
        Some((key, _)) => log_seq(&key)? + 1,
        None => 0,
    };
    Ok(after_last.max(snapshots.position().0))
}
