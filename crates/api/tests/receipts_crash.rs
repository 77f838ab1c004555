//! Each sale yields exactly one email and one SMS, across a kill -9 and a
//! restart: the real server sends receipts to a real SMTP server (aiosmtpd,
//! from PyPI) and to a stub of a Twilio-style SMS API, is killed once every
//! receipt so far was delivered and recorded, and sells on after the
//! restart. Nothing is sent twice and nothing is lost.

mod process;
// The receipts crate's own test peers, shared rather than copied.
#[allow(dead_code, reason = "this test uses only part of each")]
#[path = "../../receipts/tests/support/smtp_sink.rs"]
mod smtp_sink;
#[allow(dead_code, reason = "this test uses only part of each")]
#[path = "../../receipts/tests/support/twilio_stub.rs"]
mod twilio_stub;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use process::{create_world, sign_up, Launch, ServerProcess};
use serde_json::{json, Value};
use smtp_sink::SmtpSink;
use twilio_stub::TwilioStub;

/// Sales before the kill, and after the restart.
const SALES_BEFORE: usize = 12;
const SALES_AFTER: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_sale_sends_one_email_and_one_sms_across_a_kill() {
    let smtp = SmtpSink::start();
    let sms = TwilioStub::start(201, r#"{"sid": "SM1"}"#).await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let data_dir = dir.path().join("data");
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let launch = || {
        let mut launch = Launch::new(&data_dir);
        launch.args.extend([
            "--smtp-url".into(),
            smtp.url(),
            "--sms-url".into(),
            sms.base_url.clone(),
        ]);
        launch.env.push(("BOXOFFICE_SMS_ACCOUNT_SID".into(), "AC1".into()));
        launch.env.push(("BOXOFFICE_SMS_AUTH_TOKEN".into(), "secret".into()));
        launch
    };

    let mut server = ServerProcess::start(launch()).await;
    let world = create_world(&client, &server.base).await;
    let mut orders = sell(&client, &server.base, world.performance, 0..SALES_BEFORE).await;
    await_receipts(&smtp, &sms, SALES_BEFORE).await;
    // Outside the one window a sender cannot close: every delivery above
    // has had time to be recorded before the kill.
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.kill9();

    let server = ServerProcess::start(launch()).await;
    orders.extend(
        sell(&client, &server.base, world.performance, SALES_BEFORE..SALES_BEFORE + SALES_AFTER)
            .await,
    );
    await_receipts(&smtp, &sms, orders.len()).await;
    // Long enough for a resend, had the restart made one.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let emails =
        count(smtp.received().iter().flat_map(|mail| mail.header("Message-ID")).map(str::to_owned));
    let texts = count(
        sms.recorded().iter().filter_map(|text| text.header("idempotency-key")).map(str::to_owned),
    );
    for order in &orders {
        let email_id = format!("<sale-{order}-email@boxoffice.invalid>");
        assert_eq!(emails.get(&email_id), Some(&1), "emails for {order}: {emails:?}");
        assert_eq!(texts.get(&format!("sale-{order}-sms")), Some(&1), "SMS for {order}: {texts:?}");
    }
    assert_eq!(emails.values().sum::<usize>(), orders.len(), "no other email: {emails:?}");
    assert_eq!(texts.values().sum::<usize>(), orders.len(), "no other SMS: {texts:?}");
}

/// One purchase per buyer, each by a buyer of its own; the order ids.
async fn sell(
    client: &reqwest::Client,
    base: &str,
    performance: u32,
    buyers: std::ops::Range<usize>,
) -> Vec<String> {
    let mut orders = Vec::new();
    for number in buyers {
        let buyer = sign_up(client, base, &format!("buyer{number}@example.org")).await;
        let ticket = format!("{performance}-{number}");
        let hold = json!({ "performance_id": performance, "ticket_ids": [ticket] });
        let held =
            client.post(buyer.tickets(base)).bearer_auth(&buyer.token).json(&hold).send().await;
        assert_eq!(held.expect("the server answers").status(), 201);

        let buy = json!({ "ticket_ids": [ticket], "payment_token": "tok_visa" });
        let bought =
            client.put(buyer.tickets(base)).bearer_auth(&buyer.token).json(&buy).send().await;
        let bought: Value = bought.expect("the server answers").json().await.expect("an order");
        orders.push(bought["order"]["id"].as_str().expect("an order id").to_owned());
    }
    orders
}

async fn await_receipts(smtp: &SmtpSink, sms: &TwilioStub, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while smtp.received().len() < count || sms.recorded().len() < count {
        assert!(
            Instant::now() < deadline,
            "receipts: {} emails and {} SMS of {count}",
            smtp.received().len(),
            sms.recorded().len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn count(ids: impl Iterator<Item = String>) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for id in ids {
        *counts.entry(id).or_default() += 1;
    }
    counts
}
