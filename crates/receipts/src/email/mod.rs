//! A receipt as an email: the content ([`Email`], rendered here as a plain-text
//! and an HTML part) and its transports ([`EmailSender`]: SMTP, or files).

mod html;
mod sender;

pub use sender::{EmailSender, SEND_TIMEOUT, SMTP_CONNECT_TIMEOUT};

use crate::receipt::{Channel, MessageId, Receipt};
use crate::wording::{self, one_line};

/// One email to one buyer, ready for any [`EmailSender`]: the sender adds
/// `From`, `Date` and the MIME structure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email {
    pub message_id: MessageId,
    /// The buyer's name, for the `To` display name; may be empty.
    pub to_name: String,
    pub to_address: String,
    pub subject: String,
    /// The `text/plain` part.
    pub text: String,
    /// The `text/html` part, with every receipt field escaped.
    pub html: String,
}

impl Email {
    /// Renders `receipt` as an email, both parts saying the same thing.
    pub fn render(receipt: &Receipt) -> Email {
        let subject = one_line(&wording::subject(receipt));

        Email {
            message_id: receipt.message_id(Channel::Email),
            to_name: one_line(&receipt.buyer_name),
            to_address: receipt.buyer_email.trim().to_owned(),
            html: html::document(receipt, &subject),
            text: plain_text(receipt),
            subject,
        }
    }
}

/// The `text/plain` part: greeting, intro, the facts, the seats, the amount.
fn plain_text(receipt: &Receipt) -> String {
    let mut lines = vec![greeting(&receipt.buyer_name), String::new()];
    lines.push(wording::intro(receipt.kind));
    lines.push(String::new());

    for (label, value) in wording::facts(receipt) {
        lines.push(format!("{label}: {value}"));
    }
    lines.push(format!("{}:", wording::seats_label(receipt.kind)));
    lines.extend(receipt.seats.iter().map(|seat| format!("- {seat}")));
    lines.push(format!("{}: {}", wording::amount_label(receipt.kind), receipt.amount));
    lines.push(format!("Order: {}", receipt.order_id));

    lines.push(String::new());
    lines.push(wording::SIGNATURE.to_owned());
    lines.push(String::new());
    lines.join("\n")
}

/// "Hello Zoë," or, for a buyer who gave no name, "Hello,".
fn greeting(name: &str) -> String {
    let name = one_line(name);
    if name.is_empty() {
        "Hello,".to_owned()
    } else {
        format!("Hello {name},")
    }
}
