//! Why the store could not be opened or read back.

use std::path::PathBuf;

/// A failure to open or recover a [`crate::Store`].
///
/// Failures while the journal runs are reported as
/// [`engine::journal::JournalError`] instead, because that is what the
/// engine's acknowledgements carry.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("sled failed: {0}")]
    Sled(#[from] sled::Error),

    #[error("could not sync {path}: {source}")]
    Sync { path: PathBuf, source: std::io::Error },

    #[error("could not read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },

    #[error("the store holds data it cannot read ({what}): {detail}")]
    Corrupt { what: String, detail: String },

    #[error("could not make the repair of a torn commit durable: {0}")]
    Repair(String),

    #[error("could not start the committer thread: {0}")]
    Thread(std::io::Error),
}

impl StoreError {
    /// Whether another process holds the store open: sled locks its files,
    /// and says so only in its message.
    pub fn is_locked(&self) -> bool {
        matches!(self, StoreError::Sled(sled::Error::Io(error))
            if error.to_string().contains("could not acquire lock"))
    }

    pub(crate) fn corrupt(what: impl Into<String>, detail: impl ToString) -> StoreError {
        StoreError::Corrupt { what: what.into(), detail: detail.to_string() }
    }
}
