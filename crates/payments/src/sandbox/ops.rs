//! What happens to sessions, payments and refunds: each change of state in
//! one function, inside a transaction, raising the webhooks it causes.
//!
//! Nothing here knows HTTP. Time is handed in (`now_secs`, `now_ms`, the
//! sandbox's clock), so a test clock moves everything alike.

use std::collections::BTreeMap;
use std::time::Duration;

use super::api_error::ApiError;
use super::model::{
    event_json, new_id, AsyncOutcome, IntentStatus, LineItem, PaymentIntent, PaymentStatus, Refund,
    RequestInfo, Session, SessionStatus, Webhook,
};
use super::store::{keys, StoreResult, Txn};
use super::{PayError, PaymentMethod};

/// A session to open, already validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NewSession {
    pub(crate) currency: String,
    pub(crate) line_items: Vec<LineItem>,
    pub(crate) amount_total: i64,
    pub(crate) client_reference_id: Option<String>,
    pub(crate) customer_email: Option<String>,
    pub(crate) metadata: BTreeMap<String, String>,
    pub(crate) success_url: String,
    pub(crate) cancel_url: Option<String>,
    pub(crate) expires_at: i64,
}

/// A refund to make, already validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NewRefund {
    pub(crate) payment_intent: String,
    /// `None` refunds what is left.
    pub(crate) amount: Option<i64>,
    pub(crate) reason: Option<String>,
    pub(crate) metadata: BTreeMap<String, String>,
}

pub(crate) fn create_session(
    txn: &mut Txn<'_>,
    new: NewSession,
    now_secs: i64,
    page_base_url: &str,
) -> StoreResult<Session> {
    let id = new_id("cs_test_");
    let seq = txn.next_seq()?;
    let session = Session {
        url: format!("{page_base_url}/pay/{id}"),
        id,
        seq,
        created: now_secs,
        expires_at: new.expires_at,
        status: SessionStatus::Open,
        payment_status: PaymentStatus::Unpaid,
        payment_intent: None,
        currency: new.currency,
        line_items: new.line_items,
        amount_total: new.amount_total,
        client_reference_id: new.client_reference_id,
        customer_email: new.customer_email,
        metadata: new.metadata,
        success_url: new.success_url,
        cancel_url: new.cancel_url,
    };

    txn.put(keys::session(&session.id), &session)?;
    txn.put(keys::session_order(seq), &session.id)?;
    txn.put(keys::session_expiry(session.expires_at, &session.id), &())?;
    Ok(session)
}

pub(crate) fn session(txn: &Txn<'_>, id: &str) -> StoreResult<Option<Session>> {
    txn.get(&keys::session(id))
}

/// Expires an open session; the caller has checked that it is open.
pub(crate) fn expire(
    txn: &mut Txn<'_>,
    mut session: Session,
    now_secs: i64,
    request: &RequestInfo,
) -> StoreResult<Session> {
    debug_assert_eq!(session.status, SessionStatus::Open);
    session.status = SessionStatus::Expired;

    txn.remove(keys::session_expiry(session.expires_at, &session.id));
    txn.put(keys::session(&session.id), &session)?;
    raise_event(txn, "checkout.session.expired", &session, now_secs, request)?;
    tracing::debug!(session = %session.id, "sandbox: session expired");
    Ok(session)
}

/// Pays an open session: complete at once, paid by card, or unpaid until a
/// delayed method's outcome is due `delay` later.
pub(crate) fn pay(
    txn: &mut Txn<'_>,
    id: &str,
    method: PaymentMethod,
    now_ms: i64,
    delay: Duration,
) -> StoreResult<Result<Session, PayError>> {
    let Some(mut session) = session(txn, id)? else {
        return Ok(Err(PayError::NotFound));
    };
    match session.status {
        SessionStatus::Expired => return Ok(Err(PayError::Expired)),
        SessionStatus::Complete => return Ok(Err(PayError::AlreadyComplete)),
        SessionStatus::Open => {}
    }

    let now_secs = now_ms.div_euclid(1000);
    let intent = PaymentIntent {
        id: new_id("pi_"),
        session_id: session.id.clone(),
        amount: session.amount_total,
        amount_refunded: 0,
        currency: session.currency.clone(),
        status: match method {
            PaymentMethod::Card => IntentStatus::Succeeded,
            _ => IntentStatus::Processing,
        },
        created: now_secs,
        latest_charge: new_id("ch_"),
    };
    session.status = SessionStatus::Complete;
    session.payment_intent = Some(intent.id.clone());
    session.payment_status = match method {
        PaymentMethod::Card => PaymentStatus::Paid,
        _ => PaymentStatus::Unpaid,
    };

    txn.remove(keys::session_expiry(session.expires_at, &session.id));
    txn.put(keys::intent(&intent.id), &intent)?;
    txn.put(keys::session(&session.id), &session)?;
    raise_event(txn, "checkout.session.completed", &session, now_secs, &RequestInfo::default())?;
    if let Some(succeeds) = delayed_outcome(method) {
        let due_ms = now_ms.saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX));
        txn.put(keys::async_due(due_ms, &session.id), &AsyncOutcome { succeeds })?;
    }
    tracing::debug!(session = %session.id, ?method, "sandbox: session paid");
    Ok(Ok(session))
}

fn delayed_outcome(method: PaymentMethod) -> Option<bool> {
    match method {
        PaymentMethod::Card => None,
        PaymentMethod::DelayedSuccess => Some(true),
        PaymentMethod::DelayedFailure => Some(false),
    }
}

/// Does what time has made due: sessions past their `expires_at` expire,
/// delayed payments whose outcome is due succeed or fail.
pub(crate) fn settle_due(txn: &mut Txn<'_>, now_ms: i64) -> StoreResult<()> {
    let now_secs = now_ms.div_euclid(1000);

    // Both scans come before any write, as `keys_upto` asks.
    let expired_upto = keys::session_expiry(now_secs, "\u{10FFFF}");
    let due_expiries = txn.keys_upto(keys::SESSION_EXPIRY, &expired_upto)?;
    let outcomes_upto = keys::async_due(now_ms, "\u{10FFFF}");
    let due_outcomes = txn.keys_upto(keys::ASYNC_DUE, &outcomes_upto)?;

    for key in due_expiries {
        expire_due(txn, key, now_secs)?;
    }
    for key in due_outcomes {
        tell_outcome(txn, key, now_secs)?;
    }
    Ok(())
}

fn expire_due(txn: &mut Txn<'_>, key: Vec<u8>, now_secs: i64) -> StoreResult<()> {
    let id = session_id_in(&key);
    txn.remove(key);
    match session(txn, &id)? {
        Some(open) if open.status == SessionStatus::Open => {
            expire(txn, open, now_secs, &RequestInfo::default())?;
        }
        _ => tracing::warn!(session = %id, "sandbox: an expiry was due for a session not open"),
    }
    Ok(())
}

fn tell_outcome(txn: &mut Txn<'_>, key: Vec<u8>, now_secs: i64) -> StoreResult<()> {
    let id = session_id_in(&key);
    let outcome: Option<AsyncOutcome> = txn.get(&key)?;
    txn.remove(key);

    let Some(outcome) = outcome else { return Ok(()) };
    let Some(mut session) = session(txn, &id)? else {
        tracing::warn!(session = %id, "sandbox: a payment outcome for no session");
        return Ok(());
    };
    let Some(mut intent) = intent_of(txn, &session)? else {
        tracing::warn!(session = %id, "sandbox: a payment outcome for no payment intent");
        return Ok(());
    };

    let event_type = if outcome.succeeds {
        intent.status = IntentStatus::Succeeded;
        session.payment_status = PaymentStatus::Paid;
        "checkout.session.async_payment_succeeded"
    } else {
        // Stripe leaves such a session complete and unpaid.
        intent.status = IntentStatus::RequiresPaymentMethod;
        "checkout.session.async_payment_failed"
    };
    txn.put(keys::intent(&intent.id), &intent)?;
    txn.put(keys::session(&session.id), &session)?;
    raise_event(txn, event_type, &session, now_secs, &RequestInfo::default())
}

fn intent_of(txn: &Txn<'_>, session: &Session) -> StoreResult<Option<PaymentIntent>> {
    match &session.payment_intent {
        Some(id) => txn.get(&keys::intent(id)),
        None => Ok(None),
    }
}

/// The session id at the end of an `sx/…/{id}` or `ap/…/{id}` key.
fn session_id_in(key: &[u8]) -> String {
    let text = String::from_utf8_lossy(key);
    text.rsplit('/').next().unwrap_or_default().to_owned()
}

/// Refunds part or all of what is left of a payment. Refusals are answers
/// of the execution (and so kept under an idempotency key), hence the inner
/// result.
pub(crate) fn refund(
    txn: &mut Txn<'_>,
    new: NewRefund,
    now_secs: i64,
) -> StoreResult<Result<Refund, ApiError>> {
    let Some(mut intent) = txn.get::<PaymentIntent>(&keys::intent(&new.payment_intent))? else {
        let status = actix_web::http::StatusCode::BAD_REQUEST;
        let missing =
            ApiError::no_such(status, "payment_intent", &new.payment_intent, "payment_intent");
        return Ok(Err(missing));
    };
    if intent.status != IntentStatus::Succeeded {
        let message = format!(
            "This PaymentIntent ({}) does not have a successful charge to refund.",
            intent.id
        );
        let refused = ApiError::invalid_param("payment_intent", message)
            .with_code("payment_intent_unexpected_state");
        return Ok(Err(refused));
    }

    let left = intent.amount - intent.amount_refunded;
    if left <= 0 {
        let message = format!("Charge {} has already been refunded.", intent.latest_charge);
        return Ok(Err(ApiError::invalid_request(message).with_code("charge_already_refunded")));
    }
    let amount = new.amount.unwrap_or(left);
    if amount > left {
        let message = format!(
            "Refund amount ({amount}) is greater than unrefunded amount on charge ({left})."
        );
        return Ok(Err(ApiError::invalid_param("amount", message).with_code("amount_too_large")));
    }

    let refund = Refund {
        id: new_id("re_"),
        payment_intent: intent.id.clone(),
        charge: intent.latest_charge.clone(),
        amount,
        currency: intent.currency.clone(),
        created: now_secs,
        reason: new.reason,
        metadata: new.metadata,
    };
    intent.amount_refunded += amount;
    txn.put(keys::intent(&intent.id), &intent)?;
    txn.put(keys::refund(&refund.id), &refund)?;
    tracing::debug!(payment_intent = %intent.id, amount, "sandbox: refunded");
    Ok(Ok(refund))
}

/// Queues the webhook for an event on `session`, as it is now.
fn raise_event(
    txn: &mut Txn<'_>,
    event_type: &str,
    session: &Session,
    now_secs: i64,
    request: &RequestInfo,
) -> StoreResult<()> {
    let seq = txn.next_seq()?;
    let event_id = new_id("evt_");
    let event = event_json(&event_id, event_type, now_secs, session.to_json(), request);
    let webhook = Webhook {
        seq,
        event_id,
        event_type: event_type.to_owned(),
        session_id: session.id.clone(),
        payload: serde_json::to_string(&event)?,
        attempts: 0,
    };
    txn.put(keys::webhook(seq), &webhook)
}
