//! The sandbox through HTTP: its API in Stripe's shapes and errors, its
//! payment page, its clock-driven expiries and delayed payments, and its
//! signed webhooks, retried, given up on, and resumed after a restart.

#[path = "sandbox/harness.rs"]
mod harness;

use std::time::Duration;

use harness::{session_form, wait_for, Setup, World, SECRET_KEY, WAIT_MAX};
use payments::sandbox::PaymentMethod;
use serde_json::Value;

fn id_of(object: &Value) -> String {
    object["id"].as_str().expect("an id").to_owned()
}

#[actix_rt::test]
async fn a_session_is_created_and_retrieved_in_stripe_s_shape() {
    let world = World::start(Setup::system_clock()).await;

    let before = world.now_secs();
    let created = world.create_session(&[]).await;
    let id = id_of(&created);
    let (status, retrieved) = world.get(&format!("/v1/checkout/sessions/{id}")).await;
    let expires_at = created["expires_at"].as_i64().expect("an integer expiry");

    assert!(id.starts_with("cs_test_"), "{id}");
    assert_eq!(created["object"], "checkout.session");
    assert_eq!(created["status"], "open");
    assert_eq!(created["payment_status"], "unpaid");
    assert_eq!(created["mode"], "payment");
    assert_eq!(created["amount_total"], 4990);
    assert_eq!(created["currency"], "eur");
    assert_eq!(created["client_reference_id"], "17-3");
    assert_eq!(created["metadata"]["order_id"], "17-3");
    assert_eq!(created["customer_email"], "zoe@example.org");
    assert_eq!(created["livemode"], false);
    assert_eq!(created["payment_intent"], Value::Null);
    assert_eq!(created["success_url"], "http://shop.test/paid?session={CHECKOUT_SESSION_ID}");
    assert_eq!(created["url"], format!("{}/pay/{id}", world.api_base));
    assert!((before + 3600..=world.now_secs() + 3600).contains(&expires_at), "{expires_at}");
    assert_eq!(status, 200);
    assert_eq!(retrieved, created);
    world.stop().await;
}

#[actix_rt::test]
async fn calls_without_the_key_or_with_another_are_refused_with_401() {
    let world = World::start(Setup::system_clock()).await;
    let url = format!("{}/v1/checkout/sessions", world.api_base);

    let (without, without_body) =
        harness::json_of(world.http.get(&url).send().await.unwrap()).await;
    let other = world.http.get(&url).bearer_auth("sk_test_not_the_key").send().await.unwrap();
    let (other, other_body) = harness::json_of(other).await;

    assert_eq!(without, 401);
    assert_eq!(without_body["error"]["type"], "invalid_request_error");
    assert_eq!(other, 401);
    assert_eq!(other_body["error"]["message"], "Invalid API Key provided: sk_test_****_key");
    assert_ne!(SECRET_KEY, "sk_test_not_the_key");
    world.stop().await;
}

type Form = Vec<(&'static str, &'static str)>;

fn without(name: &str) -> Form {
    session_form().into_iter().filter(|(key, _)| *key != name).collect()
}

fn with(extra: &[(&'static str, &'static str)]) -> Form {
    session_form().into_iter().chain(extra.iter().copied()).collect()
}

fn replaced(name: &str, value: &'static str) -> Form {
    session_form()
        .into_iter()
        .map(|(key, old)| (key, if key == name { value } else { old }))
        .collect()
}

/// A form the sandbox must refuse, the parameter it must name, and the code
/// it must give (where Stripe has one).
struct Refused {
    form: Form,
    param: &'static str,
    code: Option<&'static str>,
}

#[actix_rt::test]
async fn invalid_parameters_are_stripe_s_400s() {
    let world = World::start(Setup::system_clock()).await;
    let now = world.now_secs();
    let cases = [
        Refused { form: without("mode"), param: "mode", code: Some("parameter_missing") },
        Refused {
            form: without("success_url"),
            param: "success_url",
            code: Some("parameter_missing"),
        },
        Refused {
            form: with(&[("colour", "red")]),
            param: "colour",
            code: Some("parameter_unknown"),
        },
        Refused {
            form: with(&[("line_items[0][tax]", "1")]),
            param: "line_items[0][tax]",
            code: Some("parameter_unknown"),
        },
        Refused {
            form: with(&[("expires_at", "tomorrow")]),
            param: "expires_at",
            code: Some("parameter_invalid_integer"),
        },
        Refused {
            form: replaced("line_items[0][price_data][currency]", "euro"),
            param: "line_items[0][price_data][currency]",
            code: None,
        },
        Refused {
            form: replaced("line_items[0][quantity]", "0"),
            param: "line_items[0][quantity]",
            code: None,
        },
        Refused {
            form: without("line_items[0][price_data][product_data][name]"),
            param: "line_items[0][price_data][product_data]",
            code: Some("parameter_missing"),
        },
        Refused { form: replaced("success_url", "/paid"), param: "success_url", code: None },
        Refused { form: replaced("customer_email", "zoe"), param: "customer_email", code: None },
    ];

    for case in cases {
        let (status, body) = world.post("/v1/checkout/sessions", &case.form, None).await;
        let error = &body["error"];
        assert_eq!(status, 400, "{}: {body}", case.param);
        assert_eq!(error["type"], "invalid_request_error", "{body}");
        assert_eq!(error["param"], case.param, "{body}");
        if let Some(code) = case.code {
            assert_eq!(error["code"], code, "{body}");
        }
    }

    for expires_at in [now + 29 * 60, now + 24 * 3600 + 60] {
        let expires_at = expires_at.to_string();
        let mut form = session_form();
        form.push(("expires_at", &expires_at));
        let (status, body) = world.post("/v1/checkout/sessions", &form, None).await;
        assert_eq!((status, body["error"]["param"].as_str()), (400, Some("expires_at")), "{body}");
    }
    world.stop().await;
}

#[actix_rt::test]
async fn an_idempotency_key_replays_the_first_answer_and_refuses_other_parameters() {
    let world = World::start(Setup::system_clock()).await;
    let expires_at = (world.now_secs() + 3600).to_string();
    let mut form = session_form();
    form.push(("expires_at", &expires_at));
    let mut reordered = form.clone();
    reordered.reverse();
    let mut other = form.clone();
    other.push(("metadata[attempt]", "2"));

    let (_, first) = world.post("/v1/checkout/sessions", &form, Some("order-17-3")).await;
    let (status, again) = world.post("/v1/checkout/sessions", &reordered, Some("order-17-3")).await;
    let (conflict, conflict_body) =
        world.post("/v1/checkout/sessions", &other, Some("order-17-3")).await;
    let (_, fresh) = world.post("/v1/checkout/sessions", &form, Some("order-17-4")).await;
    let (_, listed) = world.get("/v1/checkout/sessions?limit=100").await;

    assert_eq!(status, 200);
    assert_eq!(again, first);
    assert_eq!(conflict, 400);
    assert_eq!(conflict_body["error"]["type"], "idempotency_error");
    assert_ne!(fresh["id"], first["id"]);
    assert_eq!(listed["data"].as_array().unwrap().len(), 2);
    world.stop().await;
}

#[actix_rt::test]
async fn a_refused_parameter_is_not_kept_under_its_key() {
    let world = World::start(Setup::system_clock()).await;
    let expires_at = (world.now_secs() + 3600).to_string();
    let mut form = session_form();
    form.push(("expires_at", &expires_at));
    let broken: Vec<_> = form.iter().copied().filter(|(key, _)| *key != "mode").collect();

    let (refused, _) = world.post("/v1/checkout/sessions", &broken, Some("retry-me")).await;
    let (corrected, session) = world.post("/v1/checkout/sessions", &form, Some("retry-me")).await;

    assert_eq!(refused, 400);
    assert_eq!(corrected, 200, "{session}");
    world.stop().await;
}

#[actix_rt::test]
async fn paying_by_card_on_the_page_completes_the_session_and_sends_a_signed_webhook() {
    let world = World::start(Setup::system_clock()).await;
    let session = world.create_session(&[]).await;
    let id = id_of(&session);

    let page = world.http.get(session["url"].as_str().unwrap()).send().await.unwrap();
    let page_status = page.status().as_u16();
    let html = page.text().await.unwrap();
    let paid = world.pay_on_page(&session, "card").await;
    let (_, after) = world.get(&format!("/v1/checkout/sessions/{id}")).await;
    let types = world.receiver.await_types(&id, 1).await;

    assert_eq!(page_status, 200);
    assert!(html.contains("2 × Tosca, Stalls, row C"), "{html}");
    assert!(html.contains("49.90 EUR"), "{html}");
    assert!(
        html.contains("value=\"delayed_success\"") && html.contains("value=\"delayed_failure\"")
    );
    assert!(!html.contains("http"), "the page needs nothing from outside: {html}");
    assert_eq!(paid.status().as_u16(), 303);
    assert_eq!(paid.headers()["location"], format!("http://shop.test/paid?session={id}"));
    assert_eq!(after["status"], "complete");
    assert_eq!(after["payment_status"], "paid");
    assert_eq!(after["url"], Value::Null);
    assert!(after["payment_intent"].as_str().unwrap().starts_with("pi_"));
    assert_eq!(types, ["checkout.session.completed"]);

    let webhook = &world.receiver.of_session(&id)[0];
    let event = webhook.event();
    assert!(webhook.verified.is_ok(), "{:?}", webhook.verified);
    assert!(event["id"].as_str().unwrap().starts_with("evt_"));
    assert_eq!(event["object"], "event");
    assert_eq!(event["livemode"], false);
    assert_eq!(event["pending_webhooks"], 1);
    assert_eq!(event["data"]["object"]["payment_status"], "paid");
    assert_eq!(event["data"]["object"]["metadata"]["order_id"], "17-3");
    assert!(event["api_version"].is_string() && event["created"].is_i64());
    world.stop().await;
}

#[actix_rt::test]
async fn delayed_methods_complete_unpaid_then_tell_the_outcome_in_order() {
    // Long enough for the calls before the outcome to see it pending.
    let setup = Setup { async_payment_delay: Duration::from_millis(1500), ..Setup::system_clock() };
    let world = World::start(setup).await;
    let succeeding = world.create_session(&[]).await;
    let failing = world.create_session(&[]).await;

    let first = world.pay_on_page(&succeeding, "delayed_success").await;
    let second = world.pay_on_page(&failing, "delayed_failure").await;
    let (_, pending) = world.get(&format!("/v1/checkout/sessions/{}", id_of(&succeeding))).await;
    let succeeded = world.receiver.await_types(&id_of(&succeeding), 2).await;
    let failed = world.receiver.await_types(&id_of(&failing), 2).await;
    let (_, paid) = world.get(&format!("/v1/checkout/sessions/{}", id_of(&succeeding))).await;
    let (_, unpaid) = world.get(&format!("/v1/checkout/sessions/{}", id_of(&failing))).await;

    assert_eq!((first.status().as_u16(), second.status().as_u16()), (303, 303));
    assert_eq!(
        (&pending["status"], &pending["payment_status"]),
        (&"complete".into(), &"unpaid".into())
    );
    assert_eq!(
        succeeded,
        ["checkout.session.completed", "checkout.session.async_payment_succeeded"]
    );
    assert_eq!(failed, ["checkout.session.completed", "checkout.session.async_payment_failed"]);
    assert_eq!(paid["payment_status"], "paid");
    assert_eq!(unpaid["payment_status"], "unpaid");
    assert_eq!(unpaid["status"], "complete");
    let (_, intent) = world
        .get(&format!("/v1/payment_intents/{}", unpaid["payment_intent"].as_str().unwrap()))
        .await;
    assert_eq!(intent["status"], "requires_payment_method");
    world.stop().await;
}

#[actix_rt::test]
async fn cancelling_goes_back_to_the_cancel_url_and_leaves_the_session_open() {
    let world = World::start(Setup::system_clock()).await;
    let session = world.create_session(&[]).await;
    let cancel = format!("{}/cancel", session["url"].as_str().unwrap());

    let back = world.http.post(&cancel).send().await.unwrap();
    let (_, after) = world.get(&format!("/v1/checkout/sessions/{}", id_of(&session))).await;

    assert_eq!(back.status().as_u16(), 303);
    assert_eq!(back.headers()["location"], "http://shop.test/cancelled");
    assert_eq!(after["status"], "open");
    world.stop().await;
}

#[actix_rt::test]
async fn expired_and_completed_sessions_cannot_be_paid_again() {
    let world = World::start(Setup::system_clock()).await;
    let expiring = world.create_session(&[]).await;
    let paid = world.create_session(&[]).await;
    let expiring_id = id_of(&expiring);

    let (status, expired) =
        world.post(&format!("/v1/checkout/sessions/{expiring_id}/expire"), &[], None).await;
    let (again, again_body) =
        world.post(&format!("/v1/checkout/sessions/{expiring_id}/expire"), &[], None).await;
    let page = world.http.get(expiring["url"].as_str().unwrap()).send().await.unwrap();
    let page_status = page.status().as_u16();
    let page_html = page.text().await.unwrap();
    let late_payment = world.pay_on_page(&expiring, "card").await;
    world.pay_on_page(&paid, "card").await;
    let second_payment = world.pay_on_page(&paid, "card").await;
    let completed_page = world.http.get(paid["url"].as_str().unwrap()).send().await.unwrap();
    let (expire_paid, expire_paid_body) =
        world.post(&format!("/v1/checkout/sessions/{}/expire", id_of(&paid)), &[], None).await;
    let types = world.receiver.await_types(&expiring_id, 1).await;

    assert_eq!((status, &expired["status"]), (200, &"expired".into()));
    assert_eq!(again, 400);
    assert!(again_body["error"]["message"].as_str().unwrap().contains("status of `expired`"));
    assert_eq!(page_status, 410);
    assert!(page_html.contains("expired"));
    assert_eq!(late_payment.status().as_u16(), 410);
    assert_eq!(second_payment.status().as_u16(), 409);
    assert!(completed_page.text().await.unwrap().contains("already complete"));
    assert_eq!(expire_paid, 400, "{expire_paid_body}");
    assert_eq!(types, ["checkout.session.expired"]);
    let event = world.receiver.of_session(&expiring_id)[0].event();
    assert!(event["request"]["id"].as_str().unwrap().starts_with("req_"));
    world.stop().await;
}

#[actix_rt::test]
async fn a_session_expires_at_its_own_expires_at() {
    let (setup, clock) = Setup::manual_clock();
    let world = World::start(setup).await;
    let expires_at = (world.now_secs() + 31 * 60).to_string();
    let session = world.create_session(&[("expires_at", &expires_at)]).await;
    let id = id_of(&session);
    let path = format!("/v1/checkout/sessions/{id}");

    clock.advance(Duration::from_secs(30 * 60));
    let (_, still_open) = world.get(&path).await;
    clock.advance(Duration::from_secs(60));
    let types = world.receiver.await_types(&id, 1).await;
    let (_, expired) = world.get(&path).await;
    let late = world.sandbox.pay(&id, PaymentMethod::Card).await;

    assert_eq!(still_open["status"], "open");
    assert_eq!(types, ["checkout.session.expired"]);
    assert_eq!(expired["status"], "expired");
    assert_eq!(late, Err(payments::sandbox::PayError::Expired));
    world.stop().await;
}

#[actix_rt::test]
async fn refunds_never_exceed_what_was_paid() {
    let world = World::start(Setup::system_clock()).await;
    let session = world.create_session(&[]).await;
    let delayed = world.create_session(&[]).await;
    world.sandbox.pay(&id_of(&session), PaymentMethod::Card).await.unwrap();
    world.sandbox.pay(&id_of(&delayed), PaymentMethod::DelayedSuccess).await.unwrap();
    let (_, session) = world.get(&format!("/v1/checkout/sessions/{}", id_of(&session))).await;
    let (_, delayed) = world.get(&format!("/v1/checkout/sessions/{}", id_of(&delayed))).await;
    let intent = session["payment_intent"].as_str().unwrap();
    let processing = delayed["payment_intent"].as_str().unwrap();
    let world_ref = &world;
    let refund = |amount: &'static str, key: &'static str| {
        let form = vec![("payment_intent", intent), ("amount", amount)];
        async move { world_ref.post("/v1/refunds", &form, Some(key)).await }
    };

    let (first, first_body) = refund("1000", "refund-1").await;
    let (replayed, replayed_body) = refund("1000", "refund-1").await;
    let (too_much, too_much_body) = refund("4000", "refund-2").await;
    let (rest, rest_body) = refund("3990", "refund-3").await;
    let (nothing_left, nothing_left_body) = refund("1", "refund-4").await;
    let (not_yet, not_yet_body) =
        world.post("/v1/refunds", &[("payment_intent", processing)], None).await;
    let (unknown, unknown_body) =
        world.post("/v1/refunds", &[("payment_intent", "pi_nope")], None).await;
    let (zero, _) =
        world.post("/v1/refunds", &[("payment_intent", intent), ("amount", "0")], None).await;

    assert_eq!(
        (first, &first_body["object"], &first_body["amount"]),
        (200, &"refund".into(), &1000.into())
    );
    assert_eq!(first_body["status"], "succeeded");
    assert_eq!(first_body["payment_intent"], intent);
    assert_eq!((replayed, &replayed_body["id"]), (200, &first_body["id"]));
    assert_eq!(
        (too_much, too_much_body["error"]["code"].as_str()),
        (400, Some("amount_too_large"))
    );
    assert_eq!((rest, &rest_body["amount"]), (200, &3990.into()));
    assert_eq!(nothing_left_body["error"]["code"], "charge_already_refunded");
    assert_eq!(nothing_left, 400);
    assert_eq!(not_yet, 400, "{not_yet_body}");
    assert_eq!((unknown, unknown_body["error"]["code"].as_str()), (400, Some("resource_missing")));
    assert_eq!(zero, 400);
    world.stop().await;
}

#[actix_rt::test]
async fn lists_page_newest_first_and_filter_by_status() {
    let world = World::start(Setup::system_clock()).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(id_of(&world.create_session(&[]).await));
    }
    world.sandbox.pay(&ids[1], PaymentMethod::Card).await.unwrap();
    let listed_ids = |page: &Value| -> Vec<String> {
        page["data"].as_array().unwrap().iter().map(id_of).collect()
    };

    let (_, first) = world.get("/v1/checkout/sessions?limit=2").await;
    let (_, second) =
        world.get(&format!("/v1/checkout/sessions?limit=2&starting_after={}", ids[3])).await;
    let (_, last) =
        world.get(&format!("/v1/checkout/sessions?limit=2&starting_after={}", ids[1])).await;
    let (_, before) =
        world.get(&format!("/v1/checkout/sessions?limit=2&ending_before={}", ids[1])).await;
    let (_, open) = world.get("/v1/checkout/sessions?status=open&limit=100").await;
    let (bad, _) = world.get("/v1/checkout/sessions?limit=1000").await;
    let (unknown, _) = world.get("/v1/checkout/sessions?colour=red").await;

    assert_eq!(first["object"], "list");
    assert_eq!(first["url"], "/v1/checkout/sessions");
    assert_eq!(listed_ids(&first), [ids[4].clone(), ids[3].clone()]);
    assert_eq!(first["has_more"], true);
    assert_eq!(listed_ids(&second), [ids[2].clone(), ids[1].clone()]);
    assert_eq!(listed_ids(&last), [ids[0].clone()]);
    assert_eq!(last["has_more"], false);
    assert_eq!(listed_ids(&before), [ids[3].clone(), ids[2].clone()]);
    assert_eq!(listed_ids(&open), [ids[4].clone(), ids[3].clone(), ids[2].clone(), ids[0].clone()]);
    assert_eq!((bad, unknown), (400, 400));
    world.stop().await;
}

#[actix_rt::test]
async fn webhooks_are_retried_until_the_receiver_accepts_them() {
    let world = World::start(Setup::system_clock()).await;
    world.receiver.refuse_next(3);
    let session = world.create_session(&[]).await;

    world.sandbox.pay(&id_of(&session), PaymentMethod::Card).await.unwrap();
    let types = world.receiver.await_types(&id_of(&session), 1).await;

    assert_eq!(types, ["checkout.session.completed"]);
    assert_eq!(world.receiver.attempts(), 4);
    wait_for(|| (world.sandbox.webhooks_delivered() == 1).then_some(())).await;
    assert_eq!(world.sandbox.webhooks_pending(), 0);
    world.stop().await;
}

#[actix_rt::test]
async fn a_webhook_is_given_up_after_its_last_attempt_and_the_next_one_goes() {
    // The outcome comes well after the first webhook is given up on.
    let setup = Setup {
        webhook_attempts_max: 3,
        async_payment_delay: Duration::from_secs(1),
        ..Setup::system_clock()
    };
    let world = World::start(setup).await;
    let session = world.create_session(&[]).await;
    let id = id_of(&session);
    world.receiver.refuse_all(true);

    world.sandbox.pay(&id, PaymentMethod::DelayedSuccess).await.unwrap();
    wait_for(|| (world.sandbox.webhooks_abandoned() >= 1).then_some(())).await;
    world.receiver.refuse_all(false);
    let types = world.receiver.await_types(&id, 1).await;

    assert!(world.receiver.attempts() >= 3);
    assert_eq!(types, ["checkout.session.async_payment_succeeded"]);
    assert_eq!(world.sandbox.webhooks_abandoned(), 1);
    world.stop().await;
}

#[actix_rt::test]
async fn a_restart_resumes_the_webhooks_not_yet_delivered() {
    let setup = Setup::system_clock();
    let world = World::start(Setup::system_clock()).await;
    world.receiver.refuse_all(true);
    let session = world.create_session(&[]).await;
    let id = id_of(&session);
    world.sandbox.pay(&id, PaymentMethod::Card).await.unwrap();
    wait_for(|| (world.receiver.attempts() >= 1).then_some(())).await;
    world.sandbox.shutdown();

    world.receiver.refuse_all(false);
    let webhook_url = format!("{}/webhooks", world.recorded_url.trim_end_matches("/recorded"));
    let reopened = harness::open_sandbox(&world.db, &setup, &webhook_url, &world.api_base);
    let types = world.receiver.await_types(&id, 1).await;

    assert_eq!(types, ["checkout.session.completed"]);
    wait_for(|| (reopened.webhooks_pending() == 0).then_some(())).await;
    reopened.shutdown();
    world.stop().await;
}

#[actix_rt::test]
async fn odd_requests_get_stripe_shaped_errors_and_nothing_breaks() {
    let world = World::start(Setup::system_clock()).await;
    let sessions = format!("{}/v1/checkout/sessions", world.api_base);
    let send = |request: reqwest::RequestBuilder| async move {
        harness::json_of(request.bearer_auth(SECRET_KEY).send().await.unwrap()).await
    };

    let (unrecognized, unrecognized_body) = world.get("/v1/charges").await;
    let (missing, missing_body) = world.get("/v1/checkout/sessions/cs_test_nope").await;
    let (json_body, _) =
        send(world.http.post(&sessions).header("content-type", "application/json").body("{}"))
            .await;
    let (not_utf8, _) = send(
        world
            .http
            .post(&sessions)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(vec![0xff, 0xfe, b'=', 0x80]),
    )
    .await;
    let (brackets, _) = send(
        world
            .http
            .post(&sessions)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("a[[[=1&]]]=2"),
    )
    .await;
    let deep_key = format!("{}=1", "a".to_owned() + &"[x]".repeat(2000));
    let (deep, _) = send(
        world
            .http
            .post(&sessions)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(deep_key),
    )
    .await;
    let (long_key, _) =
        world.post("/v1/checkout/sessions", &session_form(), Some(&"k".repeat(300))).await;
    let (no_page, _) = harness::json_of(
        world.http.get(format!("{}/pay/cs_test_nope", world.api_base)).send().await.unwrap(),
    )
    .await;
    let odd_method = world
        .http
        .post(format!("{}/pay/cs_test_nope", world.api_base))
        .form(&[("method", "cash")])
        .send()
        .await
        .unwrap();

    assert_eq!(unrecognized, 404);
    assert_eq!(
        unrecognized_body["error"]["message"],
        "Unrecognized request URL (GET: /v1/charges)."
    );
    assert_eq!((missing, missing_body["error"]["code"].as_str()), (404, Some("resource_missing")));
    assert_eq!(json_body, 400);
    assert_eq!(not_utf8, 400);
    assert_eq!(brackets, 400);
    assert_eq!(deep, 400);
    assert_eq!(long_key, 400);
    assert_eq!(no_page, 404);
    assert_eq!(odd_method.status().as_u16(), 400);
    let (alive, _) = world.get("/v1/checkout/sessions").await;
    assert_eq!(alive, 200, "still answering after all that, within {WAIT_MAX:?}");
    world.stop().await;
}
