//! The demo catalogue: Zürich is there, and two adjacent seats of one of
//! its seated venues can be reserved.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::*;

#[actix_web::test]
async fn demo_catalogue_has_zurich_and_reserves_two_adjacent_seats() {
    let options = Options { catalogue: api::server::CatalogueChoice::Demo, ..Options::default() };
    let server = Server::with(options).await;

    let cities = array(json_of(server.get("/cities?limit=1000").await, StatusCode::OK).await);
    let zurich = cities.iter().find(|c| c["name"] == "Zürich").expect("Zürich is a city");
    assert_eq!(zurich["time_zone"], "Europe/Zurich");
    assert_eq!(zurich["currency"], "CHF");

    // The first seated venue of Zürich with a performance.
    let city = zurich["id"].as_u64().unwrap();
    let venues_path = format!("/cities/{city}/venues?limit=1000");
    let venues = array(json_of(server.get(&venues_path).await, StatusCode::OK).await);
    let user = user(&server).await;
    for venue in &venues {
        let Some(section) =
            array(venue["sections"].clone()).into_iter().find(|s| s["kind"] == "seated")
        else {
            continue;
        };
        let path = format!("/cities/{city}/venues/{}/performances", venue["id"]);
        let performances = array(json_of(server.get(&path).await, StatusCode::OK).await);
        let Some(on_sale) =
            performances.iter().find(|p| p["on_sale"].as_str() < Some(&hours_from_now(0)))
        else {
            continue;
        };
        let body =
            json!({ "performance_id": on_sale["id"], "section": section["name"], "quantity": 2 });
        let reserved = json_of(server.reserve(&user, body).await, StatusCode::CREATED).await;
        let tickets = array(reserved["tickets"].clone());
        assert_eq!(tickets.len(), 2);
        assert_eq!(tickets[0]["row"], tickets[1]["row"], "one row: {reserved}");
        let seats = [tickets[0]["seat"].as_u64().unwrap(), tickets[1]["seat"].as_u64().unwrap()];
        assert_eq!(seats[0].abs_diff(seats[1]), 1, "adjacent: {reserved}");
        return;
    }
    panic!("no seated performance on sale in Zürich");
}
