//! The sandbox's state in its `sled::Tree`, changed in transactions.
//!
//! One writer at a time: a [`Txn`] holds the store's lock, reads through its
//! own pending writes, and applies them as one atomic batch on commit. The
//! caller flushes after committing and before answering, so what a client
//! was told survives a crash, as it would at a real provider.
//!
//! Records are JSON. Keys (numbers zero-padded so that byte order is
//! numeric order):
//!
//! | key | value |
//! |---|---|
//! | `s/{session id}` | a checkout session |
//! | `so/{seq}` | a session id, in creation order (for lists) |
//! | `sx/{expires_at}/{session id}` | an open session, by when it expires |
//! | `pi/{id}` | a payment intent |
//! | `re/{id}` | a refund |
//! | `ik/{idempotency key}` | the first answer given for that key |
//! | `ap/{due ms}/{session id}` | a delayed payment's outcome, not yet told |
//! | `wh/{seq}` | a webhook not yet delivered |
//! | `wd/{seq}` | a webhook given up on |
//! | `m/seq` | the next sequence number (sessions and webhooks share it) |

use std::collections::BTreeMap;

use parking_lot::{Mutex, MutexGuard};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The store failed: the database, or a record that no longer decodes.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    #[error("the sandbox's sled tree failed: {0}")]
    Sled(#[from] sled::Error),
    #[error("a sandbox record does not encode or decode: {0}")]
    Json(#[from] serde_json::Error),
}

pub(crate) type StoreResult<T> = Result<T, StoreError>;

/// The keys, in one place.
pub(crate) mod keys {
    pub(crate) const SEQ: &[u8] = b"m/seq";
    pub(crate) const SESSION_ORDER: &str = "so/";
    pub(crate) const SESSION_EXPIRY: &str = "sx/";
    pub(crate) const IDEMPOTENCY: &str = "ik/";
    pub(crate) const ASYNC_DUE: &str = "ap/";
    pub(crate) const WEBHOOK: &str = "wh/";
    pub(crate) const ABANDONED: &str = "wd/";

    pub(crate) fn session(id: &str) -> Vec<u8> {
        format!("s/{id}").into_bytes()
    }

    pub(crate) fn session_order(seq: u64) -> Vec<u8> {
        format!("{SESSION_ORDER}{seq:020}").into_bytes()
    }

    pub(crate) fn session_expiry(expires_at: i64, id: &str) -> Vec<u8> {
        format!("{SESSION_EXPIRY}{:020}/{id}", expires_at.max(0)).into_bytes()
    }

    pub(crate) fn intent(id: &str) -> Vec<u8> {
        format!("pi/{id}").into_bytes()
    }

    pub(crate) fn refund(id: &str) -> Vec<u8> {
        format!("re/{id}").into_bytes()
    }

    pub(crate) fn idempotency(key: &str) -> Vec<u8> {
        format!("{IDEMPOTENCY}{key}").into_bytes()
    }

    pub(crate) fn async_due(due_ms: i64, session_id: &str) -> Vec<u8> {
        format!("{ASYNC_DUE}{:020}/{session_id}", due_ms.max(0)).into_bytes()
    }

    pub(crate) fn webhook(seq: u64) -> Vec<u8> {
        format!("{WEBHOOK}{seq:020}").into_bytes()
    }

    pub(crate) fn abandoned(seq: u64) -> Vec<u8> {
        format!("{ABANDONED}{seq:020}").into_bytes()
    }
}

pub(crate) struct Store {
    tree: sled::Tree,
    /// One transaction at a time; held only while no await is pending.
    writer: Mutex<()>,
}

impl Store {
    pub(crate) fn new(tree: sled::Tree) -> Store {
        Store { tree, writer: Mutex::new(()) }
    }

    pub(crate) fn begin(&self) -> Txn<'_> {
        Txn { tree: &self.tree, _writer: self.writer.lock(), writes: BTreeMap::new() }
    }

    /// Makes every committed change durable.
    pub(crate) async fn flush(&self) -> StoreResult<()> {
        self.tree.flush_async().await?;
        Ok(())
    }

    /// Decoded records under `prefix`, in key order, read without the lock:
    /// each one as some transaction committed it.
    pub(crate) fn scan<T: DeserializeOwned>(&self, prefix: &str) -> StoreResult<Vec<(Vec<u8>, T)>> {
        let mut records = Vec::new();
        for entry in self.tree.scan_prefix(prefix) {
            let (key, value) = entry?;
            records.push((key.to_vec(), serde_json::from_slice(&value)?));
        }
        Ok(records)
    }

    /// How many records there are under `prefix`.
    pub(crate) fn count(&self, prefix: &str) -> usize {
        self.tree.scan_prefix(prefix).count()
    }
}

/// A transaction: reads see its own writes; nothing is stored before
/// [`Txn::commit`], and dropping it forgets them.
pub(crate) struct Txn<'a> {
    tree: &'a sled::Tree,
    _writer: MutexGuard<'a, ()>,
    /// `None` is a removal.
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl Txn<'_> {
    pub(crate) fn get<T: DeserializeOwned>(&self, key: &[u8]) -> StoreResult<Option<T>> {
        let bytes = match self.writes.get(key) {
            Some(pending) => pending.clone(),
            None => self.tree.get(key)?.map(|value| value.to_vec()),
        };
        match bytes {
            Some(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
            None => Ok(None),
        }
    }

    pub(crate) fn put<T: Serialize>(&mut self, key: Vec<u8>, value: &T) -> StoreResult<()> {
        self.writes.insert(key, Some(serde_json::to_vec(value)?));
        Ok(())
    }

    pub(crate) fn remove(&mut self, key: Vec<u8>) {
        self.writes.insert(key, None);
    }

    /// The next number of the sequence that orders sessions and webhooks.
    pub(crate) fn next_seq(&mut self) -> StoreResult<u64> {
        let seq: u64 = self.get(keys::SEQ)?.unwrap_or(1);
        self.put(keys::SEQ.to_vec(), &(seq + 1))?;
        Ok(seq)
    }

    /// Committed keys under `prefix` up to and including `upto` in byte
    /// order, oldest first. Pending writes are not seen: scans come first in
    /// a transaction.
    pub(crate) fn keys_upto(&self, prefix: &str, upto: &[u8]) -> StoreResult<Vec<Vec<u8>>> {
        let mut found = Vec::new();
        for entry in self.tree.scan_prefix(prefix) {
            let (key, _) = entry?;
            if key.as_ref() > upto {
                break;
            }
            found.push(key.to_vec());
        }
        Ok(found)
    }

    /// Committed values of the keys in `range`, oldest first or newest first.
    pub(crate) fn values_in<T: DeserializeOwned>(
        &self,
        range: std::ops::Range<Vec<u8>>,
        newest_first: bool,
    ) -> Box<dyn Iterator<Item = StoreResult<T>> + '_> {
        let decode = |entry: sled::Result<(sled::IVec, sled::IVec)>| -> StoreResult<T> {
            let (_, value) = entry?;
            Ok(serde_json::from_slice(&value)?)
        };
        let entries = self.tree.range(range);
        if newest_first {
            Box::new(entries.rev().map(decode))
        } else {
            Box::new(entries.map(decode))
        }
    }

    /// Whether the transaction would change anything.
    pub(crate) fn is_dirty(&self) -> bool {
        !self.writes.is_empty()
    }

    /// Applies every write as one atomic batch. The caller flushes.
    pub(crate) fn commit(self) -> StoreResult<()> {
        if self.writes.is_empty() {
            return Ok(());
        }
        let mut batch = sled::Batch::default();
        for (key, value) in self.writes {
            match value {
                Some(value) => batch.insert(key, value),
                None => batch.remove(key),
            }
        }
        self.tree.apply_batch(batch)?;
        Ok(())
    }
}
