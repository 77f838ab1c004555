//! Admin: creating cities, venues (layouts validated) and performances
//! (local start times resolved in the city's zone, DST gaps and folds
//! handled), behind the admin token: 401 without, 403 with a wrong one, and
//! 403 for every call when the server has no admin token at all.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::*;

fn city_body() -> Value {
    json!({ "name": "Zürich", "country": "CH", "time_zone": "Europe/Zurich", "currency": "CHF" })
}

#[actix_web::test]
async fn admin_calls_need_the_admin_token() {
    let server = Server::start().await;
    let show = show(&server).await;
    let buyer = user(&server).await;
    let calls = [
        ("/cities".to_owned(), city_body()),
        (show.venues(), json!({ "name": "V", "layout": layout() })),
        (
            show.performances(),
            json!({ "title": "T", "start_local": "2030-10-27T20:00:00", "on_sale": hours_from_now(-1) }),
        ),
    ];
    for (path, body) in &calls {
        let response = server.send(Method::POST, path, None, Some(body)).await;
        problem(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
        for wrong in ["wrong", "TEST-ADMIN", "test-admin2", buyer.token.as_str()] {
            let response = server.send(Method::POST, path, Some(wrong), Some(body)).await;
            problem(response, StatusCode::FORBIDDEN, "forbidden").await;
        }
    }
    // Credentials are checked before the body is read.
    for (path, _) in &calls {
        let response = server.send_bytes(Method::POST, path, None, b"{".to_vec()).await;
        problem(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
        let response = server.send_bytes(Method::POST, path, Some("wrong"), b"{".to_vec()).await;
        problem(response, StatusCode::FORBIDDEN, "forbidden").await;
    }
    let cities = array(json_of(server.get("/cities").await, StatusCode::OK).await);
    assert_eq!(cities.len(), 1, "only the admin made cities");
}

#[actix_web::test]
async fn without_an_admin_token_configured_admin_calls_are_403() {
    let server = Server::with(Options { admin_token: None, ..Options::default() }).await;
    let body = city_body();
    for token in [None, Some("test-admin"), Some("")] {
        let response = server.send(Method::POST, "/cities", token, Some(&body)).await;
        problem(response, StatusCode::FORBIDDEN, "forbidden").await;
    }
    assert!(array(json_of(server.get("/cities").await, StatusCode::OK).await).is_empty());
}

#[actix_web::test]
async fn cities_are_validated() {
    let server = Server::start().await;
    let cases = [
        ("name", json!("  ")),
        ("country", json!("Switzerland")),
        ("country", json!("ch")),
        ("time_zone", json!("Mars/Olympus")),
        ("currency", json!("XYZ")),
        ("currency", json!(7)),
    ];
    for (field, value) in cases {
        let mut body = city_body();
        body[field] = value;
        invalid(server.admin_post("/cities", body).await, field).await;
    }
    assert!(array(json_of(server.get("/cities").await, StatusCode::OK).await).is_empty());
}

#[actix_web::test]
async fn venue_layouts_are_validated() {
    let server = Server::start().await;
    let city = create_city(&server, "Zürich").await;
    let path = format!("/cities/{city}/venues");
    let seated = |name: &str, rows: u32| json!({ "name": name, "kind": "seated", "rows": rows, "seats_per_row": 4, "price_minor": 100 });
    let layouts = [
        json!({ "sections": [] }),
        json!({ "sections": [seated("A", 0)] }),
        json!({ "sections": [{ "name": "F", "kind": "standing", "capacity": 0, "price_minor": 1 }] }),
        json!({ "sections": [seated("A", 1), seated("A", 2)] }),
        json!({ "sections": [seated("", 1)] }),
        json!({ "sections": [{ "name": "F", "kind": "balcony", "capacity": 5, "price_minor": 1 }] }),
        json!({ "sections": [{ "name": "F", "kind": "standing", "rows": 5, "price_minor": 1 }] }),
        json!({ "sections": [{ "name": "F", "kind": "standing", "capacity": 5, "price_minor": -1 }] }),
        json!({ "sections": [{ "name": "F", "kind": "standing", "capacity": 2_000_000, "price_minor": 1 }] }),
        json!({ "sections": [seated("A", 1)], "capacity": 5 }),
        json!({ "sections": [seated("A", 1)], "extra": true }),
        json!({ "sections": "none" }),
    ];
    for layout in layouts {
        let body = json!({ "name": "Hall", "layout": layout });
        let refused = any_problem(server.admin_post(&path, body.clone()).await).await;
        assert_eq!(refused["status"], 422, "{body}: {refused}");
        let field = refused["field"].as_str().unwrap_or_else(|| panic!("no field: {refused}"));
        assert!(field.starts_with("layout"), "{body}: {refused}");
    }
    problem(
        server.admin_post("/cities/99/venues", json!({ "name": "H", "layout": layout() })).await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
    let venues = array(json_of(server.get(&path).await, StatusCode::OK).await);
    assert!(venues.is_empty(), "no venue was made: {venues:?}");
}

async fn performance(server: &Server, city: u64, venue: u64, extra: Value) -> reqwest::Response {
    let mut body = json!({ "title": "Nacht", "on_sale": hours_from_now(-1) });
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    server.admin_post(&format!("/cities/{city}/venues/{venue}/performances"), body).await
}

#[actix_web::test]
async fn local_start_times_in_dst_gaps_and_folds() {
    let server = Server::start().await;
    let city = create_city(&server, "Zürich").await;
    let venue = create_venue(&server, city, "Tonhalle").await;

    // 02:30 does not happen on the morning clocks go forward.
    let gap =
        performance(&server, city, venue, json!({ "start_local": "2030-03-31T02:30:00" })).await;
    invalid(gap, "start_local").await;
    // It happens twice when they go back: it needs an offset to pick one.
    let fold = json!({ "start_local": "2030-10-27T02:30:00" });
    invalid(performance(&server, city, venue, fold.clone()).await, "start_local").await;
    let mut starts = Vec::new();
    for offset in ["+02:00", "+01:00"] {
        let mut body = fold.clone();
        body["utc_offset"] = json!(offset);
        let created =
            json_of(performance(&server, city, venue, body).await, StatusCode::CREATED).await;
        assert_eq!(created["start"], format!("2030-10-27T02:30:00{offset}"));
        assert_eq!(created["time_zone"], "Europe/Zurich");
        starts.push(created["start"].as_str().unwrap().parse::<jiff::Timestamp>().unwrap());
    }
    assert_eq!(starts[1].duration_since(starts[0]), jiff::SignedDuration::from_hours(1));
    let mut body = fold.clone();
    body["utc_offset"] = json!("+05:00");
    invalid(performance(&server, city, venue, body).await, "utc_offset").await;
}

#[actix_web::test]
async fn performances_are_validated() {
    let server = Server::start().await;
    let city = create_city(&server, "Zürich").await;
    let venue = create_venue(&server, city, "Tonhalle").await;
    let start = "2030-10-27T20:00:00";
    let cases = [
        ("start_local", json!({ "start_local": "2030-10-27 20:00" })),
        ("start_local", json!({ "start_local": "2030-10-27T20:00:00+01:00" })),
        ("start_local", json!({ "start_local": "2030-02-30T20:00:00" })),
        ("utc_offset", json!({ "start_local": start, "utc_offset": "one hour" })),
        ("start_local", json!({ "start_local": "2020-01-01T20:00:00" })),
        ("on_sale", json!({ "start_local": start, "on_sale": "tomorrow" })),
        ("on_sale", json!({ "start_local": start, "on_sale": "2031-01-01T00:00:00Z" })),
        ("title", json!({ "start_local": start, "title": "" })),
        ("order_max", json!({ "start_local": start, "order_max": 0 })),
        ("order_max", json!({ "start_local": start, "order_max": 1e12 })),
        ("user_max", json!({ "start_local": start, "user_max": -3 })),
    ];
    for (field, body) in cases {
        invalid(performance(&server, city, venue, body).await, field).await;
    }
    let other_city = create_city(&server, "Basel").await;
    let response = performance(&server, other_city, venue, json!({ "start_local": start })).await;
    problem(response, StatusCode::NOT_FOUND, "not-found").await;
    let path = format!("/cities/{city}/venues/{venue}/performances");
    assert!(array(json_of(server.get(&path).await, StatusCode::OK).await).is_empty());
}
