//! Booking: reserving named tickets or a quantity (adjacent seats in the
//! row nearest the stage, nearest its middle), all or nothing; buying by
//! PUT or PATCH; releasing; the caller's own list; a declined payment; and
//! someone else's hold, which is `not-held` with no hint of its holder.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::*;

fn named(show: &Show, indices: &[u32]) -> Value {
    let tickets: Vec<String> = indices.iter().map(|&i| show.ticket(i)).collect();
    json!({ "performance_id": show.performance, "ticket_ids": tickets })
}

fn quantity(show: &Show, section: &str, quantity: u32) -> Value {
    json!({ "performance_id": show.performance, "section": section, "quantity": quantity })
}

#[actix_web::test]
async fn reserving_named_tickets_holds_them_until_a_time() {
    let server = Server::start().await;
    let show = show(&server).await;
    let buyer = user(&server).await;
    let body =
        json_of(server.reserve(&buyer, named(&show, &[3, 4])).await, StatusCode::CREATED).await;
    assert_eq!(ids(&array(body["tickets"].clone())), [show.ticket(3), show.ticket(4)]);
    assert!(body["tickets"].as_array().unwrap().iter().all(|t| t["status"] == "reserved"));
    let until: jiff::Timestamp = body["reserved_until"].as_str().unwrap().parse().unwrap();
    assert!(until > jiff::Timestamp::now(), "{body}");
    assert_eq!(server.available(&show).await, (CAPACITY - 2) as u64);

    let own = server.own(&buyer).await;
    assert_eq!(ids(&own), [show.ticket(3), show.ticket(4)]);
    assert!(own.iter().all(|t| t["status"] == "reserved" && t["reserved_until"].is_string()));
}

#[actix_web::test]
async fn a_quantity_picks_adjacent_seats_nearest_the_stage_and_the_middle() {
    let server = Server::start().await;
    let show = show(&server).await;
    let buyer = user(&server).await;
    let seats = |body: &Value| -> Vec<(String, u64)> {
        let tickets = body["tickets"].as_array().unwrap();
        tickets
            .iter()
            .map(|t| (t["row"].as_str().unwrap().to_owned(), t["seat"].as_u64().unwrap()))
            .collect()
    };
    let first =
        json_of(server.reserve(&buyer, quantity(&show, SEATED, 2)).await, StatusCode::CREATED)
            .await;
    assert_eq!(seats(&first), [("A".into(), 3), ("A".into(), 4)], "row A, its middle");

    // Four more cannot sit together in row A (two left either side), so
    // they sit together in row B.
    let second =
        json_of(server.reserve(&buyer, quantity(&show, SEATED, 4)).await, StatusCode::CREATED)
            .await;
    let expected: Vec<(String, u64)> = (2..=5).map(|seat| ("B".to_owned(), seat)).collect();
    assert_eq!(seats(&second), expected);

    // Two still fit together in row A.
    let third =
        json_of(server.reserve(&buyer, quantity(&show, SEATED, 2)).await, StatusCode::CREATED)
            .await;
    let rows: Vec<_> = seats(&third).into_iter().map(|(row, _)| row).collect();
    assert_eq!(rows, ["A", "A"]);
    let numbers: Vec<_> = seats(&third).into_iter().map(|(_, seat)| seat).collect();
    assert!(numbers == [1, 2] || numbers == [5, 6], "{numbers:?}");

    let standing =
        json_of(server.reserve(&buyer, quantity(&show, STANDING, 2)).await, StatusCode::CREATED)
            .await;
    let standing = array(standing["tickets"].clone());
    assert!(standing
        .iter()
        .all(|t| t["section"] == STANDING && t["row"].is_null() && t["seat"].is_null()));
}

#[actix_web::test]
async fn a_reserve_is_all_or_nothing_and_names_the_taken_tickets() {
    let server = Server::start().await;
    let show = show(&server).await;
    let (ada, bob) = (user(&server).await, user(&server).await);
    reserved_ids(server.reserve(&ada, named(&show, &[1])).await).await;

    let before = server.state(&show).await;
    let response = server.reserve(&bob, named(&show, &[0, 1, 2])).await;
    let body = problem(response, StatusCode::CONFLICT, "not-available").await;
    assert_eq!(body["tickets"], json!([show.ticket(1)]));
    let response = server.reserve(&bob, quantity(&show, STANDING, 10)).await;
    reserved_ids(response).await;
    let after_standing = server.state(&show).await;
    // Bob is at his limit of 10; someone else finds the floor sold out.
    let cy = user(&server).await;
    let response = server.reserve(&cy, quantity(&show, STANDING, 1)).await;
    problem(response, StatusCode::CONFLICT, "not-available").await;
    assert_eq!(server.state(&show).await, after_standing, "a refused reserve changes nothing");
    assert_eq!(before.1 - 10, after_standing.1);
    invalid(server.reserve(&cy, named(&show, &[5, 5])).await, "ticket_ids").await;
    assert!(server.own(&bob).await.iter().all(|t| t["section"] == STANDING));
}

#[actix_web::test]
async fn buying_held_tickets_by_put_or_patch_answers_the_order() {
    let server = Server::start().await;
    let show = show(&server).await;
    let buyer = user(&server).await;
    let held = reserved_ids(server.reserve(&buyer, named(&show, &[0, 1, 20])).await).await;

    let order = json_of(server.purchase(&buyer, &held[..2], "tok").await, StatusCode::OK).await;
    let order = &order["order"];
    assert!(order["id"].is_string(), "{order}");
    assert_eq!(order["amount"], json!({ "amount_minor": 10000, "currency": "CHF" }));
    assert_eq!(ids(&array(order["tickets"].clone())), held[..2]);
    assert!(order["tickets"].as_array().unwrap().iter().all(|t| t["status"] == "purchased"));

    let body = json!({ "ticket_ids": [&held[2]], "payment_token": "tok" });
    let response =
        server.send(Method::PATCH, &buyer.tickets(), Some(&buyer.token), Some(&body)).await;
    let patched = json_of(response, StatusCode::OK).await;
    assert_eq!(patched["order"]["amount"]["amount_minor"], 2000);

    let own = server.own(&buyer).await;
    assert_eq!(ids(&own), held);
    assert!(own.iter().all(|t| t["status"] == "purchased" && t["order_id"].is_string()));
    assert_eq!(server.available(&show).await, (CAPACITY - 3) as u64);

    // Bought tickets cannot be bought again, nor released.
    let response = server.purchase(&buyer, &held[..1], "tok").await;
    problem(response, StatusCode::CONFLICT, "not-held").await;
    problem(server.release(&buyer, &held[0]).await, StatusCode::CONFLICT, "not-held").await;
}

#[actix_web::test]
async fn a_declined_payment_is_402_and_keeps_the_hold() {
    let server = Server::start().await;
    let show = show(&server).await;
    let buyer = user(&server).await;
    let held = reserved_ids(server.reserve(&buyer, named(&show, &[7])).await).await;
    let before = server.state(&show).await;
    let response = server.purchase(&buyer, &held, "decline").await;
    problem(response, StatusCode::PAYMENT_REQUIRED, "payment-declined").await;
    assert_eq!(server.state(&show).await, before);
    assert_eq!(server.own(&buyer).await[0]["status"], "reserved");
    json_of(server.purchase(&buyer, &held, "tok").await, StatusCode::OK).await;
}

#[actix_web::test]
async fn releasing_gives_the_ticket_back() {
    let server = Server::start().await;
    let show = show(&server).await;
    let buyer = user(&server).await;
    let held = reserved_ids(server.reserve(&buyer, named(&show, &[2, 3])).await).await;
    let response = server.release(&buyer, &held[0]).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(ids(&server.own(&buyer).await), [held[1].clone()]);
    assert_eq!(server.available(&show).await, (CAPACITY - 1) as u64);
    problem(server.release(&buyer, &held[0]).await, StatusCode::CONFLICT, "not-held").await;

    // Unknown and malformed ticket ids in the path are 404.
    for ticket in
        [show.ticket(CAPACITY), format!("{}-0", show.performance + 9), "1-".into(), "x".into()]
    {
        problem(server.release(&buyer, &ticket).await, StatusCode::NOT_FOUND, "not-found").await;
    }
}

#[actix_web::test]
async fn someone_elses_hold_is_not_held_without_naming_them() {
    let server = Server::start().await;
    let show = show(&server).await;
    let (ada, eve) = (user(&server).await, user(&server).await);
    let held = reserved_ids(server.reserve(&ada, named(&show, &[4])).await).await;
    let before = server.state(&show).await;

    let bought =
        problem(server.purchase(&eve, &held, "tok").await, StatusCode::CONFLICT, "not-held").await;
    let released =
        problem(server.release(&eve, &held[0]).await, StatusCode::CONFLICT, "not-held").await;
    for body in [bought, released] {
        // Only the standard members and the tickets: no holder, no hint.
        let members: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
        for member in &members {
            let allowed = ["type", "title", "status", "detail", "code", "tickets"];
            assert!(allowed.contains(member), "{member} in {body}");
        }
        assert_eq!(body["tickets"], json!(held));
        let detail = body["detail"].as_str().unwrap();
        assert!(!detail.contains("Buyer") && !detail.contains(&ada.id.to_string()), "{detail}");
    }
    assert_eq!(server.state(&show).await, before);
    assert_eq!(ids(&server.own(&ada).await), held);
    assert!(server.own(&eve).await.is_empty());
}

#[actix_web::test]
async fn own_list_holds_reserved_and_purchased_only_of_the_caller() {
    let server = Server::start().await;
    let show = show(&server).await;
    let (ada, bob) = (user(&server).await, user(&server).await);
    let a = reserved_ids(server.reserve(&ada, named(&show, &[0, 1])).await).await;
    let b = reserved_ids(server.reserve(&bob, quantity(&show, STANDING, 3)).await).await;
    json_of(server.purchase(&ada, &a[..1], "tok").await, StatusCode::OK).await;

    let own = server.own(&ada).await;
    let statuses: Vec<_> =
        own.iter().map(|t| (t["id"].as_str().unwrap(), t["status"].as_str().unwrap())).collect();
    assert_eq!(statuses, [(a[0].as_str(), "purchased"), (a[1].as_str(), "reserved")]);
    let mut bobs = ids(&server.own(&bob).await);
    bobs.sort();
    let mut b = b;
    b.sort();
    assert_eq!(bobs, b);
}
