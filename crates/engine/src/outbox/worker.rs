//! The loop that hands one consumer's outbox entries to the world outside.
//!
//! [`run`] reads the consumer's pending entries in order and gives each to
//! a [`Deliver`]: the email sender, the SMS gateway, the payment provider.
//! A delivery that fails for now is tried again after an exponential,
//! jittered backoff; one that fails for good, or too often, is parked for
//! an admin to look at. Whatever the outcome, it is recorded durably, in
//! order, before the loop stops or waits, so a loop restarted after a stop
//! never delivers again what it finished.
//!
//! Recording is pipelined: the loop hands a finish to the outbox and goes
//! on to the next delivery without waiting for the finish to be durable
//! (up to [`RetryPolicy::finishes_in_flight_max`] of them), so that many
//! finishes share one group commit instead of each delivery waiting for a
//! commit of its own. Nothing is finished before its delivery was made; a
//! crash loses at most finishes not yet durable, whose deliveries are then
//! made again (receipts and refunds carry stable ids for that).
//!
//! Each consumer runs its own loop, so one whose outside world is down
//! holds up nobody else. The loop's future is `Send` and needs only tokio's
//! timers: it runs on a current-thread runtime, an actix arbiter's
//! included.

use std::collections::hash_map::RandomState;
use std::collections::VecDeque;
use std::future::Future;
use std::hash::BuildHasher;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, watch, Notify};
use tokio::time::Instant;

use super::{Consumer, Finished, Outbox, OutboxEntry, OutboxSeq};
use crate::journal::JournalError;
use crate::time::Clock;

/// The answer to one delivery.
pub type DeliveryFuture<'a> = Pin<Box<dyn Future<Output = Result<(), DeliveryError>> + Send + 'a>>;

/// What takes an entry to the world outside.
pub trait Deliver: Send + Sync + 'static {
    /// Delivers `entry`, stored under `seq`, once. Delivery is at least
    /// once: after a crash, or a stop during a delivery, the same entry may
    /// come again, so a delivery should be idempotent where the outside
    /// world allows (the refund's idempotency key, a receipt's message id
    /// built from `seq`).
    fn deliver<'a>(&'a self, seq: OutboxSeq, entry: &'a OutboxEntry) -> DeliveryFuture<'a>;
}

/// Why a delivery failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct DeliveryError {
    /// Worth trying again later (a timeout, a 503), rather than a refusal
    /// no retry will change (an address that does not exist).
    pub transient: bool,
    /// As the outside world put it; shown to the admin on the parked entry.
    pub reason: String,
}

impl DeliveryError {
    /// A failure worth another try after a backoff.
    pub fn transient(reason: impl Into<String>) -> DeliveryError {
        DeliveryError { transient: true, reason: reason.into() }
    }

    /// A failure no retry will change: the entry is parked at once.
    pub fn permanent(reason: impl Into<String>) -> DeliveryError {
        DeliveryError { transient: false, reason: reason.into() }
    }
}

/// How hard a worker tries before it parks an entry, and how it paces
/// itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The delay after the first failed attempt; it doubles after each
    /// further one.
    pub backoff_base: Duration,
    /// The longest delay between two attempts.
    pub backoff_cap: Duration,
    /// Attempts at one entry (the first included) before it is parked; at
    /// least one is always made.
    pub attempts_max: u32,
    /// How many pending entries one read takes (at least one).
    pub read_batch_entries: usize,
    /// How often the parked entries are looked at for retry requests: the
    /// longest an admin's request waits.
    pub parked_check_interval: Duration,
    /// How many finishes may be on their way to disk while the loop goes on
    /// delivering (at least one): 1 waits for each before the next entry.
    pub finishes_in_flight_max: usize,
}

impl Default for RetryPolicy {
    /// Eight attempts over about two minutes, then parked.
    fn default() -> RetryPolicy {
        RetryPolicy {
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(60),
            attempts_max: 8,
            read_batch_entries: 100,
            parked_check_interval: Duration::from_secs(5),
            finishes_in_flight_max: 100,
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt number `attempt` (from 1), given a
    /// `jitter` in `[0, 1)`: "equal jitter", half of the capped exponential
    /// delay plus a random share of the other half, so that entries failing
    /// together spread out, yet none is retried sooner than half its delay.
    pub fn backoff(&self, attempt: u32, jitter: f64) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        let exponential = self.backoff_base.saturating_mul(1 << doublings).min(self.backoff_cap);
        let half = exponential / 2;
        half + half.mul_f64(jitter.clamp(0.0, 1.0))
    }
}

/// Delivers `consumer`'s entries from `outbox` until `stop` turns `true`
/// (or its sender is dropped).
///
/// A stop ends a delivery in flight or a backoff at once; that entry stays
/// pending and comes again at the next start. A delivery that has finished
/// is still recorded first. The clock stamps parked entries.
///
/// Returns an error only when the outbox failed (its store stopped taking
/// writes): nothing more could be recorded, so the loop ends.
pub async fn run(
    outbox: Arc<dyn Outbox>,
    consumer: Consumer,
    deliver: impl Deliver,
    policy: RetryPolicy,
    clock: Arc<dyn Clock>,
    stop: watch::Receiver<bool>,
) -> Result<(), JournalError> {
    let mut worker = Worker {
        outbox,
        consumer,
        deliver,
        policy,
        clock,
        stop,
        after: None,
        finishing: VecDeque::new(),
        next_parked_check: Instant::now(),
        jitter_seed: RandomState::new().hash_one(consumer),
    };

    let consumer = consumer.name();
    tracing::info!(consumer, "outbox worker started");
    let outcome = worker.run().await;
    match &outcome {
        Ok(()) => tracing::info!(consumer, "outbox worker stopped"),
        Err(error) => tracing::error!(consumer, %error, "the outbox failed; its worker stops"),
    }
    outcome
}

struct Worker<D> {
    outbox: Arc<dyn Outbox>,
    consumer: Consumer,
    deliver: D,
    policy: RetryPolicy,
    clock: Arc<dyn Clock>,
    stop: watch::Receiver<bool>,
    /// The last pending entry this loop finished: the next read starts
    /// after it. Parked entries are retried from the parked list instead.
    after: Option<OutboxSeq>,
    /// The acks of finishes handed to the outbox and not yet seen durable,
    /// oldest first.
    finishing: VecDeque<FinishAck>,
    next_parked_check: Instant,
    /// Differs per consumer and per run, so that jitter spreads retries.
    jitter_seed: u64,
}

/// The answer to one finish: `Ok` once it is durable.
type FinishAck = oneshot::Receiver<Result<(), JournalError>>;

/// Whether the loop may go on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    Stopped,
}

/// What became of one entry.
enum Outcome {
    Delivered { attempts: u32 },
    GaveUp { attempts: u32, error: DeliveryError },
}

impl<D: Deliver> Worker<D> {
    async fn run(&mut self) -> Result<(), JournalError> {
        let appended: Arc<Notify> = self.outbox.appended();

        while !self.is_stopped() {
            // Registered before looking, so that a commit landing between
            // the look and the wait still wakes the wait.
            let notified = appended.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();

            if self.parked_check_due() {
                // The parked list is read once every park made is in it.
                self.finishes_durable().await?;
                if self.retry_requested().await? == Flow::Stopped {
                    break;
                }
            }
            match self.deliver_pending().await? {
                Some(Flow::Stopped) => break,
                Some(Flow::Continue) => {}
                None => {
                    self.finishes_durable().await?;
                    self.wait(notified).await;
                }
            }
        }

        // Whatever was delivered is recorded before the loop ends.
        self.finishes_durable().await
    }

    /// Delivers one read's worth of pending entries; `None` if there were
    /// none.
    async fn deliver_pending(&mut self) -> Result<Option<Flow>, JournalError> {
        let limit = self.policy.read_batch_entries.max(1);
        let batch = self.outbox.pending(self.consumer, self.after, limit)?;
        self.record_lag(batch.len());
        if batch.is_empty() {
            return Ok(None);
        }

        let waiting = batch.len();
        for (done, (seq, entry)) in batch.into_iter().enumerate() {
            if self.settle(seq, &entry, 0).await? == Flow::Stopped {
                return Ok(Some(Flow::Stopped));
            }
            self.after = Some(seq);
            self.record_lag(waiting - done - 1);
        }
        Ok(Some(Flow::Continue))
    }

    /// Gives another try to each parked entry an admin asked about.
    async fn retry_requested(&mut self) -> Result<Flow, JournalError> {
        self.next_parked_check = Instant::now() + self.policy.parked_check_interval;
        let parked = self.outbox.parked(self.consumer)?;
        metrics::gauge!("boxoffice_outbox_parked_entries", "consumer" => self.consumer.name())
            .set(parked.len() as f64);

        for parked in parked.into_iter().filter(|parked| parked.retry_requested) {
            let (consumer, seq) = (self.consumer.name(), parked.seq);
            tracing::info!(consumer, %seq, "retrying a parked entry, as asked");
            if self.settle(parked.seq, &parked.entry, parked.attempts).await? == Flow::Stopped {
                return Ok(Flow::Stopped);
            }
        }
        Ok(Flow::Continue)
    }

    /// Delivers `entry` until it is delivered or given up on, and records
    /// which durably. `attempts_before` counts earlier tries, if it was
    /// parked.
    async fn settle(
        &mut self,
        seq: OutboxSeq,
        entry: &OutboxEntry,
        attempts_before: u32,
    ) -> Result<Flow, JournalError> {
        // A finish refused already means the outbox failed: deliver no more.
        self.finishes_answered()?;
        let Some(outcome) = self.deliver_with_retries(seq, entry).await else {
            return Ok(Flow::Stopped);
        };

        let finished = match outcome {
            Outcome::Delivered { attempts } => self.delivered(seq, attempts),
            Outcome::GaveUp { attempts, error } => {
                self.park(seq, attempts_before + attempts, error)
            }
        };
        self.finish(seq, finished).await?;
        Ok(Flow::Continue)
    }

    /// Tries `entry` up to the policy's attempts; `None` if stopped first.
    async fn deliver_with_retries(
        &mut self,
        seq: OutboxSeq,
        entry: &OutboxEntry,
    ) -> Option<Outcome> {
        let attempts_max = self.policy.attempts_max.max(1);

        for attempt in 1.. {
            let error = match self.attempt(seq, entry).await? {
                Ok(()) => return Some(Outcome::Delivered { attempts: attempt }),
                Err(error) => error,
            };
            if !error.transient || attempt >= attempts_max {
                return Some(Outcome::GaveUp { attempts: attempt, error });
            }

            metrics::counter!("boxoffice_outbox_retries_total", "consumer" => self.consumer.name())
                .increment(1);
            let consumer = self.consumer.name();
            tracing::debug!(consumer, %seq, attempt, %error, "delivery failed; retrying");
            let delay = self.policy.backoff(attempt, self.jitter(seq, attempt));
            if sleep_unless_stopped(&mut self.stop, delay).await == Flow::Stopped {
                return None;
            }
        }
        unreachable!("the attempts are bounded by attempts_max")
    }

    /// One delivery, not begun after a stop and abandoned if a stop comes
    /// first; `None` if one did.
    async fn attempt(
        &mut self,
        seq: OutboxSeq,
        entry: &OutboxEntry,
    ) -> Option<Result<(), DeliveryError>> {
        if self.is_stopped() {
            return None;
        }
        tokio::select! {
            // A delivery that has finished wins over a stop, so it is recorded.
            biased;
            result = self.deliver.deliver(seq, entry) => Some(result),
            () = stopped(&mut self.stop) => None,
        }
    }

    fn delivered(&self, seq: OutboxSeq, attempts: u32) -> Finished {
        metrics::counter!("boxoffice_outbox_delivered_total", "consumer" => self.consumer.name())
            .increment(1);
        tracing::debug!(consumer = self.consumer.name(), %seq, attempts, "delivered");
        Finished::Done
    }

    fn park(&self, seq: OutboxSeq, attempts: u32, error: DeliveryError) -> Finished {
        metrics::counter!("boxoffice_outbox_parked_total", "consumer" => self.consumer.name())
            .increment(1);
        tracing::info!(
            consumer = self.consumer.name(),
            %seq,
            attempts,
            transient = error.transient,
            reason = %error.reason,
            "parked an outbox entry"
        );
        Finished::Parked { attempts, reason: error.reason, at: self.clock.now() }
    }

    /// Hands `finished` to the outbox, which records finishes in the order
    /// given; waits only while the most finishes allowed are in flight. Not
    /// cut short by a stop, since the delivery it records has happened.
    async fn finish(&mut self, seq: OutboxSeq, finished: Finished) -> Result<(), JournalError> {
        let (sender, receiver) = oneshot::channel();
        let ack = Box::new(move |result| drop(sender.send(result)));
        self.outbox.finish(self.consumer, seq, finished, ack);
        self.finishing.push_back(receiver);

        self.finishes_answered()?;
        while self.finishing.len() > self.policy.finishes_in_flight_max.max(1) {
            let oldest = self.finishing.pop_front().expect("more than one in flight");
            finish_outcome(oldest.await)?;
        }
        Ok(())
    }

    /// Takes the answers that have come, oldest first; the first refusal
    /// is the error.
    fn finishes_answered(&mut self) -> Result<(), JournalError> {
        while let Some(oldest) = self.finishing.front_mut() {
            match oldest.try_recv() {
                Err(oneshot::error::TryRecvError::Empty) => break,
                Ok(answer) => {
                    self.finishing.pop_front();
                    answer?;
                }
                Err(oneshot::error::TryRecvError::Closed) => {
                    self.finishing.pop_front();
                    return Err(unanswered());
                }
            }
        }
        Ok(())
    }

    /// Waits until every finish handed to the outbox is durable.
    async fn finishes_durable(&mut self) -> Result<(), JournalError> {
        while let Some(oldest) = self.finishing.pop_front() {
            finish_outcome(oldest.await)?;
        }
        Ok(())
    }

    /// Waits for new entries, the next look at the parked ones, or a stop.
    async fn wait(&mut self, notified: Pin<&mut tokio::sync::futures::Notified<'_>>) {
        tokio::select! {
            () = notified => {}
            () = tokio::time::sleep_until(self.next_parked_check) => {}
            () = stopped(&mut self.stop) => {}
        }
    }

    fn parked_check_due(&self) -> bool {
        Instant::now() >= self.next_parked_check
    }

    fn is_stopped(&self) -> bool {
        *self.stop.borrow() || self.stop.has_changed().is_err()
    }

    /// A fraction in `[0, 1)` that differs per entry and attempt.
    fn jitter(&self, seq: OutboxSeq, attempt: u32) -> f64 {
        let bits = splitmix64(self.jitter_seed ^ seq.0 ^ (u64::from(attempt) << 48));
        (bits >> 11) as f64 / (1u64 << 53) as f64
    }

    /// The lag gauge: entries read and not yet finished, so it counts up to
    /// one read batch; at the batch size, at least that many wait.
    fn record_lag(&self, waiting: usize) {
        metrics::gauge!("boxoffice_outbox_lag_entries", "consumer" => self.consumer.name())
            .set(waiting as f64);
    }
}

fn finish_outcome(
    answer: Result<Result<(), JournalError>, oneshot::error::RecvError>,
) -> Result<(), JournalError> {
    answer.unwrap_or_else(|_| Err(unanswered()))
}

fn unanswered() -> JournalError {
    JournalError::new("the outbox dropped a finish without an answer")
}

/// Completes once `stop` is `true` or its sender is gone.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // An error means the sender is dropped: nobody can stop us any more,
    // so the loop's owner is gone.
    let _ = stop.wait_for(|&stop| stop).await;
}

async fn sleep_unless_stopped(stop: &mut watch::Receiver<bool>, delay: Duration) -> Flow {
    tokio::select! {
        () = tokio::time::sleep(delay) => Flow::Continue,
        () = stopped(stop) => Flow::Stopped,
    }
}

/// A well-mixed 64-bit value from any other (splitmix64's finaliser).
fn splitmix64(mut value: u64) -> u64 {
    value = value.wrapping_add(0x9E37_79B9_7F4A_7C15);
    value = (value ^ (value >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    value = (value ^ (value >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    value ^ (value >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            backoff_base: Duration::from_millis(100),
            backoff_cap: Duration::from_secs(1),
            ..RetryPolicy::default()
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_with_half_of_it_jittered() {
        let delays: Vec<u128> =
            (1..=6).map(|attempt| policy().backoff(attempt, 0.999_999).as_millis()).collect();
        assert_eq!(delays, [99, 199, 399, 799, 999, 999]);

        let least: Vec<u128> =
            (1..=5).map(|attempt| policy().backoff(attempt, 0.0).as_millis()).collect();
        assert_eq!(least, [50, 100, 200, 400, 500]);
    }

    #[test]
    fn backoff_does_not_overflow_after_many_attempts() {
        assert_eq!(policy().backoff(u32::MAX, 0.0), Duration::from_millis(500));
        let huge = RetryPolicy { backoff_cap: Duration::MAX, ..policy() };
        assert!(huge.backoff(64, 0.5) > Duration::from_secs(1_000_000));
    }

    #[test]
    fn jitter_stays_in_range_and_varies() {
        let samples: Vec<f64> =
            (0..1_000).map(|n| (splitmix64(n) >> 11) as f64 / (1u64 << 53) as f64).collect();
        assert!(samples.iter().all(|&s| (0.0..1.0).contains(&s)));
        let mean = samples.iter().sum::<f64>() / samples.len() as f64;
        assert!((0.4..0.6).contains(&mean), "{mean}");
    }
}
