//! What the rush measured: latency histograms per operation, throughput and
//! latency per second of the rush, errors by status, and how each buyer
//! ended.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use parking_lot::Mutex;
use serde::Serialize;

/// The requests a buyer makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Op {
    /// GET the performance.
    View,
    /// GET the first page of available tickets, to name seats.
    Seats,
    /// POST a reservation.
    Reserve,
    /// PUT a purchase.
    Purchase,
    /// Any of them refused at once with 503 or 429 (load shed): timed apart,
    /// so the others' percentiles are of answers served and this one shows
    /// how fast the excess is turned away.
    Refused,
}

impl Op {
    pub const ALL: [Op; 5] = [Op::View, Op::Seats, Op::Reserve, Op::Purchase, Op::Refused];

    pub fn name(self) -> &'static str {
        match self {
            Op::View => "view",
            Op::Seats => "seats",
            Op::Reserve => "reserve",
            Op::Purchase => "purchase",
            Op::Refused => "refused",
        }
    }
}

/// How a buyer's visit ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// Bought tickets, and the server acknowledged it.
    Purchased,
    /// Held tickets and walked away, leaving the hold to expire.
    Abandoned,
    /// Found nothing left, or was refused with 409 not-available: the
    /// expected end for most buyers of a rush.
    SoldOut,
    /// Named seats someone else took first (409 not-available while others
    /// were left).
    SeatTaken,
    /// Paid too late: the hold had lapsed (410), or lapsed and its seats
    /// went to another buyer (409 not-held).
    HoldExpired,
    /// Sent a purchase and never learned whether it went through.
    PurchaseUnknown,
    /// Turned away by a server shedding load (503 or 429).
    Refused,
    /// Reserved past the per-user limit (409 user-limit): buyers sharing
    /// `--accounts` can meet it.
    UserLimit,
    /// Any other refusal or failure.
    Failed,
    /// Still under way when the rush's time ran out.
    Unfinished,
}

impl Outcome {
    pub const ALL: [Outcome; 10] = [
        Outcome::Purchased,
        Outcome::Abandoned,
        Outcome::SoldOut,
        Outcome::SeatTaken,
        Outcome::HoldExpired,
        Outcome::PurchaseUnknown,
        Outcome::Refused,
        Outcome::UserLimit,
        Outcome::Failed,
        Outcome::Unfinished,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Outcome::Purchased => "purchased",
            Outcome::Abandoned => "abandoned",
            Outcome::SoldOut => "sold_out",
            Outcome::SeatTaken => "seat_taken",
            Outcome::HoldExpired => "hold_expired",
            Outcome::PurchaseUnknown => "purchase_unknown",
            Outcome::Refused => "refused",
            Outcome::UserLimit => "user_limit",
            Outcome::Failed => "failed",
            Outcome::Unfinished => "unfinished",
        }
    }
}

/// Latencies in microseconds, 1 µs to 10 min, 3 significant digits.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("the bounds are valid")
}

/// Per second of the rush; 2 digits are plenty for a plot.
fn second_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 2).expect("the bounds are valid")
}

pub fn micros(latency: Duration) -> u64 {
    (latency.as_micros() as u64).clamp(1, 600_000_000)
}

/// One second of the rush.
#[derive(Clone)]
pub struct Second {
    pub requests: u64,
    pub reserves: u64,
    pub purchases: u64,
    pub tickets: u64,
    /// Expected refusals: sold out, a seat taken, a hold lapsed.
    pub refused: u64,
    /// Turned away by a server shedding load (503 or 429).
    pub shed: u64,
    /// Everything else that failed.
    pub errors: u64,
    /// Buyers the dispatcher started, to show the rate actually offered.
    pub arrivals: u64,
    /// Visits that ended with a hold taken (purchased or abandoned): the
    /// goodput.
    pub completed: u64,
    pub latency: Histogram<u64>,
    /// How late the visits begun in this second began (see
    /// [`Stats::start_lag`]).
    pub start_lag: Histogram<u64>,
    /// The fewest tickets a view showed available in this second.
    pub available: Option<u32>,
}

impl Second {
    pub(crate) fn new() -> Second {
        Second {
            requests: 0,
            reserves: 0,
            purchases: 0,
            tickets: 0,
            refused: 0,
            shed: 0,
            errors: 0,
            arrivals: 0,
            completed: 0,
            latency: second_histogram(),
            start_lag: second_histogram(),
            available: None,
        }
    }
}

/// Everything measured, behind one lock (a few hundred nanoseconds a
/// request, far below the cost of the request itself).
pub struct Stats {
    pub ops: BTreeMap<Op, Histogram<u64>>,
    pub all: Histogram<u64>,
    /// From a buyer's due time to its last answer.
    pub journey: Histogram<u64>,
    /// From a buyer's due time to when the harness began its visit, without
    /// a waiting room: the harness's own lateness, which counts in every
    /// latency of the visit.
    pub start_lag: Histogram<u64>,
    pub seconds: Vec<Second>,
    pub errors: BTreeMap<String, u64>,
    pub outcomes: BTreeMap<Outcome, u64>,
    pub server_errors: u64,
    /// When a view first showed nothing available, after the start.
    pub sold_out_after: Option<Duration>,
    pub last_answer: Duration,
}

impl Stats {
    fn new() -> Stats {
        Stats {
            ops: Op::ALL.iter().map(|&op| (op, latency_histogram())).collect(),
            all: latency_histogram(),
            journey: latency_histogram(),
            start_lag: latency_histogram(),
            seconds: Vec::new(),
            errors: BTreeMap::new(),
            outcomes: BTreeMap::new(),
            server_errors: 0,
            sold_out_after: None,
            last_answer: Duration::ZERO,
        }
    }

    fn second(&mut self, at: Duration) -> &mut Second {
        let index = at.as_secs() as usize;
        if self.seconds.len() <= index {
            self.seconds.resize_with(index + 1, Second::new);
        }
        &mut self.seconds[index]
    }

    pub fn count(&self, outcome: Outcome) -> u64 {
        self.outcomes.get(&outcome).copied().unwrap_or(0)
    }
}

/// The refusals a rush is expected to meet, as [`crate::client::Failure::key`]
/// names them.
pub const EXPECTED_REFUSALS: [&str; 4] =
    ["409 not-available", "410 hold-expired", "409 not-held", "409 user-limit"];

/// Whether a failure, as [`crate::client::Failure::key`] names it, is load
/// shed: 503 or 429, the server turning the excess away.
pub fn is_shed(key: &str) -> bool {
    key.starts_with("503") || key.starts_with("429")
}

/// Collects measurements from every buyer, relative to the rush's start.
pub struct Recorder {
    start: Instant,
    stats: Mutex<Stats>,
}

impl Recorder {
    pub fn new(start: Instant) -> Recorder {
        Recorder { start, stats: Mutex::new(Stats::new()) }
    }

    pub fn start(&self) -> Instant {
        self.start
    }

    fn offset(&self, at: Instant) -> Duration {
        at.saturating_duration_since(self.start)
    }

    /// One answered (or failed) request: `intended` is when the buyer meant
    /// to send it, which is its due time for its first request.
    pub fn request(&self, op: Op, intended: Instant, done: Instant, failure: Option<&str>) {
        let latency = micros(done.saturating_duration_since(intended));
        let at = self.offset(done);
        let shed = failure.is_some_and(is_shed);
        let op = if shed { Op::Refused } else { op };
        let mut stats = self.stats.lock();
        stats.last_answer = stats.last_answer.max(at);
        if let Some(histogram) = stats.ops.get_mut(&op) {
            histogram.record(latency).expect("clamped into the bounds");
        }
        stats.all.record(latency).expect("clamped into the bounds");
        if let Some(key) = failure {
            *stats.errors.entry(key.to_owned()).or_default() += 1;
            if key.starts_with('5') && !shed {
                stats.server_errors += 1;
            }
        }
        let second = stats.second(at);
        second.requests += 1;
        match failure {
            Some(_) if shed => second.shed += 1,
            Some(key) if EXPECTED_REFUSALS.contains(&key) => second.refused += 1,
            Some(_) => second.errors += 1,
            None => {}
        }
        second.latency.record(latency).expect("clamped into the bounds");
    }

    /// How many tickets a view showed available.
    pub fn availability(&self, done: Instant, available: u32) {
        let at = self.offset(done);
        let mut stats = self.stats.lock();
        if available == 0 && stats.sold_out_after.is_none() {
            stats.sold_out_after = Some(at);
        }
        let second = stats.second(at);
        second.available = Some(second.available.map_or(available, |seen| seen.min(available)));
    }

    pub fn reserved(&self, done: Instant) {
        let at = self.offset(done);
        self.stats.lock().second(at).reserves += 1;
    }

    pub fn purchased(&self, done: Instant, tickets: usize) {
        let at = self.offset(done);
        let mut stats = self.stats.lock();
        let second = stats.second(at);
        second.purchases += 1;
        second.tickets += tickets as u64;
    }

    /// A buyer started by the dispatcher, at `now`.
    pub fn arrived(&self, now: Instant) {
        let at = self.offset(now);
        self.stats.lock().second(at).arrivals += 1;
    }

    /// A buyer whose visit begins at `now`, though it was due at `due`.
    pub fn started(&self, due: Instant, now: Instant) {
        let lag = micros(now.saturating_duration_since(due));
        let at = self.offset(now);
        let mut stats = self.stats.lock();
        stats.start_lag.record(lag).expect("clamped into the bounds");
        stats.second(at).start_lag.record(lag).expect("clamped into the bounds");
    }

    /// A buyer's end, with its whole time from due to last answer.
    pub fn finished(&self, outcome: Outcome, due: Instant, done: Instant) {
        let mut stats = self.stats.lock();
        *stats.outcomes.entry(outcome).or_default() += 1;
        if matches!(outcome, Outcome::Purchased | Outcome::Abandoned) {
            stats.second(self.offset(done)).completed += 1;
        }
        if outcome != Outcome::Unfinished {
            let journey = micros(done.saturating_duration_since(due));
            stats.journey.record(journey).expect("clamped into the bounds");
        }
    }

    pub fn into_stats(self) -> Stats {
        self.stats.into_inner()
    }

    /// Buyers done, purchases and sold-outs so far, for the progress bar.
    pub fn snapshot(&self) -> (u64, u64, u64) {
        let stats = self.stats.lock();
        let done: u64 = stats.outcomes.values().sum();
        (done, stats.count(Outcome::Purchased), stats.count(Outcome::SoldOut))
    }
}

/// Percentiles of one histogram, in milliseconds.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Percentiles {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl Percentiles {
    pub fn of(histogram: &Histogram<u64>) -> Percentiles {
        let ms = |micros: u64| micros as f64 / 1000.0;
        if histogram.is_empty() {
            return Percentiles::default();
        }
        Percentiles {
            count: histogram.len(),
            p50_ms: ms(histogram.value_at_quantile(0.50)),
            p90_ms: ms(histogram.value_at_quantile(0.90)),
            p99_ms: ms(histogram.value_at_quantile(0.99)),
            p999_ms: ms(histogram.value_at_quantile(0.999)),
            max_ms: ms(histogram.max()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_counts_from_the_intended_start() {
        let start = Instant::now();
        let recorder = Recorder::new(start);
        let due = start + Duration::from_millis(100);
        // Answered 250 ms after it was due, however late it was sent.
        recorder.request(Op::View, due, due + Duration::from_millis(250), None);
        recorder.request(Op::Reserve, due, due + Duration::from_millis(50), Some("409 x"));
        let stats = recorder.into_stats();
        let view = Percentiles::of(&stats.ops[&Op::View]);
        assert!((view.p50_ms - 250.0).abs() < 1.0, "{view:?}");
        assert_eq!(stats.all.len(), 2);
        assert_eq!(stats.errors["409 x"], 1);
        assert_eq!(stats.seconds[0].requests, 2);
    }

    #[test]
    fn shed_requests_are_timed_apart_and_are_not_server_errors() {
        let start = Instant::now();
        let recorder = Recorder::new(start);
        let done = start + Duration::from_millis(2);
        recorder.request(Op::View, start, done, Some("503 overloaded"));
        recorder.request(Op::Reserve, start, done, Some("429"));
        recorder.request(Op::Reserve, start, done, None);
        recorder.finished(Outcome::Refused, start, done);
        recorder.finished(Outcome::Abandoned, start, done);
        let stats = recorder.into_stats();
        assert_eq!(stats.ops[&Op::Refused].len(), 2);
        assert_eq!((stats.ops[&Op::View].len(), stats.ops[&Op::Reserve].len()), (0, 1));
        assert_eq!(stats.server_errors, 0);
        assert_eq!((stats.seconds[0].shed, stats.seconds[0].errors), (2, 0));
        assert_eq!(stats.seconds[0].completed, 1);
        assert_eq!(stats.count(Outcome::Refused), 1);
    }

    #[test]
    fn a_buyer_started_late_counts_its_lag() {
        let start = Instant::now();
        let recorder = Recorder::new(start);
        let due = start + Duration::from_millis(10);
        recorder.started(due, due + Duration::from_millis(30));
        // A buyer started early (the lead before the first due time) lags by nothing.
        recorder.started(due, start);
        let stats = recorder.into_stats();
        let lag = Percentiles::of(&stats.start_lag);
        assert_eq!(lag.count, 2);
        assert!((lag.max_ms - 30.0).abs() < 0.1, "{lag:?}");
        assert_eq!(stats.seconds[0].start_lag.len(), 2, "counted in the second it began");
    }

    #[test]
    fn sold_out_is_the_first_view_with_nothing_left() {
        let start = Instant::now();
        let recorder = Recorder::new(start);
        recorder.availability(start + Duration::from_millis(1500), 3);
        recorder.availability(start + Duration::from_millis(2500), 0);
        recorder.availability(start + Duration::from_millis(3500), 0);
        let stats = recorder.into_stats();
        assert_eq!(stats.sold_out_after, Some(Duration::from_millis(2500)));
        assert_eq!(stats.seconds[1].available, Some(3));
    }
}
