//! SMS through a Twilio-style API, against a stub on loopback.

mod support;

use std::time::Duration;

use receipts::{Receipt, SendError, Sms, SmsSender, TwilioConfig};
use support::sale;
use support::twilio_stub::TwilioStub;

const ACCOUNT_SID: &str = "AC0123";
const AUTH_TOKEN: &str = "s3cret-token";
/// `AC0123:s3cret-token` in base64.
const BASIC_AUTH: &str = "Basic QUMwMTIzOnMzY3JldC10b2tlbg==";
const FROM: &str = "+15005550006";

const ACCEPTED: &str = r#"{"sid": "SM0123456789abcdef", "status": "queued"}"#;

/// Bounds each send, well past the client's own timeout.
const TEST_SEND_TIMEOUT: Duration = Duration::from_secs(30);

fn sender(base_url: &str) -> SmsSender {
    SmsSender::twilio(TwilioConfig {
        base_url: base_url.to_owned(),
        account_sid: ACCOUNT_SID.to_owned(),
        auth_token: AUTH_TOKEN.to_owned(),
        from: FROM.to_owned(),
    })
    .unwrap()
}

async fn send(sender: &SmsSender, sms: &Sms) -> Result<(), SendError> {
    tokio::time::timeout(TEST_SEND_TIMEOUT, sender.send(sms)).await.expect("a bounded send")
}

/// The error the stub's scripted answer gives, and how many requests it saw.
async fn refused_with(status: u16, body: &'static str) -> (SendError, usize) {
    let stub = TwilioStub::start(status, body).await;
    let error = send(&sender(&stub.base_url), &Sms::render(&sale())).await.unwrap_err();
    (error, stub.recorded().len())
}

#[tokio::test]
async fn an_sms_posts_the_form_with_basic_auth_and_the_idempotency_key() {
    let stub = TwilioStub::start(201, ACCEPTED).await;
    let sms = Sms::render(&sale());

    send(&sender(&stub.base_url), &sms).await.unwrap();

    let [request] = &stub.recorded()[..] else { panic!("one request: {:#?}", stub.recorded()) };
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/2010-04-01/Accounts/AC0123/Messages.json");
    assert_eq!(request.header("authorization"), Some(BASIC_AUTH));
    assert_eq!(request.header("content-type"), Some("application/x-www-form-urlencoded"));
    assert_eq!(request.header("idempotency-key"), Some("sale-2396-7-sms"));
    assert_eq!(request.field("To"), Some("+41446681800"));
    assert_eq!(request.field("From"), Some(FROM));
    assert_eq!(request.field("Body"), Some(sms.body.as_str()));
    assert!(sms.body.contains("東京") && sms.body.contains("€1,234.50"), "Unicode survives");
}

#[tokio::test]
async fn a_resend_carries_the_same_idempotency_key() {
    let stub = TwilioStub::start(201, ACCEPTED).await;
    let sender = sender(&stub.base_url);

    send(&sender, &Sms::render(&sale())).await.unwrap();
    send(&sender, &Sms::render(&sale())).await.unwrap();

    let keys: Vec<_> =
        stub.recorded().iter().map(|r| r.header("idempotency-key").map(str::to_owned)).collect();
    assert_eq!(keys, [Some("sale-2396-7-sms".to_owned()), Some("sale-2396-7-sms".to_owned())]);
}

#[tokio::test]
async fn an_accepted_answer_without_a_sid_still_counts_as_sent() {
    let stub = TwilioStub::start(200, "not json").await;
    send(&sender(&stub.base_url), &Sms::render(&sale())).await.unwrap();
}

#[tokio::test]
async fn server_errors_and_throttling_are_transient() {
    for status in [500, 502, 503, 429] {
        let (error, requests) = refused_with(status, r#"{"message": "later"}"#).await;
        assert!(error.is_transient(), "{status}: {error}");
        assert!(error.reason().contains(&status.to_string()), "{error}");
        assert_eq!(requests, 1);
    }
}

#[tokio::test]
async fn client_errors_are_permanent() {
    let twilio_refusal =
        r#"{"code": 21211, "message": "Invalid 'To' Phone Number", "status": 400}"#;
    let (error, _) = refused_with(400, twilio_refusal).await;
    assert!(!error.is_transient(), "{error}");
    assert!(error.reason().contains("Invalid 'To' Phone Number (code 21211)"), "{error}");

    let (error, _) = refused_with(401, r#"{"code": 20003, "message": "Authenticate"}"#).await;
    assert!(!error.is_transient(), "{error}");
}

#[tokio::test]
async fn an_api_that_is_down_is_transient() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let sender = sender(&format!("http://127.0.0.1:{port}"));

    let error = send(&sender, &Sms::render(&sale())).await.unwrap_err();

    assert!(error.is_transient(), "{error}");
    assert!(error.reason().to_lowercase().contains("refused"), "{error}");
}

#[tokio::test]
async fn a_number_that_is_not_e164_is_permanent_and_never_sent() {
    let stub = TwilioStub::start(201, ACCEPTED).await;
    let receipt = Receipt { buyer_phone: "044 668 18 00".to_owned(), ..sale() };

    let error = send(&sender(&stub.base_url), &Sms::render(&receipt)).await.unwrap_err();

    assert!(!error.is_transient(), "{error}");
    assert!(stub.recorded().is_empty());
}
