//! Each user's own tickets, kept from the same events the actors log, so
//! "my tickets" is one lookup rather than a question to every performance.
//!
//! The index is an actor too, one per city shard on the shard's own thread,
//! so feeding it wakes no other thread; a user's tickets are the union of
//! the shards' answers. Performance actors send it their events before the
//! journal acknowledges them, and its mailbox is first in, first out: a
//! user who was told "reserved" and then asks for their tickets is always
//! answered after the index has seen the reservation.

use std::collections::{BTreeMap, HashMap};

use actix::{Actor, Context, Handler, Message};

use crate::booking::Booking;
use crate::events::{BookingEvent, Change};
use crate::ids::{OrderId, TicketId, UserId};
use crate::time::Timestamp;

/// What one user has of one ticket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Holding {
    Reserved { until: Timestamp },
    Purchased { order: OrderId },
}

#[derive(Default)]
pub struct TicketIndex {
    by_user: HashMap<UserId, BTreeMap<TicketId, Holding>>,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct RecordEvents(pub Vec<BookingEvent>);

/// A user's tickets, in ticket id order.
#[derive(Message)]
#[rtype(result = "Vec<(TicketId, Holding)>")]
pub struct UserTickets {
    pub user: UserId,
}

impl TicketIndex {
    /// The index of performances rebuilt at start-up.
    pub fn from_bookings<'a>(bookings: impl IntoIterator<Item = &'a Booking>) -> TicketIndex {
        let mut index = TicketIndex::default();
        for booking in bookings {
            let performance = booking.info().id;
            for (_, hold) in booking.holds() {
                let holding = Holding::Reserved { until: hold.until };
                index.insert(hold.user, performance_tickets(performance, &hold.tickets), holding);
            }
            for (ticket, order, user) in booking.sold_tickets() {
                let holding = Holding::Purchased { order };
                index.insert(user, performance_tickets(performance, &[ticket]), holding);
            }
        }
        index
    }

    pub fn record(&mut self, event: &BookingEvent) {
        let performance = event.performance;
        match &event.change {
            Change::Reserved { user, until, tickets, .. }
            | Change::CheckoutOpened { user, until, tickets, .. } => {
                let holding = Holding::Reserved { until: *until };
                self.insert(*user, performance_tickets(performance, tickets), holding)
            }
            Change::Purchased { order, user, tickets, .. }
            | Change::OrderPaid { order, user, tickets, .. } => {
                let holding = Holding::Purchased { order: *order };
                self.insert(*user, performance_tickets(performance, tickets), holding)
            }
            Change::Released { user, tickets }
            | Change::HoldExpired { user, tickets, .. }
            | Change::PaymentFailed { user, freed: tickets, .. }
            | Change::OrderCancelled { user, freed: tickets, .. }
            | Change::TicketsCancelled { user, freed: tickets, .. } => {
                self.remove(*user, performance_tickets(performance, tickets))
            }
            Change::SessionOpened { .. }
            | Change::PaymentTurnedBack { .. }
            | Change::OrderRefunded { .. } => {}
        }
    }

    pub fn of_user(&self, user: UserId) -> Vec<(TicketId, Holding)> {
        let Some(tickets) = self.by_user.get(&user) else {
            return Vec::new();
        };
        tickets.iter().map(|(&ticket, &holding)| (ticket, holding)).collect()
    }

    fn insert(&mut self, user: UserId, tickets: impl Iterator<Item = TicketId>, holding: Holding) {
        let owned = self.by_user.entry(user).or_default();
        for ticket in tickets {
            owned.insert(ticket, holding);
        }
    }

    fn remove(&mut self, user: UserId, tickets: impl Iterator<Item = TicketId>) {
        if let Some(owned) = self.by_user.get_mut(&user) {
            for ticket in tickets {
                owned.remove(&ticket);
            }
            if owned.is_empty() {
                self.by_user.remove(&user);
            }
        }
    }
}

fn performance_tickets(
    performance: crate::ids::PerformanceId,
    indices: &[u32],
) -> impl Iterator<Item = TicketId> + '_ {
    indices.iter().map(move |&index| TicketId { performance, index })
}

impl Actor for TicketIndex {
    type Context = Context<Self>;
}

impl Handler<RecordEvents> for TicketIndex {
    type Result = ();

    fn handle(&mut self, msg: RecordEvents, _ctx: &mut Context<Self>) {
        for event in &msg.0 {
            self.record(event);
        }
    }
}

impl Handler<UserTickets> for TicketIndex {
    type Result = actix::MessageResult<UserTickets>;

    fn handle(&mut self, msg: UserTickets, _ctx: &mut Context<Self>) -> Self::Result {
        actix::MessageResult(self.of_user(msg.user))
    }
}
