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
