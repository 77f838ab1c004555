//! A receipt as an SMS: the content ([`Sms`], a short plain text kept to at
//! most [`SEGMENTS_MAX`] segments) and its transports ([`SmsSender`]: a
//! Twilio-style HTTP API, or files).

pub mod segments;
mod sender;

pub use sender::{SmsSender, TwilioConfig, REQUEST_TIMEOUT, TWILIO_API_BASE};

use crate::receipt::{Channel, MessageId, Receipt, ReceiptKind};
use crate::wording::{one_line, LATE_PAYMENT_REASON};

/// The most segments a receipt SMS takes where its fields allow: past that,
/// the seat list becomes a count, then the venue and city are left out (the
/// email has them), then the title is shortened. Four, because a text in any
/// script beyond GSM's goes as UCS-2 at 67 characters a segment, and the
/// late-payment notice's reason alone is 117.
pub const SEGMENTS_MAX: usize = 4;

/// One SMS to one buyer, ready for any [`SmsSender`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sms {
    pub message_id: MessageId,
    /// The buyer's number, in E.164 when it could be read as such (spaces,
    /// dots, dashes and brackets dropped, a leading `00` made `+`).
    pub to: String,
    pub body: String,
}

impl Sms {
    /// Renders `receipt` as an SMS of at most [`SEGMENTS_MAX`] segments
    /// where the fields allow it.
    pub fn render(receipt: &Receipt) -> Sms {
        Sms {
            message_id: receipt.message_id(Channel::Sms),
            to: normalise_phone(&receipt.buyer_phone),
            body: fitted_body(receipt),
        }
    }

    /// The number of segments the body is sent in.
    pub fn segments(&self) -> usize {
        segments::count(&self.body)
    }
}

/// One way of writing the body, from the fullest to the most compressed.
struct Shape {
    list_seats: bool,
    name_place: bool,
    title_chars_max: usize,
}

const SHAPES: [Shape; 5] = [
    Shape { list_seats: true, name_place: true, title_chars_max: usize::MAX },
    Shape { list_seats: false, name_place: true, title_chars_max: usize::MAX },
    Shape { list_seats: false, name_place: false, title_chars_max: usize::MAX },
    Shape { list_seats: false, name_place: false, title_chars_max: 40 },
    Shape { list_seats: false, name_place: false, title_chars_max: 16 },
];

/// The fullest shape of the body that fits in [`SEGMENTS_MAX`] segments, or
/// the most compressed one if none does (a huge formatted start or amount).
fn fitted_body(receipt: &Receipt) -> String {
    let mut body = String::new();
    for shape in &SHAPES {
        body = body_in_shape(receipt, shape);
        if segments::count(&body) <= SEGMENTS_MAX {
            break;
        }
    }
    body
}

fn body_in_shape(receipt: &Receipt, shape: &Shape) -> String {
    let title = shortened(&one_line(&receipt.performance_title), shape.title_chars_max);
    let starts = one_line(&receipt.starts_local);
    let place = if shape.name_place {
        format!(" at {}, {}", one_line(&receipt.venue_name), one_line(&receipt.city_name))
    } else {
        String::new()
    };
    let amount = one_line(&receipt.amount);
    let order = receipt.order_id;

    match receipt.kind {
        ReceiptKind::Sale => {
            let seats = seats_text(&receipt.seats, shape.list_seats);
            format!(
                "Boxoffice: your tickets for {title} on {starts}{place}. {seats}. \
                 Paid {amount}. Order {order}."
            )
        }
        ReceiptKind::LatePaymentRefunded => format!(
            "Boxoffice, {title} on {starts}{place}: {LATE_PAYMENT_REASON} ({amount}). \
             Order {order}."
        ),
    }
}

/// "Seats: Stalls, row C, seat 12; Stalls, row C, seat 13", or "2 seats".
fn seats_text(seats: &[String], list_seats: bool) -> String {
    match (list_seats, seats.len()) {
        (true, _) | (false, 0) => {
            let labels: Vec<String> = seats.iter().map(|seat| one_line(seat)).collect();
            format!("Seats: {}", labels.join("; "))
        }
        (false, 1) => "1 seat".to_owned(),
        (false, count) => format!("{count} seats"),
    }
}

/// `text` cut to `chars_max` characters, marked with "..." where cut (three
/// dots, not an ellipsis, which would make a GSM text UCS-2).
fn shortened(text: &str, chars_max: usize) -> String {
    if text.chars().count() <= chars_max {
        return text.to_owned();
    }
    let kept: String = text.chars().take(chars_max).collect();
    format!("{}...", kept.trim_end())
}

/// `phone` in E.164 where it reads as a number: "+41 44 668 18 00" becomes
/// "+41446681800", "0041 (44) 668-18-00" too. Anything else is kept as it
/// is, for the sender to refuse as a bad address.
pub(crate) fn normalise_phone(phone: &str) -> String {
    let separators = [' ', '\u{a0}', '-', '.', '(', ')', '/'];
    let compact: String = phone.trim().chars().filter(|c| !separators.contains(c)).collect();
    let international = match compact.strip_prefix("00") {
        Some(rest) => format!("+{rest}"),
        None => compact,
    };
    if is_e164(&international) {
        international
    } else {
        phone.trim().to_owned()
    }
}

/// A `+`, a non-zero digit, and in all 8 to 15 digits.
pub(crate) fn is_e164(phone: &str) -> bool {
    let Some(digits) = phone.strip_prefix('+') else { return false };
    let all_digits = digits.bytes().all(|b| b.is_ascii_digit());
    all_digits && (8..=15).contains(&digits.len()) && !digits.starts_with('0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_become_e164_where_they_can() {
        assert_eq!(normalise_phone("+41 44 668 18 00"), "+41446681800");
        assert_eq!(normalise_phone("0041 (44) 668-18-00"), "+41446681800");
        assert_eq!(normalise_phone(" +81 3-1234-5678 "), "+81312345678");
        assert_eq!(normalise_phone("044 668 18 00"), "044 668 18 00", "no country: kept");
        assert_eq!(normalise_phone("call me"), "call me");
    }

    #[test]
    fn shortening_marks_the_cut() {
        assert_eq!(shortened("Hamlet", 6), "Hamlet");
        assert_eq!(shortened("Hamlet, Prince of Denmark", 7), "Hamlet,...");
        assert_eq!(shortened("東京オペラシティ", 2), "東京...");
    }
}
