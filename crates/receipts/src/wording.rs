//! The words of each kind of receipt, in one place, so the plain-text part,
//! the HTML part and the SMS say the same thing.

use crate::receipt::{Receipt, ReceiptKind};

/// Why a late payment was refunded, as the buyer reads it.
pub(crate) const LATE_PAYMENT_REASON: &str = "your payment arrived after your hold on these \
     tickets ended and they were sold, so we refunded it in full";

/// The email's subject line.
pub(crate) fn subject(receipt: &Receipt) -> String {
    let title = &receipt.performance_title;
    match receipt.kind {
        ReceiptKind::Sale => format!("Your tickets for {title}"),
        ReceiptKind::LatePaymentRefunded => format!("Your payment for {title} was refunded"),
    }
}

/// The opening paragraph, after the greeting.
pub(crate) fn intro(kind: ReceiptKind) -> String {
    match kind {
        ReceiptKind::Sale => "Thank you for your purchase. Here are your tickets.".to_owned(),
        ReceiptKind::LatePaymentRefunded => {
            format!("We are sorry: {LATE_PAYMENT_REASON}.")
        }
    }
}

/// The label of the seat list.
pub(crate) fn seats_label(kind: ReceiptKind) -> &'static str {
    match kind {
        ReceiptKind::Sale => "Seats",
        ReceiptKind::LatePaymentRefunded => "Seats you had held",
    }
}

/// The label of the amount.
pub(crate) fn amount_label(kind: ReceiptKind) -> &'static str {
    match kind {
        ReceiptKind::Sale => "Paid",
        ReceiptKind::LatePaymentRefunded => "Refunded",
    }
}

/// The facts every email lists, label first, in order; the seats follow.
pub(crate) fn facts(receipt: &Receipt) -> [(&'static str, String); 3] {
    [
        ("Performance", receipt.performance_title.clone()),
        ("When", receipt.starts_local.clone()),
        ("Where", format!("{}, {}", receipt.venue_name, receipt.city_name)),
    ]
}

/// The sign-off under every email.
pub(crate) const SIGNATURE: &str = "Boxoffice";

/// `text` with every control character (line breaks included) turned into
/// a space and the ends trimmed: names go into headers and single lines.
pub(crate) fn one_line(text: &str) -> String {
    let spaced: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    spaced.trim().to_owned()
}
