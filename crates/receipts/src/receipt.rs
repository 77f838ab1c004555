//! What a receipt says, before it is rendered for a channel: plain data,
//! already looked up and formatted by the caller (names, the local start,
//! seat labels, the amount in its currency). Nothing here formats a date
//! or a price, so a receipt shows exactly what the rest of Boxoffice shows.

use std::fmt;

use engine::ids::OrderId;

/// Which message about an order this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReceiptKind {
    /// The purchase completed: here are the tickets.
    Sale,
    /// The payment arrived after the buyer's hold had ended and the tickets
    /// were sold to someone else, so the payment is refunded in full.
    LatePaymentRefunded,
}

/// How a receipt reaches the buyer. Each channel gets its own message id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Channel {
    Email,
    Sms,
}

/// One message to one buyer about one order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    pub kind: ReceiptKind,
    pub order_id: OrderId,
    pub buyer_name: String,
    pub buyer_email: String,
    /// As the buyer typed it; the SMS transport normalises it to E.164.
    pub buyer_phone: String,
    pub performance_title: String,
    pub venue_name: String,
    pub city_name: String,
    /// Already formatted, such as "Sat 31 Dec 2026, 20:00 Europe/Paris (UTC+01:00)".
    pub starts_local: String,
    /// Already labelled, such as "Stalls, row C, seat 12".
    pub seats: Vec<String>,
    /// Already formatted for its currency, such as "€1,234.50" or "¥1,235".
    pub amount: String,
}

impl Receipt {
    /// The id of this receipt on `channel`: the same order, kind and channel
    /// always give the same id, so a resend is recognisable downstream (the
    /// email's `Message-ID`, the SMS's `Idempotency-Key`, the file names).
    pub fn message_id(&self, channel: Channel) -> MessageId {
        let kind = match self.kind {
            ReceiptKind::Sale => "sale",
            ReceiptKind::LatePaymentRefunded => "late-refund",
        };
        let channel = match channel {
            Channel::Email => "email",
            Channel::Sms => "sms",
        };
        MessageId(format!("{kind}-{}-{channel}", self.order_id))
    }
}

/// A stable message id such as `sale-2396-7-email`.
///
/// Only ever made by [`Receipt::message_id`], from ASCII letters, digits and
/// hyphens: safe as a file name and as the left part of a `Message-ID`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(String);

impl MessageId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
