//! A tiny language for booking scenarios, and [`check`], which runs one.
//!
//! A script is a few optional header lines, then one command a line, each
//! with the outcome it should have after `->`:
//!
//! ```text
//! layout Stalls seated 3x6 5000, Floor standing 5 2000
//! limits order_max 4 user_max 6 ttl 10m
//! sale from +0 until +1d
//!
//! reserve u1 Stalls x2        -> held A3 A4 until +10m (hold 1)
//! reserve u2 A3               -> not-available A3
//! advance 10m
//! reserve u2 A3               -> expired u1 A3 A4; held A3 until +20m (hold 2)
//! purchase u1 A3              -> not-held A3
//! ```
//!
//! Times are offsets from the script's start instant. A seat is named by its
//! row and number (`A3`), a standing place by its number (`#2`); either may
//! be prefixed by its section (`Stalls.A3`, `Floor.#2`), which is needed only
//! when two sections are of the same kind. `@17` names ticket index 17, so
//! that tickets outside the plan can be written.
//!
//! `restart` rebuilds the booking from its log and from its snapshot, checks
//! both equal it, and carries on with the restored one.
//!
//! Expiries that a command performs before its own work are part of its
//! outcome (`expired u1 A3 A4; ...`), so no state change goes unseen.
//!
//! Besides comparing outcomes, [`check`] proves after every command that a
//! refusal (and a quote) changed nothing but those expiries, and at the end
//! that replaying the events, or restoring a snapshot, rebuilds the same
//! booking.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use engine::booking::{
    Booking, Cancellation, Confirmation, Order, OrderState, Rejection, Selection, Session,
    TicketStatus,
};
use engine::catalogue::{row_name, Layout, PerformanceInfo, SeatPlan, Section, SectionKind};
use engine::events::{BookingEvent, Change};
use engine::ids::{CityId, OrderId, PerformanceId, UserId, VenueId};
use engine::outbox::OutboxEntry;
use engine::time::Timestamp;

/// The instant every script starts at: 2030-03-17, an arbitrary fixed day.
const T0: Timestamp = Timestamp(1_900_000_000_000);

/// How long a checkout keeps its tickets in every script.
const CHECKOUT_TTL: Duration = Duration::from_secs(15 * 60);

/// Runs `script` and panics with a line diff if any outcome differs.
#[track_caller]
pub fn check(script: &str) {
    let mut header = Header::default();
    let mut stage: Option<Stage> = None;
    let mut report = Report::default();
    for (number, raw) in script.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (command, expected) = match line.split_once("->") {
            Some((command, expected)) => (command.trim(), Some(normalize(expected))),
            None => (line, None),
        };
        if stage.is_none() && header.accept(command) {
            continue;
        }
        let stage = stage.get_or_insert_with(|| Stage::new(&header));
        let actual = stage.run(command, number + 1);
        report.add(command, expected, actual);
    }
    if let Some(stage) = &stage {
        stage.rebuilt();
    }
    if report.failed {
        panic!("scenario outcomes differ (- expected, + actual):\n{}", report.text);
    }
}

/// Collapses runs of whitespace so alignment in a script does not matter.
fn normalize(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The script with each outcome marked as it matched or not.
#[derive(Default)]
struct Report {
    text: String,
    failed: bool,
}

impl Report {
    fn add(&mut self, command: &str, expected: Option<String>, actual: Option<String>) {
        match (expected, actual) {
            (None, None) => writeln!(self.text, "  {command}").unwrap(),
            (Some(expected), Some(actual)) if expected == actual => {
                writeln!(self.text, "  {command:<28} -> {actual}").unwrap()
            }
            (expected, actual) => {
                self.failed = true;
                let show = |outcome: Option<String>| outcome.unwrap_or("(no outcome)".into());
                writeln!(self.text, "- {command:<28} -> {}", show(expected)).unwrap();
                writeln!(self.text, "+ {command:<28} -> {}", show(actual)).unwrap();
            }
        }
    }
}

/// The performance a script runs against, set by its header lines.
struct Header {
    sections: Vec<Section>,
    order_max: u32,
    user_max: u32,
    ttl: Duration,
    on_sale: i64,
    start: i64,
}

impl Default for Header {
    fn default() -> Header {
        Header {
            sections: parse_layout("Stalls seated 3x6 5000, Floor standing 5 2000"),
            order_max: 4,
            user_max: 6,
            ttl: Duration::from_secs(600),
            on_sale: 0,
            start: parse_duration("1d"),
        }
    }
}

impl Header {
    /// Takes a header line; false if `line` is not one.
    fn accept(&mut self, line: &str) -> bool {
        let (keyword, rest) = line.split_once(' ').unwrap_or((line, ""));
        match keyword {
            "layout" => self.sections = parse_layout(rest),
            "limits" => self.set_limits(rest),
            "sale" => self.set_sale(rest),
            _ => return false,
        }
        true
    }

    fn set_limits(&mut self, text: &str) {
        let words: Vec<&str> = text.split_whitespace().collect();
        for pair in words.chunks(2) {
            match pair {
                ["order_max", value] => self.order_max = value.parse().expect("order_max"),
                ["user_max", value] => self.user_max = value.parse().expect("user_max"),
                ["ttl", value] => self.ttl = Duration::from_millis(parse_duration(value) as u64),
                _ => panic!("bad limits {pair:?}"),
            }
        }
    }

    fn set_sale(&mut self, text: &str) {
        match text.split_whitespace().collect::<Vec<_>>()[..] {
            ["from", on_sale, "until", start] => {
                self.on_sale = parse_offset(on_sale);
                self.start = parse_offset(start);
            }
            _ => panic!("expected `sale from OFFSET until OFFSET`, got {text:?}"),
        }
    }

    fn info(&self) -> PerformanceInfo {
        PerformanceInfo {
            id: PerformanceId(7),
            venue: VenueId(1),
            city: CityId(1),
            title: "Scenario".into(),
            start_local: "2030-03-18T20:00:00".into(),
            start: at(self.start),
            utc_offset_seconds: 0,
            on_sale: at(self.on_sale),
            order_max: self.order_max,
            user_max: self.user_max,
        }
    }
}

/// `Stalls seated 3x6 5000, Floor standing 5 2000`: name, kind, size, price.
fn parse_layout(text: &str) -> Vec<Section> {
    let section = |part: &str| {
        let words: Vec<&str> = part.split_whitespace().collect();
        let [name, kind, size, price] = words[..] else { panic!("bad section {part:?}") };
        let kind = match kind {
            "seated" => {
                let (rows, seats) = size.split_once('x').expect("seated needs ROWSxSEATS");
                SectionKind::Seated {
                    rows: rows.parse().unwrap(),
                    seats_per_row: seats.parse().unwrap(),
                }
            }
            "standing" => SectionKind::Standing { capacity: size.parse().unwrap() },
            _ => panic!("bad section kind {kind:?}"),
        };
        Section { name: name.into(), kind, price_minor: price.parse().unwrap() }
    };
    text.split(',').map(section).collect()
}

fn at(offset: i64) -> Timestamp {
    Timestamp(T0.0 + offset)
}

/// `+10m`, `-1h`, `+0`: milliseconds from the script's start.
fn parse_offset(text: &str) -> i64 {
    match text.split_at(1) {
        ("+", rest) => parse_duration(rest),
        ("-", rest) => -parse_duration(rest),
        _ => panic!("an offset starts with + or -: {text:?}"),
    }
}

const UNITS: [(&str, i64); 5] =
    [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)];

/// `1h30m`, `10m`, `1ms`, `0`: a sum of numbers with units, in milliseconds.
fn parse_duration(text: &str) -> i64 {
    let mut total = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let (number, tail) = rest.split_at(digits);
        let number: i64 = number.parse().unwrap_or_else(|_| panic!("bad duration {text:?}"));
        let unit = tail.find(|c: char| c.is_ascii_digit()).unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit);
        let scale = match unit {
            "" if number == 0 => 0,
            _ => UNITS.iter().find(|(name, _)| *name == unit).expect("a known unit").1,
        };
        total += number * scale;
        rest = tail;
    }
    total
}

/// The inverse of [`parse_offset`], in the largest units that fit.
fn format_offset(offset: i64) -> String {
    let sign = if offset < 0 { "-" } else { "+" };
    let mut rest = offset.abs();
    if rest == 0 {
        return "+0".into();
    }
    let mut text = sign.to_owned();
    for (unit, scale) in UNITS {
        if rest >= scale {
            write!(text, "{}{unit}", rest / scale).unwrap();
            rest %= scale;
        }
    }
    text
}

/// The names of a plan's tickets, both ways.
struct Names {
    by_ticket: Vec<String>,
    by_name: HashMap<String, u32>,
}

impl Names {
    fn new(plan: &SeatPlan) -> Names {
        let sections = &plan.layout().sections;
        let is_seated = |kind: &SectionKind| matches!(kind, SectionKind::Seated { .. });
        let mut names = Names { by_ticket: Vec::new(), by_name: HashMap::new() };
        for (index, section) in sections.iter().enumerate() {
            let same_kind =
                sections.iter().filter(|s| is_seated(&s.kind) == is_seated(&section.kind)).count();
            for ticket in plan.section_range(index) {
                let place = match plan.place(ticket).row_seat {
                    Some((row, seat)) => format!("{}{}", row_name(row), seat + 1),
                    None => format!("#{}", ticket - plan.section_range(index).start + 1),
                };
                let long = format!("{}.{place}", section.name);
                names.by_name.insert(long.clone(), ticket);
                if same_kind == 1 {
                    names.by_name.insert(place.clone(), ticket);
                    names.by_ticket.push(place);
                } else {
                    names.by_ticket.push(long);
                }
            }
        }
        names
    }

    fn ticket(&self, name: &str) -> u32 {
        if let Some(index) = name.strip_prefix('@') {
            return index.parse().expect("@ needs a ticket index");
        }
        *self.by_name.get(name).unwrap_or_else(|| panic!("no ticket is called {name:?}"))
    }

    fn list(&self, tickets: &[u32]) -> String {
        let name = |&ticket: &u32| {
            self.by_ticket.get(ticket as usize).cloned().unwrap_or_else(|| format!("@{ticket}"))
        };
        tickets.iter().map(name).collect::<Vec<_>>().join(" ")
    }
}

/// A booking under test, with the clock and log that drive it.
struct Stage {
    booking: Booking,
    info: PerformanceInfo,
    plan: Arc<SeatPlan>,
    names: Names,
    ttl: Duration,
    now: i64,
    log: Vec<BookingEvent>,
    /// What the commands owed outside since the last `owed` line.
    owed: Vec<OutboxEntry>,
}

impl Stage {
    fn new(header: &Header) -> Stage {
        let layout = Layout { sections: header.sections.clone() };
        layout.validate().expect("a valid scenario layout");
        let plan = Arc::new(SeatPlan::new(Arc::new(layout)));
        let info = header.info();
        Stage {
            booking: Booking::new(info.clone(), plan.clone()),
            names: Names::new(&plan),
            info,
            plan,
            ttl: header.ttl,
            now: 0,
            log: Vec::new(),
            owed: Vec::new(),
        }
    }

    /// Runs one command; its outcome, or `None` for clock moves.
    fn run(&mut self, command: &str, line: usize) -> Option<String> {
        let words: Vec<&str> = command.split_whitespace().collect();
        match words[..] {
            ["advance", by] => self.now += parse_duration(by),
            ["at", offset] => self.now = parse_offset(offset),
            ["expire"] => return Some(self.expire()),
            ["restart"] => self.booking = self.rebuilt(),
            ["map", section] => return Some(self.map(section)),
            ["owed"] => return Some(self.describe_owed()),
            [verb, subject, ref rest @ ..] => return Some(self.command(verb, subject, rest, line)),
            _ => panic!("line {line}: cannot read {command:?}"),
        }
        None
    }

    fn expire(&mut self) -> String {
        let mut events = Vec::new();
        self.booking.expire_due(at(self.now), &mut events);
        self.owed.extend(self.booking.take_owed());
        let text = self.describe_expiries(&events);
        self.log.extend(events);
        if text.is_empty() {
            "nothing".into()
        } else {
            text.trim_end_matches("; ").into()
        }
    }

    /// A command: runs it, checks what it may change, describes it. The
    /// subject is a user (`u1`) or, for what is done to orders, an order
    /// (`o1`).
    fn command(&mut self, verb: &str, subject: &str, rest: &[&str], line: usize) -> String {
        let mut after_expiry = self.booking.clone();
        let mut expiries = Vec::new();
        after_expiry.expire_due(at(self.now), &mut expiries);

        let mut events = Vec::new();
        let (outcome, changes) = match subject.strip_prefix('o') {
            Some(number) => {
                let order = OrderId { performance: self.info.id, number: number.parse().unwrap() };
                self.perform_on_order(verb, order, rest, &mut events)
            }
            None => {
                let user = subject.strip_prefix('u').and_then(|id| id.parse().ok());
                self.perform(verb, UserId(user.expect("uN or oN")), rest, &mut events)
            }
        };
        self.owed.extend(self.booking.take_owed());
        assert_eq!(events[..expiries.len()], expiries[..], "line {line}: expiries come first");
        let changes = changes.unwrap_or(events.len() - expiries.len());
        assert_eq!(events.len(), expiries.len() + changes, "line {line}: events per outcome");
        if changes == 0 {
            assert_same(&self.booking, &after_expiry, line);
        }
        let text = self.describe_expiries(&events) + &outcome;
        self.log.extend(events);
        text
    }

    /// Runs the command; its outcome and how many events it should add.
    fn perform(
        &mut self,
        verb: &str,
        user: UserId,
        rest: &[&str],
        events: &mut Vec<BookingEvent>,
    ) -> (String, Option<usize>) {
        let now = at(self.now);
        let result = match verb {
            "reserve" => {
                let selection = self.selection(rest);
                let reserved = self.booking.reserve(now, user, &selection, self.ttl, events);
                reserved.map(|r| {
                    let until = format_offset(r.until.0 - T0.0);
                    format!("held {} until {until} (hold {})", self.names.list(&r.tickets), r.hold)
                })
            }
            "quote" => {
                let tickets = self.tickets(rest);
                let quote = self.booking.quote(now, user, &tickets, events);
                let outcome = quote.map(|quote| format!("costs {}", quote.amount_minor));
                return (self.describe(outcome), Some(0));
            }
            "purchase" => {
                // Each purchase is paid by a charge of its own, unless the
                // line names one (`paid REF`): a retry of the same charge.
                let (names, payment) = match rest {
                    [names @ .., "paid", payment] => (names, (*payment).to_owned()),
                    names => (names, format!("psp-{}", self.log.len())),
                };
                let tickets = self.tickets(names);
                let orders_before = self.booking.orders().count();
                let bought = self.booking.purchase(now, user, &tickets, &payment, events);
                let new_order = self.booking.orders().count() > orders_before;
                let result = bought.map(|p| {
                    let tickets = self.names.list(&p.tickets);
                    format!("order {} {tickets} for {}", p.order.number, p.amount_minor)
                });
                return (self.describe(result), Some(usize::from(new_order)));
            }
            "release" => {
                let tickets = self.tickets(rest);
                let released = self.booking.release(now, user, &tickets, events);
                released.map(|()| "released".to_owned())
            }
            "checkout" => {
                let tickets = self.tickets(rest);
                let opened = self.booking.open_checkout(now, user, &tickets, CHECKOUT_TTL, events);
                let outcome = opened.map(|checkout| {
                    let until = format_offset(checkout.until.0 - T0.0);
                    let session = checkout.session.map_or(String::new(), |s| format!(" {}", s.id));
                    let (number, amount) = (checkout.order.number, checkout.amount_minor);
                    format!("order {number} for {amount} until {until}{session}")
                });
                return (self.describe(outcome), None);
            }
            _ => panic!("unknown command {verb:?}"),
        };
        let changes = usize::from(result.is_ok());
        (self.describe(result), Some(changes))
    }

    /// What is done to an order: by the provider (`session`, `pay`,
    /// `fail`) or by an admin (`cancel`, `refund`, `order`).
    fn perform_on_order(
        &mut self,
        verb: &str,
        order: OrderId,
        rest: &[&str],
        events: &mut Vec<BookingEvent>,
    ) -> (String, Option<usize>) {
        let now = at(self.now);
        let booking = &mut self.booking;
        let result = match (verb, rest) {
            ("session", [id]) => {
                let session = Session { id: (*id).into(), url: format!("https://pay/{id}") };
                booking.open_session(order, session, events).map(|s| format!("session {}", s.id))
            }
            ("pay", [payment, amount]) => {
                // `other` is a payment in another currency than the order's.
                let amount = (*amount != "other").then(|| amount.parse().expect("an amount"));
                let confirmed = booking.confirm_payment(now, order, payment, amount, events);
                confirmed.map(|confirmation| match confirmation {
                    Confirmation::Paid(p) => format!("paid {}", self.names.list(&p.tickets)),
                    Confirmation::AlreadyKnown => "already-known".into(),
                    Confirmation::TurnedBack => "turned-back".into(),
                })
            }
            ("fail", []) => booking.fail_payment(now, order, events).map(|()| "failed".into()),
            ("cancel", []) => booking.cancel_order(now, order, events).map(|c| self.cancelled(c)),
            ("cancel", names) => {
                let tickets = names.iter().map(|name| self.names.ticket(name)).collect::<Vec<_>>();
                let cancelled = self.booking.cancel_tickets(now, order, &tickets, events);
                cancelled.map(|c| self.cancelled(c))
            }
            ("refund", []) => {
                booking.refund_order(order, None, events).map(|r| format!("refunded {r}"))
            }
            ("refund", [amount]) => {
                let amount = amount.parse().expect("an amount");
                let refunded = booking.refund_order(order, Some(amount), events);
                refunded.map(|r| format!("refunded {r}"))
            }
            ("order", []) => booking.order(order).map(describe_order),
            _ => panic!("cannot read {verb} {rest:?}"),
        };
        (self.describe(result), None)
    }

    fn cancelled(&self, cancellation: Cancellation) -> String {
        let freed = match cancellation.freed.is_empty() {
            true => "nothing".into(),
            false => self.names.list(&cancellation.freed),
        };
        format!("freed {freed} refund {}", cancellation.refund_minor)
    }

    /// The work owed outside since the last `owed`, oldest first.
    fn describe_owed(&mut self) -> String {
        let owed = std::mem::take(&mut self.owed);
        let lines: Vec<String> = owed
            .iter()
            .map(|entry| match entry {
                OutboxEntry::Sale(sale) => format!(
                    "sale o{} u{} {} {}",
                    sale.order.number,
                    sale.user.0,
                    self.names.list(&sale.tickets),
                    sale.amount_minor
                ),
                OutboxEntry::LatePaymentRefunded(sale) => {
                    format!("late-notice o{} {}", sale.order.number, sale.amount_minor)
                }
                OutboxEntry::ExpireSession { order, session } => format!(
                    "expire-session o{} {}",
                    order.number,
                    session.as_deref().unwrap_or("unknown")
                ),
                OutboxEntry::Refund(refund) => format!(
                    "refund o{} {} {} {}",
                    refund.order.number,
                    refund.payment,
                    refund.amount_minor.map_or("all".into(), |amount| amount.to_string()),
                    refund.idempotency_key
                ),
            })
            .collect();
        match lines.is_empty() {
            true => "nothing".into(),
            false => lines.join("; "),
        }
    }

    /// `Stalls x2` asks for a quantity; anything else names tickets.
    fn selection(&self, words: &[&str]) -> Selection {
        match words {
            [section, quantity] if quantity.starts_with('x') => Selection::Quantity {
                section: (*section).into(),
                quantity: quantity[1..].parse().expect("xN"),
            },
            _ => Selection::Tickets(self.tickets(words)),
        }
    }

    fn tickets(&self, words: &[&str]) -> Vec<u32> {
        words.iter().map(|name| self.names.ticket(name)).collect()
    }

    fn describe(&self, result: Result<String, Rejection>) -> String {
        let list = |tickets: &[u32]| self.names.list(tickets);
        match result {
            Ok(text) => text,
            Err(rejection) => match rejection {
                Rejection::NoTickets => "no-tickets".into(),
                Rejection::ZeroQuantity => "zero-quantity".into(),
                Rejection::UnknownSection { section } => format!("unknown-section {section}"),
                Rejection::UnknownTickets { tickets } => {
                    format!("unknown-tickets {}", list(&tickets))
                }
                Rejection::DuplicateTicket { ticket } => format!("duplicate {}", list(&[ticket])),
                Rejection::OrderLimit { max } => format!("order-limit {max}"),
                Rejection::NotOnSale => "not-on-sale".into(),
                Rejection::UserLimit { max } => format!("user-limit {max}"),
                Rejection::NotAvailable { tickets } => format!("not-available {}", list(&tickets)),
                Rejection::SoldOut { section, available } => {
                    format!("sold-out {section} {available}")
                }
                Rejection::NotHeld { tickets } => format!("not-held {}", list(&tickets)),
                Rejection::HoldExpired { tickets } => format!("hold-expired {}", list(&tickets)),
                Rejection::InCheckout { tickets } => format!("in-checkout {}", list(&tickets)),
                Rejection::UnknownOrder { order } => format!("unknown-order o{}", order.number),
                Rejection::NotInOrder { tickets } => format!("not-in-order {}", list(&tickets)),
                Rejection::NotPaid => "not-paid".into(),
                Rejection::AwaitingPayment => "awaiting-payment".into(),
                Rejection::ZeroRefund => "zero-refund".into(),
                Rejection::RefundTooLarge { refundable } => {
                    format!("refund-too-large {refundable}")
                }
            },
        }
    }

    /// `expired u1 A3 A4; ` for each expiry among `events`.
    fn describe_expiries(&self, events: &[BookingEvent]) -> String {
        let mut text = String::new();
        for event in events {
            if let Change::HoldExpired { user, tickets, .. } = &event.change {
                write!(text, "expired u{} {}; ", user.0, self.names.list(tickets)).unwrap();
            }
        }
        text
    }

    /// A section as the public sees it: `A:..hh.. B:...... free 16`, with
    /// `.` available, `h` held and `P` purchased.
    fn map(&self, name: &str) -> String {
        let layout = self.plan.layout();
        let section = layout.section_index(name).expect("a section of the layout");
        let range = self.plan.section_range(section);
        let mut text = String::new();
        let mut free = 0;
        for ticket in range {
            let place = self.plan.place(ticket);
            if let Some((row, 0)) = place.row_seat {
                write!(text, "{}{}:", if row == 0 { "" } else { " " }, row_name(row)).unwrap();
            }
            let status = self.booking.ticket_status(ticket);
            free += u32::from(status == TicketStatus::Available);
            text.push(match status {
                TicketStatus::Available => '.',
                TicketStatus::Reserved => 'h',
                TicketStatus::Purchased => 'P',
            });
        }
        assert_eq!(self.booking.available_in_section(section), free, "the count of {name}");
        format!("{text} free {free}")
    }

    /// Replaying the log, and restoring a snapshot, must both rebuild the
    /// booking the commands built; the restored one is returned.
    fn rebuilt(&self) -> Booking {
        let mut replayed = Booking::new(self.info.clone(), self.plan.clone());
        for event in &self.log {
            replayed.apply(event);
        }
        assert_same(&replayed, &self.booking, 0);
        let restored =
            Booking::restore(self.info.clone(), self.plan.clone(), self.booking.snapshot())
                .expect("a snapshot of this performance");
        assert_same(&restored, &self.booking, 0);
        restored
    }
}

/// Two bookings are the same: same snapshot and same derived indexes.
fn assert_same(actual: &Booking, expected: &Booking, line: usize) {
    assert_eq!(actual.snapshot(), expected.snapshot(), "line {line}: the state changed");
    let sections = actual.plan().layout().sections.len();
    let counts = |booking: &Booking| {
        (0..sections).map(|section| booking.available_in_section(section)).collect::<Vec<_>>()
    };
    assert_eq!(counts(actual), counts(expected), "line {line}: available counts");
    assert_eq!(actual.next_expiry(), expected.next_expiry(), "line {line}: next expiry");
}

/// `paid u1 payment pi-1 refunded 500 of 10000`, and the like.
fn describe_order(order: &Order) -> String {
    let state = match order.state {
        OrderState::AwaitingPayment { hold } => format!("awaiting-payment (hold {hold})"),
        OrderState::Paid => "paid".into(),
        OrderState::Expired => "expired".into(),
        OrderState::PaymentFailed => "payment-failed".into(),
        OrderState::TurnedBack => "turned-back".into(),
        OrderState::Cancelled => "cancelled".into(),
    };
    let payment = order.payment.as_deref().unwrap_or("none");
    format!(
        "{state} u{} payment {payment} refunded {} of {}",
        order.user.0, order.refunded_minor, order.amount_minor
    )
}
