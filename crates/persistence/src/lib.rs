//! Boxoffice's durable log and snapshots, on sled 0.34.7.
//!
//! [`Store::open`] opens the database and starts a [`SledJournal`], the
//! engine's [`engine::journal::Journal`], and its [`SledOutbox`], the
//! engine's [`engine::outbox::Outbox`]. [`Store::recover`] reads back the
//! last checkpoint and the log after it.
//!
//! # On-disk layout
//!
//! One sled database per directory, with three trees:
//!
//! - `log`: key = a log sequence number as a big-endian `u64`, so keys sort
//!   in append order; a [`engine::journal::LogPosition`] is such a number.
//!   Value = one flag byte (`FIRST`, `LAST`) and a fragment of a *record*:
//!   postcard-encoded events laid end to end, many per value. An event too
//!   big for one value spans several, from a `FIRST` to a `LAST` fragment.
//! - `snapshots`: key `pack-root` = the published checkpoint: its
//!   generation, its log position and where its catalogue, users and
//!   manifest are. The manifest names every performance's current snapshot
//!   and how many bytes of snapshots each pack it names was written with.
//!   Key `root` and keys `c` ‖ generation ‖ object tag ‖ object id ‖ chunk
//!   index are a checkpoint as earlier versions kept it, in chunks: read at
//!   recovery, and removed once a checkpoint in files replaces it, which
//!   leaves `root` empty, a fence that earlier versions refuse to open
//!   rather than replay a log whose start is gone.
//! - `outbox`: the [`engine::events::Event::Outbox`] entries of appends,
//!   which never enter `log`. Key `e` ‖ outbox sequence number (u64) ‖
//!   fragment (u16) = an entry's postcard encoding, in fragments flagged
//!   like the log's. Key `q` ‖ consumer (u8) ‖ sequence number = the entry
//!   is pending for that consumer; `p` ‖ consumer ‖ sequence number = the
//!   consumer parked it (value: attempts, reason, instant, whether a retry
//!   was asked for). Key `next` = the commit mark: the number the next entry
//!   gets (so that numbers are never reused after their entries are gone)
//!   and the log sequence number the next log value gets, both big-endian
//!   `u64`s, rewritten last by every commit that adds anything (an 8-byte
//!   value, the outbox number alone, is the mark of the earlier
//!   transactional layout). An entry is deleted, in the commit that
//!   finishes it, once no consumer has a `q` or `p` mark on it.
//!
//! No value is ever larger than [`MAX_VALUE_BYTES`] (4 KiB, under the 64 KiB
//! ceiling): sled writes pages over 128 KiB to `blobs/` files it never
//! syncs, and a consolidated leaf of many large values would be such a page.
//!
//! Beside the database, `checkpoints/` holds each checkpoint's files, named
//! by its generation in 20 digits: `<generation>.root`, its catalogue, users
//! and manifest, and `<generation>.pack`, the snapshots it wrote, postcard
//! encodings end to end. Neither is changed once its checkpoint is
//! published; the root and the manifest name each object by generation,
//! offset, length and CRC-32. Only the latest `.root` is kept, and each
//! `.pack` the manifest still names. A checkpoint copies the live snapshots
//! of a pack that is mostly dead, or under a megabyte, into its own, so
//! that what the packs hold is at most about twice what is live. Files of
//! other names in `checkpoints/` are left alone.
//!
//! # Durability protocol
//!
//! At open:
//!
//! 1. Open sled with `flush_every_ms(None)`: only this crate flushes.
//! 2. `fsync` sled's `conf` and `db` files, `blobs/` and the directory, so
//!    the files themselves survive a power cut; keep a handle to `db`.
//! 3. Remove what a crash left of a torn commit: log values from the commit
//!    mark's log number on, entries (and their marks) from its outbox
//!    number on; and entries no consumer has a mark on (a finish torn
//!    between its marks and its entry). Write the commit mark for where
//!    numbering resumes, and flush and sync if anything changed.
//!
//! Each group commit, on the one committer thread:
//!
//! 1. Block for one request (an append, or an outbox finish or retry
//!    request), then take every request already queued (at most
//!    [`MAX_APPENDS_PER_COMMIT`]); there is no timer.
//! 2. Encode the appends' events into values of at most [`MAX_VALUE_BYTES`]:
//!    outbox entries one record each, numbered in append order, the other
//!    events packed into log records.
//! 3. Insert, with plain sled writes in this order: the entries with a
//!    pending mark for each consumer they are for; the log values under the
//!    next sequence numbers; the finishes and retry requests in request
//!    order; last, the commit mark (`next`). Not a sled transaction or
//!    batch: each of those rolls and writes two extra IO buffers per commit,
//!    which cost more CPU and latency than the rest of the commit. sled
//!    recovers a prefix of one thread's writes (it replays its log up to the
//!    first tear), and only the last commit can be torn, since each is
//!    synced before the next begins; so at open (below) whatever lies past
//!    the commit mark is what is left of one unacknowledged commit, and is
//!    removed: a crash never leaves a change without the entries it owes,
//!    or entries without their change.
//! 4. `db.flush()`: sled writes its buffers (with `sync_file_range`, which
//!    is not a durability barrier).
//! 5. `fdatasync` the `db` file, and `fsync` any blob file (none expected).
//! 6. Publish the new durable positions of the log and the outbox (readers
//!    see no entry past it), run the acks in request order, then wake the
//!    outbox's consumers if the commit added entries or asked for retries.
//!
//! Steps 4 and 5 run under one lock with any checkpoint's, and a failure is
//! recorded under it: if any step fails (or an injected [`FaultPlan`]
//! fires), the journal fails stop. It acks that batch and every later
//! request with the error, writes nothing more, and never retries; the
//! outbox then refuses reads too.
//!
//! Each checkpoint at position `p`, serialised with other checkpoints:
//!
//! 1. Remove checkpoint files nothing names: what a crashed checkpoint left.
//!    The new generation is past that of every file of ours still there.
//! 2. Write each given booking snapshot, the live snapshots of packs worth
//!    compacting and those an earlier version kept in chunks to the new
//!    generation's `.pack`, and the catalogue, the users and the new
//!    manifest to its `.root`, syncing a megabyte at a time; sync both and
//!    `checkpoints/`.
//! 3. In one sled batch, replace `pack-root` (one small value) and leave
//!    `root` empty: the checkpoint is published atomically; flush and sync.
//! 4. Remove an earlier version's chunks, the files no longer named, and
//!    log entries before `p`; flush and sync. A file that cannot be removed
//!    is logged and left for the next checkpoint.
//!
//! A crash before step 3 is durable recovers the old root and the full log;
//! after it, the new root and the log from `p` (entries before `p` that
//! step 4 did not get to are skipped, and removed by the next checkpoint,
//! like the files and chunks it did not get to).
//!
//! At recovery, a record whose `LAST` fragment is missing was cut short by a
//! crash during its (unacknowledged) commit, and is dropped.

mod codec;
mod durability;
mod error;
mod fault;
mod journal;
mod outbox;
mod snapshots;
mod store;

pub use codec::{MAX_VALUE_BYTES, VALUE_LIMIT_CEILING};
pub use error::StoreError;
pub use fault::{FaultPlan, FaultPlanError, FAULT_ENV};
pub use journal::{SledJournal, MAX_APPENDS_PER_COMMIT};
pub use outbox::SledOutbox;
pub use snapshots::RecoveredCheckpoint;
pub use store::{Recovery, Store, StoreOptions};
