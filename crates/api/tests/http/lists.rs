//! Lists: 200 with a JSON array, paged by `limit` (default 100, 1 to 1000)
//! and `after`, the next page in a `Link` header that the last page lacks;
//! walking every page yields every ticket once; `status` filters; and a
//! ticket shows its place, price and status but never its holder.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::*;

/// The path and query of the `rel="next"` link, if any.
fn next_link(response: &reqwest::Response) -> Option<String> {
    let link = response.headers().get("link")?.to_str().unwrap().to_owned();
    assert!(link.ends_with("; rel=\"next\""), "{link}");
    let start = link.find('<').unwrap() + 1;
    let end = link.find('>').unwrap();
    Some(link[start..end].to_owned())
}

/// Follows `Link` from `first`, returning every item and the page count.
async fn walk(server: &Server, first: &str) -> (Vec<Value>, usize) {
    let (mut items, mut pages, mut next) = (Vec::new(), 0, Some(first.to_owned()));
    while let Some(path) = next {
        let response = server.get(&path).await;
        next = next_link(&response);
        let page = array(json_of(response, StatusCode::OK).await);
        assert!(!page.is_empty() || pages == 0, "a Link led to an empty page");
        items.extend(page);
        pages += 1;
        assert!(pages < 1000, "the links go round in circles");
    }
    (items, pages)
}

#[actix_web::test]
async fn walking_ticket_pages_yields_every_ticket_once() {
    let server = Server::start().await;
    let show = show(&server).await;
    let (tickets, pages) = walk(&server, &format!("{}?limit=5", show.tickets())).await;
    assert_eq!(pages, (CAPACITY as usize).div_ceil(5));
    let unique: HashSet<_> = ids(&tickets).into_iter().collect();
    assert_eq!(unique.len(), CAPACITY as usize, "every ticket once");
    assert_eq!(tickets.len(), CAPACITY as usize);

    // The default page holds them all, and so has no Link.
    let response = server.get(&show.tickets()).await;
    assert!(response.headers().get("link").is_none());
    assert_eq!(array(json_of(response, StatusCode::OK).await).len(), CAPACITY as usize);
}

#[actix_web::test]
async fn a_page_holds_100_by_default_and_1000_at_most() {
    let server = Server::start().await;
    let city = create_city(&server, "Zürich").await;
    let layout = json!({ "sections": [{ "name": "Field", "kind": "standing", "capacity": 1500, "price_minor": 100 }] });
    let path = format!("/cities/{city}/venues");
    let venue = json_of(
        server.admin_post(&path, json!({ "name": "Park", "layout": layout })).await,
        StatusCode::CREATED,
    )
    .await;
    let venue = venue["id"].as_u64().unwrap();
    let performance = create_performance(&server, city, venue, json!({})).await;
    let show = Show { city, venue, performance };

    let response = server.get(&show.tickets()).await;
    let next = next_link(&response).expect("a next page");
    assert_eq!(next, format!("{}?limit=100&after={}", show.tickets(), show.ticket(99)));
    assert_eq!(array(json_of(response, StatusCode::OK).await).len(), 100);

    let response = server.get(&format!("{}?limit=1000", show.tickets())).await;
    assert!(next_link(&response).is_some());
    assert_eq!(array(json_of(response, StatusCode::OK).await).len(), 1000);
    let (all, pages) = walk(&server, &show.tickets()).await;
    assert_eq!((all.len(), pages), (1500, 15));
}

#[actix_web::test]
async fn a_ticket_shows_place_price_status_and_never_its_holder() {
    let server = Server::start().await;
    let show = show(&server).await;
    let buyer = user(&server).await;
    let body = json!({ "performance_id": show.performance, "ticket_ids": [show.ticket(0), show.ticket(20)] });
    let held = reserved_ids(server.reserve(&buyer, body).await).await;
    server.purchase(&buyer, &held[..1], "tok").await.error_for_status().unwrap();

    let tickets = server.all_tickets(&show).await;
    let seat = &tickets[0];
    assert_eq!(seat["id"], show.ticket(0));
    assert_eq!(seat["section"], SEATED);
    assert_eq!(seat["row"], "A");
    assert_eq!(seat["seat"], 1);
    assert_eq!(seat["price"], json!({ "amount_minor": 5000, "currency": "CHF" }));
    assert_eq!(seat["status"], "purchased");
    let standing = &tickets[20];
    assert_eq!(standing["section"], STANDING);
    assert_eq!(standing["status"], "reserved");
    assert_eq!(standing["price"]["amount_minor"], 2000);
    assert_eq!(tickets[1]["status"], "available");

    // Nothing of the holder anywhere in the public list.
    let text = serde_json::to_string(&tickets).unwrap();
    for secret in ["user", "name", "email", "phone", "Buyer", "example.org", "order"] {
        assert!(!text.contains(secret), "{secret:?} leaks into {text}");
    }
}

#[actix_web::test]
async fn status_filters_tickets_and_survives_paging() {
    let server = Server::start().await;
    let show = show(&server).await;
    let buyer = user(&server).await;
    let body = json!({ "performance_id": show.performance, "section": STANDING, "quantity": 4 });
    let held: HashSet<String> =
        reserved_ids(server.reserve(&buyer, body).await).await.into_iter().collect();

    let first = format!("{}?status=available&limit=4", show.tickets());
    let (available, _) = walk(&server, &first).await;
    assert_eq!(available.len(), CAPACITY as usize - 4);
    assert!(available.iter().all(|t| t["status"] == "available"));
    assert!(ids(&available).iter().all(|id| !held.contains(id)));

    let (reserved, _) = walk(&server, &format!("{}?status=reserved&limit=3", show.tickets())).await;
    assert_eq!(ids(&reserved).into_iter().collect::<HashSet<_>>(), held);
    let path = format!("{}?status=sold", show.tickets());
    invalid(server.get(&path).await, "status").await;
}

#[actix_web::test]
async fn catalogue_lists_page_with_links() {
    let server = Server::start().await;
    let show = show(&server).await;
    for name in ["Bern", "Genève", "Lugano"] {
        create_city(&server, name).await;
    }
    for name in ["Zwei", "Drei"] {
        create_venue(&server, show.city, name).await;
    }
    for _ in 0..2 {
        create_performance(&server, show.city, show.venue, json!({})).await;
    }
    let lists = [("/cities".to_owned(), 4), (show.venues(), 3), (show.performances(), 3)];
    for (path, count) in lists {
        let (all, pages) = walk(&server, &format!("{path}?limit=1")).await;
        assert_eq!((all.len(), pages), (count, count), "{path}");
        let unique: HashSet<_> = all.iter().map(|item| item["id"].as_u64().unwrap()).collect();
        assert_eq!(unique.len(), count, "{path}");
        let (all, pages) = walk(&server, &path).await;
        assert_eq!((all.len(), pages), (count, 1), "{path}");
    }
}

#[actix_web::test]
async fn limit_must_be_1_to_1000_and_after_an_id() {
    let server = Server::start().await;
    let show = show(&server).await;
    for path in ["/cities".to_owned(), show.venues(), show.performances(), show.tickets()] {
        for bad in ["limit=0", "limit=1001", "limit=-1", "limit=x", "after=x", "after=-1"] {
            let response = server.get(&format!("{path}?{bad}")).await;
            let body = any_problem(response).await;
            assert_eq!(body["status"], 422, "{path}?{bad}: {body}");
        }
        for good in ["limit=1", "limit=1000"] {
            json_of(server.get(&format!("{path}?{good}")).await, StatusCode::OK).await;
        }
    }
    // Tickets page after a ticket of this performance only.
    let path = format!("{}?after={}-0", show.tickets(), show.performance + 1);
    invalid(server.get(&path).await, "after").await;
    let path = format!("{}?after={}", show.tickets(), show.ticket(CAPACITY - 2));
    let last = array(json_of(server.get(&path).await, StatusCode::OK).await);
    assert_eq!(ids(&last), vec![show.ticket(CAPACITY - 1)]);
}

#[actix_web::test]
async fn performances_show_start_in_the_venues_offset_and_zone() {
    let server = Server::start().await;
    let show = show(&server).await;
    let summer = create_performance(
        &server,
        show.city,
        show.venue,
        json!({ "start_local": "2030-07-01T19:30:00" }),
    )
    .await;
    let list = array(json_of(server.get(&show.performances()).await, StatusCode::OK).await);
    let winter = list.iter().find(|p| p["id"] == show.performance).unwrap();
    assert_eq!(winter["start"], "2030-10-27T20:00:00+01:00");
    assert_eq!(winter["time_zone"], "Europe/Zurich");
    assert_eq!(winter["start_local"], "2030-10-27T20:00:00");
    let path = format!("{}/{summer}", show.performances());
    let summer = json_of(server.get(&path).await, StatusCode::OK).await;
    assert_eq!(summer["start"], "2030-07-01T19:30:00+02:00");
    assert_eq!(summer["capacity"], CAPACITY);
}
