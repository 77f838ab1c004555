//! Hostile input: bodies of wrong types, nulls, huge numbers, deep nesting,
//! invalid UTF-8 and very long strings, at every route with and without
//! credentials, and path segments that are no ids. Every answer must be a
//! 4xx problem+json (never 5xx, never a panic), and the server must still
//! answer afterwards with its state unchanged.

use std::io::{Read, Write};

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::*;

/// Every route, with `{c}`, `{v}`, `{p}`, `{u}` and `{t}` to fill in.
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/cities"),
    ("POST", "/cities"),
    ("GET", "/cities/{c}/venues"),
    ("POST", "/cities/{c}/venues"),
    ("GET", "/cities/{c}/venues/{v}/performances"),
    ("POST", "/cities/{c}/venues/{v}/performances"),
    ("GET", "/cities/{c}/venues/{v}/performances/{p}"),
    ("GET", "/cities/{c}/venues/{v}/performances/{p}/tickets"),
    ("POST", "/users"),
    ("GET", "/users/{u}/tickets"),
    ("POST", "/users/{u}/tickets"),
    ("PUT", "/users/{u}/tickets"),
    ("PATCH", "/users/{u}/tickets"),
    ("DELETE", "/users/{u}/tickets/{t}"),
];

fn hostile_bodies() -> Vec<Vec<u8>> {
    let long = "🎻".repeat(60_000); // 240 KB: under the body limit
    let mut bodies: Vec<Vec<u8>> = [
        json!(null),
        json!(true),
        json!("text"),
        json!(-1),
        json!([]),
        json!({}),
        json!({ "performance_id": null, "ticket_ids": null, "section": null, "quantity": null }),
        json!({ "performance_id": [], "ticket_ids": {}, "payment_token": 5 }),
        json!({ "performance_id": 1, "ticket_ids": ["1-", "-", "1-2-3", "99999999999-1", "1-99999999999", "0-0", ""] }),
        json!({ "performance_id": 1, "ticket_ids": [null, 1, []] }),
        json!({ "performance_id": 1, "ticket_ids": ["1-1"], "payment_token": "tok" }),
        json!({ "ticket_ids": ["1-0", "1-0"], "payment_token": "tok" }),
        json!({ "ticket_ids": ["1-0", "2-0"], "payment_token": "tok" }),
        json!({ "performance_id": -1, "section": "Stalls", "quantity": 1 }),
        json!({ "performance_id": 4294967296u64, "section": "Stalls", "quantity": 4294967295u64 }),
        json!({ "performance_id": 1, "section": "Stalls", "quantity": 1.5 }),
        json!({ "performance_id": 1, "section": "", "quantity": 1 }),
        json!({ "performance_id": 1, "section": long.clone(), "quantity": 1 }),
        json!({ "name": long.clone(), "email": long.clone(), "phone": "1" }),
        json!({ "name": "\u{0}", "email": "a@b", "phone": "+41 44 668 18 00" }),
        json!({ "name": "x", "country": "CH", "time_zone": "../../etc/passwd", "currency": "CHF" }),
        json!({ "name": "x", "layout": { "sections": [{ "name": "A", "kind": "seated", "rows": 4294967295u32, "seats_per_row": 4294967295u32, "price_minor": 1 }] } }),
        json!({ "name": "x", "layout": { "sections": [{ "name": "A", "kind": "standing", "capacity": 1, "price_minor": i64::MIN }] } }),
        json!({ "title": "x", "start_local": "9999-12-31T23:59:59", "utc_offset": "-25:59", "on_sale": "-009999-01-01T00:00:00Z" }),
        json!({ "title": "x", "start_local": "0000-01-01T00:00:00", "on_sale": "0000-01-01T00:00:00Z" }),
        json!({ "title": "x", "start_local": "2030-10-27T20:00:00", "utc_offset": "+99:99", "on_sale": "2020-01-01T00:00:00Z" }),
        json!({ "title": "x", "start_local": "2030-10-27T20:00:00", "on_sale": "2020-01-01T00:00:00Z", "order_max": 4294967295u32, "user_max": 0 }),
    ]
    .iter()
    .map(|value| serde_json::to_vec(value).unwrap())
    .collect();
    bodies.extend([
        b"{\"performance_id\": 1e400}".to_vec(),
        b"{\"quantity\": 123456789012345678901234567890}".to_vec(),
        b"{\"name\": \"\xff\xfe\", \"email\": \"a@b\", \"phone\": \"123456\"}".to_vec(),
        b"\xef\xbb\xbf{}".to_vec(),
        b"{\"a\": 1, \"a\": 2}".to_vec(),
        b"{\"name\": \"\\ud800\"}".to_vec(),
        "[".repeat(100_000).into_bytes(),
        "{\"a\":".repeat(50_000).into_bytes(),
        vec![0u8; 1024],
        vec![b' '; 300 * 1024],
    ]);
    bodies
}

const SEGMENTS: &[&str] = &[
    "%00",
    "..",
    "%2e%2e",
    "-1",
    "99999999999",
    "4294967296",
    "%FF",
    "1-",
    "-",
    "1-2-3",
    "1%2F2",
    "%20",
    "+1",
    "0x1",
    "1e3",
    "%F0%9F%8E%BB",
    "' OR 1=1 --",
];

/// Fills a route with real ids, or with `hostile` in every slot.
fn fill(route: &str, show: &Show, user: &User, hostile: Option<&str>) -> String {
    let slot = |real: String| hostile.map_or(real, str::to_owned);
    route
        .replace("{c}", &slot(show.city.to_string()))
        .replace("{v}", &slot(show.venue.to_string()))
        .replace("{p}", &slot(show.performance.to_string()))
        .replace("{u}", &slot(user.id.to_string()))
        .replace("{t}", &slot(show.ticket(0)))
}

/// The credentials each route takes.
fn token_for<'a>(route: &str, user: &'a User) -> Option<&'a str> {
    if route.starts_with("/users/") {
        Some(&user.token)
    } else if route == "/users" {
        None
    } else {
        Some(ADMIN)
    }
}

#[actix_web::test]
async fn hostile_bodies_at_every_route_are_4xx_problems() {
    let server = Server::start().await;
    let show = show(&server).await;
    let buyer = user(&server).await;
    let before = server.state(&show).await;
    let cities = server.get("/cities").await.text().await.unwrap();

    for (method, route) in ROUTES {
        let method: Method = method.parse().unwrap();
        let path = fill(route, &show, &buyer, None);
        for body in hostile_bodies() {
            for token in [token_for(route, &buyer), None] {
                let response = server.send_bytes(method.clone(), &path, token, body.clone()).await;
                let status = response.status();
                let answer = String::from_utf8_lossy(&body[..body.len().min(120)]).into_owned();
                if status.is_success() {
                    // GETs ignore bodies; nothing else may accept these.
                    assert_eq!(method, Method::GET, "{method} {path} accepted {answer}");
                    continue;
                }
                assert!(status.is_client_error(), "{method} {path} {answer}: {status}");
                any_problem(response).await;
            }
        }
    }
    server.assert_alive().await;
    assert_eq!(server.state(&show).await, before, "no hostile body changed anything");
    assert_eq!(server.get("/cities").await.text().await.unwrap(), cities);
}

#[actix_web::test]
async fn hostile_path_segments_are_4xx_problems() {
    let server = Server::start().await;
    let show = show(&server).await;
    let buyer = user(&server).await;
    let before = server.state(&show).await;
    let long = "9".repeat(5000);
    let segments = SEGMENTS.iter().copied().chain([long.as_str()]);
    for segment in segments {
        for (method, route) in ROUTES.iter().filter(|(_, route)| route.contains('{')) {
            let method: Method = method.parse().unwrap();
            let path = fill(route, &show, &buyer, Some(segment));
            let body =
                json!({ "performance_id": show.performance, "section": SEATED, "quantity": 1 });
            let response =
                server.send(method.clone(), &path, token_for(route, &buyer), Some(&body)).await;
            let status = response.status();
            assert!(status.is_client_error(), "{method} {path}: {status}");
            any_problem(response).await;
        }
    }
    server.assert_alive().await;
    assert_eq!(server.state(&show).await, before);
}

/// Sends one raw HTTP/1.1 request, for what a URL type would normalize
/// away; answers the status and the content type.
async fn raw(server: &Server, request_line: Vec<u8>) -> (u16, String) {
    let addr = server.address();
    tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
        let mut request = request_line;
        request.extend_from_slice(b"\r\nHost: test\r\nConnection: close\r\n\r\n");
        stream.write_all(&request).unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        let text = String::from_utf8_lossy(&answer).into_owned();
        let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
        let kind = text
            .lines()
            .find_map(|line| {
                line.to_ascii_lowercase().strip_prefix("content-type: ").map(str::to_owned)
            })
            .unwrap_or_default();
        (status, kind)
    })
    .await
    .unwrap()
}

#[actix_web::test]
async fn raw_dot_segments_reach_no_resource() {
    let server = Server::start().await;
    let show = show(&server).await;
    let paths = [
        format!("/cities/{}/venues/../venues", show.city),
        "/cities/../../etc/passwd".to_owned(),
        "/cities/./1/venues".to_owned(),
        "/users/../cities".to_owned(),
        format!("{}/../..", show.tickets()),
    ];
    for path in paths {
        let (status, kind) = raw(&server, format!("GET {path} HTTP/1.1").into_bytes()).await;
        assert!((400..500).contains(&status), "{path}: {status}");
        assert_eq!(kind, "application/problem+json", "{path}");
    }
    // Bytes that are no UTF-8 in the request line: the HTTP parser may
    // refuse them before routing, but never with a 5xx.
    let (status, _) = raw(&server, b"GET /cities/\xff\xfe/venues HTTP/1.1".to_vec()).await;
    assert!((400..500).contains(&status), "{status}");
    server.assert_alive().await;
}

#[actix_web::test]
async fn an_absurd_price_cannot_break_a_purchase() {
    let server = Server::start().await;
    let city = create_city(&server, "Zürich").await;
    let layout = json!({ "sections": [{ "name": "Gold", "kind": "standing", "capacity": 4, "price_minor": i64::MAX }] });
    let response = server
        .admin_post(&format!("/cities/{city}/venues"), json!({ "name": "Bank", "layout": layout }))
        .await;
    if response.status() == StatusCode::CREATED {
        // Accepted: then two such tickets must still be priced without harm.
        let venue = json_of(response, StatusCode::CREATED).await["id"].as_u64().unwrap();
        let performance = create_performance(&server, city, venue, json!({})).await;
        let buyer = user(&server).await;
        let body = json!({ "performance_id": performance, "section": "Gold", "quantity": 2 });
        let held = reserved_ids(server.reserve(&buyer, body).await).await;
        let status = server.purchase(&buyer, &held, "tok").await.status();
        assert!(!status.is_server_error(), "pricing two tickets: {status}");
        let body = json!({ "performance_id": performance, "section": "Gold", "quantity": 1 });
        let status = server.reserve(&buyer, body).await.status();
        assert_eq!(status, StatusCode::CREATED, "the performance still works");
    } else {
        invalid(response, "layout.sections[0].price_minor").await;
    }
    server.assert_alive().await;
}

#[actix_web::test]
async fn hostile_queries_and_headers_are_4xx_problems() {
    let server = Server::start().await;
    let show = show(&server).await;
    let buyer = user(&server).await;
    let queries = [
        "limit=%00",
        "limit=",
        "after=",
        "limit=1&limit=2",
        "status[]=x",
        "status=%FF",
        "limit=1e3",
        "after=99999999999-1",
        "after=1-2-3",
        "after=-",
        "unknown=1",
        "%zz",
        "limit=18446744073709551616",
    ];
    let lists = ["/cities".to_owned(), show.venues(), show.performances(), show.tickets()];
    for list in &lists {
        for query in queries {
            // A list may ignore a parameter it has no use for (`status` of
            // cities), but nothing may be a 5xx or a bare error.
            let response = server.get(&format!("{list}?{query}")).await;
            let status = response.status();
            if status.is_success() {
                assert!(
                    query.starts_with("status=") && !list.ends_with("tickets"),
                    "{list}?{query}"
                );
                continue;
            }
            assert!(status.is_client_error(), "{list}?{query}: {status}");
            any_problem(response).await;
        }
    }
    // Authorization values that are no text, or no token at all.
    let values: [&[u8]; 5] = [b"Bearer \xff\xfe", b"Bearer ", b"Bearer", b"\x80", b"Bearer 1.\xc3"];
    for value in values {
        let header = reqwest::header::HeaderValue::from_bytes(value).unwrap();
        let response = server
            .client
            .get(server.url(&buyer.tickets()))
            .header("authorization", header.clone())
            .send()
            .await
            .unwrap();
        problem(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
        let response = server
            .client
            .post(server.url("/cities"))
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        problem(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    server.assert_alive().await;
}
