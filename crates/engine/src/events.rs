//! Every state change Boxoffice makes, as the facts the log records.
//!
//! Events are facts, not requests: applying one never checks a rule or reads
//! a clock, so replaying the log rebuilds exactly the state that produced it,
//! whenever the replay runs. Rules are checked once, before an event exists.

use serde::{Deserialize, Serialize};

use crate::booking::Session;
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
    /// If it was a checkout's hold, its order has expired.
    HoldExpired { hold: u32, user: UserId, tickets: Vec<u32> },
    /// Live holds of `user` moved into a new hold `hold` of a new order,
    /// lasting until `until`, while the buyer pays at the provider.
    CheckoutOpened {
        order: OrderId,
        hold: u32,
        user: UserId,
        tickets: Vec<u32>,
        amount_minor: i64,
        until: Timestamp,
    },
    /// The provider opened a checkout session for the order.
    SessionOpened { order: OrderId, session: Session },
    /// The provider confirmed `payment` for the order, and the order's
    /// tickets are bought: from its live hold, or, after the hold lapsed,
    /// because every one of them was still available.
    OrderPaid { order: OrderId, user: UserId, tickets: Vec<u32>, payment: String },
    /// A payment that could not buy the order is refunded whole. Its
    /// amount is `None` when it was made in another currency than the
    /// order's.
    PaymentTurnedBack { order: OrderId, payment: String, amount_minor: Option<i64> },
    /// The provider reported the order's payment failed; the tickets its
    /// hold still kept are available.
    PaymentFailed { order: OrderId, user: UserId, freed: Vec<u32> },
    /// An admin cancelled the order: `freed` are available again and
    /// `refund_minor` goes back to the buyer.
    OrderCancelled { order: OrderId, user: UserId, freed: Vec<u32>, refund_minor: i64 },
    /// An admin cancelled some tickets of a paid order.
    TicketsCancelled { order: OrderId, user: UserId, freed: Vec<u32>, refund_minor: i64 },
    /// An admin gave back part of an order's payment; its tickets stay sold.
    OrderRefunded { order: OrderId, amount_minor: i64 },
}
