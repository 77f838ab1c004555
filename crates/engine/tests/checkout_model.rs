//! Money and tickets never disagree, through random sequences of
//! reserves, checkouts, payments (on time, late, twice, of the wrong
//! amount), failures, cancellations, refunds, clock moves and restarts.
//!
//! This is a property test of invariants rather than of a second model:
//! after every step, every ticket sold belongs to a paid order that lists
//! it; no paid order lost a ticket an admin did not cancel; every payment
//! the provider took either bought its order or is refunded in full; refunds
//! of a payment never exceed it; every paid order owes exactly one sale; and
//! no hold outlives its instant. At the end, replaying the log and restoring
//! a snapshot both rebuild the same booking.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use engine::booking::{Booking, Confirmation, OrderState, Selection, Session, TicketStatus};
use engine::catalogue::{Layout, PerformanceInfo, SeatPlan, Section, SectionKind};
use engine::events::BookingEvent;
use engine::ids::{CityId, OrderId, PerformanceId, UserId, VenueId};
use engine::outbox::OutboxEntry;
use engine::time::Timestamp;
use proptest::prelude::*;

const T0: Timestamp = Timestamp(1_900_000_000_000);
const MINUTE: i64 = 60_000;
const PERFORMANCE: PerformanceId = PerformanceId(5);
const TICKETS: u32 = 8;
const PRICE: i64 = 2500;
const HOLD_TTL: Duration = Duration::from_secs(10 * 60);
const CHECKOUT_TTL: Duration = Duration::from_secs(15 * 60);

#[derive(Clone, Debug)]
enum Op {
    Reserve {
        user: u32,
        tickets: Vec<u32>,
    },
    Checkout {
        user: u32,
        tickets: Vec<u32>,
    },
    Session {
        order: u32,
    },
    /// `attempt` picks one of a few payment references per order, so that
    /// the same payment is reported again; `exact` whether it pays the
    /// order's amount.
    Pay {
        order: u32,
        attempt: u32,
        exact: bool,
    },
    Fail {
        order: u32,
    },
    Cancel {
        order: u32,
    },
    /// `ticket` picks one of the order's tickets, by position.
    CancelTicket {
        order: u32,
        ticket: u32,
    },
    Refund {
        order: u32,
        amount: Option<i64>,
    },
    Advance {
        minutes: i64,
    },
    Restart,
}

fn tickets() -> impl Strategy<Value = Vec<u32>> {
    proptest::collection::btree_set(0..TICKETS, 1..=3).prop_map(|set| set.into_iter().collect())
}

fn op() -> impl Strategy<Value = Op> {
    let order = 1..4u32;
    prop_oneof![
        4 => (0..3u32, tickets()).prop_map(|(user, tickets)| Op::Reserve { user, tickets }),
        4 => (0..3u32, tickets()).prop_map(|(user, tickets)| Op::Checkout { user, tickets }),
        1 => order.clone().prop_map(|order| Op::Session { order }),
        4 => (order.clone(), 0..3u32, prop::bool::weighted(0.9))
            .prop_map(|(order, attempt, exact)| Op::Pay { order, attempt, exact }),
        1 => order.clone().prop_map(|order| Op::Fail { order }),
        1 => order.clone().prop_map(|order| Op::Cancel { order }),
        2 => (order.clone(), 0..4u32).prop_map(|(order, ticket)| Op::CancelTicket { order, ticket }),
        2 => (order, prop::option::of(-1..6000i64)).prop_map(|(order, amount)| Op::Refund { order, amount }),
        3 => (0..20i64).prop_map(|minutes| Op::Advance { minutes }),
        1 => Just(Op::Restart),
    ]
}

/// What the test knows from outside the booking: what it was told, and
/// what the booking owed the world.
#[derive(Default)]
struct Ledger {
    /// Payments the provider took: reference → (order, amount).
    taken: BTreeMap<String, (OrderId, i64)>,
    /// Refunds owed per payment reference, in minor units.
    refunded: BTreeMap<String, i64>,
    /// Refund idempotency keys seen: each must be new.
    refund_keys: BTreeSet<String>,
    /// Sales owed per order.
    sales: BTreeMap<OrderId, u32>,
    /// Tickets an admin cancelled, per order.
    cancelled: BTreeMap<OrderId, BTreeSet<u32>>,
}

impl Ledger {
    fn record_owed(&mut self, owed: Vec<OutboxEntry>) {
        for entry in owed {
            match entry {
                OutboxEntry::Sale(sale) => *self.sales.entry(sale.order).or_default() += 1,
                OutboxEntry::Refund(refund) => {
                    assert!(
                        self.refund_keys.insert(refund.idempotency_key.clone()),
                        "a refund key reused"
                    );
                    // No amount: all of the payment.
                    let all = self.taken.get(&refund.payment).map(|&(_, amount)| amount);
                    let amount = refund.amount_minor.or(all).expect("a refund of a payment taken");
                    *self.refunded.entry(refund.payment).or_default() += amount;
                }
                OutboxEntry::LatePaymentRefunded(_) | OutboxEntry::ExpireSession { .. } => {}
            }
        }
    }
}

struct Run {
    booking: Booking,
    info: PerformanceInfo,
    plan: Arc<SeatPlan>,
    now: i64,
    log: Vec<BookingEvent>,
    ledger: Ledger,
}

impl Run {
    fn new() -> Run {
        let section = Section {
            name: "Stalls".into(),
            kind: SectionKind::Seated { rows: 2, seats_per_row: TICKETS / 2 },
            price_minor: PRICE,
        };
        let plan = Arc::new(SeatPlan::new(Arc::new(Layout { sections: vec![section] })));
        let info = PerformanceInfo {
            id: PERFORMANCE,
            venue: VenueId(1),
            city: CityId(1),
            title: "Checkout model".into(),
            start_local: "2030-03-17T20:00:00".into(),
            start: Timestamp(T0.0 + 24 * 60 * MINUTE),
            utc_offset_seconds: 0,
            on_sale: T0,
            order_max: 4,
            user_max: 6,
        };
        let booking = Booking::new(info.clone(), plan.clone());
        Run { booking, info, plan, now: 0, log: Vec::new(), ledger: Ledger::default() }
    }

    fn order(&self, number: u32) -> OrderId {
        order_id(number)
    }

    fn step(&mut self, op: &Op) {
        let now = Timestamp(T0.0 + self.now);
        let mut events = Vec::new();
        let booking = &mut self.booking;
        let order_of = |number: &u32| order_id(*number);
        match op {
            Op::Reserve { user, tickets } => {
                let selection = Selection::Tickets(tickets.clone());
                let _ = booking.reserve(now, UserId(*user), &selection, HOLD_TTL, &mut events);
            }
            Op::Checkout { user, tickets } => {
                let _ =
                    booking.open_checkout(now, UserId(*user), tickets, CHECKOUT_TTL, &mut events);
            }
            Op::Session { order } => {
                let session = Session { id: format!("cs_{order}"), url: "https://pay".into() };
                let _ = booking.open_session(order_of(order), session, &mut events);
            }
            Op::Pay { order, attempt, exact } => {
                self.pay(now, *order, *attempt, *exact, &mut events)
            }
            Op::Fail { order } => {
                let _ = booking.fail_payment(now, order_of(order), &mut events);
            }
            Op::Cancel { order } => {
                let order = order_of(order);
                if let Ok(cancelled) = booking.cancel_order(now, order, &mut events) {
                    self.ledger.cancelled.entry(order).or_default().extend(cancelled.freed);
                }
            }
            Op::CancelTicket { order, ticket } => {
                let order = order_of(order);
                let Ok(record) = booking.order(order) else { return };
                let ticket = record.tickets[*ticket as usize % record.tickets.len()];
                if let Ok(cancelled) = booking.cancel_tickets(now, order, &[ticket], &mut events) {
                    self.ledger.cancelled.entry(order).or_default().extend(cancelled.freed);
                }
            }
            Op::Refund { order, amount } => {
                let _ = booking.refund_order(order_of(order), *amount, &mut events);
            }
            Op::Advance { minutes } => {
                self.now += minutes * MINUTE;
                let now = Timestamp(T0.0 + self.now);
                booking.expire_due(now, &mut events);
            }
            Op::Restart => {
                self.ledger.record_owed(self.booking.take_owed());
                self.booking = self.replayed();
            }
        }
        self.log.extend(events);
        self.ledger.record_owed(self.booking.take_owed());
    }

    /// The provider took a payment and reports it.
    fn pay(
        &mut self,
        now: Timestamp,
        number: u32,
        attempt: u32,
        exact: bool,
        events: &mut Vec<BookingEvent>,
    ) {
        let order = self.order(number);
        let Ok(record) = self.booking.order(order) else { return };
        let amount = if exact { record.amount_minor } else { record.amount_minor - 1 };
        let payment = format!("pi_{number}_{attempt}_{exact}");
        // The third attempt pays in another currency than the order's.
        let reported = (attempt < 2).then_some(amount);

        let confirmed = self.booking.confirm_payment(now, order, &payment, reported, events);
        match confirmed.expect("a known order takes any payment report") {
            Confirmation::Paid(_) | Confirmation::TurnedBack => {
                let first = self.ledger.taken.insert(payment, (order, amount));
                assert!(first.is_none(), "a known payment was honoured again");
            }
            Confirmation::AlreadyKnown => {
                assert!(
                    self.ledger.taken.contains_key(&payment),
                    "an unknown payment was called known"
                );
            }
        }
    }

    fn replayed(&self) -> Booking {
        let mut replayed = Booking::new(self.info.clone(), self.plan.clone());
        for event in &self.log {
            replayed.apply(event);
        }
        assert_eq!(replayed.snapshot(), self.booking.snapshot(), "replay rebuilt another booking");
        let restored =
            Booking::restore(self.info.clone(), self.plan.clone(), self.booking.snapshot())
                .expect("a snapshot of this performance");
        assert_eq!(
            restored.snapshot(),
            self.booking.snapshot(),
            "a snapshot rebuilt another booking"
        );
        replayed
    }

    fn check(&self) {
        self.check_tickets();
        self.check_money();
        self.check_sales();
        self.check_holds();
    }

    /// Every sold ticket is a ticket of a paid order, and no paid order
    /// lost a ticket that an admin did not cancel.
    fn check_tickets(&self) {
        let mut sold_to: BTreeMap<u32, OrderId> = BTreeMap::new();
        for (ticket, order, _) in self.booking.sold_tickets() {
            let record = self.booking.order(order).expect("a sold ticket's order exists");
            assert!(
                record.tickets.contains(&ticket),
                "ticket {ticket} sold to an order without it"
            );
            assert!(matches!(record.state, OrderState::Paid | OrderState::Cancelled));
            sold_to.insert(ticket, order);
        }
        for (order, record) in self.booking.orders() {
            if record.state != OrderState::Paid {
                continue;
            }
            let cancelled = self.ledger.cancelled.get(&order);
            for ticket in &record.tickets {
                let was_cancelled = cancelled.is_some_and(|set| set.contains(ticket));
                assert!(
                    was_cancelled || sold_to.get(ticket) == Some(&order),
                    "paid order {order} lost ticket {ticket}"
                );
            }
        }
    }

    /// Every payment taken bought its order or is refunded in full; no
    /// payment is refunded more than it paid.
    fn check_money(&self) {
        for (payment, &(order, amount)) in &self.ledger.taken {
            let record = self.booking.order(order).expect("a paid order exists");
            let refunded = self.ledger.refunded.get(payment).copied().unwrap_or(0);
            assert!(refunded <= amount, "{payment} refunded {refunded} of {amount}");
            if record.payment.as_deref() == Some(payment.as_str()) {
                assert_eq!(refunded, record.refunded_minor, "{payment}: refunds owed and recorded");
            } else {
                assert_eq!(refunded, amount, "{payment} bought nothing and must be refunded whole");
            }
        }
        for (_, record) in self.booking.orders() {
            assert!(record.refunded_minor <= record.amount_minor);
        }
    }

    fn check_sales(&self) {
        for (order, record) in self.booking.orders() {
            let sales = self.ledger.sales.get(&order).copied().unwrap_or(0);
            let was_paid = record.payment.is_some();
            assert_eq!(sales, u32::from(was_paid), "order {order} owes {sales} sales");
        }
    }

    /// No hold outlives its instant once the clock has passed it.
    fn check_holds(&self) {
        let now = Timestamp(T0.0 + self.now);
        let mut live = self.booking.clone();
        let mut events = Vec::new();
        live.expire_due(now, &mut events);
        for (_, hold) in live.holds() {
            assert!(hold.until > now, "a hold outlived its instant");
        }
        for (_, record) in live.orders() {
            if let OrderState::AwaitingPayment { hold } = record.state {
                assert!(live.hold_until(hold).is_some(), "a waiting order without its hold");
            }
        }
    }

    /// After every hold's end, nothing is held and no order still waits.
    fn finish(&mut self) {
        self.step(&Op::Advance { minutes: 60 });
        let statuses = (0..TICKETS).map(|ticket| self.booking.ticket_status(ticket));
        assert!(statuses.into_iter().all(|status| status != TicketStatus::Reserved));
        for (order, record) in self.booking.orders() {
            assert!(
                !matches!(record.state, OrderState::AwaitingPayment { .. }),
                "{order} still waits"
            );
        }
        self.replayed();
    }
}

fn order_id(number: u32) -> OrderId {
    OrderId { performance: PERFORMANCE, number }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn money_and_tickets_never_disagree(ops in proptest::collection::vec(op(), 1..60)) {
        let mut run = Run::new();
        for op in &ops {
            run.step(op);
            run.check();
        }
        run.finish();
        run.check();
    }

    /// Snapshots share their orders with the live seat map, and a change
    /// copies the order it touches: what a snapshot shows must stay as it
    /// was when taken, whatever refunds, payments or cancellations follow.
    #[test]
    fn a_snapshot_keeps_what_was_true_when_taken(ops in proptest::collection::vec(op(), 1..60)) {
        let mut run = Run::new();
        let mut taken = Vec::new();
        for op in &ops {
            run.step(op);
            taken.push((run.log.len(), run.booking.snapshot()));
        }
        run.finish();

        for (logged, snapshot) in taken {
            let mut replayed = Booking::new(run.info.clone(), run.plan.clone());
            for event in &run.log[..logged] {
                replayed.apply(event);
            }
            prop_assert_eq!(replayed.snapshot(), snapshot);
        }
    }
}
