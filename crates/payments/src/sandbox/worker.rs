//! The sandbox's background work, on a thread of its own with its own
//! runtime, so it runs whatever server or test hosts the sandbox:
//!
//! - what time makes due: sessions past `expires_at` expire, delayed
//!   payments' outcomes are told (both raise webhooks);
//! - webhook delivery: each pending webhook is POSTed to the webhook URL,
//!   signed afresh at each attempt, and retried with doubling backoff until
//!   the receiver answers 2xx or the attempts run out. One session's
//!   webhooks go out one at a time, in the order they were raised; different
//!   sessions' go out side by side;
//! - idempotency keys older than a day are forgotten, as at Stripe.
//!
//! A webhook leaves the store only once delivered (or given up on), so a
//! restart resumes what was pending: delivery is at least once.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::model::{IdempotentReply, Webhook};
use super::store::{keys, StoreResult};
use super::Inner;
use crate::signature;

/// How often the worker looks at the clock when nothing wakes it: a test
/// clock moves without telling anyone.
const TICK: Duration = Duration::from_millis(100);

/// How many webhooks may be on their way at once.
const DELIVERIES_IN_FLIGHT_MAX: usize = 16;

/// How long an idempotency key is remembered, and how often old ones go.
const IDEMPOTENCY_KEY_TTL_MS: i64 = 24 * 60 * 60 * 1000;
const IDEMPOTENCY_PRUNE_EVERY: Duration = Duration::from_secs(60 * 60);

/// Tells the worker to stop; set once, by the last sandbox handle or by
/// [`super::Sandbox::shutdown`].
#[derive(Default)]
struct StopSignal {
    stopped: AtomicBool,
    notify: Notify,
}

impl StopSignal {
    fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        // A stored permit: the worker sees it even if it is not waiting yet.
        self.notify.notify_one();
    }

    fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }
}

/// The handle the sandbox keeps; dropping the last one stops the worker.
pub(crate) struct WorkerHandle {
    signal: Arc<StopSignal>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl WorkerHandle {
    /// Stops the worker and waits for its thread, which ends within one
    /// turn of its loop; webhooks on their way are dropped, still pending.
    pub(crate) fn stop_and_join(&self) {
        self.signal.stop();
        let thread = self.thread.lock().take();
        if let Some(thread) = thread {
            if thread.join().is_err() {
                tracing::error!("sandbox: the worker thread panicked");
            }
        }
    }
}

impl Drop for WorkerHandle {
    fn drop(&mut self) {
        self.signal.stop();
    }
}

pub(crate) fn start(inner: Arc<Inner>) -> std::io::Result<WorkerHandle> {
    let signal = Arc::new(StopSignal::default());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let worker_signal = signal.clone();
    let thread = std::thread::Builder::new()
        .name("sandbox-worker".into())
        .spawn(move || runtime.block_on(run(inner, worker_signal)))?;
    Ok(WorkerHandle { signal, thread: Mutex::new(Some(thread)) })
}

async fn run(inner: Arc<Inner>, signal: Arc<StopSignal>) {
    let client = match reqwest::Client::builder().timeout(inner.settings.webhook_timeout).build() {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(cause = %error, "sandbox: no HTTP client, so no webhooks");
            return;
        }
    };
    let mut deliveries = Deliveries::default();
    let mut pruned_at: Option<Instant> = None;

    while !signal.is_stopped() {
        if let Err(error) = settle(&inner).await {
            tracing::error!(cause = %error, "sandbox: could not settle what is due");
        }
        if pruned_at.is_none_or(|at| at.elapsed() >= IDEMPOTENCY_PRUNE_EVERY) {
            prune_idempotency_keys(&inner).await;
            pruned_at = Some(Instant::now());
        }
        if let Err(error) = deliveries.start_due(&inner, &client).await {
            tracing::error!(cause = %error, "sandbox: could not read the pending webhooks");
        }

        tokio::select! {
            Some(done) = deliveries.tasks.join_next_with_id() => {
                deliveries.finish(&inner, done).await;
            }
            _ = inner.wake.notified() => {}
            _ = signal.notify.notified() => {}
            _ = tokio::time::sleep(TICK) => {}
        }
    }
    tracing::debug!("sandbox: worker stopped");
}

/// Commits what the clock made due, if anything was.
async fn settle(inner: &Inner) -> StoreResult<()> {
    let txn = inner.begin()?;
    let changed = txn.is_dirty();
    txn.commit()?;
    if changed {
        inner.store.flush().await?;
    }
    Ok(())
}

async fn prune_idempotency_keys(inner: &Inner) {
    let oldest_kept_ms = inner.now_ms().saturating_sub(IDEMPOTENCY_KEY_TTL_MS);
    let pruned = async {
        let stored: Vec<(Vec<u8>, IdempotentReply)> = inner.store.scan(keys::IDEMPOTENCY)?;
        let mut txn = inner.store.begin();
        for (key, reply) in stored {
            if reply.created_ms < oldest_kept_ms {
                txn.remove(key);
            }
        }
        txn.commit()?;
        inner.store.flush().await
    };
    if let Err(error) = pruned.await {
        tracing::warn!(cause = %error, "sandbox: could not forget old idempotency keys");
    }
}

type DeliveryResult = Result<(), String>;

/// The webhooks on their way and those waiting out a backoff.
#[derive(Default)]
struct Deliveries {
    tasks: JoinSet<DeliveryResult>,
    /// Which webhook each task carries.
    in_flight: HashMap<tokio::task::Id, Webhook>,
    /// Sessions with a webhook on its way: their next one waits.
    busy_sessions: HashSet<String>,
    /// When a webhook that failed may be tried again, by sequence number.
    retry_at: HashMap<u64, Instant>,
}

impl Deliveries {
    /// Starts each session's oldest pending webhook whose time has come.
    async fn start_due(&mut self, inner: &Arc<Inner>, client: &reqwest::Client) -> StoreResult<()> {
        let ready = self.ready(inner.store.scan(keys::WEBHOOK)?);
        if ready.is_empty() {
            return Ok(());
        }

        // Nothing is told before the store holds it.
        inner.store.flush().await?;
        for webhook in ready {
            let attempt = deliver(client.clone(), inner.clone(), webhook.payload.clone());
            let task = self.tasks.spawn(attempt);
            self.busy_sessions.insert(webhook.session_id.clone());
            self.in_flight.insert(task.id(), webhook);
        }
        Ok(())
    }

    fn ready(&self, pending: Vec<(Vec<u8>, Webhook)>) -> Vec<Webhook> {
        let now = Instant::now();
        let room = DELIVERIES_IN_FLIGHT_MAX.saturating_sub(self.in_flight.len());
        let mut heads_seen = HashSet::new();
        let mut ready = Vec::new();
        for (_, webhook) in pending {
            // Only a session's oldest pending webhook may go.
            if !heads_seen.insert(webhook.session_id.clone()) {
                continue;
            }
            let waiting = self.retry_at.get(&webhook.seq).is_some_and(|at| *at > now);
            if waiting || self.busy_sessions.contains(&webhook.session_id) {
                continue;
            }
            if ready.len() == room {
                break;
            }
            ready.push(webhook);
        }
        ready
    }

    async fn finish(
        &mut self,
        inner: &Inner,
        done: Result<(tokio::task::Id, DeliveryResult), tokio::task::JoinError>,
    ) {
        let (id, result) = match done {
            Ok((id, result)) => (id, result),
            Err(error) => (error.id(), Err(format!("the delivery task failed: {error}"))),
        };
        let Some(webhook) = self.in_flight.remove(&id) else {
            return;
        };
        self.busy_sessions.remove(&webhook.session_id);

        let recorded = match result {
            Ok(()) => self.delivered(inner, &webhook).await,
            Err(cause) => self.failed(inner, webhook, &cause).await,
        };
        if let Err(error) = recorded {
            tracing::error!(cause = %error, "sandbox: could not record a webhook delivery");
        }
    }

    async fn delivered(&mut self, inner: &Inner, webhook: &Webhook) -> StoreResult<()> {
        self.retry_at.remove(&webhook.seq);
        let mut txn = inner.store.begin();
        txn.remove(keys::webhook(webhook.seq));
        txn.commit()?;
        inner.store.flush().await?;

        inner.delivered.fetch_add(1, Ordering::SeqCst);
        tracing::debug!(
            event = %webhook.event_id,
            event_type = %webhook.event_type,
            session = %webhook.session_id,
            "sandbox: webhook delivered"
        );
        Ok(())
    }

    async fn failed(
        &mut self,
        inner: &Inner,
        mut webhook: Webhook,
        cause: &str,
    ) -> StoreResult<()> {
        webhook.attempts += 1;
        let settings = &inner.settings;
        let given_up = webhook.attempts >= settings.webhook_attempts_max;

        let mut txn = inner.store.begin();
        if given_up {
            txn.remove(keys::webhook(webhook.seq));
            txn.put(keys::abandoned(webhook.seq), &webhook)?;
        } else {
            txn.put(keys::webhook(webhook.seq), &webhook)?;
        }
        txn.commit()?;
        inner.store.flush().await?;

        if given_up {
            self.retry_at.remove(&webhook.seq);
            tracing::error!(
                event = %webhook.event_id,
                event_type = %webhook.event_type,
                attempts = webhook.attempts,
                cause,
                "sandbox: gave up on a webhook"
            );
        } else {
            let backoff = backoff(
                webhook.attempts,
                settings.webhook_backoff_first,
                settings.webhook_backoff_max,
            );
            self.retry_at.insert(webhook.seq, Instant::now() + backoff);
            tracing::warn!(
                event = %webhook.event_id,
                attempts = webhook.attempts,
                retry_in_ms = backoff.as_millis() as u64,
                cause,
                "sandbox: webhook not accepted; will retry"
            );
        }
        Ok(())
    }
}

/// The wait after the `attempts`-th failure: `first`, doubling, at most `max`.
fn backoff(attempts: u32, first: Duration, max: Duration) -> Duration {
    let doublings = attempts.saturating_sub(1).min(20);
    first.saturating_mul(1 << doublings).min(max)
}

/// One attempt: POSTs the payload, signed now.
async fn deliver(client: reqwest::Client, inner: Arc<Inner>, payload: String) -> DeliveryResult {
    let settings = &inner.settings;
    let signature = signature::sign(payload.as_bytes(), &settings.webhook_secret, inner.now_secs());
    let response = client
        .post(&settings.webhook_url)
        .header(reqwest::header::CONTENT_TYPE, "application/json; charset=utf-8")
        .header(reqwest::header::USER_AGENT, "Boxoffice-Sandbox/1.0 (webhooks)")
        .header(signature::HEADER, signature)
        .body(payload)
        .send()
        .await
        .map_err(|error| format!("could not reach the receiver: {error}"))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("the receiver answered {}", response.status()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_ceiling() {
        let first = Duration::from_millis(100);
        let max = Duration::from_secs(1);

        let waits: Vec<u128> =
            (1..=6).map(|attempts| backoff(attempts, first, max).as_millis()).collect();

        assert_eq!(waits, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(backoff(u32::MAX, first, max), max);
    }
}
