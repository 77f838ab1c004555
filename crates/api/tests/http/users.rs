//! Users: registering answers 201 with an id and a token, an email taken in
//! any case is 409, text is full Unicode and round-trips, and every
//! `/users/{id}/…` call needs that user's own bearer token: 401 without or
//! with a bad one, 403 with another user's.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::*;

#[actix_web::test]
async fn registering_answers_the_user_and_refuses_a_taken_email_in_any_case() {
    let server = Server::start().await;
    let body =
        json!({ "name": "Zoë 🎻 Ω", "email": "zoe@example.org", "phone": "+41 44 668 18 00" });
    let zoe =
        json_of(server.send(Method::POST, "/users", None, Some(&body)).await, StatusCode::CREATED)
            .await;
    assert!(zoe["id"].is_u64(), "{zoe}");
    assert!(zoe["token"].as_str().is_some_and(|t| !t.is_empty()), "{zoe}");
    assert_eq!(zoe["name"], "Zoë 🎻 Ω", "Unicode round-trips");

    let again = json!({ "name": "Other", "email": "ZOE@Example.org", "phone": "+41 44 668 18 01" });
    let response = server.send(Method::POST, "/users", None, Some(&again)).await;
    problem(response, StatusCode::CONFLICT, "email-taken").await;
}

#[actix_web::test]
async fn registering_validates_each_field() {
    let server = Server::start().await;
    let good = json!({ "name": "Ada", "email": "ada@example.org", "phone": "+41 44 668 18 00" });
    let cases = [
        ("name", json!("")),
        ("name", json!(42)),
        ("name", json!(null)),
        ("email", json!("no-at-sign")),
        ("email", json!("a@b@c")),
        ("phone", json!("call me")),
        ("phone", json!("12")),
    ];
    for (field, value) in cases {
        let mut body = good.clone();
        body[field] = value;
        invalid(server.send(Method::POST, "/users", None, Some(&body)).await, field).await;
    }
}

#[actix_web::test]
async fn user_routes_need_the_users_own_token() {
    let server = Server::start().await;
    let show = show(&server).await;
    let (ada, bob) = (user(&server).await, user(&server).await);
    let reserve = json!({ "performance_id": show.performance, "section": SEATED, "quantity": 1 });
    let purchase = json!({ "ticket_ids": [show.ticket(0)], "payment_token": "tok" });
    let calls = [
        (Method::GET, ada.tickets(), None),
        (Method::POST, ada.tickets(), Some(reserve)),
        (Method::PUT, ada.tickets(), Some(purchase.clone())),
        (Method::PATCH, ada.tickets(), Some(purchase)),
        (Method::DELETE, format!("{}/{}", ada.tickets(), show.ticket(0)), None),
    ];
    let garbage = [
        "garbage".to_owned(),
        format!("{}.deadbeef", ada.id),
        format!("{}.{}", bob.id, ada.token.split_once('.').unwrap().1),
        "99999999999.x".to_owned(),
        ".".to_owned(),
    ];
    let before = server.state(&show).await;
    for (method, path, body) in &calls {
        let response = server.send(method.clone(), path, None, body.as_ref()).await;
        problem(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
        for token in &garbage {
            let response = server.send(method.clone(), path, Some(token), body.as_ref()).await;
            problem(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
        }
        // A scheme other than Bearer is no bearer token.
        let mut request = server.client.request(method.clone(), server.url(path));
        if let Some(body) = body {
            request = request.json(body);
        }
        let response =
            request.header("authorization", format!("Basic {}", ada.token)).send().await.unwrap();
        problem(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
        let response = server.send(method.clone(), path, Some(&bob.token), body.as_ref()).await;
        problem(response, StatusCode::FORBIDDEN, "forbidden").await;
    }
    // Credentials are checked before the body is read.
    for (method, path) in [(Method::POST, ada.tickets()), (Method::PUT, ada.tickets())] {
        let response = server.send_bytes(method.clone(), &path, None, b"{".to_vec()).await;
        problem(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
        let response = server.send_bytes(method, &path, Some(&bob.token), b"{".to_vec()).await;
        problem(response, StatusCode::FORBIDDEN, "forbidden").await;
    }
    assert_eq!(server.state(&show).await, before, "refused calls change nothing");
    assert!(server.own(&ada).await.is_empty());
}

#[actix_web::test]
async fn unicode_text_round_trips_through_the_catalogue() {
    let server = Server::start().await;
    let name = "Zoë 🎻 Ω — Genève «Salle»";
    let city =
        json!({ "name": name, "country": "CH", "time_zone": "Europe/Zurich", "currency": "CHF" });
    let created = json_of(server.admin_post("/cities", city).await, StatusCode::CREATED).await;
    assert_eq!(created["name"], name);
    let city = created["id"].as_u64().unwrap();

    let mut layout = layout();
    layout["sections"][0]["name"] = json!("Parterre 🎭");
    let venue = json!({ "name": "Théâtre 🎻", "layout": layout });
    let path = format!("/cities/{city}/venues");
    let venue = json_of(server.admin_post(&path, venue).await, StatusCode::CREATED).await;
    assert_eq!(venue["name"], "Théâtre 🎻");
    assert_eq!(venue["sections"][0]["name"], "Parterre 🎭");
    let venue = venue["id"].as_u64().unwrap();

    let performance =
        create_performance(&server, city, venue, json!({ "title": "Ω 🎶 Ünïcödé" })).await;
    let show = Show { city, venue, performance };
    let shown = json_of(server.get(&show.performance_path()).await, StatusCode::OK).await;
    assert_eq!(shown["title"], "Ω 🎶 Ünïcödé");

    let cities = array(json_of(server.get("/cities").await, StatusCode::OK).await);
    assert_eq!(cities[0]["name"], name);

    // Joined emoji, right-to-left text and a decomposed accent come back
    // byte for byte: nothing normalizes them.
    for name in ["👩\u{200d}👩\u{200d}👧 Family", "مسرح القاهرة", "Cafe\u{301}"] {
        let body = json!({ "name": name, "email": format!("{}@example.org", name.len()), "phone": "+41 44 668 18 00" });
        let created = json_of(
            server.send(Method::POST, "/users", None, Some(&body)).await,
            StatusCode::CREATED,
        )
        .await;
        assert_eq!(created["name"].as_str().unwrap().as_bytes(), name.as_bytes());
    }

    // A section with an emoji name can be reserved by that name.
    let buyer = user(&server).await;
    let body = json!({ "performance_id": performance, "section": "Parterre 🎭", "quantity": 1 });
    let held = json_of(server.reserve(&buyer, body).await, StatusCode::CREATED).await;
    assert_eq!(held["tickets"][0]["section"], "Parterre 🎭");
}
