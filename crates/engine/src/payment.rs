//! How a purchase is paid for: the boundary to a payment provider.
//!
//! A provider's answer can take long (a redirect to a payment page, a
//! webhook minutes later), so the trait hands back a future and the engine
//! never waits for it inside an actor: the actor checks the holds and quotes
//! the price, the payment runs outside, and a second message completes the
//! purchase with the provider's reference.

use std::future::Future;
use std::pin::Pin;

use crate::catalogue::Currency;
use crate::ids::{PerformanceId, UserId};

pub type PaymentFuture = Pin<Box<dyn Future<Output = PaymentOutcome> + Send>>;

/// A charge the provider is asked to make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Charge {
    pub user: UserId,
    pub performance: PerformanceId,
    pub amount_minor: i64,
    pub currency: Currency,
    /// What the buyer gave us to pay with: a card token, a session, a nonce.
    pub payment_token: String,
    /// The same for every attempt of one purchase, so a retried call never
    /// charges twice.
    pub idempotency_key: String,
}

/// What the provider made of a charge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PaymentOutcome {
    /// The money is taken; `reference` names the charge at the provider.
    Approved { reference: String },
    /// The provider refused; nothing was taken.
    Declined { reason: String },
    /// The provider could not be asked (network, timeout). Nothing is known
    /// to have been taken.
    Failed { reason: String },
}

pub trait PaymentProvider: Send + Sync + 'static {
    fn name(&self) -> &'static str;

    fn charge(&self, charge: Charge) -> PaymentFuture;

    /// Gives back a charge in full: a purchase that was paid for but could
    /// not be completed (its hold lapsed while the payment ran).
    fn refund(&self, reference: &str, amount_minor: i64) -> PaymentFuture;
}

/// The provider that needs no network: any non-empty token pays, except the
/// token `decline`, which is refused. Kept for load tests and the demo.
#[derive(Clone, Copy, Debug, Default)]
pub struct InstantProvider;

impl PaymentProvider for InstantProvider {
    fn name(&self) -> &'static str {
        "instant"
    }

    fn charge(&self, charge: Charge) -> PaymentFuture {
        let outcome = match charge.payment_token.as_str() {
            "" => PaymentOutcome::Declined { reason: "the payment token is empty".into() },
            "decline" => PaymentOutcome::Declined { reason: "the card was declined".into() },
            _ => PaymentOutcome::Approved {
                reference: format!("instant-{}", charge.idempotency_key),
            },
        };
        Box::pin(std::future::ready(outcome))
    }

    fn refund(&self, reference: &str, _amount_minor: i64) -> PaymentFuture {
        let reference = format!("refund-{reference}");
        Box::pin(std::future::ready(PaymentOutcome::Approved { reference }))
    }
}

// Checkout sessions: the buyer pays on the provider's own page.

use crate::ids::OrderId;
use crate::time::Timestamp;

pub type ProviderFuture<T> = Pin<Box<dyn Future<Output = Result<T, ProviderError>> + Send>>;

/// A checkout session the provider is asked to open for one order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRequest {
    pub order: OrderId,
    /// In the currency's ISO 4217 minor units; the provider converts to its
    /// own units at its boundary.
    pub amount_minor: i64,
    pub currency: Currency,
    /// One line for the payment page: what is being bought.
    pub description: String,
    pub customer_email: Option<String>,
    /// Where the buyer's browser returns once paid; the provider puts the
    /// session's id where it finds `{CHECKOUT_SESSION_ID}`.
    pub success_url: String,
    pub cancel_url: String,
    /// When the provider itself expires the session. The engine expires it
    /// earlier, through [`CheckoutProvider::expire_session`], when the hold
    /// ends; this is only the backstop.
    pub expires_at: Timestamp,
    /// The same for every attempt to open this order's session, so a retry
    /// after a timeout finds the session the first attempt made.
    pub idempotency_key: String,
}

/// An open session: where to send the buyer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckoutSession {
    pub id: String,
    pub url: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionStatus {
    Open,
    Complete,
    Expired,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionPayment {
    Paid,
    Unpaid,
    NoPaymentRequired,
}

/// A session as the provider reports it, by webhook or when asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionState {
    pub id: String,
    /// The order the session was opened for, as the session names it.
    pub order: Option<OrderId>,
    pub status: SessionStatus,
    pub payment_status: SessionPayment,
    /// The provider's reference of the payment, once there is one.
    pub payment: Option<String>,
    /// What the session charges, back in ISO 4217 minor units.
    pub amount_minor: i64,
    pub currency: Currency,
}

/// Why a provider call did not give an answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// No answer in time: the call may or may not have taken effect.
    #[error("the payment provider did not answer in time")]
    Timeout,
    /// The provider could not be reached or failed (network, 5xx, 429):
    /// worth retrying later.
    #[error("the payment provider is unavailable: {0}")]
    Unavailable(String),
    /// The provider refused the call (4xx); retrying the same call will not
    /// help.
    #[error("the payment provider refused the call: {0}")]
    Refused(String),
    /// The provider knows no such session.
    #[error("the payment provider knows no session {0}")]
    UnknownSession(String),
}

impl ProviderError {
    /// Whether trying the same call again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, ProviderError::Timeout | ProviderError::Unavailable(_))
    }
}

/// A currency the provider cannot take, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the payment provider cannot take {currency}: {reason}")]
pub struct UnsupportedCurrency {
    pub currency: String,
    pub reason: String,
}

/// A payment provider with hosted checkout sessions, Stripe Checkout's
/// protocol. Amounts cross this trait in ISO 4217 minor units.
pub trait CheckoutProvider: Send + Sync + 'static {
    fn name(&self) -> &'static str;

    /// Whether the provider takes `amount_minor` of `currency`, checked
    /// before any hold is extended for a checkout.
    fn check_amount(
        &self,
        amount_minor: i64,
        currency: &Currency,
    ) -> Result<(), UnsupportedCurrency>;

    fn create_session(&self, request: SessionRequest) -> ProviderFuture<CheckoutSession>;

    fn retrieve_session(&self, id: &str) -> ProviderFuture<SessionState>;

    /// Expires an open session. A session that completed first cannot be
    /// expired; its state is returned as it is, so the caller sees the
    /// payment it must honour or refund.
    fn expire_session(&self, id: &str) -> ProviderFuture<SessionState>;

    /// Open sessions that name `order`: those of a creation that timed out.
    fn open_sessions_of(&self, order: OrderId) -> ProviderFuture<Vec<SessionState>>;

    /// Refunds part of a payment, or all that is left of it when
    /// `amount_minor` is `None`; returns the refund's reference.
    fn refund(
        &self,
        payment: &str,
        amount_minor: Option<i64>,
        currency: &Currency,
        idempotency_key: &str,
    ) -> ProviderFuture<String>;
}

/// Checkout without a payment page, for load tests and the demo: a session
/// is paid the moment it is opened, and its URL is the success URL itself.
/// Sessions live in memory only: after a restart the provider knows none.
#[derive(Default)]
pub struct InstantCheckout {
    sessions: parking_lot::Mutex<std::collections::HashMap<String, SessionState>>,
}

impl InstantCheckout {
    fn session(&self, id: &str) -> Result<SessionState, ProviderError> {
        let sessions = self.sessions.lock();
        sessions.get(id).cloned().ok_or_else(|| ProviderError::UnknownSession(id.to_owned()))
    }
}

impl CheckoutProvider for InstantCheckout {
    fn name(&self) -> &'static str {
        "instant"
    }

    fn check_amount(&self, _: i64, _: &Currency) -> Result<(), UnsupportedCurrency> {
        Ok(())
    }

    fn create_session(&self, request: SessionRequest) -> ProviderFuture<CheckoutSession> {
        let id = format!("cs_instant_{}", request.idempotency_key);
        let state = SessionState {
            id: id.clone(),
            order: Some(request.order),
            status: SessionStatus::Complete,
            payment_status: SessionPayment::Paid,
            payment: Some(format!("pi_instant_{}", request.idempotency_key)),
            amount_minor: request.amount_minor,
            currency: request.currency,
        };
        self.sessions.lock().entry(id.clone()).or_insert(state);
        let url = request.success_url.replace("{CHECKOUT_SESSION_ID}", &id);
        Box::pin(std::future::ready(Ok(CheckoutSession { id, url })))
    }

    fn retrieve_session(&self, id: &str) -> ProviderFuture<SessionState> {
        Box::pin(std::future::ready(self.session(id)))
    }

    fn expire_session(&self, id: &str) -> ProviderFuture<SessionState> {
        // Paid on opening, so never open: there is nothing to expire.
        Box::pin(std::future::ready(self.session(id)))
    }

    fn open_sessions_of(&self, _: OrderId) -> ProviderFuture<Vec<SessionState>> {
        Box::pin(std::future::ready(Ok(Vec::new())))
    }

    fn refund(&self, _: &str, _: Option<i64>, _: &Currency, key: &str) -> ProviderFuture<String> {
        Box::pin(std::future::ready(Ok(format!("re_instant_{key}"))))
    }
}
