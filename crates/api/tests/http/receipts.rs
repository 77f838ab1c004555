//! Receipts are owed work, not part of the purchase: an SMS gateway that
//! refuses never fails a purchase or holds up the email, its message is
//! parked where an admin sees it, and a retry the admin asks for sends it.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpResponse, HttpServer};
use api::server::{EmailConfig, ReceiptsConfig, SmsConfig};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::*;

/// A Twilio-style SMS API that refuses every message (400) until told
/// to accept them.
#[derive(Default)]
struct Gateway {
    accepting: AtomicBool,
    refused: AtomicU32,
    accepted: AtomicU32,
}

async fn messages(gateway: web::Data<Gateway>) -> HttpResponse {
    if gateway.accepting.load(Ordering::SeqCst) {
        let number = gateway.accepted.fetch_add(1, Ordering::SeqCst);
        return HttpResponse::Created().json(json!({ "sid": format!("SM{number}") }));
    }
    gateway.refused.fetch_add(1, Ordering::SeqCst);
    HttpResponse::BadRequest()
        .json(json!({ "code": 21211, "message": "The 'To' number is not valid" }))
}

fn start_gateway() -> (Arc<Gateway>, String) {
    let gateway = Arc::new(Gateway::default());
    let data = web::Data::from(gateway.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/2010-04-01/Accounts/{sid}/Messages.json", web::post().to(messages))
    })
    .workers(1)
    .disable_signals()
    .bind("127.0.0.1:0")
    .expect("a port for the gateway");
    let base = format!("http://{}", server.addrs()[0]);
    actix_web::rt::spawn(server.run());
    (gateway, base)
}

async fn parked_sms(server: &Server) -> Vec<Value> {
    let parked = server.send(Method::GET, "/admin/outbox/sms/parked", Some(ADMIN), None).await;
    json_of(parked, StatusCode::OK).await.as_array().cloned().unwrap_or_default()
}

async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(Instant::now() < deadline, "gave up waiting until {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_rt::test]
async fn a_refused_sms_is_parked_without_touching_the_sale_or_the_email_and_sent_on_retry() {
    let (gateway, base_url) = start_gateway();
    let data = tempfile::tempdir().unwrap();
    let receipts = ReceiptsConfig {
        email: EmailConfig::Files(data.path().join("email")),
        sms: SmsConfig::Http { base_url, account_sid: "AC1".into(), auth_token: "secret".into() },
        email_from: "Boxoffice <receipts@boxoffice.invalid>".into(),
        sms_from: "Boxoffice".into(),
    };
    let server = Server::with(Options { receipts: Some(receipts), ..Options::default() }).await;
    let show = show(&server).await;
    let buyer = user(&server).await;
    let ticket = show.ticket(0);
    json_of(
        server
            .reserve(&buyer, json!({ "performance_id": show.performance, "ticket_ids": [ticket] }))
            .await,
        StatusCode::CREATED,
    )
    .await;

    let bought =
        json_of(server.purchase(&buyer, &[ticket], "tok_visa").await, StatusCode::OK).await;
    let order = bought["order"]["id"].as_str().unwrap().to_owned();

    eventually("the SMS is parked", async || parked_sms(&server).await.len() == 1).await;
    let parked = parked_sms(&server).await;
    assert_eq!(parked[0]["entry"], json!({ "kind": "receipt", "order_id": order }));
    assert!(parked[0]["reason"].as_str().unwrap().contains("400"), "{}", parked[0]);
    let email = data.path().join("email").join(format!("sale-{order}-email.eml"));
    eventually("the email is sent anyway", async || email.exists()).await;
    assert_eq!(server.own(&buyer).await[0]["status"], "purchased");

    gateway.accepting.store(true, Ordering::SeqCst);
    let seq = parked[0]["seq"].as_u64().unwrap();
    let retry = format!("/admin/outbox/sms/parked/{seq}/retry");
    let asked = server.send(Method::POST, &retry, Some(ADMIN), None).await;
    json_of(asked, StatusCode::ACCEPTED).await;
    eventually("the SMS is sent", async || gateway.accepted.load(Ordering::SeqCst) == 1).await;
    eventually("nothing is parked", async || parked_sms(&server).await.is_empty()).await;

    let unknown = server.send(Method::POST, &retry, Some(ADMIN), None).await;
    problem(unknown, StatusCode::NOT_FOUND, "not-found").await;
    let nobody = server.send(Method::GET, "/admin/outbox/fax/parked", Some(ADMIN), None).await;
    problem(nobody, StatusCode::NOT_FOUND, "not-found").await;
    assert_eq!(
        gateway.refused.load(Ordering::SeqCst),
        1,
        "a permanent refusal is not retried on its own"
    );
}
