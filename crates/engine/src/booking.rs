//! The booking rules of one performance: a pure, synchronous state machine.
//!
//! [`Booking`] owns a performance's seat map. It reads no clock, does no IO
//! and spawns nothing: every command takes `now` as an argument, checks the
//! rules, and on success turns into a [`Change`] that is then applied with
//! the same [`Booking::apply`] that replay uses. So the state after a replay
//! is the state that was acknowledged, by construction.
//!
//! Every command first expires the holds whose instant has passed, and
//! reports those expiries as events too: a hold is live while
//! `now < until`, whatever the timers have done so far.
//!
//! The seat map is a structure of arrays, five bytes a ticket: a status byte
//! and a link that names the ticket's hold or order (or, for an available
//! ticket, the user whose hold on it lapsed, so that user hears "expired"
//! rather than "not yours").

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::catalogue::{PerformanceInfo, SeatPlan, SectionKind};
use crate::events::{BookingEvent, Change};
use crate::ids::{OrderId, PerformanceId, UserId};
use crate::outbox::{OutboxEntry, Refund, Sale};
use crate::time::Timestamp;

const AVAILABLE: u8 = 0;
const RESERVED: u8 = 1;
const PURCHASED: u8 = 2;

/// What a buyer asks to reserve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selection {
    /// These exact tickets, by index.
    Tickets(Vec<u32>),
    /// So many tickets of one section, chosen by [`Booking::reserve`].
    Quantity { section: String, quantity: u32 },
}

/// Why a command was refused. A refused command changes nothing.
///
/// Variants are in order of precedence: when several apply, the first is
/// reported.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("the ticket list is empty")]
    NoTickets,
    #[error("the quantity must be at least 1")]
    ZeroQuantity,
    #[error("no section is called {section:?}")]
    UnknownSection { section: String },
    #[error("these tickets are not tickets of this performance: {tickets:?}")]
    UnknownTickets { tickets: Vec<u32> },
    #[error("ticket {ticket} is listed more than once")]
    DuplicateTicket { ticket: u32 },
    #[error("one order may cover at most {max} tickets")]
    OrderLimit { max: u32 },
    #[error("the performance is not on sale")]
    NotOnSale,
    #[error("one user may hold and own at most {max} tickets of a performance")]
    UserLimit { max: u32 },
    #[error("these tickets are not available: {tickets:?}")]
    NotAvailable { tickets: Vec<u32> },
    #[error("section {section:?} has only {available} tickets left")]
    SoldOut { section: String, available: u32 },
    #[error("these tickets are not held by the caller: {tickets:?}")]
    NotHeld { tickets: Vec<u32> },
    #[error("the caller's hold on these tickets has expired: {tickets:?}")]
    HoldExpired { tickets: Vec<u32> },
    #[error("these tickets wait in a checkout, so only its payment can buy them: {tickets:?}")]
    InCheckout { tickets: Vec<u32> },
    #[error("no order {order}")]
    UnknownOrder { order: OrderId },
    #[error("these tickets are not tickets of the order: {tickets:?}")]
    NotInOrder { tickets: Vec<u32> },
    #[error("the order is not paid, so there is nothing to refund")]
    NotPaid,
    #[error("the order waits for its payment: cancel the whole order instead")]
    AwaitingPayment,
    #[error("a refund must be more than zero")]
    ZeroRefund,
    #[error("at most {refundable} of the order's payment is left to refund")]
    RefundTooLarge { refundable: i64 },
}

/// A hold that a reserve created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reservation {
    pub hold: u32,
    pub until: Timestamp,
    pub tickets: Vec<u32>,
}

/// What a purchase of some held tickets will cost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quote {
    pub amount_minor: i64,
    /// The holds the tickets are in, ascending: a new hold is a new
    /// purchase attempt, even for the same tickets.
    pub holds: Vec<u32>,
}

/// An order that a purchase created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Purchase {
    pub order: OrderId,
    pub tickets: Vec<u32>,
    pub amount_minor: i64,
}

/// An order waiting for its payment at the provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkout {
    pub order: OrderId,
    pub amount_minor: i64,
    /// The tickets stay held for the order until then.
    pub until: Timestamp,
    /// The provider's session, once one was opened: a retried checkout of
    /// the same tickets finds the session of the first.
    pub session: Option<Session>,
}

/// A checkout session at the provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub id: String,
    /// Where the buyer pays.
    pub url: String,
}

/// What a payment the provider confirmed did to its order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Confirmation {
    /// The payment bought the order's tickets.
    Paid(Purchase),
    /// This payment was seen before; nothing changed.
    AlreadyKnown,
    /// The payment could not buy the tickets (they were sold after the
    /// hold lapsed, or the order was cancelled or paid already): it is
    /// being refunded whole.
    TurnedBack,
}

/// What cancelling an order or some of its tickets did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cancellation {
    /// The tickets that became available; none when they were freed before.
    pub freed: Vec<u32>,
    /// What goes back to the buyer, in minor units.
    pub refund_minor: i64,
}

/// Where one of an order's tickets is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderTicket {
    /// Held for the order while its payment runs.
    Held,
    /// Bought by the order.
    Sold,
    /// No longer the order's: it expired, failed, or was cancelled.
    Gone,
}

/// A ticket as anyone may see it: never who holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TicketStatus {
    Available,
    Reserved,
    Purchased,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    pub user: UserId,
    pub until: Timestamp,
    pub tickets: Vec<u32>,
    /// The checkout order whose payment these tickets wait for, if any.
    pub order: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub user: UserId,
    /// Every ticket the order covered; cancelled ones are available again.
    pub tickets: Vec<u32>,
    pub amount_minor: i64,
    pub state: OrderState,
    /// The provider's reference of the payment that bought the order.
    pub payment: Option<String>,
    pub session: Option<Session>,
    /// How much of the payment went back, in minor units.
    pub refunded_minor: i64,
    /// How many refunds were issued for this order, turned-back payments
    /// included: numbers each refund's idempotency key.
    pub refunds: u32,
    /// Payments that could not buy the order and were refunded whole.
    pub turned_back: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderState {
    /// Its tickets wait in hold `hold` while the buyer pays at the provider.
    AwaitingPayment {
        hold: u32,
    },
    Paid,
    /// The hold ended before any payment arrived.
    Expired,
    /// The provider reported that the payment failed.
    PaymentFailed,
    /// A payment arrived when the tickets could no longer be had, and was
    /// refunded.
    TurnedBack,
    /// An admin cancelled the order.
    Cancelled,
}

impl Order {
    /// What is left of the payment to refund.
    pub fn refundable_minor(&self) -> i64 {
        match self.payment {
            Some(_) => self.amount_minor - self.refunded_minor,
            None => 0,
        }
    }
}

/// One performance's seat map and the rules that change it.
#[derive(Clone, Debug)]
pub struct Booking {
    info: PerformanceInfo,
    plan: Arc<SeatPlan>,

    /// `AVAILABLE`, `RESERVED` or `PURCHASED`, per ticket.
    status: Vec<u8>,
    /// Per ticket: the hold number while reserved, the order number while
    /// purchased, and while available the id + 1 of the user whose hold
    /// lapsed (0 for none).
    link: Vec<u32>,

    holds: HashMap<u32, Hold>,
    /// The live holds by instant, so expiry finds what is due without a scan.
    expiries: BTreeSet<(Timestamp, u32)>,
    /// TODO: orders stay here as long as the process runs, also for
    /// performances long past; they belong in the log and a store of
    /// orders, not in the seat map's memory.
    ///
    /// Shared, so that a snapshot takes the actor a pointer copy per order
    /// rather than a deep copy: a stadium sells hundreds of thousands, and
    /// every request waits while the actor snapshots. A change to an order
    /// a snapshot still holds copies that one order (`Arc::make_mut`).
    orders: HashMap<u32, Arc<Order>>,

    /// Tickets each user holds or owns here, for the per-user maximum.
    owned_by_user: HashMap<UserId, u32>,
    available_by_section: Vec<u32>,

    next_hold: u32,
    next_order: u32,
    /// The sequence number of the last event applied.
    seq: u64,

    /// Work the changes committed since the last [`Booking::take_owed`]
    /// owe outside: to be appended with their events, in the same commit.
    owed: Vec<OutboxEntry>,
}

/// Everything needed to rebuild a [`Booking`] exactly, without its log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingSnapshot {
    pub performance: PerformanceId,
    pub seq: u64,
    pub status: Vec<u8>,
    pub link: Vec<u32>,
    pub holds: Vec<(u32, Hold)>,
    /// Encoded as the orders themselves: sharing them is not stored.
    pub orders: Vec<(u32, Arc<Order>)>,
    pub next_hold: u32,
    pub next_order: u32,
}

impl Booking {
    /// A performance with every ticket available.
    pub fn new(info: PerformanceInfo, plan: Arc<SeatPlan>) -> Booking {
        let tickets = plan.ticket_count() as usize;
        let available_by_section = (0..plan.layout().sections.len())
            .map(|section| plan.section_range(section).len() as u32)
            .collect();
        Booking {
            info,
            plan,
            status: vec![AVAILABLE; tickets],
            link: vec![0; tickets],
            holds: HashMap::new(),
            expiries: BTreeSet::new(),
            orders: HashMap::new(),
            owned_by_user: HashMap::new(),
            available_by_section,
            next_hold: 1,
            next_order: 1,
            seq: 0,
            owed: Vec::new(),
        }
    }

    pub fn info(&self) -> &PerformanceInfo {
        &self.info
    }

    pub fn plan(&self) -> &Arc<SeatPlan> {
        &self.plan
    }

    pub fn seq(&self) -> u64 {
        self.seq
    }

    pub fn available(&self) -> u32 {
        self.available_by_section.iter().sum()
    }

    pub fn available_in_section(&self, section: usize) -> u32 {
        self.available_by_section[section]
    }

    pub fn ticket_status(&self, ticket: u32) -> TicketStatus {
        match self.status[ticket as usize] {
            AVAILABLE => TicketStatus::Available,
            RESERVED => TicketStatus::Reserved,
            _ => TicketStatus::Purchased,
        }
    }

    /// Until when hold `hold` lasts, if it is live.
    pub fn hold_until(&self, hold: u32) -> Option<Timestamp> {
        self.holds.get(&hold).map(|hold| hold.until)
    }

    /// The instant of the earliest live hold, for the actor's timer.
    pub fn next_expiry(&self) -> Option<Timestamp> {
        self.expiries.first().map(|&(until, _)| until)
    }

    pub fn holds(&self) -> impl Iterator<Item = (u32, &Hold)> {
        self.holds.iter().map(|(&number, hold)| (number, hold))
    }

    pub fn orders(&self) -> impl Iterator<Item = (OrderId, &Order)> {
        let performance = self.info.id;
        self.orders.iter().map(move |(&number, order)| (OrderId { performance, number }, &**order))
    }

    /// Where one of an order's tickets is now.
    pub fn order_ticket(&self, number: u32, ticket: u32) -> OrderTicket {
        let (status, link) = (self.status[ticket as usize], self.link[ticket as usize]);
        let in_hold = status == RESERVED && self.holds[&link].order == Some(number);
        match status {
            PURCHASED if link == number => OrderTicket::Sold,
            RESERVED if in_hold => OrderTicket::Held,
            _ => OrderTicket::Gone,
        }
    }

    /// Every sold ticket, with its order and buyer.
    pub fn sold_tickets(&self) -> impl Iterator<Item = (u32, OrderId, UserId)> + '_ {
        let performance = self.info.id;
        (0..self.plan.ticket_count()).filter(|&t| self.status[t as usize] == PURCHASED).map(
            move |ticket| {
                let number = self.link[ticket as usize];
                (ticket, OrderId { performance, number }, self.orders[&number].user)
            },
        )
    }

    /// Ends every hold whose instant is not after `now`.
    pub fn expire_due(&mut self, now: Timestamp, events: &mut Vec<BookingEvent>) {
        while let Some(&(until, hold)) = self.expiries.first() {
            if until > now {
                break;
            }
            let Hold { user, tickets, .. } = self.holds[&hold].clone();
            self.commit(Change::HoldExpired { hold, user, tickets }, events);
        }
    }

    /// Holds tickets for `user` until `now + hold_ttl`, all or none.
    pub fn reserve(
        &mut self,
        now: Timestamp,
        user: UserId,
        selection: &Selection,
        hold_ttl: Duration,
        events: &mut Vec<BookingEvent>,
    ) -> Result<Reservation, Rejection> {
        self.expire_due(now, events);

        let wanted = self.check_selection(selection)?;
        if !self.info.is_on_sale(now) {
            return Err(Rejection::NotOnSale);
        }
        self.check_user_limit(user, wanted.len())?;
        let tickets = match wanted {
            Wanted::Tickets(tickets) => self.check_available(tickets)?,
            Wanted::Quantity { section, quantity } => self.pick(section, quantity)?,
        };

        let hold = self.next_hold;
        let until = now.plus(hold_ttl);
        let change = Change::Reserved { hold, user, until, tickets: tickets.clone() };
        self.commit(change, events);
        Ok(Reservation { hold, until, tickets })
    }

    /// What buying `tickets` would cost `user`, if each is a live hold of
    /// theirs. Changes nothing but expiries.
    pub fn quote(
        &mut self,
        now: Timestamp,
        user: UserId,
        tickets: &[u32],
        events: &mut Vec<BookingEvent>,
    ) -> Result<Quote, Rejection> {
        self.expire_due(now, events);

        self.check_list(tickets)?;
        self.check_order_size(tickets.len())?;
        self.check_held_by(user, tickets)?;
        self.check_not_in_checkout(tickets)?;
        let amount_minor = self.price_of(tickets);
        let mut holds: Vec<u32> =
            tickets.iter().map(|&ticket| self.link[ticket as usize]).collect();
        holds.sort_unstable();
        holds.dedup();
        Ok(Quote { amount_minor, holds })
    }

    /// Buys `tickets`, each a live hold of `user`, in one new order.
    ///
    /// Idempotent for a payment: if `user` already bought exactly these
    /// tickets with `payment` (a retried or doubled request that the
    /// provider answered with the same charge), that order is the answer
    /// and nothing changes.
    pub fn purchase(
        &mut self,
        now: Timestamp,
        user: UserId,
        tickets: &[u32],
        payment: &str,
        events: &mut Vec<BookingEvent>,
    ) -> Result<Purchase, Rejection> {
        if let Some(done) = self.purchased_with(user, tickets, payment) {
            return Ok(done);
        }
        let Quote { amount_minor, .. } = self.quote(now, user, tickets, events)?;

        let order = OrderId { performance: self.info.id, number: self.next_order };
        let change = Change::Purchased {
            order,
            user,
            tickets: tickets.to_vec(),
            amount_minor,
            payment: payment.to_owned(),
        };
        self.commit(change, events);
        Ok(Purchase { order, tickets: tickets.to_vec(), amount_minor })
    }

    /// The order in which `user` bought exactly `tickets` with `payment`.
    fn purchased_with(&self, user: UserId, tickets: &[u32], payment: &str) -> Option<Purchase> {
        let &first = tickets.first()?;
        if first >= self.plan.ticket_count() || self.status[first as usize] != PURCHASED {
            return None;
        }
        let number = self.link[first as usize];
        let order = &self.orders[&number];
        let same_tickets = order.tickets.len() == tickets.len()
            && tickets.iter().all(|ticket| order.tickets.contains(ticket));
        if order.user != user || order.payment.as_deref() != Some(payment) || !same_tickets {
            return None;
        }
        let order_id = OrderId { performance: self.info.id, number };
        Some(Purchase {
            order: order_id,
            tickets: order.tickets.clone(),
            amount_minor: order.amount_minor,
        })
    }

    /// Gives back tickets, each a live hold of `user`.
    pub fn release(
        &mut self,
        now: Timestamp,
        user: UserId,
        tickets: &[u32],
        events: &mut Vec<BookingEvent>,
    ) -> Result<(), Rejection> {
        self.expire_due(now, events);

        self.check_list(tickets)?;
        self.check_held_by(user, tickets)?;
        self.check_not_in_checkout(tickets)?;
        self.commit(Change::Released { user, tickets: tickets.to_vec() }, events);
        Ok(())
    }

    /// Moves tickets, each a live hold of `user`, into a new order that
    /// waits for its payment at the provider, held until at least
    /// `now + ttl` (a hold that lasts longer is not shortened).
    ///
    /// Idempotent: asking again for exactly the tickets of a checkout of
    /// `user` that still waits answers with that checkout.
    pub fn open_checkout(
        &mut self,
        now: Timestamp,
        user: UserId,
        tickets: &[u32],
        ttl: Duration,
        events: &mut Vec<BookingEvent>,
    ) -> Result<Checkout, Rejection> {
        self.expire_due(now, events);

        self.check_list(tickets)?;
        if let Some(waiting) = self.waiting_checkout(user, tickets) {
            return Ok(waiting);
        }
        self.check_order_size(tickets.len())?;
        self.check_held_by(user, tickets)?;
        self.check_not_in_checkout(tickets)?;

        let amount_minor = self.price_of(tickets);
        let longest = tickets.iter().map(|&t| self.holds[&self.link[t as usize]].until).max();
        let until = now.plus(ttl).max(longest.unwrap_or(now));
        let order = OrderId { performance: self.info.id, number: self.next_order };
        let hold = self.next_hold;
        let change = Change::CheckoutOpened {
            order,
            hold,
            user,
            tickets: tickets.to_vec(),
            amount_minor,
            until,
        };
        self.commit(change, events);
        Ok(Checkout { order, amount_minor, until, session: None })
    }

    /// The checkout of `user` that waits with exactly `tickets`.
    fn waiting_checkout(&self, user: UserId, tickets: &[u32]) -> Option<Checkout> {
        let &first = tickets.first()?;
        if self.status[first as usize] != RESERVED {
            return None;
        }
        let hold = &self.holds[&self.link[first as usize]];
        let number = hold.order?;
        let order = &self.orders[&number];
        let same_tickets = order.tickets.len() == tickets.len()
            && tickets.iter().all(|ticket| order.tickets.contains(ticket));
        if order.user != user || !same_tickets {
            return None;
        }
        Some(Checkout {
            order: OrderId { performance: self.info.id, number },
            amount_minor: order.amount_minor,
            until: hold.until,
            session: order.session.clone(),
        })
    }

    /// Records the provider's session of an order. The first session
    /// recorded stays: one order has one session.
    pub fn open_session(
        &mut self,
        order: OrderId,
        session: Session,
        events: &mut Vec<BookingEvent>,
    ) -> Result<Session, Rejection> {
        let record = self.order(order)?;
        if let Some(known) = &record.session {
            return Ok(known.clone());
        }
        self.commit(Change::SessionOpened { order, session: session.clone() }, events);
        Ok(session)
    }

    /// Honours a payment the provider confirmed for `order`: it buys the
    /// tickets if the order still waits for it, or if its hold lapsed and
    /// every ticket is still available. Any other payment is turned back:
    /// refunded whole, never paid for with someone else's seat.
    ///
    /// Idempotent: a payment seen before changes nothing. `amount_minor`
    /// is `None` for a payment in another currency than the order's, which
    /// can never buy it.
    pub fn confirm_payment(
        &mut self,
        now: Timestamp,
        order: OrderId,
        payment: &str,
        amount_minor: Option<i64>,
        events: &mut Vec<BookingEvent>,
    ) -> Result<Confirmation, Rejection> {
        self.expire_due(now, events);

        let record = self.order(order)?;
        let known = record.payment.as_deref() == Some(payment)
            || record.turned_back.iter().any(|turned| turned == payment);
        if known {
            return Ok(Confirmation::AlreadyKnown);
        }

        let (user, tickets, record_amount) =
            (record.user, record.tickets.clone(), record.amount_minor);
        let can_buy = amount_minor == Some(record.amount_minor)
            && match record.state {
                OrderState::AwaitingPayment { .. } => true,
                OrderState::Expired | OrderState::PaymentFailed => {
                    tickets.iter().all(|&ticket| self.is_free(ticket))
                }
                _ => false,
            };
        if !can_buy {
            let payment = payment.to_owned();
            self.commit(Change::PaymentTurnedBack { order, payment, amount_minor }, events);
            return Ok(Confirmation::TurnedBack);
        }

        let change =
            Change::OrderPaid { order, user, tickets: tickets.clone(), payment: payment.into() };
        self.commit(change, events);
        let amount_minor = record_amount;
        Ok(Confirmation::Paid(Purchase { order, tickets, amount_minor }))
    }

    /// The provider reports the order's payment failed: a checkout still
    /// waiting ends, and its tickets are available again.
    pub fn fail_payment(
        &mut self,
        now: Timestamp,
        order: OrderId,
        events: &mut Vec<BookingEvent>,
    ) -> Result<(), Rejection> {
        self.expire_due(now, events);

        let record = self.order(order)?;
        let freed = match record.state {
            OrderState::AwaitingPayment { hold } => self.holds[&hold].tickets.clone(),
            OrderState::Expired => Vec::new(),
            _ => return Ok(()),
        };
        let user = record.user;
        self.commit(Change::PaymentFailed { order, user, freed }, events);
        Ok(())
    }

    /// Cancels an order: its tickets that are still its own become
    /// available, and what is left of its payment is refunded. Cancelling
    /// again frees and refunds nothing more.
    pub fn cancel_order(
        &mut self,
        now: Timestamp,
        order: OrderId,
        events: &mut Vec<BookingEvent>,
    ) -> Result<Cancellation, Rejection> {
        self.expire_due(now, events);

        let record = self.order(order)?;
        let freed = match record.state {
            OrderState::AwaitingPayment { hold } => self.holds[&hold].tickets.clone(),
            OrderState::Paid => self.still_sold(order.number, &record.tickets),
            _ => return Ok(Cancellation { freed: Vec::new(), refund_minor: 0 }),
        };
        let (user, refund_minor) = (record.user, record.refundable_minor());
        let change = Change::OrderCancelled { order, user, freed: freed.clone(), refund_minor };
        self.commit(change, events);
        Ok(Cancellation { freed, refund_minor })
    }

    /// Cancels some tickets of a paid order: those still sold become
    /// available, and their price goes back, as far as the payment still
    /// covers it. Tickets cancelled before are skipped.
    pub fn cancel_tickets(
        &mut self,
        now: Timestamp,
        order: OrderId,
        tickets: &[u32],
        events: &mut Vec<BookingEvent>,
    ) -> Result<Cancellation, Rejection> {
        self.expire_due(now, events);

        self.check_list(tickets)?;
        let record = self.order(order)?;
        let strangers: Vec<u32> =
            tickets.iter().copied().filter(|ticket| !record.tickets.contains(ticket)).collect();
        if !strangers.is_empty() {
            return Err(Rejection::NotInOrder { tickets: strangers });
        }
        match record.state {
            OrderState::Paid => {}
            // Part of a checkout cannot be paid for; it is all or nothing.
            OrderState::AwaitingPayment { .. } => return Err(Rejection::AwaitingPayment),
            _ => return Ok(Cancellation { freed: Vec::new(), refund_minor: 0 }),
        }

        let freed = self.still_sold(order.number, tickets);
        if freed.is_empty() {
            return Ok(Cancellation { freed, refund_minor: 0 });
        }
        let refund_minor = self.price_of(&freed).min(record.refundable_minor());
        let user = record.user;
        let change = Change::TicketsCancelled { order, user, freed: freed.clone(), refund_minor };
        self.commit(change, events);
        Ok(Cancellation { freed, refund_minor })
    }

    /// Gives back `amount_minor` of a paid order's payment (all that is
    /// left if `None`), leaving its tickets sold.
    pub fn refund_order(
        &mut self,
        order: OrderId,
        amount_minor: Option<i64>,
        events: &mut Vec<BookingEvent>,
    ) -> Result<i64, Rejection> {
        let record = self.order(order)?;
        if record.payment.is_none() || record.state == OrderState::TurnedBack {
            return Err(Rejection::NotPaid);
        }
        if amount_minor.is_some_and(|amount| amount <= 0) {
            return Err(Rejection::ZeroRefund);
        }
        let refundable = record.refundable_minor();
        let amount_minor = amount_minor.unwrap_or(refundable);
        if amount_minor > refundable || amount_minor == 0 {
            return Err(Rejection::RefundTooLarge { refundable });
        }

        self.commit(Change::OrderRefunded { order, amount_minor }, events);
        Ok(amount_minor)
    }

    pub fn order(&self, order: OrderId) -> Result<&Order, Rejection> {
        let known = order.performance == self.info.id;
        let record = known.then(|| self.orders.get(&order.number)).flatten().map(|order| &**order);
        record.ok_or(Rejection::UnknownOrder { order })
    }

    /// The tickets of `tickets` that order `number` still has sold.
    fn still_sold(&self, number: u32, tickets: &[u32]) -> Vec<u32> {
        let sold = |&&ticket: &&u32| {
            self.status[ticket as usize] == PURCHASED && self.link[ticket as usize] == number
        };
        tickets.iter().filter(sold).copied().collect()
    }

    fn price_of(&self, tickets: &[u32]) -> i64 {
        // Saturating, though validated layouts cannot overflow: a panic here
        // would take down every performance of the shard.
        tickets
            .iter()
            .fold(0i64, |total, &ticket| total.saturating_add(self.plan.price_minor(ticket)))
    }

    /// The work owed outside since the last call, oldest first.
    pub fn take_owed(&mut self) -> Vec<OutboxEntry> {
        std::mem::take(&mut self.owed)
    }

    /// Applies a change that the rules already allowed, live or in replay.
    pub fn apply(&mut self, event: &BookingEvent) {
        assert_eq!(event.performance, self.info.id, "an event of another performance");
        assert_eq!(event.seq, self.seq + 1, "booking events must be applied in order");
        self.seq = event.seq;

        match &event.change {
            Change::Reserved { hold, user, until, tickets } => {
                self.apply_reserved(*hold, *user, *until, tickets)
            }
            Change::Purchased { order, user, tickets, amount_minor, payment } => {
                self.apply_purchased(order.number, *user, tickets, *amount_minor, payment)
            }
            Change::Released { user, tickets } => self.apply_released(*user, tickets),
            Change::HoldExpired { hold, .. } => self.apply_expired(*hold),
            Change::CheckoutOpened { order, hold, user, tickets, amount_minor, until } => self
                .apply_checkout_opened(order.number, *hold, *user, tickets, *amount_minor, *until),
            Change::SessionOpened { order, session } => {
                self.order_mut(order.number).session = Some(session.clone())
            }
            Change::OrderPaid { order, payment, .. } => self.apply_paid(order.number, payment),
            Change::PaymentTurnedBack { order, payment, .. } => {
                self.apply_turned_back(order.number, payment)
            }
            Change::PaymentFailed { order, user, freed } => {
                self.free(*user, freed);
                self.order_mut(order.number).state = OrderState::PaymentFailed;
            }
            Change::OrderCancelled { order, user, freed, refund_minor } => {
                self.free(*user, freed);
                self.add_refund(order.number, *refund_minor);
                self.order_mut(order.number).state = OrderState::Cancelled;
            }
            Change::TicketsCancelled { order, user, freed, refund_minor } => {
                self.free(*user, freed);
                self.add_refund(order.number, *refund_minor);
            }
            Change::OrderRefunded { order, amount_minor } => {
                self.add_refund(order.number, *amount_minor)
            }
        }
    }

    /// Applies a change the rules made, and notes the work it owes outside.
    fn commit(&mut self, change: Change, events: &mut Vec<BookingEvent>) {
        let owed = self.owed_by(&change);
        let event = BookingEvent { performance: self.info.id, seq: self.seq + 1, change };
        self.apply(&event);
        events.push(event);
        self.owed.extend(owed);
    }

    /// The work a change owes outside, read before it is applied.
    fn owed_by(&self, change: &Change) -> Vec<OutboxEntry> {
        let performance = self.info.id;
        let sale = |order: OrderId, user: UserId, tickets: &[u32], amount_minor: i64| Sale {
            order,
            user,
            performance,
            tickets: tickets.to_vec(),
            amount_minor,
        };
        match change {
            Change::Purchased { order, user, tickets, amount_minor, .. } => {
                vec![OutboxEntry::Sale(sale(*order, *user, tickets, *amount_minor))]
            }
            Change::OrderPaid { order, user, tickets, .. } => {
                let amount_minor = self.orders[&order.number].amount_minor;
                vec![OutboxEntry::Sale(sale(*order, *user, tickets, amount_minor))]
            }
            Change::HoldExpired { hold, .. } => match self.holds[hold].order {
                Some(number) => vec![self.expire_session(number)],
                None => Vec::new(),
            },
            Change::PaymentTurnedBack { order, payment, amount_minor } => {
                let record = &self.orders[&order.number];
                let mut owed = Vec::new();
                if amount_minor.is_none_or(|amount| amount > 0) {
                    owed.push(self.refund(*order, payment, *amount_minor));
                }
                // The buyer hears of it when the payment came too late for
                // the order; a stray one beside a paid or waiting order is
                // no news of theirs.
                let late =
                    !matches!(record.state, OrderState::Paid | OrderState::AwaitingPayment { .. });
                if late {
                    let amount = amount_minor.unwrap_or(record.amount_minor);
                    let notice = sale(*order, record.user, &record.tickets, amount);
                    owed.push(OutboxEntry::LatePaymentRefunded(notice));
                }
                owed
            }
            Change::OrderCancelled { order, refund_minor, .. } => {
                let mut owed = Vec::new();
                if let OrderState::AwaitingPayment { .. } = self.orders[&order.number].state {
                    owed.push(self.expire_session(order.number));
                }
                owed.extend(self.refund_of_payment(*order, *refund_minor));
                owed
            }
            Change::TicketsCancelled { order, refund_minor, .. } => {
                self.refund_of_payment(*order, *refund_minor).into_iter().collect()
            }
            Change::OrderRefunded { order, amount_minor } => {
                self.refund_of_payment(*order, *amount_minor).into_iter().collect()
            }
            Change::Reserved { .. }
            | Change::Released { .. }
            | Change::CheckoutOpened { .. }
            | Change::SessionOpened { .. }
            | Change::PaymentFailed { .. } => Vec::new(),
        }
    }

    fn expire_session(&self, number: u32) -> OutboxEntry {
        let order = OrderId { performance: self.info.id, number };
        let session = self.orders[&number].session.as_ref().map(|session| session.id.clone());
        OutboxEntry::ExpireSession { order, session }
    }

    /// A refund of the order's own payment, if there is anything to refund.
    fn refund_of_payment(&self, order: OrderId, amount_minor: i64) -> Option<OutboxEntry> {
        let payment = self.orders[&order.number].payment.as_deref()?;
        (amount_minor > 0).then(|| self.refund(order, payment, Some(amount_minor)))
    }

    /// The next refund of the order, numbered for its idempotency key.
    fn refund(&self, order: OrderId, payment: &str, amount_minor: Option<i64>) -> OutboxEntry {
        let number = self.orders[&order.number].refunds + 1;
        OutboxEntry::Refund(Refund {
            order,
            payment: payment.to_owned(),
            amount_minor,
            idempotency_key: format!("refund-{order}-{number}"),
        })
    }

    /// Refuses tickets that wait in a checkout: only its payment buys them,
    /// and only its expiry, failure or cancellation frees them.
    fn check_not_in_checkout(&self, tickets: &[u32]) -> Result<(), Rejection> {
        let waiting: Vec<u32> = tickets
            .iter()
            .copied()
            .filter(|&ticket| {
                self.status[ticket as usize] == RESERVED
                    && self.holds[&self.link[ticket as usize]].order.is_some()
            })
            .collect();
        if !waiting.is_empty() {
            return Err(Rejection::InCheckout { tickets: waiting });
        }
        Ok(())
    }

    fn check_list(&self, tickets: &[u32]) -> Result<(), Rejection> {
        if tickets.is_empty() {
            return Err(Rejection::NoTickets);
        }

        let count = self.plan.ticket_count();
        let unknown: Vec<u32> = tickets.iter().copied().filter(|&t| t >= count).collect();
        if !unknown.is_empty() {
            return Err(Rejection::UnknownTickets { tickets: unknown });
        }

        let mut seen = std::collections::HashSet::with_capacity(tickets.len());
        if let Some(&ticket) = tickets.iter().find(|&&ticket| !seen.insert(ticket)) {
            return Err(Rejection::DuplicateTicket { ticket });
        }
        Ok(())
    }

    /// The order limit, for reserves and purchases (and quotes of them) but
    /// not releases: giving tickets back is no order.
    fn check_order_size(&self, count: usize) -> Result<(), Rejection> {
        if count > self.info.order_max as usize {
            return Err(Rejection::OrderLimit { max: self.info.order_max });
        }
        Ok(())
    }

    fn check_selection<'a>(&self, selection: &'a Selection) -> Result<Wanted<'a>, Rejection> {
        match selection {
            Selection::Tickets(tickets) => {
                self.check_list(tickets)?;
                self.check_order_size(tickets.len())?;
                Ok(Wanted::Tickets(tickets))
            }
            Selection::Quantity { section, quantity } => {
                // ZeroQuantity outranks UnknownSection, as `Rejection` lists.
                if *quantity == 0 {
                    return Err(Rejection::ZeroQuantity);
                }
                let Some(index) = self.plan.layout().section_index(section) else {
                    return Err(Rejection::UnknownSection { section: section.clone() });
                };
                self.check_order_size(*quantity as usize)?;
                Ok(Wanted::Quantity { section: index, quantity: *quantity })
            }
        }
    }

    fn check_available(&self, tickets: &[u32]) -> Result<Vec<u32>, Rejection> {
        let taken: Vec<u32> =
            tickets.iter().copied().filter(|&ticket| !self.is_free(ticket)).collect();
        if !taken.is_empty() {
            return Err(Rejection::NotAvailable { tickets: taken });
        }
        Ok(tickets.to_vec())
    }

    fn check_user_limit(&self, user: UserId, more: usize) -> Result<(), Rejection> {
        let owned = self.owned_by_user.get(&user).copied().unwrap_or(0) as usize;
        if owned + more > self.info.user_max as usize {
            return Err(Rejection::UserLimit { max: self.info.user_max });
        }
        Ok(())
    }

    /// Checks that every ticket is a live hold of `user`: refuses with
    /// `NotHeld` if any is not, else with `HoldExpired` if any of theirs
    /// lapsed. Assumes due holds were expired already.
    fn check_held_by(&self, user: UserId, tickets: &[u32]) -> Result<(), Rejection> {
        let mut not_held = Vec::new();
        let mut expired = Vec::new();
        for &ticket in tickets {
            let (status, link) = (self.status[ticket as usize], self.link[ticket as usize]);
            match status {
                RESERVED if self.holds[&link].user == user => {}
                // Link 0 is "no lapsed hold", even though the last user id
                // wraps to it: better "not held" than a false "expired".
                AVAILABLE if link != 0 && link == user.0.wrapping_add(1) => expired.push(ticket),
                _ => not_held.push(ticket),
            }
        }

        if !not_held.is_empty() {
            return Err(Rejection::NotHeld { tickets: not_held });
        }
        if !expired.is_empty() {
            return Err(Rejection::HoldExpired { tickets: expired });
        }
        Ok(())
    }

    /// Chooses `quantity` free tickets of a section by the documented rule.
    fn pick(&self, section: usize, quantity: u32) -> Result<Vec<u32>, Rejection> {
        let available = self.available_by_section[section];
        if available < quantity {
            let section = self.plan.layout().sections[section].name.clone();
            return Err(Rejection::SoldOut { section, available });
        }

        let range = self.plan.section_range(section);
        let picked = match self.plan.layout().sections[section].kind {
            SectionKind::Standing { .. } => self.first_available(range, quantity),
            SectionKind::Seated { rows, seats_per_row } => {
                let rows = Rows { first: range.start, rows, seats_per_row };
                self.adjacent_in_one_row(rows, quantity)
                    .unwrap_or_else(|| self.nearest_free(rows, quantity))
            }
        };
        Ok(picked)
    }

    fn is_free(&self, ticket: u32) -> bool {
        self.status[ticket as usize] == AVAILABLE
    }

    fn first_available(&self, range: std::ops::Range<u32>, quantity: u32) -> Vec<u32> {
        range.filter(|&ticket| self.is_free(ticket)).take(quantity as usize).collect()
    }

    /// The row nearest the stage with `quantity` adjacent free seats, and in
    /// it the run whose middle is nearest the row's middle, ties to the
    /// lower seat number.
    fn adjacent_in_one_row(&self, rows: Rows, quantity: u32) -> Option<Vec<u32>> {
        (0..rows.rows).find_map(|row| {
            let first = rows.first + row * rows.seats_per_row;
            let mut best: Option<(u32, u32)> = None;
            let mut run = 0;
            for seat in 0..rows.seats_per_row {
                run = if self.is_free(first + seat) { run + 1 } else { 0 };
                if run < quantity {
                    continue;
                }
                let start = seat + 1 - quantity;
                let distance = rows.distance_from_middle(start, quantity);
                if best.is_none_or(|(best_distance, _)| distance < best_distance) {
                    best = Some((distance, start));
                }
            }
            best.map(|(_, start)| (first + start..first + start + quantity).collect())
        })
    }

    /// The fallback when no row has room for the party: free seats one by
    /// one, rows nearest the stage first, and in a row the seats nearest its
    /// middle first, ties to the lower seat number.
    fn nearest_free(&self, rows: Rows, quantity: u32) -> Vec<u32> {
        let mut free: Vec<(u32, u32, u32)> = Vec::new();
        for row in 0..rows.rows {
            let first = rows.first + row * rows.seats_per_row;
            for seat in 0..rows.seats_per_row {
                if self.is_free(first + seat) {
                    free.push((row, rows.distance_from_middle(seat, 1), seat));
                }
            }
        }
        free.sort_unstable();
        free.iter()
            .take(quantity as usize)
            .map(|&(row, _, seat)| rows.first + row * rows.seats_per_row + seat)
            .collect()
    }

    fn apply_reserved(&mut self, hold: u32, user: UserId, until: Timestamp, tickets: &[u32]) {
        for &ticket in tickets {
            debug_assert_eq!(self.status[ticket as usize], AVAILABLE);
            self.set(ticket, RESERVED, hold);
        }
        self.holds.insert(hold, Hold { user, until, tickets: tickets.to_vec(), order: None });
        self.expiries.insert((until, hold));
        *self.owned_by_user.entry(user).or_default() += tickets.len() as u32;
        self.next_hold = self.next_hold.max(hold + 1);
    }

    fn apply_checkout_opened(
        &mut self,
        order: u32,
        hold: u32,
        user: UserId,
        tickets: &[u32],
        amount_minor: i64,
        until: Timestamp,
    ) {
        for &ticket in tickets {
            self.take_from_hold(ticket);
            self.set(ticket, RESERVED, hold);
        }
        let record = Hold { user, until, tickets: tickets.to_vec(), order: Some(order) };
        self.holds.insert(hold, record);
        self.expiries.insert((until, hold));
        self.next_hold = self.next_hold.max(hold + 1);

        let state = OrderState::AwaitingPayment { hold };
        let record = Order::new(user, tickets, amount_minor, state, None);
        self.orders.insert(order, Arc::new(record));
        self.next_order = self.next_order.max(order + 1);
    }

    /// Buys the order's tickets: out of its hold, or, after the hold
    /// lapsed, straight from available.
    fn apply_paid(&mut self, number: u32, payment: &str) {
        let order = self.order_mut(number);
        order.state = OrderState::Paid;
        order.payment = Some(payment.to_owned());
        let (user, tickets) = (order.user, order.tickets.clone());

        let mut from_available = 0;
        for &ticket in &tickets {
            if self.status[ticket as usize] == RESERVED {
                self.take_from_hold(ticket);
            } else {
                from_available += 1;
            }
            self.set(ticket, PURCHASED, number);
        }
        if from_available > 0 {
            *self.owned_by_user.entry(user).or_default() += from_available;
        }
    }

    fn apply_turned_back(&mut self, number: u32, payment: &str) {
        let order = self.order_mut(number);
        order.refunds += 1;
        order.turned_back.push(payment.to_owned());
        if matches!(order.state, OrderState::Expired | OrderState::PaymentFailed) {
            order.state = OrderState::TurnedBack;
        }
    }

    fn add_refund(&mut self, number: u32, amount_minor: i64) {
        if amount_minor > 0 {
            let order = self.order_mut(number);
            order.refunded_minor += amount_minor;
            order.refunds += 1;
        }
    }

    /// Makes tickets of `user`, held or sold, available again.
    fn free(&mut self, user: UserId, tickets: &[u32]) {
        for &ticket in tickets {
            if self.status[ticket as usize] == RESERVED {
                self.take_from_hold(ticket);
            }
            self.set(ticket, AVAILABLE, 0);
        }
        if !tickets.is_empty() {
            self.disown(user, tickets.len());
        }
    }

    fn order_mut(&mut self, number: u32) -> &mut Order {
        Arc::make_mut(self.orders.get_mut(&number).expect("a change names a known order"))
    }

    fn apply_purchased(
        &mut self,
        order: u32,
        user: UserId,
        tickets: &[u32],
        amount_minor: i64,
        payment: &str,
    ) {
        for &ticket in tickets {
            self.take_from_hold(ticket);
            self.set(ticket, PURCHASED, order);
        }
        let record =
            Order::new(user, tickets, amount_minor, OrderState::Paid, Some(payment.to_owned()));
        self.orders.insert(order, Arc::new(record));
        self.next_order = self.next_order.max(order + 1);
    }

    fn apply_released(&mut self, user: UserId, tickets: &[u32]) {
        for &ticket in tickets {
            self.take_from_hold(ticket);
            self.set(ticket, AVAILABLE, 0);
        }
        self.disown(user, tickets.len());
    }

    fn apply_expired(&mut self, hold: u32) {
        let Hold { user, until, tickets, order } =
            self.holds.remove(&hold).expect("an expiry names a live hold");
        self.expiries.remove(&(until, hold));
        if let Some(number) = order {
            self.order_mut(number).state = OrderState::Expired;
        }
        for &ticket in &tickets {
            self.set(ticket, AVAILABLE, user.0.wrapping_add(1));
        }
        self.disown(user, tickets.len());
    }

    /// Takes a reserved ticket out of its hold, dropping the hold once empty.
    fn take_from_hold(&mut self, ticket: u32) {
        debug_assert_eq!(self.status[ticket as usize], RESERVED);
        let number = self.link[ticket as usize];
        let hold = self.holds.get_mut(&number).expect("a reserved ticket has a hold");
        hold.tickets.retain(|&held| held != ticket);
        if hold.tickets.is_empty() {
            let until = hold.until;
            self.holds.remove(&number);
            self.expiries.remove(&(until, number));
        }
    }

    fn disown(&mut self, user: UserId, count: usize) {
        let owned = self.owned_by_user.get_mut(&user).expect("the user owned these tickets");
        *owned -= count as u32;
        if *owned == 0 {
            self.owned_by_user.remove(&user);
        }
    }

    /// Sets a ticket's status and link, keeping the section counts right.
    fn set(&mut self, ticket: u32, status: u8, link: u32) {
        let was_available = self.status[ticket as usize] == AVAILABLE;
        let now_available = status == AVAILABLE;
        if was_available != now_available {
            let section = self.plan.place(ticket).section;
            if now_available {
                self.available_by_section[section] += 1;
            } else {
                self.available_by_section[section] -= 1;
            }
        }
        self.status[ticket as usize] = status;
        self.link[ticket as usize] = link;
    }

    pub fn snapshot(&self) -> BookingSnapshot {
        let mut holds: Vec<(u32, Hold)> =
            self.holds.iter().map(|(&n, hold)| (n, hold.clone())).collect();
        holds.sort_unstable_by_key(|&(number, _)| number);
        let mut orders: Vec<(u32, Arc<Order>)> =
            self.orders.iter().map(|(&n, order)| (n, order.clone())).collect();
        orders.sort_unstable_by_key(|&(number, _)| number);
        BookingSnapshot {
            performance: self.info.id,
            seq: self.seq,
            status: self.status.clone(),
            link: self.link.clone(),
            holds,
            orders,
            next_hold: self.next_hold,
            next_order: self.next_order,
        }
    }

    /// Rebuilds a performance from a snapshot of it; the derived indexes
    /// (expiries, counts) are recomputed rather than trusted.
    pub fn restore(
        info: PerformanceInfo,
        plan: Arc<SeatPlan>,
        snapshot: BookingSnapshot,
    ) -> Result<Booking, SnapshotMismatch> {
        let tickets = plan.ticket_count() as usize;
        if snapshot.performance != info.id
            || snapshot.status.len() != tickets
            || snapshot.link.len() != tickets
        {
            return Err(SnapshotMismatch { performance: info.id });
        }

        let mut booking = Booking::new(info, plan);
        booking.seq = snapshot.seq;
        booking.next_hold = snapshot.next_hold;
        booking.next_order = snapshot.next_order;
        booking.link = snapshot.link;
        booking.status = vec![AVAILABLE; tickets];
        for (ticket, &status) in snapshot.status.iter().enumerate() {
            let link = booking.link[ticket];
            booking.set(ticket as u32, status, link);
        }
        for (number, hold) in snapshot.holds {
            booking.expiries.insert((hold.until, number));
            *booking.owned_by_user.entry(hold.user).or_default() += hold.tickets.len() as u32;
            booking.holds.insert(number, hold);
        }
        for (number, order) in snapshot.orders {
            let sold = booking.still_sold(number, &order.tickets).len() as u32;
            if sold > 0 {
                *booking.owned_by_user.entry(order.user).or_default() += sold;
            }
            booking.orders.insert(number, order);
        }
        Ok(booking)
    }
}

impl Order {
    fn new(
        user: UserId,
        tickets: &[u32],
        amount_minor: i64,
        state: OrderState,
        payment: Option<String>,
    ) -> Order {
        Order {
            user,
            tickets: tickets.to_vec(),
            amount_minor,
            state,
            payment,
            session: None,
            refunded_minor: 0,
            refunds: 0,
            turned_back: Vec::new(),
        }
    }
}

/// A snapshot that does not fit the performance it claims to be of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the snapshot of performance {performance} does not match its seat plan")]
pub struct SnapshotMismatch {
    pub performance: PerformanceId,
}

/// A selection that passed validation.
enum Wanted<'a> {
    Tickets(&'a [u32]),
    Quantity { section: usize, quantity: u32 },
}

impl Wanted<'_> {
    fn len(&self) -> usize {
        match self {
            Wanted::Tickets(tickets) => tickets.len(),
            Wanted::Quantity { quantity, .. } => *quantity as usize,
        }
    }
}

/// The geometry of one seated section.
#[derive(Clone, Copy, Debug)]
struct Rows {
    first: u32,
    rows: u32,
    seats_per_row: u32,
}

impl Rows {
    /// How far the middle of seats `start .. start + count` lies from the
    /// middle of the row, in half seats (so it stays an integer).
    fn distance_from_middle(&self, start: u32, count: u32) -> u32 {
        let run_middle = 2 * start + count - 1;
        let row_middle = self.seats_per_row - 1;
        run_middle.abs_diff(row_middle)
    }
}
