//! Rendering: both email parts and the SMS carry every field as given, in
//! any script; the HTML part escapes them; the SMS stays short.

mod support;

use receipts::sms::segments;
use receipts::{Channel, Email, Receipt, Sms, SEGMENTS_MAX};
use support::{arabic_sale, late_refund, sale};

/// What a receipt's fields look like once escaped for HTML.
fn escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
}

fn fields(receipt: &Receipt) -> Vec<&str> {
    let mut fields = vec![
        receipt.buyer_name.as_str(),
        &receipt.performance_title,
        &receipt.venue_name,
        &receipt.city_name,
        &receipt.starts_local,
        &receipt.amount,
    ];
    fields.extend(receipt.seats.iter().map(String::as_str));
    fields
}

#[test]
fn message_ids_are_stable_per_order_kind_and_channel() {
    assert_eq!(sale().message_id(Channel::Email).as_str(), "sale-2396-7-email");
    assert_eq!(sale().message_id(Channel::Sms).as_str(), "sale-2396-7-sms");
    assert_eq!(late_refund().message_id(Channel::Email).as_str(), "late-refund-2396-7-email");
    assert_eq!(late_refund().message_id(Channel::Sms).as_str(), "late-refund-2396-7-sms");

    assert_eq!(Email::render(&sale()), Email::render(&sale()), "rendering is deterministic");
    assert_eq!(Sms::render(&sale()), Sms::render(&sale()));
}

#[test]
fn the_text_part_has_every_field_as_given() {
    for receipt in [sale(), late_refund(), arabic_sale()] {
        let email = Email::render(&receipt);
        for field in fields(&receipt) {
            assert!(email.text.contains(field), "{field:?} missing from:\n{}", email.text);
        }
        assert!(email.text.contains("Order: 2396-7"), "{}", email.text);
        assert!(!email.text.contains("<bdi>"), "no markup in the text part");
    }
}

#[test]
fn the_html_part_has_every_field_escaped() {
    for receipt in [sale(), late_refund(), arabic_sale()] {
        let email = Email::render(&receipt);
        for field in fields(&receipt) {
            assert!(
                email.html.contains(&escaped(field)),
                "{field:?} missing from:\n{}",
                email.html
            );
        }
        assert!(email.html.starts_with("<!DOCTYPE html>"));
        assert!(email.html.contains("<meta charset=\"utf-8\">"));
    }
}

#[test]
fn a_venue_named_like_markup_injects_none() {
    let email = Email::render(&sale());

    assert!(!email.html.contains("<script"), "{}", email.html);
    assert!(email.html.contains("&lt;script&gt;alert(&#x27;venue&#x27;)&lt;/script&gt; Opernhaus"));
    assert!(email.html.contains("Hamlet in 東京 &quot;live&quot; &amp; more"));
    assert!(email.text.contains("<script>alert('venue')</script> Opernhaus"), "text is as given");
}

#[test]
fn right_to_left_names_are_isolated_in_html() {
    let email = Email::render(&arabic_sale());

    assert!(email.html.contains("Hello <bdi>زينب الهاشمي</bdi>,"), "{}", email.html);
    assert!(email.html.contains("<bdi>دار الأوبرا, القاهرة</bdi>"), "{}", email.html);
    assert!(email.text.starts_with("Hello زينب الهاشمي,\n"));
}

#[test]
fn amounts_stay_as_the_caller_formatted_them() {
    assert!(Email::render(&sale()).text.contains("Paid: €1,234.50\n"));
    assert!(Email::render(&arabic_sale()).html.contains("<bdi>¥1,235</bdi>"));
    assert!(Email::render(&late_refund()).text.contains("Refunded: €1,234.50\n"));
    assert!(Sms::render(&sale()).body.contains("Paid €1,234.50."));
    assert!(Sms::render(&arabic_sale()).body.contains("Paid ¥1,235."));
}

#[test]
fn the_subject_names_the_performance() {
    assert_eq!(Email::render(&sale()).subject, "Your tickets for Hamlet in 東京 \"live\" & more");
    assert_eq!(
        Email::render(&late_refund()).subject,
        "Your payment for Hamlet in 東京 \"live\" & more was refunded"
    );
}

#[test]
fn line_breaks_in_names_never_reach_a_header() {
    let receipt = Receipt {
        performance_title: "Hamlet\r\nBcc: everyone@example.org".to_owned(),
        buyer_name: "Zoë\nX-Injected: yes".to_owned(),
        ..sale()
    };
    let email = Email::render(&receipt);

    assert_eq!(email.subject, "Your tickets for Hamlet  Bcc: everyone@example.org");
    assert_eq!(email.to_name, "Zoë X-Injected: yes");
}

#[test]
fn the_late_refund_says_why() {
    let reason = "your payment arrived after your hold on these tickets ended and they were \
                  sold, so we refunded it in full";
    let email = Email::render(&late_refund());

    assert!(email.text.contains(reason), "{}", email.text);
    assert!(email.html.contains(reason), "{}", email.html);
    assert!(Sms::render(&late_refund()).body.contains(reason));
    assert!(email.text.contains("Seats you had held:\n- Stalls, row C, seat 12\n"));
    assert!(!email.text.contains("Here are your tickets"));
}

#[test]
fn an_sms_is_plain_short_and_complete() {
    for receipt in [sale(), late_refund(), arabic_sale()] {
        let sms = Sms::render(&receipt);

        assert!(sms.segments() <= SEGMENTS_MAX, "{} segments: {}", sms.segments(), sms.body);
        assert!(!sms.body.contains("<bdi>") && !sms.body.contains("&amp;"), "{}", sms.body);
        assert!(sms.body.contains(&receipt.performance_title), "{}", sms.body);
        assert!(sms.body.contains(&receipt.starts_local));
        assert!(sms.body.contains("Order 2396-7."));
        assert_eq!(sms.to, "+41446681800");
    }
}

#[test]
fn an_sms_lists_the_seats_when_they_fit() {
    let body = Sms::render(&sale()).body;
    assert!(body.contains("Seats: Stalls, row C, seat 12; Stalls, row C, seat 13."), "{body}");
}

#[test]
fn an_sms_counts_the_seats_when_the_list_would_not_fit() {
    let seats = (1..=40).map(|seat| format!("Stalls, row C, seat {seat}")).collect();
    let sms = Sms::render(&Receipt { seats, ..sale() });

    assert!(sms.body.contains(" 40 seats. "), "{}", sms.body);
    assert!(sms.segments() <= SEGMENTS_MAX);
}

#[test]
fn an_sms_shortens_names_that_would_not_fit() {
    let receipt = Receipt {
        performance_title: "🎭 Ελληνικά ".repeat(30),
        venue_name: "東京".repeat(100),
        ..sale()
    };
    let sms = Sms::render(&receipt);

    assert!(sms.segments() <= SEGMENTS_MAX, "{} segments: {}", sms.segments(), sms.body);
    assert!(sms.body.contains("..."), "{}", sms.body);
    assert_eq!(segments::count(&sms.body), sms.segments());
}

#[test]
fn an_sms_leaves_the_place_out_before_it_cuts_the_title() {
    let receipt = Receipt { venue_name: "東京オペラシティ".repeat(20), ..sale() };
    let sms = Sms::render(&receipt);

    assert!(sms.body.contains(&receipt.performance_title), "{}", sms.body);
    assert!(!sms.body.contains("東京オペラシティ"), "{}", sms.body);
    assert!(sms.body.contains(" 2 seats. "), "{}", sms.body);
    assert!(sms.segments() <= SEGMENTS_MAX);
}

#[test]
fn an_sms_in_the_gsm_alphabet_takes_two_segments() {
    let receipt = Receipt {
        buyer_name: "Zoë".to_owned(),
        performance_title: "Hamlet".to_owned(),
        venue_name: "Opernhaus".to_owned(),
        ..sale()
    };
    let sms = Sms::render(&receipt);

    assert!(
        sms.body.contains("at Opernhaus, Zürich. Seats: Stalls, row C, seat 12;"),
        "{}",
        sms.body
    );
    assert_eq!(sms.segments(), 2, "{}", sms.body);
}
