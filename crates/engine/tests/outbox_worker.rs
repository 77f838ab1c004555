//! The outbox worker against an in-memory outbox and a scripted outside
//! world: order, retries, parking, retry requests, stopping, independence
//! of consumers, and no second delivery after a restart.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use engine::ids::{OrderId, PerformanceId, UserId};
use engine::journal::JournalError;
use engine::outbox::memory::MemoryOutbox;
use engine::outbox::worker::{self, Deliver, DeliveryError, DeliveryFuture, RetryPolicy};
use engine::outbox::{Consumer, Outbox, OutboxEntry, OutboxSeq, Refund, Sale};
use engine::time::{ManualClock, Timestamp};
use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::task::JoinHandle;

const PATIENCE: Duration = Duration::from_secs(10);

fn order(number: u32) -> OrderId {
    OrderId { performance: PerformanceId(1), number }
}

/// For email and SMS.
fn sale(number: u32) -> OutboxEntry {
    OutboxEntry::Sale(Sale {
        order: order(number),
        user: UserId(number),
        performance: PerformanceId(1),
        tickets: vec![number],
        amount_minor: 5_000,
    })
}

/// For the provider only.
fn refund(number: u32) -> OutboxEntry {
    OutboxEntry::Refund(Refund {
        order: order(number),
        payment: format!("pay-{number}"),
        amount_minor: Some(5_000),
        idempotency_key: format!("refund-{number}-1"),
    })
}

/// Fast enough for tests on the real clock.
fn policy(attempts_max: u32) -> RetryPolicy {
    RetryPolicy {
        backoff_base: Duration::from_millis(1),
        backoff_cap: Duration::from_millis(4),
        attempts_max,
        read_batch_entries: 3,
        parked_check_interval: Duration::from_millis(20),
        finishes_in_flight_max: 2,
    }
}

/// What one attempt at an entry does.
#[derive(Clone, Debug)]
enum Step {
    Answer(Result<(), DeliveryError>),
    /// Never answers, like a server that hangs.
    Hang,
    /// Asks the worker to stop, then reports success.
    StopThenSucceed,
    /// Fails the outbox, as a broken disk would, then reports success.
    BreakOutboxThenSucceed,
}

/// The outside world: per entry, the answers to its attempts in turn
/// (success once the script runs out), and a record of every attempt.
#[derive(Default)]
struct World {
    script: Mutex<HashMap<OutboxSeq, VecDeque<Step>>>,
    attempts: Mutex<Vec<OutboxSeq>>,
    stop: Mutex<Option<watch::Sender<bool>>>,
    outbox: Mutex<Option<Arc<MemoryOutbox>>>,
}

impl World {
    fn script(&self, seq: u64, steps: impl IntoIterator<Item = Step>) {
        self.script.lock().entry(OutboxSeq(seq)).or_default().extend(steps);
    }

    fn attempts(&self) -> Vec<u64> {
        self.attempts.lock().iter().map(|seq| seq.0).collect()
    }

    fn attempts_at(&self, seq: u64) -> usize {
        self.attempts().iter().filter(|&&attempted| attempted == seq).count()
    }

    fn next_step(&self, seq: OutboxSeq) -> Step {
        self.attempts.lock().push(seq);
        let mut script = self.script.lock();
        let step = script.get_mut(&seq).and_then(VecDeque::pop_front);
        step.unwrap_or(Step::Answer(Ok(())))
    }
}

/// The [`Deliver`] the worker owns, sharing its [`World`] with the test.
struct Scripted(Arc<World>);

impl Deliver for Scripted {
    fn deliver<'a>(&'a self, seq: OutboxSeq, _entry: &'a OutboxEntry) -> DeliveryFuture<'a> {
        match self.0.next_step(seq) {
            Step::Answer(answer) => Box::pin(std::future::ready(answer)),
            Step::Hang => Box::pin(std::future::pending()),
            Step::StopThenSucceed => {
                if let Some(stop) = self.0.stop.lock().as_ref() {
                    let _ = stop.send(true);
                }
                Box::pin(std::future::ready(Ok(())))
            }
            Step::BreakOutboxThenSucceed => {
                if let Some(outbox) = self.0.outbox.lock().as_ref() {
                    outbox.fail("the disk is gone");
                }
                Box::pin(std::future::ready(Ok(())))
            }
        }
    }
}

/// A worker running on the test's runtime.
struct Running {
    world: Arc<World>,
    stop: watch::Sender<bool>,
    task: JoinHandle<Result<(), JournalError>>,
}

impl Running {
    /// Asks it to stop and waits until it has.
    async fn stop(self) -> Result<(), JournalError> {
        let _ = self.stop.send(true);
        self.stopped().await
    }

    async fn stopped(self) -> Result<(), JournalError> {
        let task = tokio::time::timeout(PATIENCE, self.task);
        task.await.expect("the worker stops in time").expect("the worker's task")
    }
}

fn start(outbox: &Arc<MemoryOutbox>, consumer: Consumer, attempts_max: u32) -> Running {
    start_with(outbox, consumer, attempts_max, Arc::new(World::default()))
}

fn start_with(
    outbox: &Arc<MemoryOutbox>,
    consumer: Consumer,
    attempts_max: u32,
    world: Arc<World>,
) -> Running {
    let (stop, stopped) = watch::channel(false);
    *world.stop.lock() = Some(stop.clone());
    let clock = Arc::new(ManualClock::starting_at(Timestamp(1_000)));
    let outbox: Arc<dyn Outbox> = Arc::clone(outbox) as Arc<dyn Outbox>;
    let run = worker::run(
        outbox,
        consumer,
        Scripted(Arc::clone(&world)),
        policy(attempts_max),
        clock,
        stopped,
    );
    Running { world, stop, task: tokio::spawn(run) }
}

/// Waits until `condition` holds, failing the test after a while.
async fn until(what: &str, mut condition: impl FnMut() -> bool) {
    let started = tokio::time::Instant::now();
    while !condition() {
        assert!(started.elapsed() < PATIENCE, "waited in vain until {what}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

fn pending(outbox: &MemoryOutbox, consumer: Consumer) -> Vec<u64> {
    let pending = outbox.pending(consumer, None, usize::MAX).expect("the outbox reads");
    pending.into_iter().map(|(seq, _)| seq.0).collect()
}

fn parked(outbox: &MemoryOutbox, consumer: Consumer) -> Vec<(u64, u32, String)> {
    let parked = outbox.parked(consumer).expect("the outbox reads");
    parked.into_iter().map(|p| (p.seq.0, p.attempts, p.reason)).collect()
}

fn request_retry(outbox: &MemoryOutbox, consumer: Consumer, seq: u64) -> bool {
    let ack = Box::new(|result: Result<(), JournalError>| result.expect("durable"));
    outbox.request_retry(consumer, OutboxSeq(seq), ack).expect("the outbox reads")
}

#[tokio::test]
async fn entries_are_delivered_in_order_and_marked_done() {
    let outbox = Arc::new(MemoryOutbox::new());
    for number in 0..7 {
        outbox.push(sale(number));
    }

    let running = start(&outbox, Consumer::Email, 3);

    until("all are done", || pending(&outbox, Consumer::Email).is_empty()).await;
    assert_eq!(running.world.attempts(), (0..7).collect::<Vec<_>>());
    assert_eq!(pending(&outbox, Consumer::Sms).len(), 7, "SMS owes them still");
    running.stop().await.expect("a clean stop");
}

#[actix_rt::test]
async fn the_worker_runs_on_an_actix_arbiter() {
    let outbox = Arc::new(MemoryOutbox::new());
    outbox.push(refund(1));
    let (stop, stopped) = watch::channel(false);
    let world = Arc::new(World::default());
    let clock = Arc::new(ManualClock::starting_at(Timestamp(1_000)));
    let run = worker::run(
        Arc::clone(&outbox) as Arc<dyn Outbox>,
        Consumer::Provider,
        Scripted(Arc::clone(&world)),
        policy(3),
        clock,
        stopped,
    );
    let task = actix_rt::spawn(run);

    until("the refund is done", || outbox.is_empty()).await;
    stop.send(true).expect("the worker listens");
    task.await.expect("the worker's task").expect("a clean stop");
}

#[test]
fn the_worker_is_a_send_future() {
    fn assert_send<T: Send>(_: &T) {}
    let (_stop, stopped) = watch::channel(false);
    let run = worker::run(
        Arc::new(MemoryOutbox::new()),
        Consumer::Email,
        Scripted(Arc::default()),
        policy(1),
        Arc::new(ManualClock::default()),
        stopped,
    );
    assert_send(&run);
}

#[tokio::test]
async fn transient_failures_are_retried_until_one_succeeds() {
    let outbox = Arc::new(MemoryOutbox::new());
    outbox.push(refund(0));
    outbox.push(refund(1));
    let world = Arc::new(World::default());
    let timeout = || Step::Answer(Err(DeliveryError::transient("timeout")));
    world.script(0, [timeout(), timeout()]);

    let running = start_with(&outbox, Consumer::Provider, 3, world);

    until("both are done", || outbox.is_empty()).await;
    assert_eq!(running.world.attempts(), [0, 0, 0, 1]);
    assert!(parked(&outbox, Consumer::Provider).is_empty());
    running.stop().await.expect("a clean stop");
}

#[tokio::test]
async fn an_entry_failing_every_attempt_is_parked_and_the_next_goes_on() {
    let outbox = Arc::new(MemoryOutbox::new());
    outbox.push(refund(0));
    outbox.push(refund(1));
    let world = Arc::new(World::default());
    world.script(0, (0..10).map(|_| Step::Answer(Err(DeliveryError::transient("503")))));

    let running = start_with(&outbox, Consumer::Provider, 4, world);

    until("the second is done", || outbox.len() == 1).await;
    assert_eq!(parked(&outbox, Consumer::Provider), [(0, 4, "503".to_owned())]);
    assert_eq!(running.world.attempts(), [0, 0, 0, 0, 1]);
    assert!(pending(&outbox, Consumer::Provider).is_empty());
    running.stop().await.expect("a clean stop");
}

#[tokio::test]
async fn a_permanent_failure_is_parked_at_once() {
    let outbox = Arc::new(MemoryOutbox::new());
    outbox.push(sale(0));
    let world = Arc::new(World::default());
    let refused = DeliveryError::permanent("no such mailbox");
    world.script(0, [Step::Answer(Err(refused))]);

    let running = start_with(&outbox, Consumer::Email, 5, world);

    until("it is parked", || !parked(&outbox, Consumer::Email).is_empty()).await;
    assert_eq!(parked(&outbox, Consumer::Email), [(0, 1, "no such mailbox".to_owned())]);
    assert_eq!(running.world.attempts(), [0]);
    running.stop().await.expect("a clean stop");
}

#[tokio::test]
async fn a_parked_entry_gets_another_try_when_asked() {
    let outbox = Arc::new(MemoryOutbox::new());
    outbox.push(refund(0));
    let world = Arc::new(World::default());
    world.script(0, [Step::Answer(Err(DeliveryError::permanent("card expired")))]);
    world.script(0, [Step::Answer(Err(DeliveryError::permanent("still expired")))]);
    let running = start_with(&outbox, Consumer::Provider, 3, world);
    until("it is parked", || !parked(&outbox, Consumer::Provider).is_empty()).await;

    assert!(request_retry(&outbox, Consumer::Provider, 0));
    until("it is parked again", || running.world.attempts_at(0) == 2).await;
    until("the mark is updated", || parked(&outbox, Consumer::Provider)[0].1 == 2).await;
    assert_eq!(parked(&outbox, Consumer::Provider), [(0, 2, "still expired".to_owned())]);

    assert!(request_retry(&outbox, Consumer::Provider, 0));
    until("it is done", || outbox.is_empty()).await;
    assert_eq!(running.world.attempts_at(0), 3);
    running.stop().await.expect("a clean stop");
}

#[tokio::test]
async fn a_stop_ends_a_hanging_delivery_and_leaves_the_entry_pending() {
    let outbox = Arc::new(MemoryOutbox::new());
    outbox.push(sale(0));
    let world = Arc::new(World::default());
    world.script(0, [Step::Hang]);
    let running = start_with(&outbox, Consumer::Email, 3, world);
    until("the delivery hangs", || running.world.attempts_at(0) == 1).await;

    running.stop().await.expect("a clean stop");

    assert_eq!(pending(&outbox, Consumer::Email), [0]);
}

#[tokio::test]
async fn a_stop_ends_a_backoff_at_once() {
    let outbox = Arc::new(MemoryOutbox::new());
    outbox.push(sale(0));
    let world = Arc::new(World::default());
    world.script(0, [Step::Answer(Err(DeliveryError::transient("busy")))]);
    let (stop, stopped) = watch::channel(false);
    let slow = RetryPolicy { backoff_base: Duration::from_secs(3_600), ..policy(3) };
    let clock = Arc::new(ManualClock::default());
    let run =
        worker::run(outbox.clone(), Consumer::Email, Scripted(world.clone()), slow, clock, stopped);
    let running = Running { world, stop, task: tokio::spawn(run) };
    until("the first attempt failed", || running.world.attempts_at(0) == 1).await;

    running.stop().await.expect("a clean stop, within the test's patience");

    assert_eq!(pending(&outbox, Consumer::Email), [0]);
}

#[tokio::test]
async fn a_delivery_made_as_the_stop_comes_is_still_recorded() {
    let outbox = Arc::new(MemoryOutbox::new());
    outbox.push(sale(0));
    outbox.push(sale(1));
    let world = Arc::new(World::default());
    world.script(0, [Step::StopThenSucceed]);

    let running = start_with(&outbox, Consumer::Email, 3, world);
    let world = Arc::clone(&running.world);
    running.stopped().await.expect("a clean stop");

    assert_eq!(pending(&outbox, Consumer::Email), [1], "0 was done, 1 never tried");
    assert_eq!(world.attempts(), [0]);
}

#[tokio::test]
async fn one_consumer_stuck_does_not_hold_up_another() {
    let outbox = Arc::new(MemoryOutbox::new());
    for number in 0..5 {
        outbox.push(sale(number));
    }
    let stuck_world = Arc::new(World::default());
    stuck_world.script(0, [Step::Hang]);

    let stuck = start_with(&outbox, Consumer::Email, 3, stuck_world);
    let flowing = start(&outbox, Consumer::Sms, 3);

    until("SMS is done", || pending(&outbox, Consumer::Sms).is_empty()).await;
    assert_eq!(pending(&outbox, Consumer::Email), [0, 1, 2, 3, 4]);
    assert_eq!(stuck.world.attempts(), [0]);
    stuck.stop().await.expect("a clean stop");
    flowing.stop().await.expect("a clean stop");
}

#[tokio::test]
async fn a_restarted_worker_delivers_nothing_twice() {
    let outbox = Arc::new(MemoryOutbox::new());
    for number in 0..4 {
        outbox.push(refund(number));
    }
    let first = start(&outbox, Consumer::Provider, 3);
    until("the first four are done", || outbox.is_empty()).await;
    first.stop().await.expect("a clean stop");

    let second = start(&outbox, Consumer::Provider, 3);
    outbox.push(refund(4));
    outbox.push(refund(5));

    until("the new two are done", || outbox.is_empty()).await;
    assert_eq!(second.world.attempts(), [4, 5]);
    second.stop().await.expect("a clean stop");
}

#[tokio::test]
async fn an_idle_worker_wakes_for_a_new_entry() {
    let outbox = Arc::new(MemoryOutbox::new());
    let running = start(&outbox, Consumer::Provider, 3);
    tokio::time::sleep(Duration::from_millis(30)).await;

    outbox.push(refund(7));

    until("it is done", || outbox.is_empty()).await;
    running.stop().await.expect("a clean stop");
}

#[tokio::test]
async fn an_outbox_failing_under_a_finish_ends_the_loop_with_the_error() {
    let outbox = Arc::new(MemoryOutbox::new());
    outbox.push(refund(0));
    outbox.push(refund(1));
    let world = Arc::new(World::default());
    *world.outbox.lock() = Some(Arc::clone(&outbox));
    world.script(0, [Step::BreakOutboxThenSucceed]);
    let running = start_with(&outbox, Consumer::Provider, 3, world);
    let world = Arc::clone(&running.world);

    let error = running.stopped().await.expect_err("the finish was refused");

    assert!(error.reason.contains("the disk is gone"), "{error}");
    assert_eq!(world.attempts(), [0], "nothing more was tried");
}

#[tokio::test]
async fn an_outbox_failing_between_deliveries_ends_the_loop_with_the_error() {
    let outbox = Arc::new(MemoryOutbox::new());
    outbox.fail("the disk is gone");
    let running = start(&outbox, Consumer::Email, 3);

    let error = running.stopped().await.expect_err("the outbox failed");

    assert!(error.reason.contains("the disk is gone"), "{error}");
}

/// An outbox whose finishes are applied at once but acknowledged only when
/// the test says so, like a disk slow to sync.
struct SlowDisk {
    inner: Arc<MemoryOutbox>,
    held: Mutex<Vec<(engine::journal::Ack, Result<(), JournalError>)>>,
}

impl SlowDisk {
    fn held(&self) -> usize {
        self.held.lock().len()
    }

    fn release(&self) {
        let held = std::mem::take(&mut *self.held.lock());
        for (ack, result) in held {
            ack(result);
        }
    }
}

impl Outbox for SlowDisk {
    fn pending(
        &self,
        consumer: Consumer,
        after: Option<OutboxSeq>,
        limit: usize,
    ) -> Result<Vec<(OutboxSeq, OutboxEntry)>, JournalError> {
        self.inner.pending(consumer, after, limit)
    }

    fn finish(
        &self,
        consumer: Consumer,
        seq: OutboxSeq,
        finished: engine::outbox::Finished,
        ack: engine::journal::Ack,
    ) {
        let (sender, receiver) = std::sync::mpsc::channel();
        self.inner.finish(
            consumer,
            seq,
            finished,
            Box::new(move |result| drop(sender.send(result))),
        );
        let result = receiver.recv().expect("the memory outbox answers at once");
        self.held.lock().push((ack, result));
    }

    fn parked(&self, consumer: Consumer) -> Result<Vec<engine::outbox::Parked>, JournalError> {
        self.inner.parked(consumer)
    }

    fn request_retry(
        &self,
        consumer: Consumer,
        seq: OutboxSeq,
        ack: engine::journal::Ack,
    ) -> Result<bool, JournalError> {
        self.inner.request_retry(consumer, seq, ack)
    }

    fn appended(&self) -> Arc<tokio::sync::Notify> {
        self.inner.appended()
    }
}

/// Finishes are pipelined: the worker delivers on while up to
/// `finishes_in_flight_max` of them wait to be durable, then waits; and a
/// stop ends the loop only once every finish it handed over is durable, so
/// a restart delivers nothing twice.
#[tokio::test]
async fn finishes_are_pipelined_and_durable_before_a_stop_ends_the_loop() {
    let memory = Arc::new(MemoryOutbox::new());
    for number in 0..6 {
        memory.push(refund(number));
    }
    let disk = Arc::new(SlowDisk { inner: Arc::clone(&memory), held: Mutex::default() });
    let (stop, stopped) = watch::channel(false);
    let world = Arc::new(World::default());
    let run = worker::run(
        Arc::clone(&disk) as Arc<dyn Outbox>,
        Consumer::Provider,
        Scripted(Arc::clone(&world)),
        policy(3),
        Arc::new(ManualClock::starting_at(Timestamp(1_000))),
        stopped,
    );
    let task = tokio::spawn(run);

    // Two in flight are allowed; the third finish makes the worker wait.
    until("three are delivered", || world.attempts().len() == 3).await;
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert_eq!(world.attempts(), [0, 1, 2], "no delivery past the window");
    assert_eq!(disk.held(), 3);

    disk.release();
    until("all are delivered", || world.attempts().len() == 6).await;
    until("all are finished", || disk.held() == 3).await;

    stop.send(true).expect("the worker listens");
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert!(!task.is_finished(), "the loop waits for its finishes to be durable");
    disk.release();
    let stopped = tokio::time::timeout(PATIENCE, task).await.expect("the worker stops in time");
    stopped.expect("the worker's task").expect("a clean stop");
    assert!(memory.is_empty(), "every delivery is recorded");

    let again = start(&memory, Consumer::Provider, 3);
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert!(again.world.attempts().is_empty(), "nothing delivered twice");
    again.stop().await.expect("a clean stop");
}
