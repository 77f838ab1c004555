//! The narrow boundary between the engine and its durable log.
//!
//! The engine hands events to a [`Journal`] and answers the request that
//! caused them only when the journal says they are durable. How and where
//! they are kept (sled on this machine today, a replicated stream later) is
//! the journal's business.

use std::sync::Arc;

use crate::booking::BookingSnapshot;
use crate::catalogue::Catalogue;
use crate::events::{Event, User};

/// Runs once the events of one append are durable, or with the error that
/// stopped the log. It runs on the journal's thread, so it must be quick:
/// sending a reply, not doing work.
pub type Ack = Box<dyn FnOnce(Result<(), JournalError>) + Send>;

/// An append-only, ordered, durable log of events.
pub trait Journal: Send + Sync + 'static {
    /// Queues `events` to be made durable after everything appended before.
    /// Never blocks on IO: durability is reported through `ack`.
    fn append(&self, events: Vec<Event>, ack: Ack);

    /// A position such that every event already durable lies before it.
    fn durable_position(&self) -> LogPosition;

    /// Stores `checkpoint`, whose state was read after `position` was, and
    /// once that is durable forgets the log before `position`.
    fn checkpoint(&self, position: LogPosition, checkpoint: Checkpoint)
        -> Result<(), JournalError>;
}

/// A place in the log, between two batches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogPosition(pub u64);

/// Everything needed to rebuild the state without the log before a
/// position. Performances left out keep their previous snapshot.
#[derive(Clone, Debug, Default)]
pub struct Checkpoint {
    pub catalogue: Catalogue,
    /// Shared with the live users, so that taking a checkpoint copies no
    /// user; encoded as the users themselves.
    pub users: Vec<Arc<User>>,
    pub bookings: Vec<BookingSnapshot>,
}

/// Why the log could not take a change. Once it has failed it refuses every
/// later append with the same reason: it fails stop rather than guess what
/// reached the disk.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the log has stopped taking writes: {reason}")]
pub struct JournalError {
    pub reason: Arc<str>,
}

impl JournalError {
    pub fn new(reason: impl Into<Arc<str>>) -> JournalError {
        JournalError { reason: reason.into() }
    }
}
