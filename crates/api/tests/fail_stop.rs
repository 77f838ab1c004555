//! When the log cannot write or sync, the server fails stop: it answers 503
//! to every change from then on, says why in its log, and never
//! acknowledges a change it could not make durable. A restart on a healthy
//! disk finds every change that was acknowledged.
//!
//! The fault is injected with `BOXOFFICE_INJECT_FAULT` (see the
//! persistence crate's `FaultPlan`), failing the log's write or its sync
//! after a number of good commits.

mod process;

use std::time::Duration;

use process::{create_world, Launch, ServerProcess};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_sync_stops_writes_and_loses_nothing_acknowledged() {
    fails_stop("sync-fails-after=20").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_write_stops_writes_and_loses_nothing_acknowledged() {
    fails_stop("write-fails-after=20").await;
}

/// What one buyer was told.
struct Buyer {
    id: u64,
    token: String,
    purchased: Vec<String>,
}

async fn fails_stop(fault: &str) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let data_dir = dir.path().join("data");
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();

    let mut launch = Launch::new(&data_dir);
    launch.env.push(("BOXOFFICE_INJECT_FAULT".into(), fault.into()));
    let mut server = ServerProcess::start(launch).await;
    let world = create_world(&client, &server.base).await;

    let (buyers, refused) = buy_until_refused(&client, &server.base, world.performance).await;
    assert!(refused, "the fault never fired");
    assert_every_change_refused(&client, &server.base, world.performance).await;
    let log = server.log_text();
    assert!(log.contains("ERROR"), "the server did not say why it stopped:\n{log}");
    server.kill9();

    let server = ServerProcess::start(Launch::new(&data_dir)).await;
    for buyer in &buyers {
        let owned = purchased_tickets(&client, &server.base, buyer).await;
        for ticket in &buyer.purchased {
            assert!(owned.contains(ticket), "buyer {} lost acknowledged ticket {ticket}", buyer.id);
        }
    }
}

/// Signs up buyers who each buy two seats, until the server refuses.
async fn buy_until_refused(
    client: &reqwest::Client,
    base: &str,
    performance: u32,
) -> (Vec<Buyer>, bool) {
    let mut buyers = Vec::new();
    for n in 0..100 {
        let body = json!({ "name": "Kunde", "email": format!("kunde-{n}@example.org"), "phone": "+41 44 123 45 67" });
        let response = client.post(format!("{base}/users")).json(&body).send().await.unwrap();
        if refused(response.status()) {
            return (buyers, true);
        }
        let user: Value = response.json().await.unwrap();
        let mut buyer = Buyer {
            id: user["id"].as_u64().unwrap(),
            token: user["token"].as_str().unwrap().into(),
            purchased: vec![],
        };
        let url = format!("{base}/users/{}/tickets", buyer.id);

        let body = json!({ "performance_id": performance, "section": "Stalls", "quantity": 2 });
        let response =
            client.post(&url).bearer_auth(&buyer.token).json(&body).send().await.unwrap();
        if refused(response.status()) {
            buyers.push(buyer);
            return (buyers, true);
        }
        let held: Value = response.json().await.unwrap();
        let ids: Vec<String> = held["tickets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_owned())
            .collect();

        let body = json!({ "ticket_ids": ids, "payment_token": "tok_visa" });
        let response = client.put(&url).bearer_auth(&buyer.token).json(&body).send().await.unwrap();
        let stopped = refused(response.status());
        if !stopped {
            assert_eq!(response.status(), 200);
            buyer.purchased = ids;
        }
        buyers.push(buyer);
        if stopped {
            return (buyers, true);
        }
    }
    (buyers, false)
}

/// 503 with Retry-After, the answer of a server that cannot store changes.
fn refused(status: reqwest::StatusCode) -> bool {
    assert!(status.is_success() || status == 503, "unexpected status {status}");
    status == 503
}

async fn assert_every_change_refused(client: &reqwest::Client, base: &str, performance: u32) {
    for n in 0..5 {
        let body = json!({ "name": "Spät", "email": format!("late-{n}@example.org"), "phone": "+41 44 123 45 67" });
        let response = client.post(format!("{base}/users")).json(&body).send().await.unwrap();
        assert_eq!(response.status(), 503, "a change was taken after the log failed");
        assert!(response.headers().contains_key("retry-after"));
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["code"], "unavailable");
    }

    let url = format!("{base}/cities/1/venues/1/performances/{performance}");
    let response = client.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200, "reads still work");
}

async fn purchased_tickets(client: &reqwest::Client, base: &str, buyer: &Buyer) -> Vec<String> {
    let url = format!("{base}/users/{}/tickets", buyer.id);
    let response = client.get(url).bearer_auth(&buyer.token).send().await.unwrap();
    assert_eq!(response.status(), 200, "buyer {} was signed up and is gone", buyer.id);
    let tickets: Vec<Value> = response.json().await.unwrap();
    let purchased = tickets.iter().filter(|t| t["status"] == "purchased");
    purchased.map(|t| t["id"].as_str().unwrap().to_owned()).collect()
}
