//! The seed design's full day (10,000 performances of the 1,001-seat
//! theatre, 10,010,000 tickets) loads, serves and recovers: the real server
//! starts with `--catalogue full-day`, sells in a performance, is killed
//! with SIGKILL, and comes back with every performance and the sale.

mod process;

use std::time::Duration;

use process::{sign_up, Launch, ServerProcess};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_full_day_loads_serves_and_recovers() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let data_dir = dir.path().join("data");
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let mut launch = Launch::new(&data_dir);
    launch.catalogue = "full-day";
    let mut server = ServerProcess::start(launch).await;

    let last = "/cities/100/venues/1000/performances";
    let performances: Vec<Value> = get(&client, &server.base, last).await;
    assert_eq!(performances.len(), 10);
    let performance = &performances[9];
    assert_eq!(performance["id"], 10_000);
    assert_eq!(performance["capacity"], 1_001);

    let buyer = sign_up(&client, &server.base, "tag@example.org").await;
    let url = buyer.tickets(&server.base);
    let token = buyer.token.as_str();
    let body = json!({ "performance_id": 10_000, "section": "Stalls", "quantity": 4 });
    let held: Value = client
        .post(&url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let body = json!({ "ticket_ids": held["tickets"].as_array().unwrap().iter().map(|t| t["id"].clone()).collect::<Vec<_>>(), "payment_token": "tok" });
    let bought = client.put(&url).bearer_auth(token).json(&body).send().await.unwrap();
    assert_eq!(bought.status(), 200);

    server.kill9();
    let server = ServerProcess::start(Launch::new(&data_dir)).await;
    let log = server.log_text();
    assert!(log.contains("performances=10000") && log.contains("tickets=10010000"), "{log}");

    let performance: Value = get(&client, &server.base, &format!("{last}/10000")).await;
    assert_eq!(performance["available"], 997, "the sale did not survive");
    let url = buyer.tickets(&server.base);
    let own: Vec<Value> =
        client.get(&url).bearer_auth(token).send().await.unwrap().json().await.unwrap();
    assert_eq!(own.iter().filter(|t| t["status"] == "purchased").count(), 4);
}

async fn get<T: serde::de::DeserializeOwned>(
    client: &reqwest::Client,
    base: &str,
    path: &str,
) -> T {
    let response = client.get(format!("{base}{path}")).send().await.expect("the server answers");
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.expect("JSON")
}
