//! Concurrency: sixteen users with several tasks each race to reserve and
//! buy the same few seats, by name and by quantity. In the end every seat
//! has at most one owner (no ticket is in two users' lists), every 201 and
//! 200 a client saw is in the final state, and the performance's available
//! count is exactly its capacity less what is held or sold.

use std::collections::{BTreeMap, HashMap};

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use tokio::task::JoinSet;

use crate::harness::*;

const USERS: usize = 16;
const TASKS_PER_USER: usize = 3;

/// What one task can do from inside a spawned future.
#[derive(Clone)]
struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn post(&self, user: &User, body: Value) -> (StatusCode, Value) {
        let request = self.http.post(format!("{}{}", self.base, user.tickets()));
        let response = request.bearer_auth(&user.token).json(&body).send().await.unwrap();
        (response.status(), response.json().await.unwrap())
    }

    async fn put(&self, user: &User, tickets: &[String]) -> (StatusCode, Value) {
        let body = json!({ "ticket_ids": tickets, "payment_token": "tok" });
        let request = self.http.put(format!("{}{}", self.base, user.tickets()));
        let response = request.bearer_auth(&user.token).json(&body).send().await.unwrap();
        (response.status(), response.json().await.unwrap())
    }
}

/// Which ticket a user was told they hold or own.
type Told = HashMap<String, &'static str>;

/// What a task was told, and how many of its reserves were refused.
struct Outcome {
    told: Told,
    refused: usize,
}

/// One task: a few contested reserves, buying what it got every other time.
async fn race(client: Client, show_performance: u64, user: User, task: usize) -> Outcome {
    let p = show_performance;
    let attempts = [
        // The two middle seats of row A, which everyone wants.
        json!({ "performance_id": p, "ticket_ids": [format!("{p}-2"), format!("{p}-3")] }),
        json!({ "performance_id": p, "section": SEATED, "quantity": 2 }),
        json!({ "performance_id": p, "ticket_ids": [format!("{p}-{}", 8 + task)] }),
        json!({ "performance_id": p, "section": STANDING, "quantity": 1 }),
    ];
    let (mut told, mut refused) = (Told::new(), 0);
    for (n, body) in attempts.into_iter().enumerate() {
        let (status, answer) = client.post(&user, body).await;
        if status == StatusCode::CONFLICT {
            let code = answer["code"].as_str().unwrap();
            assert!(code == "not-available" || code == "user-limit", "{answer}");
            refused += 1;
            continue;
        }
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        let got = ids(answer["tickets"].as_array().unwrap());
        if (n + task).is_multiple_of(2) {
            let (status, order) = client.put(&user, &got).await;
            assert_eq!(status, StatusCode::OK, "buying my own hold: {order}");
            told.extend(got.into_iter().map(|id| (id, "purchased")));
        } else {
            told.extend(got.into_iter().map(|id| (id, "reserved")));
        }
    }
    Outcome { told, refused }
}

#[actix_web::test]
async fn racing_users_end_with_one_owner_per_seat_and_exact_counts() {
    let server = Server::start().await;
    let show = show(&server).await;
    let mut users = Vec::new();
    for _ in 0..USERS {
        users.push(user(&server).await);
    }

    let client = Client { http: server.client.clone(), base: server.base.clone() };
    let mut tasks = JoinSet::new();
    for (u, user) in users.iter().enumerate() {
        for task in 0..TASKS_PER_USER {
            let (client, user) = (client.clone(), user.clone());
            tasks.spawn(async move { (u, race(client, show.performance, user, task).await) });
        }
    }
    let (mut told, mut refused) = (vec![Told::new(); USERS], 0);
    while let Some(done) = tasks.join_next().await {
        let (u, outcome) = done.expect("a task panicked");
        told[u].extend(outcome.told);
        refused += outcome.refused;
    }
    assert!(refused > 0, "the race had losers");

    // Each user's own list is exactly what they were told, and no ticket is
    // in two lists.
    let mut owners: BTreeMap<String, usize> = BTreeMap::new();
    for (u, user) in users.iter().enumerate() {
        let own: Told = server
            .own(user)
            .await
            .iter()
            .map(|t| {
                (
                    t["id"].as_str().unwrap().to_owned(),
                    if t["status"] == "purchased" { "purchased" } else { "reserved" },
                )
            })
            .collect();
        assert_eq!(own, told[u], "user {u}'s list");
        for ticket in own.keys() {
            let previous = owners.insert(ticket.clone(), u);
            assert!(previous.is_none(), "{ticket} is in the lists of users {previous:?} and {u}");
        }
    }
    assert!(owners.contains_key(&show.ticket(2)), "someone won the contested seats");

    // The public view agrees, ticket by ticket and in the counts.
    let tickets = server.all_tickets(&show).await;
    for ticket in &tickets {
        let id = ticket["id"].as_str().unwrap();
        let expected = owners.get(id).map_or("available", |&u| told[u][id]);
        assert_eq!(ticket["status"], expected, "{id}");
    }
    let taken = owners.len() as u64;
    assert_eq!(server.available(&show).await, CAPACITY as u64 - taken);
    let shown = json_of(server.get(&show.performance_path()).await, StatusCode::OK).await;
    let by_section: u64 = shown["sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["available"].as_u64().unwrap())
        .sum();
    assert_eq!(by_section, CAPACITY as u64 - taken);
}

#[actix_web::test]
async fn shed_load_is_503_with_retry_after_and_changes_nothing() {
    let options = Options { max_in_flight: 1, ..Options::default() };
    let server = Server::with(options).await;
    let show = show(&server).await;
    let mut users = Vec::new();
    for _ in 0..USERS {
        users.push(user(&server).await);
    }

    // Everyone asks for one standing place at once; some are turned away.
    let mut tasks = JoinSet::new();
    for user in users.clone() {
        let request = server.client.post(server.url(&user.tickets())).bearer_auth(&user.token);
        let body =
            json!({ "performance_id": show.performance, "section": STANDING, "quantity": 1 });
        tasks.spawn(async move {
            let response = request.json(&body).send().await.unwrap();
            let (status, headers) = (response.status(), response.headers().clone());
            let kind = headers.get("content-type").map(|v| v.to_str().unwrap().to_owned());
            let body: Value = response.json().await.unwrap();
            (user, status, headers.get("retry-after").is_some(), kind, body)
        });
    }
    let mut held = 0;
    while let Some(done) = tasks.join_next().await {
        let (user, status, retry_after, kind, body) = done.unwrap();
        match status {
            StatusCode::CREATED => held += 1,
            StatusCode::CONFLICT => assert_eq!(body["code"], "not-available", "{body}"),
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(body["code"], "overloaded", "{body}");
                assert!(retry_after, "503 without Retry-After");
                assert_eq!(kind.as_deref(), Some("application/problem+json"));
                assert!(server.own(&user).await.is_empty(), "a shed request held nothing");
            }
            other => panic!("{other}: {body}"),
        }
    }
    assert!(held > 0);
    assert_eq!(server.available(&show).await, CAPACITY as u64 - held);
}

#[actix_web::test]
async fn past_the_servers_capacity_requests_are_refused_at_the_door() {
    let options = Options { max_http_in_flight: 1, ..Options::default() };
    let server = Server::with(options).await;
    let show = show(&server).await;

    let (stalled, refused) = stall_until_a_page_is_refused(&server, &show, 1).await;
    let retry_after = refused.headers().contains_key("retry-after");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "overloaded", "{body}");
    assert!(retry_after, "503 without Retry-After");

    // The health check and the metrics are never turned away.
    assert_eq!(server.get("/health").await.status(), StatusCode::OK);
    assert_ne!(server.get("/metrics").await.status(), StatusCode::SERVICE_UNAVAILABLE);

    // Once the stalled request is gone, the door opens again.
    drop(stalled);
    for _ in 0..200 {
        if server.get(&show.performance_path()).await.status() == StatusCode::OK {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the door stayed shut after the stalled request went");
}

#[actix_web::test]
async fn a_body_that_never_finishes_is_refused_in_time_and_frees_its_place() {
    let body_timeout = std::time::Duration::from_millis(300);
    let options = Options { max_http_in_flight: 1, body_timeout, ..Options::default() };
    let server = Server::with(options).await;
    let show = show(&server).await;
    let cities_before = server.get("/cities").await.text().await.unwrap();

    let (mut stalled, _) = stall_until_a_page_is_refused(&server, &show, 1).await;
    let answer = exchange(&mut stalled[0], "").await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    assert!(answer.contains("body-too-slow"), "{answer}");

    let page = server.get(&show.performance_path()).await;
    assert_eq!(page.status(), StatusCode::OK, "the slow body kept its place at the door");
    assert_eq!(server.get("/cities").await.text().await.unwrap(), cities_before);
}

#[actix_web::test]
async fn a_full_door_turns_away_a_first_look_but_lets_a_purchase_through() {
    // Four places: browsing and reserving come in below three, finishing a
    // sale below four.
    let options = Options { max_http_in_flight: 4, ..Options::default() };
    let server = Server::with(options).await;
    let show = show(&server).await;
    let buyer = user(&server).await;
    let body = json!({ "performance_id": show.performance, "section": STANDING, "quantity": 2 });
    let held = reserved_ids(server.reserve(&buyer, body.clone()).await).await;

    let (stalled, _) = stall_until_a_page_is_refused(&server, &show, 3).await;
    let refused = server.reserve(&buyer, body).await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE, "a reserve at 3 of 4");
    let order = json_of(server.purchase(&buyer, &held, "tok").await, StatusCode::OK).await;
    assert_eq!(order["order"]["tickets"].as_array().unwrap().len(), 2, "{order}");

    drop(stalled);
    server.assert_alive().await;
}

#[actix_web::test]
async fn a_refused_reserve_leaves_its_connection_open_for_the_next_request() {
    let options = Options { max_http_in_flight: 4, ..Options::default() };
    let server = Server::with(options).await;
    let show = show(&server).await;
    let buyer = user(&server).await;
    let (_stalled, _) = stall_until_a_page_is_refused(&server, &show, 3).await;

    let address = server.address();
    let mut connection = tokio::net::TcpStream::connect(&address).await.unwrap();
    let body = json!({ "performance_id": show.performance, "section": STANDING, "quantity": 1 });
    let body = body.to_string();
    let reserve = format!(
        "POST {} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        buyer.tickets(),
        buyer.token,
        body.len()
    );
    let health = format!("GET /health HTTP/1.1\r\nHost: {address}\r\n\r\n");

    let refused = exchange(&mut connection, &reserve).await;
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    let next = exchange(&mut connection, &health).await;
    assert!(next.starts_with("HTTP/1.1 200"), "the connection closed after the refusal: {next:?}");
}

/// Opens `count` connections each holding a place at the door with a
/// request whose body never finishes (it stays in flight while its
/// connection is open), then asks for the page until it is refused;
/// answers with the open connections and the refusal.
///
/// If a page request of ours is in flight when a stalled one arrives, the
/// stalled one may be the one refused (and its connection closed), so the
/// stalls are opened again until they hold.
async fn stall_until_a_page_is_refused(
    server: &Server,
    show: &Show,
    count: usize,
) -> (Vec<tokio::net::TcpStream>, Response) {
    let address = server.address();
    let head = format!(
        "POST /cities HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {ADMIN}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"name\":"
    );
    for _ in 0..20 {
        let mut stalled = Vec::new();
        for _ in 0..count {
            let mut connection = tokio::net::TcpStream::connect(&address).await.unwrap();
            tokio::io::AsyncWriteExt::write_all(&mut connection, head.as_bytes()).await.unwrap();
            stalled.push(connection);
        }
        // Time for the server to admit them before our first page.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        for _ in 0..20 {
            let response = server.get(&show.performance_path()).await;
            if response.status() == StatusCode::SERVICE_UNAVAILABLE {
                return (stalled, response);
            }
            assert_eq!(response.status(), StatusCode::OK);
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
    panic!("no page request was refused behind {count} stalled ones");
}
