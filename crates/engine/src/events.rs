//! Every state change Boxoffice makes, as the facts the log records.
//!
//! Events are facts, not requests: applying one never checks a rule or reads
//! a clock, so replaying the log rebuilds exactly the state that produced it,
//! whenever the replay runs. Rules are checked once, before an event exists.

use serde::{Deserialize, Serialize};

use crate::catalogue::{City, PerformanceInfo, Venue};
use crate::ids::{OrderId, PerformanceId, UserId};
use crate::outbox::OutboxEntry;
use crate::time::Timestamp;

/// One entry of the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    CityCreated(City),
    VenueCreated(Venue),
    PerformanceCreated(PerformanceInfo),
    UserRegistered(User),
    Booking(BookingEvent),
    /// Work owed outside, committed with the change that owes it. The
    /// journal keeps these in the outbox, not in the log: replay never sees
    /// them.
    Outbox(OutboxEntry),
}

/// A registered buyer. The token is kept only as its SHA-256 digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    pub name: String,
    pub email: String,
    pub phone: String,
    pub token_sha256: [u8; 32],
}

/// A change to one performance's seat map.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingEvent {
    pub performance: PerformanceId,
    /// Counts this performance's booking events from 1, so that replay can
    /// skip what a snapshot already covers.
    pub seq: u64,
    pub change: Change,
}

/// What happened to a performance's tickets. Tickets are indices into the
/// performance's seat plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    /// The tickets became one hold of `user`, live while now < `until`.
    Reserved { hold: u32, user: UserId, until: Timestamp, tickets: Vec<u32> },
    /// The tickets, each a live hold of `user`, were bought in one order.
    Purchased {
        order: OrderId,
        user: UserId,
        tickets: Vec<u32>,
        amount_minor: i64,
        /// The payment provider's reference for the charge.
        payment: String,
    },
    /// The user gave back some held tickets.
    Released { user: UserId, tickets: Vec<u32> },
    /// A hold reached its instant; the tickets it still held are available.
    HoldExpired { hold: u32, user: UserId, tickets: Vec<u32> },
}
