//! Expiry: with a one-second hold, the hold leaves the caller's list and
//! its tickets become available again on their own, and buying them then
//! is 410 `hold-expired` for the caller (and still `not-held` for others).

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::*;

/// Polls `done` every 50 ms until it holds, for at most five seconds.
async fn eventually<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done().await {
        assert!(Instant::now() < deadline, "{what} did not happen within 5 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_web::test]
async fn a_lapsed_hold_frees_its_tickets_and_cannot_be_bought() {
    let options = Options { hold_ttl: Duration::from_secs(1), ..Options::default() };
    let server = Server::with(options).await;
    let show = show(&server).await;
    let (ada, eve) = (user(&server).await, user(&server).await);
    let body = json!({ "performance_id": show.performance, "section": SEATED, "quantity": 2 });
    let held = reserved_ids(server.reserve(&ada, body).await).await;
    assert_eq!(server.own(&ada).await.len(), 2);

    eventually("the hold leaving the list", || async { server.own(&ada).await.is_empty() }).await;
    eventually("the seats coming back", || async {
        server.available(&show).await == CAPACITY as u64
    })
    .await;
    let tickets = server.all_tickets(&show).await;
    assert!(tickets.iter().all(|t| t["status"] == "available"));

    let before = server.state(&show).await;
    let refused =
        problem(server.purchase(&ada, &held, "tok").await, StatusCode::GONE, "hold-expired").await;
    assert_eq!(refused["tickets"], json!(held));
    problem(server.purchase(&eve, &held, "tok").await, StatusCode::CONFLICT, "not-held").await;
    assert_eq!(server.state(&show).await, before);

    // The seats can be had again, by anyone.
    let body = json!({ "performance_id": show.performance, "ticket_ids": held });
    json_of(server.reserve(&eve, body).await, StatusCode::CREATED).await;
}
