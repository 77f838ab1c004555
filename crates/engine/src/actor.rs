//! The actor that owns one performance: it applies the booking rules one
//! message at a time, so no two requests ever see the seat map half changed,
//! and no lock guards it.
//!
//! A command runs the pure core, hands the resulting events to the journal
//! and moves on to the next message at once: the reply waits for the
//! journal's acknowledgement, not the actor. Expiry runs on the actor's own
//! timer, armed for the earliest live hold; every message also expires what
//! is due, so a late timer can never keep a lapsed hold alive.
//!
//! Every message carries its own reply channel. That lets callers use
//! `try_send`, which refuses at once when the mailbox is full instead of
//! waiting for room, and still get an answer.

use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Addr, AsyncContext, Context, Handler, Message, SpawnHandle};
use tokio::sync::oneshot;

use crate::availability::PublishedAvailability;
use crate::booking::{
    Booking, BookingSnapshot, Cancellation, Checkout, Confirmation, Order, OrderState, OrderTicket,
    Purchase, Quote, Rejection, Reservation, Selection, Session, TicketStatus,
};
use crate::events::{BookingEvent, Event};
use crate::ids::OrderId;
use crate::ids::UserId;
use crate::index::{RecordEvents, TicketIndex};
use crate::journal::{Journal, JournalError};
use crate::time::{Clock, Timestamp};

/// Why a command did not happen.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Rejected(#[from] Rejection),
    #[error(transparent)]
    Journal(#[from] JournalError),
}

pub type Reply<T> = oneshot::Sender<Result<T, CommandError>>;

/// Hold tickets for a user.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Reserve {
    pub user: UserId,
    pub selection: Selection,
    pub reply: Reply<Reservation>,
}

/// Price a purchase of held tickets, before the payment runs.
#[derive(Message)]
#[rtype(result = "()")]
pub struct QuotePurchase {
    pub user: UserId,
    pub tickets: Vec<u32>,
    pub reply: Reply<Quote>,
}

/// Buy held tickets that the payment provider has been paid for.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CompletePurchase {
    pub user: UserId,
    pub tickets: Vec<u32>,
    pub payment: String,
    pub reply: Reply<Purchase>,
}

/// Give back held tickets.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Release {
    pub user: UserId,
    pub tickets: Vec<u32>,
    pub reply: Reply<()>,
}

/// How many tickets each section has left.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Availability {
    pub reply: oneshot::Sender<Vec<u32>>,
}

/// A page of tickets in numbering order, after `after`, at most `limit`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ListTickets {
    pub after: Option<u32>,
    pub limit: usize,
    pub only: Option<TicketStatus>,
    pub reply: oneshot::Sender<Vec<(u32, TicketStatus)>>,
}

/// The seat map as it is now, unless it is still at `unless_seq`: the
/// checkpoint passes the `seq` of the last snapshot that became durable
/// (`None` for none, which stands for the empty seat map, `seq` 0).
#[derive(Message)]
#[rtype(result = "()")]
pub struct TakeSnapshot {
    pub unless_seq: Option<u64>,
    pub reply: oneshot::Sender<Option<BookingSnapshot>>,
}

pub struct PerformanceActor {
    booking: Booking,
    journal: Arc<dyn Journal>,
    clock: Arc<dyn Clock>,
    index: Addr<TicketIndex>,
    hold_ttl: Duration,
    mailbox_capacity: usize,
    /// The instant the expiry timer is armed for, and its handle.
    timer: Option<(Timestamp, SpawnHandle)>,
    availability: Arc<PublishedAvailability>,
}

/// What a performance actor needs besides its seat map.
#[derive(Clone)]
pub struct ActorDeps {
    pub journal: Arc<dyn Journal>,
    pub clock: Arc<dyn Clock>,
    /// Sees every event before the reply goes out, so a user's own list of
    /// tickets never lags behind what they were told.
    pub index: Addr<TicketIndex>,
    pub hold_ttl: Duration,
    pub mailbox_capacity: usize,
    /// Where this actor publishes its counts after every change.
    pub availability: Arc<PublishedAvailability>,
}

impl PerformanceActor {
    pub fn new(booking: Booking, deps: ActorDeps) -> PerformanceActor {
        PerformanceActor {
            booking,
            journal: deps.journal,
            clock: deps.clock,
            index: deps.index,
            hold_ttl: deps.hold_ttl,
            mailbox_capacity: deps.mailbox_capacity,
            timer: None,
            availability: deps.availability,
        }
    }

    /// Sends `result` once `events` are durable; at once if there are none
    /// or the command was refused.
    fn publish<T: Send + 'static>(
        &mut self,
        events: Vec<BookingEvent>,
        result: Result<T, Rejection>,
        reply: Option<Reply<T>>,
        ctx: &mut Context<Self>,
    ) {
        if events.is_empty() {
            if let Some(reply) = reply {
                let _ = reply.send(result.map_err(CommandError::from));
            }
            return;
        }

        metrics::counter!("engine_booking_events_total").increment(events.len() as u64);
        self.availability.publish(&self.booking);
        self.index.do_send(RecordEvents(events.clone()));
        self.arm_timer(ctx);

        // The work the events owe outside goes in the same append, so the
        // same commit: a sale is never durable without its receipts' entry.
        let owed = self.booking.take_owed().into_iter().map(Event::Outbox);
        let records = events.into_iter().map(Event::Booking).chain(owed).collect();
        let ack = Box::new(move |durable: Result<(), JournalError>| {
            if let Some(reply) = reply {
                let answer = match (durable, result) {
                    (Err(error), _) => Err(CommandError::Journal(error)),
                    (Ok(()), result) => result.map_err(CommandError::from),
                };
                let _ = reply.send(answer);
            }
        });
        self.journal.append(records, ack);
    }

    /// Makes sure a timer fires at the earliest live hold's instant.
    fn arm_timer(&mut self, ctx: &mut Context<Self>) {
        let Some(next) = self.booking.next_expiry() else {
            return;
        };
        if let Some((armed, handle)) = self.timer {
            if armed <= next {
                return;
            }
            ctx.cancel_future(handle);
        }

        let delay = self.clock.now().until(next);
        let handle = ctx.run_later(delay, |actor, ctx| actor.on_timer(ctx));
        self.timer = Some((next, handle));
    }

    fn on_timer(&mut self, ctx: &mut Context<Self>) {
        self.timer = None;

        let mut events = Vec::new();
        self.booking.expire_due(self.clock.now(), &mut events);
        if !events.is_empty() {
            tracing::debug!(performance = %self.booking.info().id, expired = events.len(), "holds expired");
        }
        self.publish::<()>(events, Ok(()), None, ctx);

        // A timer can fire a little early or a little late; either way the
        // next one is armed for whatever is still live.
        self.arm_timer(ctx);
    }
}

impl Actor for PerformanceActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(self.mailbox_capacity);
        self.availability.publish(&self.booking);
        self.arm_timer(ctx);
    }
}

impl Handler<Reserve> for PerformanceActor {
    type Result = ();

    fn handle(&mut self, msg: Reserve, ctx: &mut Context<Self>) {
        let mut events = Vec::new();
        let now = self.clock.now();
        let result =
            self.booking.reserve(now, msg.user, &msg.selection, self.hold_ttl, &mut events);
        self.publish(events, result, Some(msg.reply), ctx);
    }
}

impl Handler<QuotePurchase> for PerformanceActor {
    type Result = ();

    fn handle(&mut self, msg: QuotePurchase, ctx: &mut Context<Self>) {
        let mut events = Vec::new();
        let result = self.booking.quote(self.clock.now(), msg.user, &msg.tickets, &mut events);
        self.publish(events, result, Some(msg.reply), ctx);
    }
}

impl Handler<CompletePurchase> for PerformanceActor {
    type Result = ();

    fn handle(&mut self, msg: CompletePurchase, ctx: &mut Context<Self>) {
        let mut events = Vec::new();
        let now = self.clock.now();
        let result = self.booking.purchase(now, msg.user, &msg.tickets, &msg.payment, &mut events);
        self.publish(events, result, Some(msg.reply), ctx);
    }
}

impl Handler<Release> for PerformanceActor {
    type Result = ();

    fn handle(&mut self, msg: Release, ctx: &mut Context<Self>) {
        let mut events = Vec::new();
        let result = self.booking.release(self.clock.now(), msg.user, &msg.tickets, &mut events);
        self.publish(events, result, Some(msg.reply), ctx);
    }
}

impl Handler<Availability> for PerformanceActor {
    type Result = ();

    fn handle(&mut self, msg: Availability, ctx: &mut Context<Self>) {
        self.expire_for_read(ctx);
        let sections = self.booking.plan().layout().sections.len();
        let counts = (0..sections).map(|s| self.booking.available_in_section(s)).collect();
        let _ = msg.reply.send(counts);
    }
}

impl Handler<ListTickets> for PerformanceActor {
    type Result = ();

    fn handle(&mut self, msg: ListTickets, ctx: &mut Context<Self>) {
        self.expire_for_read(ctx);
        let first = msg.after.map_or(0, |after| after.saturating_add(1));
        let page = (first..self.booking.plan().ticket_count())
            .map(|ticket| (ticket, self.booking.ticket_status(ticket)))
            .filter(|&(_, status)| msg.only.is_none_or(|only| only == status))
            .take(msg.limit)
            .collect();
        let _ = msg.reply.send(page);
    }
}

impl Handler<TakeSnapshot> for PerformanceActor {
    type Result = ();

    fn handle(&mut self, msg: TakeSnapshot, _ctx: &mut Context<Self>) {
        // A performance nobody has booked yet needs no snapshot: its
        // creation event rebuilds it.
        let changed = msg.unless_seq.unwrap_or(0) != self.booking.seq();
        let _ = msg.reply.send(changed.then(|| self.booking.snapshot()));
    }
}

impl PerformanceActor {
    /// Reads show holds as they are now, even if the timer has not fired.
    fn expire_for_read(&mut self, ctx: &mut Context<Self>) {
        let mut events = Vec::new();
        self.booking.expire_due(self.clock.now(), &mut events);
        self.publish::<()>(events, Ok(()), None, ctx);
    }
}

// Checkouts and orders.

/// Move held tickets into an order that waits for its payment.
#[derive(Message)]
#[rtype(result = "()")]
pub struct OpenCheckout {
    pub user: UserId,
    pub tickets: Vec<u32>,
    pub ttl: Duration,
    pub reply: Reply<Checkout>,
}

/// Record the provider's session of an order.
#[derive(Message)]
#[rtype(result = "()")]
pub struct OpenSession {
    pub order: OrderId,
    pub session: Session,
    pub reply: Reply<Session>,
}

/// Honour a payment the provider confirmed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ConfirmPayment {
    pub order: OrderId,
    pub payment: String,
    /// `None`: paid in another currency than the order's.
    pub amount_minor: Option<i64>,
    pub reply: Reply<Confirmation>,
}

/// The provider reports an order's payment failed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct FailPayment {
    pub order: OrderId,
    pub reply: Reply<()>,
}

/// An admin cancels a whole order, or some of its tickets.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CancelOrder {
    pub order: OrderId,
    /// `None`: the whole order.
    pub tickets: Option<Vec<u32>>,
    pub reply: Reply<Cancellation>,
}

/// An admin refunds part or all of an order's payment.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RefundOrder {
    pub order: OrderId,
    pub amount_minor: Option<i64>,
    pub reply: Reply<i64>,
}

/// An order as it is now, with its tickets' states.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderDetails {
    pub order: Order,
    /// Each ticket of the order: where it is for the order, and its status
    /// as anyone sees it (a ticket gone from the order may be someone
    /// else's now).
    pub tickets: Vec<(u32, OrderTicket, TicketStatus)>,
    /// While the order waits for its payment: until when.
    pub held_until: Option<Timestamp>,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct ReadOrder {
    pub order: OrderId,
    pub reply: oneshot::Sender<Result<OrderDetails, Rejection>>,
}

/// The orders waiting for their payment that have a session, to ask the
/// provider about after a restart.
#[derive(Message)]
#[rtype(result = "()")]
pub struct WaitingCheckouts {
    pub reply: oneshot::Sender<Vec<(OrderId, Session)>>,
}

impl Handler<OpenCheckout> for PerformanceActor {
    type Result = ();

    fn handle(&mut self, msg: OpenCheckout, ctx: &mut Context<Self>) {
        let mut events = Vec::new();
        let now = self.clock.now();
        let result = self.booking.open_checkout(now, msg.user, &msg.tickets, msg.ttl, &mut events);
        self.publish(events, result, Some(msg.reply), ctx);
    }
}

impl Handler<OpenSession> for PerformanceActor {
    type Result = ();

    fn handle(&mut self, msg: OpenSession, ctx: &mut Context<Self>) {
        let mut events = Vec::new();
        let result = self.booking.open_session(msg.order, msg.session, &mut events);
        self.publish(events, result, Some(msg.reply), ctx);
    }
}

impl Handler<ConfirmPayment> for PerformanceActor {
    type Result = ();

    fn handle(&mut self, msg: ConfirmPayment, ctx: &mut Context<Self>) {
        let mut events = Vec::new();
        let now = self.clock.now();
        let result = self.booking.confirm_payment(
            now,
            msg.order,
            &msg.payment,
            msg.amount_minor,
            &mut events,
        );
        self.publish(events, result, Some(msg.reply), ctx);
    }
}

impl Handler<FailPayment> for PerformanceActor {
    type Result = ();

    fn handle(&mut self, msg: FailPayment, ctx: &mut Context<Self>) {
        let mut events = Vec::new();
        let result = self.booking.fail_payment(self.clock.now(), msg.order, &mut events);
        self.publish(events, result, Some(msg.reply), ctx);
    }
}

impl Handler<CancelOrder> for PerformanceActor {
    type Result = ();

    fn handle(&mut self, msg: CancelOrder, ctx: &mut Context<Self>) {
        let mut events = Vec::new();
        let now = self.clock.now();
        let result = match &msg.tickets {
            None => self.booking.cancel_order(now, msg.order, &mut events),
            Some(tickets) => self.booking.cancel_tickets(now, msg.order, tickets, &mut events),
        };
        self.publish(events, result, Some(msg.reply), ctx);
    }
}

impl Handler<RefundOrder> for PerformanceActor {
    type Result = ();

    fn handle(&mut self, msg: RefundOrder, ctx: &mut Context<Self>) {
        let mut events = Vec::new();
        let result = self.booking.refund_order(msg.order, msg.amount_minor, &mut events);
        self.publish(events, result, Some(msg.reply), ctx);
    }
}

impl Handler<ReadOrder> for PerformanceActor {
    type Result = ();

    fn handle(&mut self, msg: ReadOrder, ctx: &mut Context<Self>) {
        self.expire_for_read(ctx);
        let number = msg.order.number;
        let details = self.booking.order(msg.order).cloned().map(|order| {
            let booking = &self.booking;
            let tickets = order
                .tickets
                .iter()
                .map(|&t| (t, booking.order_ticket(number, t), booking.ticket_status(t)))
                .collect();
            let held_until = match order.state {
                OrderState::AwaitingPayment { hold } => self.booking.hold_until(hold),
                _ => None,
            };
            OrderDetails { order, tickets, held_until }
        });
        let _ = msg.reply.send(details);
    }
}

impl Handler<WaitingCheckouts> for PerformanceActor {
    type Result = ();

    fn handle(&mut self, msg: WaitingCheckouts, ctx: &mut Context<Self>) {
        self.expire_for_read(ctx);
        let waiting = self
            .booking
            .orders()
            .filter(|(_, order)| matches!(order.state, OrderState::AwaitingPayment { .. }))
            .filter_map(|(id, order)| Some((id, order.session.clone()?)))
            .collect();
        let _ = msg.reply.send(waiting);
    }
}
