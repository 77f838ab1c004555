//! Work owed to the world outside after a change: receipts to send and
//! calls the payment provider must get.
//!
//! An [`OutboxEntry`] is appended to the journal in the same append, and so
//! the same commit, as the change that owes it: a purchase and its sale are
//! durable together or not at all. Consumers (the email worker, the SMS
//! worker, the provider worker) each read the outbox from their own cursor,
//! like queues bound to one topic, so one failing never holds up another.
//!
//! Delivery is at least once: a consumer marks an entry done only after the
//! outside world accepted it. An entry that keeps failing is parked, where an
//! admin can see it and ask for another try.
//!
//! [`worker::run`] is the consumer loop; [`memory::MemoryOutbox`] is an
//! outbox for tests.

pub mod memory;
pub mod worker;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::ids::{OrderId, PerformanceId, UserId};
use crate::journal::{Ack, JournalError};
use crate::time::Timestamp;

/// One piece of owed work.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OutboxEntry {
    /// A purchase completed: the buyer gets one receipt per channel.
    Sale(Sale),
    /// A payment arrived for an order whose tickets were gone, so it is
    /// being refunded: the buyer hears why, once per channel.
    LatePaymentRefunded(Sale),
    /// An open checkout session must be expired at the provider, so that it
    /// can no longer take a payment. `session` is `None` when the session's
    /// creation timed out and its id was never learnt: the worker then looks
    /// for open sessions that name the order.
    ExpireSession { order: OrderId, session: Option<String> },
    /// Money must go back to the buyer.
    Refund(Refund),
}

/// A completed purchase as the receipts need it; names, places and the
/// currency are looked up in the catalogue when the receipt is written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sale {
    pub order: OrderId,
    pub user: UserId,
    pub performance: PerformanceId,
    /// Ticket indices into the performance's seat plan.
    pub tickets: Vec<u32>,
    /// In the currency's ISO 4217 minor units.
    pub amount_minor: i64,
}

/// A refund the provider owes the buyer, in the currency of the order's
/// city.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    pub order: OrderId,
    /// The provider's reference of the payment to refund.
    pub payment: String,
    /// In the currency's ISO 4217 minor units; `None` for all that is left
    /// of the payment (one made in another currency than its order's).
    pub amount_minor: Option<i64>,
    /// The same for every attempt at this one refund, so a retry never
    /// refunds twice: `refund-{order}-{number}`.
    pub idempotency_key: String,
}

/// Who reads the outbox. Each consumer has its own cursor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Consumer {
    Email,
    Sms,
    Provider,
}

impl Consumer {
    pub const ALL: [Consumer; 3] = [Consumer::Email, Consumer::Sms, Consumer::Provider];

    pub fn name(self) -> &'static str {
        match self {
            Consumer::Email => "email",
            Consumer::Sms => "sms",
            Consumer::Provider => "provider",
        }
    }

    pub fn from_name(name: &str) -> Option<Consumer> {
        Consumer::ALL.into_iter().find(|consumer| consumer.name() == name)
    }
}

impl OutboxEntry {
    /// Whether `consumer` has work to do for this entry.
    pub fn is_for(&self, consumer: Consumer) -> bool {
        match self {
            OutboxEntry::Sale(_) | OutboxEntry::LatePaymentRefunded(_) => {
                matches!(consumer, Consumer::Email | Consumer::Sms)
            }
            OutboxEntry::ExpireSession { .. } | OutboxEntry::Refund(_) => {
                consumer == Consumer::Provider
            }
        }
    }
}

/// An entry's place in the outbox: increasing in append order, never
/// reused, also across restarts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OutboxSeq(pub u64);

impl std::fmt::Display for OutboxSeq {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// An entry a consumer gave up on after repeated failures.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parked {
    pub seq: OutboxSeq,
    pub entry: OutboxEntry,
    pub attempts: u32,
    /// The last failure, as the outside world reported it.
    pub reason: String,
    pub parked_at: Timestamp,
    /// An admin asked for another try; the consumer picks it up.
    pub retry_requested: bool,
}

/// How a consumer finished with an entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finished {
    /// Delivered (or nothing to deliver): never to be read again.
    Done,
    /// Given up on for now: kept where an admin can see it.
    Parked { attempts: u32, reason: String, at: Timestamp },
}

/// The durable outbox: read by consumers, written by the journal.
///
/// Entries reach the outbox as [`crate::events::Event::Outbox`] in a
/// journal append; the journal stores them here in the same commit.
pub trait Outbox: Send + Sync + 'static {
    /// Up to `limit` entries for `consumer` that it has not finished, in
    /// order, after `after` (`None`: from its start). Parked entries are not
    /// returned here, see [`Outbox::parked`]. Only entries whose commit is
    /// durable are, so nothing is delivered that a crash could take back.
    fn pending(
        &self,
        consumer: Consumer,
        after: Option<OutboxSeq>,
        limit: usize,
    ) -> Result<Vec<(OutboxSeq, OutboxEntry)>, JournalError>;

    /// Records durably how `consumer` finished with `seq`; `ack` runs once
    /// that is on disk (grouped with other commits, like an append).
    /// Finishing a parked entry as `Done` takes it off the parked list, and
    /// parking it again replaces its mark (and clears a retry request).
    /// Finishing an entry `consumer` has done already, or never had, changes
    /// nothing and is acked `Ok`.
    fn finish(&self, consumer: Consumer, seq: OutboxSeq, finished: Finished, ack: Ack);

    /// The entries `consumer` parked, oldest first.
    fn parked(&self, consumer: Consumer) -> Result<Vec<Parked>, JournalError>;

    /// Asks for another try of a parked entry; `ack` runs once that is
    /// durable. `Ok(false)` if `consumer` has no such parked entry. The ack
    /// runs exactly once in every case: at once with `Ok` when there is
    /// nothing to retry, and with the error when this returns one.
    fn request_retry(
        &self,
        consumer: Consumer,
        seq: OutboxSeq,
        ack: Ack,
    ) -> Result<bool, JournalError>;

    /// Woken (with `notify_waiters`) after every commit that added entries
    /// or asked for a retry, so consumers need not poll in a tight loop.
    ///
    /// A consumer that reads, finds nothing and waits must not miss a
    /// commit landing between its read and its wait: it takes
    /// `notified()` (and `enable`s it) *before* reading [`Outbox::pending`],
    /// and awaits that same future after.
    fn appended(&self) -> Arc<tokio::sync::Notify>;
}
