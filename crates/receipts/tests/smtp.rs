//! Email over real SMTP: aiosmtpd on loopback, started per test (see
//! `support::smtp_sink`; these tests fail, not skip, without aiosmtpd).

mod support;

use std::time::Duration;

use receipts::{Email, EmailSender, Receipt};
use support::smtp_sink::SmtpSink;
use support::{arabic_sale, sale};

const FROM: &str = "Boxoffice <tickets@boxoffice.example>";

/// Bounds each send, well past the transport's own timeouts' sum.
const TEST_SEND_TIMEOUT: Duration = Duration::from_secs(45);

async fn send(sender: &EmailSender, email: &Email) -> Result<(), receipts::SendError> {
    tokio::time::timeout(TEST_SEND_TIMEOUT, sender.send(email)).await.expect("a bounded send")
}

fn unix_lines(text: &str) -> String {
    text.replace("\r\n", "\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_arrives_once_with_its_message_id_and_both_parts() {
    let sink = SmtpSink::start();
    let sender = EmailSender::smtp(&sink.url(), FROM).unwrap();
    let email = Email::render(&sale());

    send(&sender, &email).await.unwrap();

    let received = sink.received();
    assert_eq!(received.len(), 1, "exactly one message: {received:#?}");
    let message = &received[0];
    assert_eq!(message.header("Message-ID"), ["<sale-2396-7-email@boxoffice.invalid>"]);
    assert_eq!(message.header("Subject"), [email.subject.as_str()]);
    assert_eq!(message.header("From"), [FROM]);
    assert_eq!(message.header("To"), ["Zoë Παπαδοπούλου 🎭 <zoe@example.org>"]);
    assert_eq!(message.header("MIME-Version"), ["1.0"]);
    assert_eq!(message.rcpt_tos, ["zoe@example.org"]);
    assert_eq!(message.mail_from, "tickets@boxoffice.example");

    assert_eq!(message.content_type, "multipart/alternative");
    let [text, html] = &message.parts[..] else { panic!("two parts: {:#?}", message.parts) };
    assert_eq!(
        (text.content_type.as_str(), text.charset.as_deref()),
        ("text/plain", Some("utf-8"))
    );
    assert_eq!((html.content_type.as_str(), html.charset.as_deref()), ("text/html", Some("utf-8")));
    assert_eq!(unix_lines(&text.content), email.text);
    assert_eq!(unix_lines(&html.content), email.html);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resend_carries_the_same_message_id() {
    let sink = SmtpSink::start();
    let sender = EmailSender::smtp(&sink.url(), FROM).unwrap();
    let email = Email::render(&arabic_sale());

    send(&sender, &email).await.unwrap();
    send(&sender, &Email::render(&arabic_sale())).await.unwrap();

    let received = sink.received();
    assert_eq!(received.len(), 2, "SMTP itself does not deduplicate");
    for message in &received {
        assert_eq!(message.header("Message-ID"), ["<sale-2396-7-email@boxoffice.invalid>"]);
        assert_eq!(unix_lines(&message.parts[0].content), email.text);
    }
    let raw = String::from_utf8(sink.raw(1)).expect("7-bit clean");
    assert!(raw.is_ascii(), "every non-ASCII byte is encoded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_4xx_refusal_is_transient() {
    let sink = SmtpSink::start();
    let sender = EmailSender::smtp(&sink.url(), FROM).unwrap();
    let receipt = Receipt { buyer_email: "busy@example.org".to_owned(), ..sale() };

    let error = send(&sender, &Email::render(&receipt)).await.unwrap_err();

    assert!(error.is_transient(), "{error}");
    assert!(error.reason().contains("451"), "{error}");
    assert!(sink.received().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_5xx_refusal_is_permanent() {
    let sink = SmtpSink::start();
    let sender = EmailSender::smtp(&sink.url(), FROM).unwrap();
    let receipt = Receipt { buyer_email: "nobody@example.org".to_owned(), ..sale() };

    let error = send(&sender, &Email::render(&receipt)).await.unwrap_err();

    assert!(!error.is_transient(), "{error}");
    assert!(error.reason().contains("550"), "{error}");
    assert!(sink.received().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_in_the_url_log_in() {
    let sink = SmtpSink::start_with_login("boxoffice", "p@ss word");
    let url = format!("smtp://boxoffice:p%40ss%20word@127.0.0.1:{}", sink.port);
    let sender = EmailSender::smtp(&url, FROM).unwrap();

    send(&sender, &Email::render(&sale())).await.unwrap();

    assert_eq!(sink.received().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_login_is_transient_for_an_operator_to_fix() {
    let sink = SmtpSink::start_with_login("boxoffice", "right");
    let wrong = format!("smtp://boxoffice:wrong@127.0.0.1:{}", sink.port);
    let sender_with_wrong_password = EmailSender::smtp(&wrong, FROM).unwrap();
    let sender_without_login = EmailSender::smtp(&sink.url(), FROM).unwrap();

    let wrong_password = send(&sender_with_wrong_password, &Email::render(&sale())).await;
    let without_login = send(&sender_without_login, &Email::render(&sale())).await;

    let wrong_password = wrong_password.unwrap_err();
    assert!(
        wrong_password.is_transient() && wrong_password.reason().contains("535"),
        "{wrong_password}"
    );
    let without_login = without_login.unwrap_err();
    assert!(
        without_login.is_transient() && without_login.reason().contains("530"),
        "{without_login}"
    );
    assert!(sink.received().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_is_down_is_transient() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let sender = EmailSender::smtp(&format!("smtp://127.0.0.1:{port}"), FROM).unwrap();

    let error = send(&sender, &Email::render(&sale())).await.unwrap_err();

    assert!(error.is_transient(), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_address_is_permanent_before_any_connection() {
    let sender = EmailSender::smtp("smtp://127.0.0.1:9", FROM).unwrap();
    let receipt = Receipt { buyer_email: "zoe at example dot org".to_owned(), ..sale() };

    let error = send(&sender, &Email::render(&receipt)).await.unwrap_err();

    assert!(!error.is_transient(), "{error}");
    assert!(error.reason().contains("zoe at example dot org"), "{error}");
}

#[test]
fn unusable_settings_are_refused_at_once() {
    assert!(EmailSender::smtp("http://mail.example.org", FROM).is_err());
    assert!(EmailSender::smtp("smtp://127.0.0.1:25", "not a mailbox").is_err());

    let error = EmailSender::smtp("ftp://me:hunter2@mail.example.org", FROM).err().unwrap();
    assert!(!error.to_string().contains("hunter2"), "{error}");
}
