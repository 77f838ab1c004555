//! Checkout through a payment provider's hosted page, and what admins do
//! with orders afterwards.
//!
//! The actor decides; the provider is called outside it. A checkout moves
//! the buyer's holds into an order first, so the seats are kept while the
//! session is opened, and only then asks the provider for a session. A
//! payment is honoured by the actor whichever way it is learnt (webhook,
//! the buyer's return, a question at start-up, or the expire call finding
//! the session paid), and each way after the first changes nothing.
//!
//! Calls owed to the provider after a decision (expire, refund) are not
//! made here: the actor puts them in the outbox with the decision, and the
//! provider's worker makes them, so a crash in between loses none.

use std::time::Duration;

use tokio::sync::oneshot;

use super::{BookingError, BoxOffice, PerformanceHandle};
use crate::actor::{
    CancelOrder, ConfirmPayment, FailPayment, OpenCheckout, OpenSession, OrderDetails, ReadOrder,
    RefundOrder, WaitingCheckouts,
};
use crate::booking::{Cancellation, Checkout, Confirmation, Purchase, Session};
use crate::catalogue::Currency;
use crate::ids::{OrderId, PerformanceId, UserId};
use crate::outbox::{OutboxEntry, Refund};
use crate::payment::{
    CheckoutProvider, ProviderError, SessionPayment, SessionRequest, SessionState, SessionStatus,
};

/// The provider's own expiry of a session must be at least this far off
/// (Stripe refuses less); the engine expires it sooner, when the hold ends.
const PROVIDER_SESSION_LIFETIME: Duration = Duration::from_secs(31 * 60);

/// Where the provider sends the buyer's browser back.
#[derive(Clone, Debug)]
pub struct CheckoutUrls {
    /// Contains `{CHECKOUT_SESSION_ID}`, which the provider fills in.
    pub success_url: String,
    pub cancel_url: String,
}

/// A checkout waiting for the buyer to pay at `url`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckoutStarted {
    pub order: OrderId,
    pub amount_minor: i64,
    pub currency: Currency,
    pub url: String,
    pub session: String,
    /// The tickets stay held for the order until then.
    pub until: crate::time::Timestamp,
}

/// What a session's state did to its order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionOutcome {
    Paid(Purchase),
    /// This payment was honoured or turned back before.
    AlreadyKnown,
    /// The payment came too late for the tickets and is being refunded.
    TurnedBack,
    /// Complete, but an asynchronous payment has yet to settle.
    PaymentPending,
    /// Nothing was paid (open, or expired unpaid).
    NotPaid,
}

impl BoxOffice {
    fn checkout_provider(&self) -> &dyn CheckoutProvider {
        &*self.inner.deps.checkout
    }

    /// Opens a checkout for tickets the user holds: refuses a currency or
    /// amount the provider cannot take before any hold is extended, moves
    /// the holds into an order, then opens the provider's session.
    ///
    /// If opening the session fails or times out, the order keeps its
    /// tickets until its hold ends: a retry of the same checkout finds the
    /// order and asks again with the same idempotency key, so it gets the
    /// session a timed-out first attempt may have made.
    pub async fn checkout(
        &self,
        user: UserId,
        performance: PerformanceId,
        tickets: Vec<u32>,
        urls: CheckoutUrls,
    ) -> Result<CheckoutStarted, BookingError> {
        let handle = self.performance(performance)?;
        // Tickets that do not exist are the actor's to refuse, by name.
        let count = handle.plan.ticket_count();
        if !tickets.is_empty() && tickets.iter().all(|&ticket| ticket < count) {
            let amount_minor = price_of(&handle, &tickets);
            self.checkout_provider().check_amount(amount_minor, &handle.currency)?;
        }

        let ttl = self.inner.config.checkout_ttl;
        let checkout =
            handle.command(|reply| OpenCheckout { user, tickets: tickets.clone(), ttl, reply });
        let checkout = checkout.await?;
        let session = match checkout.session.clone() {
            Some(session) => session,
            None => self.open_session(&handle, user, tickets.len(), &checkout, urls).await?,
        };

        Ok(CheckoutStarted {
            order: checkout.order,
            amount_minor: checkout.amount_minor,
            currency: handle.currency.clone(),
            url: session.url,
            session: session.id,
            until: checkout.until,
        })
    }

    async fn open_session(
        &self,
        handle: &PerformanceHandle,
        user: UserId,
        ticket_count: usize,
        checkout: &Checkout,
        urls: CheckoutUrls,
    ) -> Result<Session, BookingError> {
        let order = checkout.order;
        let request = SessionRequest {
            order,
            amount_minor: checkout.amount_minor,
            currency: handle.currency.clone(),
            description: describe(ticket_count, &handle.info.title),
            customer_email: self.user(user).map(|user| user.email.clone()),
            success_url: urls.success_url,
            cancel_url: urls.cancel_url,
            expires_at: provider_expiry(checkout.until),
            idempotency_key: format!("checkout-{order}"),
        };

        let opened = self.checkout_provider().create_session(request).await;
        let opened = opened.inspect_err(|error| {
            tracing::warn!(%order, %error, "could not open a checkout session");
            metrics::counter!("boxoffice_checkout_session_failures_total").increment(1);
        })?;
        let session = Session { id: opened.id, url: opened.url };
        let recorded = handle.command(|reply| OpenSession { order, session, reply }).await?;
        tracing::info!(%order, session = %recorded.id, "checkout session opened");
        Ok(recorded)
    }

    /// Applies a session's state as the provider reports it (a webhook, or
    /// the answer to a question): a paid session pays its order.
    pub async fn settle_session(
        &self,
        state: &SessionState,
    ) -> Result<SessionOutcome, BookingError> {
        let Some(order) = state.order else {
            return Err(ProviderError::UnknownSession(state.id.clone()).into());
        };
        let paid = state.status == SessionStatus::Complete
            && state.payment_status != SessionPayment::Unpaid;
        if !paid {
            let pending = state.status == SessionStatus::Complete;
            return Ok(if pending {
                SessionOutcome::PaymentPending
            } else {
                SessionOutcome::NotPaid
            });
        }

        let handle = self.performance(order.performance)?;
        // A payment in another currency cannot match the order's amount:
        // it is turned back like any payment that cannot buy the order.
        let same_currency = state.currency.code == handle.currency.code;
        let amount_minor = same_currency.then_some(state.amount_minor);
        let payment = state.payment.clone().unwrap_or_else(|| state.id.clone());
        let confirmed =
            handle.command(|reply| ConfirmPayment { order, payment, amount_minor, reply }).await?;
        tracing::info!(%order, session = %state.id, outcome = ?confirmed, "payment settled");
        Ok(match confirmed {
            Confirmation::Paid(purchase) => SessionOutcome::Paid(purchase),
            Confirmation::AlreadyKnown => SessionOutcome::AlreadyKnown,
            Confirmation::TurnedBack => SessionOutcome::TurnedBack,
        })
    }

    /// Asks the provider for a session's state, rather than trusting the
    /// redirect that named it, and applies it.
    pub async fn refresh_session(
        &self,
        session: &str,
    ) -> Result<(SessionState, SessionOutcome), BookingError> {
        let state = self.checkout_provider().retrieve_session(session).await?;
        let outcome = self.settle_session(&state).await?;
        Ok((state, outcome))
    }

    /// The provider reports that an order's asynchronous payment failed.
    pub async fn fail_payment(&self, order: OrderId) -> Result<(), BookingError> {
        let handle = self.performance(order.performance)?;
        handle.command(|reply| FailPayment { order, reply }).await
    }

    /// After a restart: asks the provider about every checkout that still
    /// waits, so payments whose webhooks were missed while down are
    /// honoured. Returns how many sessions were asked about.
    pub async fn catch_up_payments(&self) -> usize {
        let mut asked = 0;
        for handle in self.inner.performances.load().values() {
            let (reply, answer) = oneshot::channel();
            handle.addr.do_send(WaitingCheckouts { reply });
            for (order, session) in answer.await.unwrap_or_default() {
                asked += 1;
                if let Err(error) = self.refresh_session(&session.id).await {
                    tracing::warn!(%order, session = %session.id, %error, "could not catch up on a session");
                }
            }
        }
        asked
    }

    // Admin.

    pub async fn order(&self, order: OrderId) -> Result<OrderDetails, BookingError> {
        let handle = self.performance(order.performance)?;
        Ok(handle.ask(|reply| ReadOrder { order, reply }).await??)
    }

    /// Cancels the whole order (`tickets` `None`) or some of its tickets.
    pub async fn cancel_order(
        &self,
        order: OrderId,
        tickets: Option<Vec<u32>>,
    ) -> Result<Cancellation, BookingError> {
        let handle = self.performance(order.performance)?;
        let cancelled = handle.command(|reply| CancelOrder { order, tickets, reply }).await?;
        tracing::info!(%order, freed = cancelled.freed.len(), refund_minor = cancelled.refund_minor, "order cancelled");
        Ok(cancelled)
    }

    /// Refunds `amount_minor` of the order (the rest of it if `None`).
    pub async fn refund_order(
        &self,
        order: OrderId,
        amount_minor: Option<i64>,
    ) -> Result<i64, BookingError> {
        let handle = self.performance(order.performance)?;
        let refunded = handle.command(|reply| RefundOrder { order, amount_minor, reply }).await?;
        tracing::info!(%order, refunded, "order refunded");
        Ok(refunded)
    }

    /// The currency of a performance's city.
    pub fn currency_of(&self, performance: PerformanceId) -> Result<Currency, BookingError> {
        Ok(self.performance(performance)?.currency.clone())
    }
}

/// When the provider itself should end a checkout's session: a backstop,
/// since the engine expires it when the hold ends. Derived from the hold,
/// in whole seconds, so that every attempt to open the session sends the
/// same parameters with its idempotency key.
fn provider_expiry(hold_until: crate::time::Timestamp) -> crate::time::Timestamp {
    let expiry = hold_until.plus(PROVIDER_SESSION_LIFETIME);
    crate::time::Timestamp(expiry.as_millis() - expiry.as_millis().rem_euclid(1000))
}

/// The price of tickets that all exist.
fn price_of(handle: &PerformanceHandle, tickets: &[u32]) -> i64 {
    let plan = &handle.plan;
    tickets.iter().fold(0i64, |total, &ticket| total.saturating_add(plan.price_minor(ticket)))
}

fn describe(ticket_count: usize, title: &str) -> String {
    match ticket_count {
        1 => format!("1 ticket for {title}"),
        n => format!("{n} tickets for {title}"),
    }
}

/// Why a call owed to the provider did not go through.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct OwedCallFailed {
    /// Whether trying again later may succeed.
    pub transient: bool,
    pub reason: String,
}

impl From<ProviderError> for OwedCallFailed {
    fn from(error: ProviderError) -> OwedCallFailed {
        OwedCallFailed { transient: error.is_transient(), reason: error.to_string() }
    }
}

impl From<BookingError> for OwedCallFailed {
    fn from(error: BookingError) -> OwedCallFailed {
        let transient = matches!(error, BookingError::Overloaded | BookingError::Provider(_));
        OwedCallFailed { transient, reason: error.to_string() }
    }
}

impl BoxOffice {
    /// Makes a call the outbox says the provider is owed: expire a session
    /// whose checkout ended, or refund a payment. A session that turns out
    /// to have been paid before it could be expired is settled like any
    /// reported payment: it buys its tickets if they are still free, or is
    /// turned back.
    pub async fn make_owed_call(&self, entry: &OutboxEntry) -> Result<(), OwedCallFailed> {
        match entry {
            OutboxEntry::ExpireSession { order, session: Some(session) } => {
                self.expire_session(*order, session).await
            }
            OutboxEntry::ExpireSession { order, session: None } => {
                let open = self.checkout_provider().open_sessions_of(*order).await?;
                for session in open {
                    self.expire_session(*order, &session.id).await?;
                }
                Ok(())
            }
            OutboxEntry::Refund(refund) => self.refund_at_provider(refund).await,
            OutboxEntry::Sale(_) | OutboxEntry::LatePaymentRefunded(_) => Ok(()),
        }
    }

    async fn expire_session(&self, order: OrderId, session: &str) -> Result<(), OwedCallFailed> {
        let state = match self.checkout_provider().expire_session(session).await {
            Ok(state) => state,
            Err(ProviderError::UnknownSession(_)) => {
                tracing::warn!(%order, session, "the provider knows no session to expire");
                return Ok(());
            }
            Err(error) => return Err(error.into()),
        };
        if state.status == SessionStatus::Complete {
            tracing::info!(%order, session, "a session was completed before it could be expired");
            self.settle_session(&state).await?;
        } else {
            tracing::info!(%order, session, "checkout session expired at the provider");
        }
        Ok(())
    }

    async fn refund_at_provider(&self, refund: &Refund) -> Result<(), OwedCallFailed> {
        let currency = self.currency_of(refund.order.performance)?;
        let provider = self.checkout_provider();
        let done = provider
            .refund(&refund.payment, refund.amount_minor, &currency, &refund.idempotency_key)
            .await?;
        tracing::info!(order = %refund.order, payment = %refund.payment, amount_minor = refund.amount_minor, refund = %done, "refunded at the provider");
        metrics::counter!("boxoffice_refunds_total").increment(1);
        Ok(())
    }
}
