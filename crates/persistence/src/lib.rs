//! Boxoffice's durable log and snapshots, on sled 0.34.7.
//!
//! [`Store::open`] opens the database and starts a [`SledJournal`], the
//! engine's [`engine::journal::Journal`]. [`Store::recover`] reads back the
//! last checkpoint and the log after it.
//!
//! # On-disk layout
//!
//! One sled database per directory, with two trees:
//!
//! - `log`: key = a log sequence number as a big-endian `u64`, so keys sort
//!   in append order; a [`engine::journal::LogPosition`] is such a number.
//!   Value = one flag byte (`FIRST`, `LAST`) and a fragment of a *record*:
//!   postcard-encoded events laid end to end, many per value. An event too
//!   big for one value spans several, from a `FIRST` to a `LAST` fragment.
//! - `snapshots`: key `root` = the published checkpoint: its generation, its
//!   log position and where its catalogue, users and manifest are. Keys
//!   `c` ‖ generation (u64) ‖ object tag (u8) ‖ object id (u32) ‖ chunk
//!   index (u32), all big-endian = one chunk of a postcard-encoded object:
//!   the catalogue, the users, a booking snapshot (id = performance), or the
//!   manifest naming the generation of every performance's current snapshot.
//!
//! No value is ever larger than [`MAX_VALUE_BYTES`] (4 KiB, under the 64 KiB
//! ceiling): sled writes pages over 128 KiB to `blobs/` files it never
//! syncs, and a consolidated leaf of many large values would be such a page.
//!
//! # Durability protocol
//!
//! At open:
//!
//! 1. Open sled with `flush_every_ms(None)`: only this crate flushes.
//! 2. `fsync` sled's `conf` and `db` files, `blobs/` and the directory, so
//!    the files themselves survive a power cut; keep a handle to `db`.
//!
//! Each group commit, on the one committer thread:
//!
//! 1. Block for one append, then take every append already queued (at most
//!    [`MAX_APPENDS_PER_COMMIT`]); there is no timer.
//! 2. Encode their events into values of at most [`MAX_VALUE_BYTES`] and
//!    insert them into `log` under the next sequence numbers.
//! 3. `db.flush()`: sled writes its buffers (with `sync_file_range`, which
//!    is not a durability barrier).
//! 4. `fdatasync` the `db` file, and `fsync` any blob file (none expected).
//! 5. Publish the new durable position, then run the acks in append order.
//!
//! Steps 3 and 4 run under one lock with any checkpoint's, and a failure is
//! recorded under it: if any step fails (or an injected [`FaultPlan`]
//! fires), the journal fails stop. It acks that batch and every later
//! append with the error, writes nothing more, and never retries.
//!
//! Each checkpoint at position `p`, serialised with other checkpoints:
//!
//! 1. Remove chunks a crashed checkpoint left under the new generation.
//! 2. Write the catalogue, the users, each given booking snapshot and the
//!    new manifest as chunks under the new generation; flush and sync.
//! 3. Replace `root` (one small value): the checkpoint is published
//!    atomically; flush and sync.
//! 4. Remove chunks no longer named, and log entries before `p`; flush and
//!    sync.
//!
//! A crash before step 3 is durable recovers the old root and the full log;
//! after it, the new root and the log from `p` (entries before `p` that
//! step 4 did not get to are skipped, and removed by the next checkpoint).
//!
//! At recovery, a record whose `LAST` fragment is missing was cut short by a
//! crash during its (unacknowledged) commit, and is dropped.

mod codec;
mod durability;
mod error;
mod fault;
mod journal;
mod snapshots;
mod store;

pub use codec::{MAX_VALUE_BYTES, VALUE_LIMIT_CEILING};
pub use error::StoreError;
pub use fault::{FaultPlan, FaultPlanError, FAULT_ENV};
pub use journal::{SledJournal, MAX_APPENDS_PER_COMMIT};
pub use snapshots::RecoveredCheckpoint;
pub use store::{Recovery, Store, StoreOptions};
