//! A local payment provider that speaks Stripe Checkout Sessions' protocol,
//! so the whole checkout runs without network: the server's own Stripe
//! client talks to it, the buyer pays on its page, and it sends signed
//! webhooks back.
//!
//! Mounted into an actix-web app under [`MOUNT`] (`/sandbox`), it serves:
//!
//! - the API, with Stripe's shapes, errors and idempotency:
//!   `POST /sandbox/v1/checkout/sessions`, `GET /sandbox/v1/checkout/sessions`
//!   (`status`, `limit`, `starting_after`, `ending_before`),
//!   `GET /sandbox/v1/checkout/sessions/{id}`,
//!   `POST /sandbox/v1/checkout/sessions/{id}/expire`,
//!   `GET /sandbox/v1/payment_intents/{id}` and `POST /sandbox/v1/refunds`,
//!   each with `Authorization: Bearer {secret_key}`;
//! - the payment page `GET /sandbox/pay/{id}`, whose forms pay by card, by a
//!   delayed method that later succeeds or fails, or go back to `cancel_url`.
//!
//! Everything it knows lives in the `sled::Tree` it is given and is flushed
//! before it answers: like a real provider, it outlives our crashes, and a
//! restart resumes the webhooks not yet delivered. It is a sandbox: one
//! account, test mode only (`livemode: false`), no money moves.

mod api;
mod api_error;
mod model;
mod ops;
mod page;
mod params;
mod store;
mod worker;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header::{self, HeaderMap};
use actix_web::web;
use engine::time::{Clock, SystemClock};
use sha2::{Digest, Sha256};
use tokio::sync::Notify;

use self::api_error::ApiError;
use self::model::Session;
use self::store::{keys, Store, StoreError, StoreResult, Txn};
use self::worker::WorkerHandle;

/// Where [`Sandbox::configure`] mounts every route.
pub const MOUNT: &str = "/sandbox";

/// How the sandbox is set up. [`SandboxConfig::new`] takes what has no
/// sensible default and fills in the rest, which a test may then change.
#[derive(Clone)]
pub struct SandboxConfig {
    /// The API key clients must send, `sk_…`.
    pub secret_key: String,
    /// The key webhooks are signed with, `whsec_…`.
    pub webhook_secret: String,
    /// Where webhooks are POSTed.
    pub webhook_url: String,
    /// The sandbox's own address as a browser reaches it, mount included,
    /// such as `http://127.0.0.1:8080/sandbox`: it is the Stripe API base for
    /// clients, and the payment page's links start with it.
    pub public_base_url: String,
    /// How long after a delayed method is chosen its outcome is told.
    pub async_payment_delay: Duration,
    /// How many times a webhook is tried before it is given up on.
    pub webhook_attempts_max: u32,
    /// The wait after a webhook's first failed attempt; it doubles after
    /// each further failure, up to `webhook_backoff_max`.
    pub webhook_backoff_first: Duration,
    pub webhook_backoff_max: Duration,
    /// How long one webhook attempt may take.
    pub webhook_timeout: Duration,
    /// What time it is for sessions, payments and signatures alike.
    pub clock: Arc<dyn Clock>,
}

impl SandboxConfig {
    pub fn new(
        secret_key: impl Into<String>,
        webhook_secret: impl Into<String>,
        webhook_url: impl Into<String>,
        public_base_url: impl Into<String>,
    ) -> SandboxConfig {
        SandboxConfig {
            secret_key: secret_key.into(),
            webhook_secret: webhook_secret.into(),
            webhook_url: webhook_url.into(),
            public_base_url: public_base_url.into(),
            async_payment_delay: Duration::from_secs(3),
            webhook_attempts_max: 10,
            webhook_backoff_first: Duration::from_millis(500),
            webhook_backoff_max: Duration::from_secs(60),
            webhook_timeout: Duration::from_secs(10),
            clock: Arc::new(SystemClock),
        }
    }

    fn validate(&self) -> Result<(), SandboxError> {
        let invalid = |why: &str| Err(SandboxError::Config(why.to_owned()));
        if !self.secret_key.starts_with("sk_") || self.secret_key.len() < 8 {
            return invalid("the secret key must look like a Stripe one: sk_ and at least 5 more");
        }
        if self.webhook_secret.is_empty() {
            return invalid("the webhook secret must not be empty");
        }
        if !is_http_url(&self.webhook_url) || !is_http_url(&self.public_base_url) {
            return invalid("the webhook URL and the public base URL must be http(s) URLs");
        }
        if self.webhook_attempts_max == 0 {
            return invalid("a webhook must be tried at least once");
        }
        Ok(())
    }
}

/// Shows everything but the two secrets.
impl std::fmt::Debug for SandboxConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxConfig")
            .field("secret_key", &"<redacted>")
            .field("webhook_secret", &"<redacted>")
            .field("webhook_url", &self.webhook_url)
            .field("public_base_url", &self.public_base_url)
            .field("async_payment_delay", &self.async_payment_delay)
            .field("webhook_attempts_max", &self.webhook_attempts_max)
            .field("webhook_backoff_first", &self.webhook_backoff_first)
            .field("webhook_backoff_max", &self.webhook_backoff_max)
            .field("webhook_timeout", &self.webhook_timeout)
            .finish_non_exhaustive()
    }
}

fn is_http_url(url: &str) -> bool {
    url.starts_with("http://") || url.starts_with("https://")
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("the sandbox's configuration is invalid: {0}")]
    Config(String),
    #[error("the sandbox's store failed: {0}")]
    Store(String),
    #[error("the sandbox's worker thread could not start: {0}")]
    Worker(#[from] std::io::Error),
}

/// How the buyer pays on the payment page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaymentMethod {
    /// Paid at once: the session completes `paid`.
    Card,
    /// A method that settles later, as a bank debit does: the session
    /// completes `unpaid`, and `async_payment_succeeded` follows.
    DelayedSuccess,
    /// The same, but `async_payment_failed` follows.
    DelayedFailure,
}

impl PaymentMethod {
    fn form_value(self) -> &'static str {
        match self {
            PaymentMethod::Card => "card",
            PaymentMethod::DelayedSuccess => "delayed_success",
            PaymentMethod::DelayedFailure => "delayed_failure",
        }
    }

    fn from_form_value(value: &str) -> Option<PaymentMethod> {
        [PaymentMethod::Card, PaymentMethod::DelayedSuccess, PaymentMethod::DelayedFailure]
            .into_iter()
            .find(|method| method.form_value() == value)
    }
}

/// Why a session could not be paid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PayError {
    #[error("there is no such checkout session")]
    NotFound,
    #[error("the checkout session has expired")]
    Expired,
    #[error("the checkout session is already complete")]
    AlreadyComplete,
    #[error("the sandbox could not record the payment: {0}")]
    Unavailable(String),
}

impl From<StoreError> for PayError {
    fn from(error: StoreError) -> PayError {
        tracing::error!(cause = %error, "sandbox: its store failed");
        PayError::Unavailable(error.to_string())
    }
}

/// The sandbox: cheap to clone, one state behind every clone. Its
/// background worker stops when the last clone is dropped.
#[derive(Clone)]
pub struct Sandbox {
    inner: Arc<Inner>,
    worker: Arc<WorkerHandle>,
}

/// The state the handlers and the worker share.
struct Inner {
    /// As given, but for the public base URL's trailing slash.
    settings: SandboxConfig,
    store: Store,
    /// Wakes the worker when a change may have queued a webhook.
    wake: Notify,
    /// Webhooks delivered since this sandbox was opened.
    delivered: AtomicU64,
}

impl Sandbox {
    /// Opens the sandbox on `tree` (new or left by an earlier run) and
    /// starts its worker, which resumes any webhook still pending.
    pub fn open(tree: sled::Tree, config: SandboxConfig) -> Result<Sandbox, SandboxError> {
        config.validate()?;

        let mut settings = config;
        settings.public_base_url = settings.public_base_url.trim_end_matches('/').to_owned();
        let inner = Arc::new(Inner {
            settings,
            store: Store::new(tree),
            wake: Notify::new(),
            delivered: AtomicU64::new(0),
        });

        let pending = inner.store.count(keys::WEBHOOK);
        let worker = Arc::new(worker::start(inner.clone())?);
        tracing::info!(
            base_url = %inner.settings.public_base_url,
            webhooks_pending = pending,
            "sandbox payment provider open"
        );
        Ok(Sandbox { inner, worker })
    }

    /// Mounts the API and the payment page under [`MOUNT`].
    pub fn configure(&self, cfg: &mut web::ServiceConfig) {
        cfg.service(
            web::scope(MOUNT)
                .app_data(web::Data::new(self.clone()))
                .configure(api::configure)
                .configure(page::configure),
        );
    }

    /// The Stripe API base a client should use: the public base URL.
    pub fn api_base(&self) -> &str {
        &self.inner.settings.public_base_url
    }

    /// Pays an open session as its payment page would, and returns where
    /// the page sends the buyer next (the success URL, id filled in).
    pub async fn pay(&self, session_id: &str, method: PaymentMethod) -> Result<String, PayError> {
        let now_ms = self.now_ms();
        let paid = {
            let mut txn = self.begin()?;
            let delay = self.inner.settings.async_payment_delay;
            let paid = ops::pay(&mut txn, session_id, method, now_ms, delay)?;
            txn.commit()?;
            paid
        };
        self.flush_and_wake().await?;
        Ok(paid?.success_redirect())
    }

    /// How much of a payment has been refunded, as a provider's dashboard
    /// would show it; `None` for a payment the sandbox does not know.
    pub fn amount_refunded(&self, payment_intent: &str) -> Option<i64> {
        let txn = self.inner.store.begin();
        let intent = txn.get::<model::PaymentIntent>(&keys::intent(payment_intent)).ok()??;
        Some(intent.amount_refunded)
    }

    /// Webhooks the receiver accepted since this sandbox was opened.
    pub fn webhooks_delivered(&self) -> u64 {
        self.inner.delivered.load(Ordering::SeqCst)
    }

    /// Webhooks raised but not yet accepted (nor given up on).
    pub fn webhooks_pending(&self) -> usize {
        self.inner.store.count(keys::WEBHOOK)
    }

    /// Webhooks given up on after every attempt failed; kept in the store.
    pub fn webhooks_abandoned(&self) -> usize {
        self.inner.store.count(keys::ABANDONED)
    }

    /// Stops the worker and waits for its thread (one turn of its loop, a
    /// tenth of a second or so); webhooks not yet delivered stay pending in
    /// the store for the next sandbox opened on it. The API and the page
    /// keep answering, but nothing is delivered any more.
    pub fn shutdown(&self) {
        self.worker.stop_and_join();
    }

    // For the handlers.

    fn begin(&self) -> StoreResult<Txn<'_>> {
        self.inner.begin()
    }

    fn now_ms(&self) -> i64 {
        self.inner.now_ms()
    }

    fn now_secs(&self) -> i64 {
        self.inner.now_secs()
    }

    fn page_base_url(&self) -> String {
        self.inner.settings.public_base_url.clone()
    }

    /// A session as it is now, after whatever time made due.
    async fn session(&self, id: &str) -> Result<Option<Session>, PayError> {
        let session = {
            let txn = self.begin()?;
            let session = ops::session(&txn, id)?;
            txn.commit()?;
            session
        };
        self.flush_and_wake().await?;
        Ok(session)
    }

    /// Makes what was committed durable, and tells the worker.
    async fn flush_and_wake(&self) -> StoreResult<()> {
        self.inner.store.flush().await?;
        self.inner.wake.notify_one();
        Ok(())
    }

    /// Checks `Authorization: Bearer {secret_key}`.
    fn check_key(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|key| !key.is_empty());
        let Some(given) = given else {
            return Err(ApiError::unauthorized(
                "You did not provide an API key. You need to provide your API key in the \
                 Authorization header, using Bearer auth (e.g. 'Authorization: Bearer \
                 YOUR_SECRET_KEY').",
            ));
        };

        // Digests compared, not keys: the time taken tells nothing of the key.
        let expected = Sha256::digest(self.inner.settings.secret_key.as_bytes());
        if Sha256::digest(given.as_bytes()) != expected {
            return Err(ApiError::unauthorized(format!(
                "Invalid API Key provided: {}",
                masked(given)
            )));
        }
        Ok(())
    }
}

/// A key as Stripe echoes a wrong one: its last four characters only.
fn masked(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    let shown: String = chars[chars.len().saturating_sub(4)..].iter().collect();
    format!("{}****{shown}", if key.starts_with("sk_test_") { "sk_test_" } else { "" })
}

impl Inner {
    fn now_ms(&self) -> i64 {
        self.settings.clock.now().as_millis()
    }

    fn now_secs(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }

    /// A transaction that has already done what time made due, so that
    /// whatever it reads is as of now.
    fn begin(&self) -> StoreResult<Txn<'_>> {
        let mut txn = self.store.begin();
        ops::settle_due(&mut txn, self.now_ms())?;
        Ok(txn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrong_key_is_echoed_masked() {
        assert_eq!(masked("sk_test_abcdefgh1234"), "sk_test_****1234");
        assert_eq!(masked("xy"), "****xy");
    }

    #[test]
    fn configurations_are_checked() {
        let good =
            || SandboxConfig::new("sk_test_123456", "whsec_1", "http://x/hook", "http://x/sandbox");
        let with = |change: fn(&mut SandboxConfig)| {
            let mut config = good();
            change(&mut config);
            config.validate().is_err()
        };

        assert!(good().validate().is_ok());
        assert!(with(|config| config.secret_key = "pk_test_123456".into()));
        assert!(with(|config| config.webhook_secret.clear()));
        assert!(with(|config| config.webhook_url = "ftp://x".into()));
        assert!(with(|config| config.public_base_url = "/sandbox".into()));
        assert!(with(|config| config.webhook_attempts_max = 0));
    }

    #[test]
    fn a_configuration_s_debug_shows_no_secret() {
        let config = SandboxConfig::new("sk_test_123456", "whsec_1", "http://x/hook", "http://x/s");

        let shown = format!("{config:?}");

        assert!(!shown.contains("sk_test_123456") && !shown.contains("whsec_1"), "{shown}");
        assert!(shown.contains("http://x/hook"), "{shown}");
    }

    #[test]
    fn payment_methods_round_trip_through_the_form() {
        for method in
            [PaymentMethod::Card, PaymentMethod::DelayedSuccess, PaymentMethod::DelayedFailure]
        {
            assert_eq!(PaymentMethod::from_form_value(method.form_value()), Some(method));
        }
    }
}
