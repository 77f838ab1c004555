//! The sandbox's records as stored, and their JSON in Stripe's shapes.
//!
//! Stored records keep what the sandbox needs; the `*_json` functions
//! render the fields a Stripe client reads, with Stripe's names and nulls.

use std::collections::BTreeMap;

use rand::distr::Alphanumeric;
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The API version the sandbox's events claim to be rendered in.
pub(crate) const API_VERSION: &str = "2024-06-20";

/// A fresh id: Stripe's prefix, then random letters and digits.
pub(crate) fn new_id(prefix: &str) -> String {
    let random: String = rand::rng().sample_iter(&Alphanumeric).take(24).map(char::from).collect();
    format!("{prefix}{random}")
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SessionStatus {
    Open,
    Complete,
    Expired,
}

impl SessionStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Open => "open",
            SessionStatus::Complete => "complete",
            SessionStatus::Expired => "expired",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<SessionStatus> {
        match text {
            "open" => Some(SessionStatus::Open),
            "complete" => Some(SessionStatus::Complete),
            "expired" => Some(SessionStatus::Expired),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum PaymentStatus {
    Unpaid,
    Paid,
}

impl PaymentStatus {
    fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Unpaid => "unpaid",
            PaymentStatus::Paid => "paid",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LineItem {
    pub(crate) name: String,
    /// In the currency's smallest unit, as Stripe counts it.
    pub(crate) unit_amount: i64,
    pub(crate) quantity: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Session {
    pub(crate) id: String,
    /// Orders sessions in lists, newest first.
    pub(crate) seq: u64,
    /// Unix seconds, as Stripe's timestamps are.
    pub(crate) created: i64,
    pub(crate) expires_at: i64,
    pub(crate) status: SessionStatus,
    pub(crate) payment_status: PaymentStatus,
    pub(crate) payment_intent: Option<String>,
    pub(crate) currency: String,
    pub(crate) line_items: Vec<LineItem>,
    pub(crate) amount_total: i64,
    pub(crate) client_reference_id: Option<String>,
    pub(crate) customer_email: Option<String>,
    pub(crate) metadata: BTreeMap<String, String>,
    /// As given, `{CHECKOUT_SESSION_ID}` and all.
    pub(crate) success_url: String,
    pub(crate) cancel_url: Option<String>,
    /// The sandbox's payment page for this session.
    pub(crate) url: String,
}

impl Session {
    /// Where the buyer goes once paid, with the session's id filled in.
    pub(crate) fn success_redirect(&self) -> String {
        self.success_url.replace("{CHECKOUT_SESSION_ID}", &self.id)
    }

    /// One line of what is bought, for the payment page.
    pub(crate) fn description(&self) -> String {
        let lines: Vec<String> = self
            .line_items
            .iter()
            .map(|item| match item.quantity {
                1 => item.name.clone(),
                quantity => format!("{quantity} × {}", item.name),
            })
            .collect();
        lines.join(", ")
    }

    pub(crate) fn to_json(&self) -> Value {
        let open = self.status == SessionStatus::Open;
        let customer_details = match (&self.customer_email, self.status) {
            (Some(email), SessionStatus::Complete) => json!({ "email": email }),
            _ => Value::Null,
        };
        json!({
            "id": self.id,
            "object": "checkout.session",
            "amount_subtotal": self.amount_total,
            "amount_total": self.amount_total,
            "cancel_url": self.cancel_url,
            "client_reference_id": self.client_reference_id,
            "created": self.created,
            "currency": self.currency,
            "customer": Value::Null,
            "customer_details": customer_details,
            "customer_email": self.customer_email,
            "expires_at": self.expires_at,
            "livemode": false,
            "metadata": self.metadata,
            "mode": "payment",
            "payment_intent": self.payment_intent,
            "payment_method_types": ["card"],
            "payment_status": self.payment_status.as_str(),
            "status": self.status.as_str(),
            "success_url": self.success_url,
            "total_details": { "amount_discount": 0, "amount_shipping": 0, "amount_tax": 0 },
            "ui_mode": "hosted",
            // Stripe stops pointing at the page once the session is over.
            "url": if open { Value::String(self.url.clone()) } else { Value::Null },
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum IntentStatus {
    /// A delayed method: the money is on its way, or not.
    Processing,
    Succeeded,
    /// The delayed method failed; nothing was taken.
    RequiresPaymentMethod,
}

impl IntentStatus {
    fn as_str(self) -> &'static str {
        match self {
            IntentStatus::Processing => "processing",
            IntentStatus::Succeeded => "succeeded",
            IntentStatus::RequiresPaymentMethod => "requires_payment_method",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PaymentIntent {
    pub(crate) id: String,
    pub(crate) session_id: String,
    pub(crate) amount: i64,
    pub(crate) amount_refunded: i64,
    pub(crate) currency: String,
    pub(crate) status: IntentStatus,
    pub(crate) created: i64,
    /// The charge behind the payment, which refunds name.
    pub(crate) latest_charge: String,
}

impl PaymentIntent {
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "payment_intent",
            "amount": self.amount,
            "amount_received": if self.status == IntentStatus::Succeeded { self.amount } else { 0 },
            "created": self.created,
            "currency": self.currency,
            "latest_charge": self.latest_charge,
            "livemode": false,
            "metadata": {},
            "status": self.status.as_str(),
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Refund {
    pub(crate) id: String,
    pub(crate) payment_intent: String,
    pub(crate) charge: String,
    pub(crate) amount: i64,
    pub(crate) currency: String,
    pub(crate) created: i64,
    pub(crate) reason: Option<String>,
    pub(crate) metadata: BTreeMap<String, String>,
}

impl Refund {
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "refund",
            "amount": self.amount,
            "balance_transaction": Value::Null,
            "charge": self.charge,
            "created": self.created,
            "currency": self.currency,
            "metadata": self.metadata,
            "payment_intent": self.payment_intent,
            "reason": self.reason,
            "receipt_number": Value::Null,
            "status": "succeeded",
        })
    }
}

/// A webhook waiting to be delivered: the event's body, rendered once when
/// it happened, so every attempt sends the same bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Webhook {
    pub(crate) seq: u64,
    pub(crate) event_id: String,
    pub(crate) event_type: String,
    pub(crate) session_id: String,
    pub(crate) payload: String,
    pub(crate) attempts: u32,
}

/// Which API request caused an event, as the event's `request` says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct RequestInfo {
    pub(crate) id: Option<String>,
    pub(crate) idempotency_key: Option<String>,
}

/// An event's JSON: `object` is the session as it is now.
pub(crate) fn event_json(
    id: &str,
    event_type: &str,
    created: i64,
    object: Value,
    request: &RequestInfo,
) -> Value {
    json!({
        "id": id,
        "object": "event",
        "api_version": API_VERSION,
        "created": created,
        "data": { "object": object },
        "livemode": false,
        "pending_webhooks": 1,
        "request": { "id": request.id, "idempotency_key": request.idempotency_key },
        "type": event_type,
    })
}

/// A delayed payment's outcome, told once its time comes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AsyncOutcome {
    pub(crate) succeeds: bool,
}

/// The first answer given for an idempotency key, and what it answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct IdempotentReply {
    /// A digest of the method, the path and the parameters.
    pub(crate) fingerprint: String,
    pub(crate) status: u16,
    pub(crate) body: String,
    pub(crate) created_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_their_prefix_and_differ() {
        let first = new_id("cs_test_");
        let second = new_id("cs_test_");

        assert!(first.starts_with("cs_test_"));
        assert_eq!(first.len(), "cs_test_".len() + 24);
        assert_ne!(first, second);
    }
}
