//! Holds expire at their instant, across a kill -9: the real server runs
//! with a short `--hold-ttl`; a hold taken before the kill comes back after
//! the restart with the same instant, and still lapses at it.

mod process;

use std::time::{Duration, Instant};

use process::{create_world, sign_up, Launch, ServerProcess};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_survives_a_kill_and_still_expires_at_its_instant() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let data_dir = dir.path().join("data");
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let launch = || {
        let mut launch = Launch::new(&data_dir);
        launch.args.push("--hold-ttl=3s".into());
        launch
    };

    let mut server = ServerProcess::start(launch()).await;
    let world = create_world(&client, &server.base).await;
    let buyer = sign_up(&client, &server.base, "ana@example.org").await;
    let token = buyer.token.clone();
    let tickets_url = |base: &str| buyer.tickets(base);

    let body = json!({ "performance_id": world.performance, "section": "Stalls", "quantity": 2 });
    let response = client
        .post(tickets_url(&server.base))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let held: Value = response.json().await.unwrap();
    let until = held["reserved_until"].as_str().unwrap().to_owned();

    server.kill9();
    let server = ServerProcess::start(launch()).await;

    let own = own_tickets(&client, &tickets_url(&server.base), &token).await;
    assert_eq!(own.len(), 2, "the hold did not survive the kill: {own:?}");
    assert!(
        own.iter().all(|ticket| ticket["reserved_until"] == until.as_str()),
        "{own:?} vs {until}"
    );

    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if own_tickets(&client, &tickets_url(&server.base), &token).await.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "the hold never expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let ids: Vec<&str> =
        held["tickets"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
    let body = json!({ "ticket_ids": ids, "payment_token": "tok_visa" });
    let response =
        client.put(tickets_url(&server.base)).bearer_auth(&token).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 410, "buying a lapsed hold");

    let url = format!("{}/cities/1/venues/1/performances/{}", server.base, world.performance);
    let performance: Value = client.get(url).send().await.unwrap().json().await.unwrap();
    assert_eq!(performance["available"], world.capacity, "every seat is free again");
}

async fn own_tickets(client: &reqwest::Client, url: &str, token: &str) -> Vec<Value> {
    let response = client.get(url).bearer_auth(token).send().await.expect("the server answers");
    response.json().await.expect("a ticket list")
}
