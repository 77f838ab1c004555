//! The file transports, the embedded default: one file per message, named by
//! its stable id, so a resend replaces the first copy.

mod support;

use std::path::Path;

use receipts::{Email, EmailSender, Receipt, Sms, SmsSender};
use support::{late_refund, sale};

const FROM: &str = "Boxoffice <tickets@boxoffice.example>";

fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// The header block of an RFC 5322 message, unfolded.
fn headers(message: &str) -> Vec<(String, String)> {
    let (head, _body) = message.split_once("\r\n\r\n").expect("a blank line after the headers");
    let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
    let pairs = unfolded.split("\r\n").map(|line| line.split_once(": ").expect("a header line"));
    pairs.map(|(name, value)| (name.to_owned(), value.to_owned())).collect()
}

#[tokio::test]
async fn an_email_file_is_an_rfc5322_message_named_by_its_id() {
    let dir = tempfile::tempdir().unwrap();
    let email_dir = dir.path().join("outbox/email");
    let sender = EmailSender::files(&email_dir, FROM).unwrap();

    sender.send(&Email::render(&sale())).await.unwrap();

    assert_eq!(file_names(&email_dir), ["sale-2396-7-email.eml"]);
    let message = std::fs::read_to_string(email_dir.join("sale-2396-7-email.eml")).unwrap();
    assert!(message.is_ascii(), "every non-ASCII byte is encoded");
    assert!(!message.replace("\r\n", "").contains('\n'), "CRLF line ends only");

    let headers = headers(&message);
    let header =
        |name: &str| headers.iter().find(|(header, _)| header == name).map(|(_, v)| v.as_str());
    assert_eq!(header("Message-ID"), Some("<sale-2396-7-email@boxoffice.invalid>"));
    assert_eq!(header("From"), Some(FROM));
    assert!(header("To").unwrap().ends_with("<zoe@example.org>"));
    let subject = header("Subject").unwrap();
    assert!(subject.contains("=?utf-8?b?"), "RFC 2047 words for the non-ASCII: {subject}");
    assert!(header("Date").is_some());
    assert!(header("Content-Type").unwrap().starts_with("multipart/alternative;"));
    assert!(message.contains("Content-Type: text/plain; charset=utf-8"));
    assert!(message.contains("Content-Type: text/html; charset=utf-8"));
}

#[tokio::test]
async fn a_resent_email_replaces_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let sender = EmailSender::files(dir.path(), FROM).unwrap();

    sender.send(&Email::render(&sale())).await.unwrap();
    sender.send(&Email::render(&sale())).await.unwrap();
    sender.send(&Email::render(&late_refund())).await.unwrap();

    assert_eq!(file_names(dir.path()), ["late-refund-2396-7-email.eml", "sale-2396-7-email.eml"]);
}

#[tokio::test]
async fn a_line_break_in_a_name_adds_no_header() {
    let receipt =
        Receipt { performance_title: "Hamlet\r\nBcc: everyone@example.org".to_owned(), ..sale() };
    let sender = EmailSender::files(tempfile::tempdir().unwrap().path(), FROM).unwrap();

    let message = String::from_utf8(sender.to_rfc5322(&Email::render(&receipt)).unwrap()).unwrap();

    assert!(headers(&message).iter().all(|(name, _)| name != "Bcc"), "{message}");
}

#[tokio::test]
async fn an_email_to_a_bad_address_is_permanent_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let sender = EmailSender::files(dir.path(), FROM).unwrap();
    let receipt = Receipt { buyer_email: "not an address".to_owned(), ..sale() };

    let error = sender.send(&Email::render(&receipt)).await.unwrap_err();

    assert!(!error.is_transient(), "{error}");
    assert!(file_names(dir.path()).is_empty());
}

#[tokio::test]
async fn a_directory_gone_is_transient() {
    let dir = tempfile::tempdir().unwrap();
    let email_dir = dir.path().join("email");
    let sms_dir = dir.path().join("sms");
    let email_sender = EmailSender::files(&email_dir, FROM).unwrap();
    let sms_sender = SmsSender::files(&sms_dir, "Boxoffice").unwrap();
    std::fs::remove_dir(&email_dir).unwrap();
    std::fs::remove_dir(&sms_dir).unwrap();

    let email_error = email_sender.send(&Email::render(&sale())).await.unwrap_err();
    let sms_error = sms_sender.send(&Sms::render(&sale())).await.unwrap_err();

    assert!(email_error.is_transient(), "{email_error}");
    assert!(sms_error.is_transient(), "{sms_error}");
}

#[tokio::test]
async fn an_sms_file_is_json_named_by_its_id_and_a_resend_replaces_it() {
    let dir = tempfile::tempdir().unwrap();
    let sender = SmsSender::files(dir.path(), "Boxoffice").unwrap();
    let sms = Sms::render(&sale());

    sender.send(&sms).await.unwrap();
    sender.send(&sms).await.unwrap();

    assert_eq!(file_names(dir.path()), ["sale-2396-7-sms.json"]);
    let text = std::fs::read_to_string(dir.path().join("sale-2396-7-sms.json")).unwrap();
    let record: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(record["message_id"], "sale-2396-7-sms");
    assert_eq!(record["to"], "+41446681800");
    assert_eq!(record["from"], "Boxoffice");
    assert_eq!(record["body"], sms.body.as_str());
    assert_eq!(record["segments"], sms.segments());
}

#[tokio::test]
async fn an_sms_to_a_number_that_is_not_e164_is_permanent_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let sender = SmsSender::files(dir.path(), "Boxoffice").unwrap();
    let receipt = Receipt { buyer_phone: "ask at the desk".to_owned(), ..sale() };

    let error = sender.send(&Sms::render(&receipt)).await.unwrap_err();

    assert!(!error.is_transient(), "{error}");
    assert!(file_names(dir.path()).is_empty());
}
