//! Limits: more tickets than one order may have is 422 `order-limit`; more
//! than one user may hold and own of a performance, counting live holds and
//! purchases together, is 409 `user-limit`; and a performance whose sales
//! have not opened is 409 `not-on-sale`. Each refusal changes nothing.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::*;

#[actix_web::test]
async fn an_order_over_the_maximum_is_order_limit() {
    let server = Server::start().await;
    let show = show(&server).await; // order_max defaults to 10
    let buyer = user(&server).await;
    let before = server.state(&show).await;
    let body = json!({ "performance_id": show.performance, "section": STANDING, "quantity": 11 });
    let refused = problem(
        server.reserve(&buyer, body).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "order-limit",
    )
    .await;
    assert_eq!(refused["max"], 10);
    let tickets: Vec<String> = (0..11).map(|i| show.ticket(i)).collect();
    let body = json!({ "performance_id": show.performance, "ticket_ids": tickets });
    problem(server.reserve(&buyer, body).await, StatusCode::UNPROCESSABLE_ENTITY, "order-limit")
        .await;
    assert_eq!(server.state(&show).await, before);

    let body = json!({ "performance_id": show.performance, "section": STANDING, "quantity": 10 });
    json_of(server.reserve(&buyer, body).await, StatusCode::CREATED).await;
}

#[actix_web::test]
async fn the_per_user_maximum_counts_holds_and_purchases() {
    let server = Server::start().await;
    let show = show_with(&server, json!({ "order_max": 3, "user_max": 4 })).await;
    let buyer = user(&server).await;
    let body = json!({ "performance_id": show.performance, "section": SEATED, "quantity": 3 });
    let bought = reserved_ids(server.reserve(&buyer, body).await).await;
    json_of(server.purchase(&buyer, &bought, "tok").await, StatusCode::OK).await;

    let body = json!({ "performance_id": show.performance, "section": STANDING, "quantity": 1 });
    let held = reserved_ids(server.reserve(&buyer, body.clone()).await).await;
    let before = server.state(&show).await;
    let refused =
        problem(server.reserve(&buyer, body.clone()).await, StatusCode::CONFLICT, "user-limit")
            .await;
    assert_eq!(refused["max"], 4);
    let named = json!({ "performance_id": show.performance, "ticket_ids": [show.ticket(17)] });
    problem(server.reserve(&buyer, named).await, StatusCode::CONFLICT, "user-limit").await;
    assert_eq!(server.state(&show).await, before);

    // Giving a hold back makes room again.
    assert_eq!(server.release(&buyer, &held[0]).await.status(), StatusCode::NO_CONTENT);
    json_of(server.reserve(&buyer, body).await, StatusCode::CREATED).await;

    // Another user is not counted against this one.
    let other = user(&server).await;
    let body = json!({ "performance_id": show.performance, "section": STANDING, "quantity": 3 });
    json_of(server.reserve(&other, body).await, StatusCode::CREATED).await;
}

#[actix_web::test]
async fn a_performance_not_yet_on_sale_refuses_reserves() {
    let server = Server::start().await;
    let show = show_with(&server, json!({ "on_sale": hours_from_now(24) })).await;
    let buyer = user(&server).await;
    let before = server.state(&show).await;
    let body = json!({ "performance_id": show.performance, "section": SEATED, "quantity": 1 });
    problem(server.reserve(&buyer, body).await, StatusCode::CONFLICT, "not-on-sale").await;
    let body = json!({ "performance_id": show.performance, "ticket_ids": [show.ticket(0)] });
    problem(server.reserve(&buyer, body).await, StatusCode::CONFLICT, "not-on-sale").await;
    assert_eq!(server.state(&show).await, before);
}
