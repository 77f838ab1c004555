//! [`NullJournal`]: a journal that keeps nothing and acknowledges every
//! append at once, on the caller's thread. It stands for "durability off"
//! in the benchmarks, so the engine's own cost can be told from the log's.
//! It breaks the engine's central promise (nothing is acknowledged before it
//! is durable): never use it outside a benchmark.

use engine::events::Event;
use engine::journal::{Ack, Checkpoint, Journal, JournalError, LogPosition};

/// Drops every event and acks at once; see the module docs.
#[derive(Clone, Copy, Debug, Default)]
pub struct NullJournal;

impl Journal for NullJournal {
    fn append(&self, events: Vec<Event>, ack: Ack) {
        drop(events);
        ack(Ok(()));
    }

    fn durable_position(&self) -> LogPosition {
        LogPosition(0)
    }

    fn checkpoint(
        &self,
        _position: LogPosition,
        _checkpoint: Checkpoint,
    ) -> Result<(), JournalError> {
        Ok(())
    }
}
