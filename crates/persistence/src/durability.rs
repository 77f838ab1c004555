//! Making what sled has written truly durable, and stopping for good the
//! first time that fails.
//!
//! `sled::Db::flush` (0.34.7) writes its buffers and calls
//! `sync_file_range`, which starts writeback but is no durability barrier:
//! it neither waits for the drive's cache nor persists the file size. So
//! after every flush this module calls `fdatasync` on a handle to sled's
//! `db` file, opened once at start. Blob files (which this crate's value
//! limit should keep from ever existing) are synced too, as a safety net.
//!
//! The flush, the syncs and the recording of a failure happen under one
//! lock. That matters because Linux reports a writeback error to only one
//! `fsync` caller: if the checkpoint's sync saw the error, the committer's
//! next sync may succeed although its pages were lost. Under the lock, the
//! failure is recorded before anyone else syncs, and every caller checks for
//! it after its own sync, so nothing is acknowledged past a failure.

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock};

use engine::journal::JournalError;

use crate::StoreError;

/// The first failure of the store; once set, it never clears.
#[derive(Debug, Default)]
pub(crate) struct FailStop {
    reason: OnceLock<JournalError>,
}

impl FailStop {
    pub(crate) fn error(&self) -> Option<JournalError> {
        self.reason.get().cloned()
    }

    /// Records `reason` as the failure, unless one is recorded already, and
    /// returns the recorded failure. Only the first failure is logged.
    pub(crate) fn fail(&self, reason: String) -> JournalError {
        let mut first = false;
        let error = self.reason.get_or_init(|| {
            first = true;
            JournalError::new(reason)
        });
        if first {
            tracing::error!(reason = %error.reason, "the journal failed and stops taking writes");
        }
        error.clone()
    }

    pub(crate) fn check(&self) -> Result<(), JournalError> {
        match self.error() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

/// The handles and lock through which every durable step goes.
#[derive(Debug)]
pub(crate) struct Durability {
    db: sled::Db,
    files: Mutex<SyncedFiles>,
    pub(crate) fail_stop: FailStop,
}

#[derive(Debug)]
struct SyncedFiles {
    db_file: File,
    blobs_dir: PathBuf,
    synced_blobs: HashSet<PathBuf>,
}

impl Durability {
    /// Syncs sled's files and `dir` once, then keeps a handle to `db`.
    pub(crate) fn open(dir: &Path, db: sled::Db) -> Result<Durability, StoreError> {
        for name in ["conf", "db", "blobs"] {
            sync_path(&dir.join(name))?;
        }
        sync_path(dir)?;

        let db_path = dir.join("db");
        let db_file = File::open(&db_path)
            .map_err(|source| StoreError::Sync { path: db_path.clone(), source })?;
        let files =
            SyncedFiles { db_file, blobs_dir: dir.join("blobs"), synced_blobs: HashSet::new() };
        Ok(Durability { db, files: Mutex::new(files), fail_stop: FailStop::default() })
    }

    /// Makes everything written to sled so far durable, or fails the store.
    pub(crate) fn make_durable(&self) -> Result<(), JournalError> {
        self.make_durable_unless(|| Ok(()))
    }

    /// Like [`Durability::make_durable`], but first asks `injected_fault`
    /// whether to fail as if the flush had.
    pub(crate) fn make_durable_unless(
        &self,
        injected_fault: impl FnOnce() -> Result<(), String>,
    ) -> Result<(), JournalError> {
        let mut files = self.lock_files();
        self.fail_stop.check()?;

        let synced = injected_fault().and_then(|()| self.flush_and_sync(&mut files));

        // Checked under the lock: see the module comment.
        match synced {
            Ok(()) => self.fail_stop.check(),
            Err(reason) => Err(self.fail_stop.fail(reason)),
        }
    }

    fn flush_and_sync(&self, files: &mut SyncedFiles) -> Result<(), String> {
        self.db.flush().map_err(|error| format!("sled flush failed: {error}"))?;

        files.db_file.sync_data().map_err(|error| format!("fdatasync of sled's db: {error}"))?;

        files.sync_new_blobs()
    }

    fn lock_files(&self) -> MutexGuard<'_, SyncedFiles> {
        // A panic while syncing leaves nothing half-updated that matters:
        // the handles are still valid, so a poisoned lock is still usable.
        self.files.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl SyncedFiles {
    /// Syncs blob files not synced before, and then their directory.
    fn sync_new_blobs(&mut self) -> Result<(), String> {
        let entries = std::fs::read_dir(&self.blobs_dir)
            .map_err(|error| format!("listing {}: {error}", self.blobs_dir.display()))?;
        let mut present = HashSet::new();
        let mut synced_any = false;

        for entry in entries {
            let path = entry.map_err(|error| format!("listing sled blobs: {error}"))?.path();
            if !self.synced_blobs.contains(&path) {
                tracing::warn!(blob = %path.display(), "sled wrote a blob; syncing it");
                sync_path(&path).map_err(|error| error.to_string())?;
                synced_any = true;
            }
            present.insert(path);
        }

        if synced_any {
            sync_path(&self.blobs_dir).map_err(|error| error.to_string())?;
        }
        self.synced_blobs = present;
        Ok(())
    }
}

/// `fsync` of a file or directory, if it exists.
fn sync_path(path: &Path) -> Result<(), StoreError> {
    let sync_error = |source| StoreError::Sync { path: path.to_owned(), source };
    match File::open(path) {
        Ok(file) => file.sync_all().map_err(sync_error),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(sync_error(error)),
    }
}
