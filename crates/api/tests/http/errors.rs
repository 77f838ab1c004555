//! Errors: every refusal is problem+json with a stable code; 400 only for
//! JSON that does not parse, 422 naming the field for JSON that does, 404
//! for unknown ids in the path, 422 for unknown ids in the body, 413 for an
//! oversized body, 404/405 for unknown routes and methods; and a refused
//! request changes nothing.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::*;

#[actix_web::test]
async fn json_that_does_not_parse_is_400() {
    let server = Server::start().await;
    let show = show(&server).await;
    let buyer = user(&server).await;
    for bytes in [&b"{"[..], b"", b"not json", b"{\"performance_id\": 1,}", b"\xff\xfe"] {
        let response = server
            .send_bytes(Method::POST, &buyer.tickets(), Some(&buyer.token), bytes.to_vec())
            .await;
        problem(response, StatusCode::BAD_REQUEST, "malformed-json").await;
    }
    let response = server.send_bytes(Method::POST, "/users", None, b"[1,".to_vec()).await;
    problem(response, StatusCode::BAD_REQUEST, "malformed-json").await;
    let _ = show;
}

#[actix_web::test]
async fn json_that_parses_but_does_not_fit_is_422_naming_the_field() {
    let server = Server::start().await;
    let show = show(&server).await;
    let buyer = user(&server).await;
    let p = show.performance;
    let cases: Vec<(Value, &str)> = vec![
        (json!({ "performance_id": "one", "section": SEATED, "quantity": 1 }), "performance_id"),
        (json!({ "performance_id": p, "section": SEATED, "quantity": 0 }), "quantity"),
        (json!({ "performance_id": p, "section": SEATED, "quantity": -1 }), "quantity"),
        (json!({ "performance_id": p, "section": SEATED, "quantity": 1e12 }), "quantity"),
        (
            json!({ "performance_id": p, "section": SEATED, "quantity": 1_000_000_000_000u64 }),
            "quantity",
        ),
        (json!({ "performance_id": p, "section": SEATED, "quantity": "2" }), "quantity"),
        (json!({ "performance_id": p, "section": "Balcony", "quantity": 1 }), "section"),
        (json!({ "performance_id": p, "section": 7, "quantity": 1 }), "section"),
        (json!({ "performance_id": p, "section": SEATED }), "quantity"),
        (json!({ "performance_id": p, "ticket_ids": [] }), "ticket_ids"),
        (json!({ "performance_id": p, "ticket_ids": "1-1" }), "ticket_ids"),
        (json!({ "performance_id": p, "ticket_ids": ["nope"] }), "ticket_ids"),
        (json!({ "performance_id": p, "ticket_ids": [show.ticket(CAPACITY)] }), "ticket_ids"),
        (json!({ "performance_id": p, "ticket_ids": [format!("{}-0", p + 1)] }), "ticket_ids"),
        (json!({ "performance_id": p + 1, "section": SEATED, "quantity": 1 }), "performance_id"),
        (json!({ "section": SEATED, "quantity": 1 }), "performance_id"),
        (json!({ "performance_id": p }), "ticket_ids"),
        (json!([p]), ""),
        (json!(null), ""),
    ];
    let before = server.state(&show).await;
    for (body, field) in cases {
        let response = server.reserve(&buyer, body.clone()).await;
        let got = any_problem(response).await;
        assert_eq!(got["status"], 422, "{body}: {got}");
        if !field.is_empty() {
            assert_eq!(got["field"], field, "{body}: {got}");
        }
    }
    assert_eq!(server.state(&show).await, before, "refused reserves change nothing");
}

#[actix_web::test]
async fn a_missing_field_is_named() {
    let server = Server::start().await;
    let body = json!({ "name": "Ada", "phone": "+41 44 668 18 00" });
    invalid(server.send(Method::POST, "/users", None, Some(&body)).await, "email").await;
    let show = show(&server).await;
    let buyer = user(&server).await;
    let body = json!({ "ticket_ids": [show.ticket(0)] });
    let response =
        server.send(Method::PUT, &buyer.tickets(), Some(&buyer.token), Some(&body)).await;
    invalid(response, "payment_token").await;
}

#[actix_web::test]
async fn an_oversized_body_is_413() {
    let server = Server::start().await;
    let name = "x".repeat(300 * 1024);
    let body = json!({ "name": name, "email": "big@example.org", "phone": "+41 44 668 18 00" });
    let response = server.send(Method::POST, "/users", None, Some(&body)).await;
    problem(response, StatusCode::PAYLOAD_TOO_LARGE, "body-too-large").await;
    server.assert_alive().await;
}

#[actix_web::test]
async fn unknown_path_ids_are_404() {
    let server = Server::start().await;
    let show = show(&server).await;
    // A second city with its own venue and performance, to cross them over.
    let other_city = create_city(&server, "Basel").await;
    let other_venue = create_venue(&server, other_city, "Stadtcasino").await;
    let other_show = create_performance(&server, other_city, other_venue, json!({})).await;
    let second_venue = create_venue(&server, show.city, "Kaufleuten").await;
    let (c, v, p) = (show.city, show.venue, show.performance);
    let paths = [
        "/cities/999/venues".to_owned(),
        "/cities/abc/venues".to_owned(),
        "/cities/-1/venues".to_owned(),
        "/cities/99999999999/venues".to_owned(),
        format!("/cities/{c}/venues/999/performances"),
        format!("/cities/{c}/venues/x/performances"),
        // A venue of another city.
        format!("/cities/{c}/venues/{other_venue}/performances"),
        format!("/cities/{c}/venues/{v}/performances/999"),
        format!("/cities/{c}/venues/{v}/performances/1.0"),
        // A performance of another venue, in this city and in another.
        format!("/cities/{c}/venues/{second_venue}/performances/{p}"),
        format!("/cities/{c}/venues/{v}/performances/{other_show}"),
        format!("/cities/{c}/venues/{second_venue}/performances/{p}/tickets"),
        format!("/cities/{c}/venues/{v}/performances/999/tickets"),
    ];
    for path in paths {
        problem(server.get(&path).await, StatusCode::NOT_FOUND, "not-found").await;
    }
}

#[actix_web::test]
async fn a_404_names_the_first_segment_that_is_wrong_once_the_page_is_cached_too() {
    let server = Server::start().await;
    let show = show(&server).await;
    let (c, v, p) = (show.city, show.venue, show.performance);
    let cases = [
        (format!("/cities/99/venues/x/performances/{p}"), "no city 99"),
        (format!("/cities/99/venues/{v}/performances/x"), "no city 99"),
        (format!("/cities/{c}/venues/99/performances/x"), "no venue 99 in this city"),
        (format!("/cities/{c}/venues/99/performances/{p}"), "no venue 99 in this city"),
        (format!("/cities/{c}/venues/{v}/performances/0{p}"), &format!("no performance \"0{p}\"")),
    ];

    // Before and after the page is built and kept.
    for round in ["cold", "cached"] {
        for (path, detail) in &cases {
            let body = problem(server.get(path).await, StatusCode::NOT_FOUND, "not-found").await;
            assert_eq!(body["detail"], *detail, "{round}: {path}");
        }
        json_of(server.get(&show.performance_path()).await, StatusCode::OK).await;
    }
}

#[actix_web::test]
async fn unknown_routes_are_404_and_wrong_methods_405() {
    let server = Server::start().await;
    for path in ["/", "/nope", "/cities/1/nope", "/users/1", "/users/1/tickets/1-1/x"] {
        problem(server.get(path).await, StatusCode::NOT_FOUND, "not-found").await;
    }
    let wrong = [
        (Method::DELETE, "/cities"),
        (Method::PUT, "/cities/1/venues"),
        (Method::PATCH, "/cities/1/venues/1/performances"),
        (Method::POST, "/cities/1/venues/1/performances/1"),
        (Method::POST, "/cities/1/venues/1/performances/1/tickets"),
        (Method::GET, "/users"),
        (Method::DELETE, "/users/1/tickets"),
        (Method::GET, "/users/1/tickets/1-1"),
        (Method::POST, "/health"),
    ];
    for (method, path) in wrong {
        let response = server.send(method.clone(), path, None, None).await;
        problem(response, StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed").await;
    }
}

#[actix_web::test]
async fn unknown_body_ids_in_a_purchase_are_422() {
    let server = Server::start().await;
    let show = show(&server).await;
    let buyer = user(&server).await;
    let before = server.state(&show).await;
    let unknown_performance = [format!("{}-0", show.performance + 7)];
    invalid(server.purchase(&buyer, &unknown_performance, "tok").await, "ticket_ids").await;
    invalid(server.purchase(&buyer, &[show.ticket(CAPACITY + 5)], "tok").await, "ticket_ids").await;
    invalid(server.purchase(&buyer, &[], "tok").await, "ticket_ids").await;
    invalid(server.purchase(&buyer, &["1-".to_owned()], "tok").await, "ticket_ids").await;
    invalid(server.purchase(&buyer, &[show.ticket(0)], "").await, "payment_token").await;
    assert_eq!(server.state(&show).await, before);
}

#[actix_web::test]
async fn a_key_given_twice_is_422_and_changes_nothing() {
    let server = Server::start().await;
    let show = show(&server).await;
    let buyer = user(&server).await;
    let before = server.state(&show).await;
    let body = format!(
        r#"{{"performance_id": {p}, "performance_id": {p}, "section": "{SEATED}", "quantity": 1}}"#,
        p = show.performance
    );
    let response = server
        .send_bytes(Method::POST, &buyer.tickets(), Some(&buyer.token), body.into_bytes())
        .await;
    let problem = problem(response, StatusCode::UNPROCESSABLE_ENTITY, "duplicate-field").await;
    assert_eq!(problem["field"], "performance_id");
    assert_eq!(server.state(&show).await, before);
}

#[actix_web::test]
async fn a_bad_query_names_its_parameter() {
    let server = Server::start().await;
    for (query, field) in [
        ("limit=abc", "limit"),
        ("limit=-1", "limit"),
        ("limit=99999999999", "limit"),
        ("foo=1", "foo"),
        ("limit=1&limit=2", "limit"),
        ("status=available", "status"),
    ] {
        let response = server.get(&format!("/cities?{query}")).await;
        let problem = any_problem(response).await;
        assert_eq!(problem["status"], 422, "{query}: {problem}");
        assert_eq!(problem["field"], field, "{query}: {problem}");
    }
}

#[actix_web::test]
async fn ids_have_one_spelling_and_long_input_is_not_echoed_whole() {
    let server = Server::start().await;
    let show = show(&server).await;
    let buyer = user(&server).await;
    let padded = server.get(&format!("/cities/0{}/venues", show.city)).await;
    problem(padded, StatusCode::NOT_FOUND, "not-found").await;

    let long = "x".repeat(100_000);
    let body = json!({ "performance_id": show.performance, "section": long, "quantity": 1 });
    let problem = problem(
        server.reserve(&buyer, body).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown-section",
    )
    .await;
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.chars().count() <= 301, "a detail of {} characters", detail.chars().count());
}
