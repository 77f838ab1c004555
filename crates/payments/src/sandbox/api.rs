//! The Stripe API calls the sandbox answers, under `/v1`: Checkout Sessions
//! (create, retrieve, list, expire) and refunds.
//!
//! Every call goes through [`answer`]: the key is checked, the parameters
//! parsed, and a POST's `Idempotency-Key` honoured. Validation happens
//! before execution, and as at Stripe, only what execution answered is kept
//! under the key: a refused parameter can be corrected and sent again with
//! the same key.

use actix_web::http::header::{self, HeaderMap};
use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tracing::Instrument;

use super::api_error::ApiError;
use super::model::{
    new_id, IdempotentReply, LineItem, PaymentIntent, RequestInfo, Session, SessionStatus,
};
use super::ops::{self, NewRefund, NewSession};
use super::params::Params;
use super::store::{keys, StoreResult, Txn};
use super::Sandbox;

/// Stripe's bounds on a session's own expiry, from its creation.
const EXPIRY_MIN_SECS: i64 = 30 * 60;
const EXPIRY_MAX_SECS: i64 = 24 * 60 * 60;

/// Stripe's longest idempotency key.
const IDEMPOTENCY_KEY_MAX_CHARS: usize = 255;

/// The most a session may charge: Stripe's eight digits.
const AMOUNT_MAX: i64 = 99_999_999;

/// List pages: Stripe's default and largest.
const LIST_LIMIT_DEFAULT: usize = 10;
const LIST_LIMIT_MAX: usize = 100;

const URL_MAX_CHARS: usize = 5000;
const CLIENT_REFERENCE_MAX_CHARS: usize = 200;
const METADATA_KEYS_MAX: usize = 50;
const METADATA_KEY_MAX_CHARS: usize = 40;
const METADATA_VALUE_MAX_CHARS: usize = 500;

/// What execution answered: kept under an idempotency key, errors included.
type Executed = Result<Value, ApiError>;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/v1")
            .route("/checkout/sessions", web::post().to(create_session))
            .route("/checkout/sessions", web::get().to(list_sessions))
            .route("/checkout/sessions/{id}", web::get().to(retrieve_session))
            .route("/checkout/sessions/{id}/expire", web::post().to(expire_session))
            .route("/payment_intents/{id}", web::get().to(retrieve_payment_intent))
            .route("/refunds", web::post().to(create_refund))
            .default_service(web::to(unrecognized)),
    );
}

async fn create_session(
    sandbox: web::Data<Sandbox>,
    request: HttpRequest,
    body: Result<web::Bytes, actix_web::Error>,
) -> HttpResponse {
    let body = match readable(body) {
        Ok(body) => body,
        Err(error) => return reply_error(&error, None),
    };
    answer(&sandbox, &request, &body, |txn, params, context| {
        let new = validate_session(params, context.now_secs)?;
        let session = ops::create_session(txn, new, context.now_secs, &context.page_base_url)?;
        tracing::debug!(session = %session.id, "sandbox: session created");
        Ok(Ok(session.to_json()))
    })
    .await
}

async fn retrieve_session(
    sandbox: web::Data<Sandbox>,
    request: HttpRequest,
    id: web::Path<String>,
) -> HttpResponse {
    answer(&sandbox, &request, &[], |txn, params, _| {
        params.finish()?;
        Ok(Ok(existing_session(txn, &id)?.to_json()))
    })
    .await
}

async fn expire_session(
    sandbox: web::Data<Sandbox>,
    request: HttpRequest,
    id: web::Path<String>,
    body: Result<web::Bytes, actix_web::Error>,
) -> HttpResponse {
    let body = match readable(body) {
        Ok(body) => body,
        Err(error) => return reply_error(&error, None),
    };
    answer(&sandbox, &request, &body, |txn, params, context| {
        params.finish()?;
        let session = existing_session(txn, &id)?;
        if session.status != SessionStatus::Open {
            return Ok(Err(not_open(&session)));
        }
        Ok(Ok(ops::expire(txn, session, context.now_secs, &context.request)?.to_json()))
    })
    .await
}

async fn list_sessions(sandbox: web::Data<Sandbox>, request: HttpRequest) -> HttpResponse {
    answer(&sandbox, &request, &[], |txn, params, _| {
        let query = validate_list(params)?;
        Ok(Ok(list_page(txn, &query)?))
    })
    .await
}

async fn retrieve_payment_intent(
    sandbox: web::Data<Sandbox>,
    request: HttpRequest,
    id: web::Path<String>,
) -> HttpResponse {
    answer(&sandbox, &request, &[], |txn, params, _| {
        params.finish()?;
        let intent = txn.get::<PaymentIntent>(&keys::intent(&id))?.ok_or_else(|| {
            ApiError::no_such(StatusCode::NOT_FOUND, "payment_intent", &id, "intent")
        })?;
        Ok(Ok(intent.to_json()))
    })
    .await
}

async fn create_refund(
    sandbox: web::Data<Sandbox>,
    request: HttpRequest,
    body: Result<web::Bytes, actix_web::Error>,
) -> HttpResponse {
    let body = match readable(body) {
        Ok(body) => body,
        Err(error) => return reply_error(&error, None),
    };
    answer(&sandbox, &request, &body, |txn, params, context| {
        let new = validate_refund(params)?;
        Ok(ops::refund(txn, new, context.now_secs)?.map(|refund| refund.to_json()))
    })
    .await
}

/// The body, or why it could not be read.
fn readable(body: Result<web::Bytes, actix_web::Error>) -> Result<web::Bytes, ApiError> {
    body.map_err(|error| ApiError::unreadable_body(&error))
}

async fn unrecognized(request: HttpRequest) -> HttpResponse {
    // Stripe names the path as the client sent it, without the sandbox's mount.
    let path = request.path().strip_prefix(super::MOUNT).unwrap_or(request.path());
    reply_error(&ApiError::unrecognized_url(request.method().as_str(), path), None)
}

fn existing_session(txn: &Txn<'_>, id: &str) -> Result<Session, ApiError> {
    ops::session(txn, id)?
        .ok_or_else(|| ApiError::no_such(StatusCode::NOT_FOUND, "checkout.session", id, "session"))
}

fn not_open(session: &Session) -> ApiError {
    ApiError::invalid_request(format!(
        "Only Checkout Sessions with a status in [\"open\"] can be expired. This Checkout \
         Session has a status of `{}`.",
        session.status.as_str()
    ))
}

// The common path of every call.

/// What an executing call may need to know besides its parameters.
pub(crate) struct CallContext {
    pub(crate) now_secs: i64,
    pub(crate) page_base_url: String,
    pub(crate) request: RequestInfo,
}

/// Answers one API call. `execute` returns `Err` for what is refused before
/// execution (never kept under a key) and `Ok(executed)` for the answer of
/// the execution, kept under the key if there is one.
async fn answer<F>(
    sandbox: &Sandbox,
    request: &HttpRequest,
    body: &[u8],
    execute: F,
) -> HttpResponse
where
    F: FnOnce(&mut Txn<'_>, Params, &CallContext) -> Result<Executed, ApiError>,
{
    let request_id = new_id("req_");
    let span = tracing::debug_span!(
        "sandbox_api",
        request_id,
        method = %request.method(),
        path = request.path()
    );
    answer_in(sandbox, request, body, execute, request_id).instrument(span).await
}

async fn answer_in<F>(
    sandbox: &Sandbox,
    request: &HttpRequest,
    body: &[u8],
    execute: F,
    request_id: String,
) -> HttpResponse
where
    F: FnOnce(&mut Txn<'_>, Params, &CallContext) -> Result<Executed, ApiError>,
{
    let prepared = match prepare(sandbox, request, body) {
        Ok(prepared) => prepared,
        Err(error) => return reply_error(&error, Some(&request_id)),
    };
    let context = CallContext {
        now_secs: sandbox.now_secs(),
        page_base_url: sandbox.page_base_url(),
        request: RequestInfo {
            id: Some(request_id.clone()),
            idempotency_key: prepared.idempotency_key.clone(),
        },
    };

    let outcome = run(sandbox, prepared, &context, execute);
    if let Err(error) = sandbox.flush_and_wake().await {
        return reply_error(&error.into(), Some(&request_id));
    }
    match outcome {
        Ok(Answer::Fresh(Ok(body))) => reply(StatusCode::OK, &body, &request_id, false),
        Ok(Answer::Fresh(Err(error))) | Err(error) => reply_error(&error, Some(&request_id)),
        Ok(Answer::Replayed(stored)) => replay(&stored, &request_id),
    }
}

/// A call that passed the checks outside the transaction.
struct Prepared {
    params: Params,
    idempotency_key: Option<String>,
    fingerprint: String,
}

fn prepare(sandbox: &Sandbox, request: &HttpRequest, body: &[u8]) -> Result<Prepared, ApiError> {
    sandbox.check_key(request.headers())?;

    let is_post = request.method() == Method::POST;
    if is_post && !body.is_empty() && !is_form(request.headers()) {
        return Err(ApiError::invalid_request(
            "Invalid request: the body must be application/x-www-form-urlencoded.",
        ));
    }
    let encoded = if is_post { body } else { request.query_string().as_bytes() };
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(encoded)
        .map_err(|_| ApiError::invalid_request("The request parameters could not be decoded."))?;
    let params = Params::from_pairs(&pairs)?;

    // Stripe ignores idempotency keys on GET; only POSTs change anything.
    let idempotency_key = if is_post { idempotency_key(request.headers())? } else { None };
    let fingerprint = fingerprint(request.method(), request.path(), pairs);
    Ok(Prepared { params, idempotency_key, fingerprint })
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"))
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("Idempotency-Key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .map_err(|_| ApiError::invalid_request("The Idempotency-Key header is not text."))?;
    if key.is_empty() || key.chars().count() > IDEMPOTENCY_KEY_MAX_CHARS {
        return Err(ApiError::invalid_request(format!(
            "Invalid Idempotency-Key: it must be 1 to {IDEMPOTENCY_KEY_MAX_CHARS} characters."
        )));
    }
    Ok(Some(key.to_owned()))
}

/// A digest of what a request asks, whatever the order of its parameters.
fn fingerprint(method: &Method, path: &str, mut pairs: Vec<(String, String)>) -> String {
    pairs.sort();
    let mut hasher = Sha256::new();
    hasher.update(method.as_str());
    hasher.update([0]);
    hasher.update(path);
    for (key, value) in &pairs {
        hasher.update([0]);
        hasher.update(key);
        hasher.update([1]);
        hasher.update(value);
    }
    hex::encode(hasher.finalize())
}

enum Answer {
    Fresh(Executed),
    Replayed(IdempotentReply),
}

/// The transaction of one call: what time made due, the idempotency key,
/// then the call itself.
fn run<F>(
    sandbox: &Sandbox,
    prepared: Prepared,
    context: &CallContext,
    execute: F,
) -> Result<Answer, ApiError>
where
    F: FnOnce(&mut Txn<'_>, Params, &CallContext) -> Result<Executed, ApiError>,
{
    let mut txn = sandbox.begin()?;

    if let Some(key) = &prepared.idempotency_key {
        if let Some(stored) = txn.get::<IdempotentReply>(&keys::idempotency(key))? {
            txn.commit()?;
            if stored.fingerprint != prepared.fingerprint {
                return Err(ApiError::idempotency_mismatch(key));
            }
            return Ok(Answer::Replayed(stored));
        }
    }

    // A refusal before execution drops the transaction: what time made due
    // is found again by the next one.
    let executed = execute(&mut txn, prepared.params, context)?;

    if let Some(key) = &prepared.idempotency_key {
        keep_answer(&mut txn, key, prepared.fingerprint, &executed, sandbox.now_ms())?;
    }
    txn.commit()?;
    Ok(Answer::Fresh(executed))
}

fn keep_answer(
    txn: &mut Txn<'_>,
    key: &str,
    fingerprint: String,
    executed: &Executed,
    now_ms: i64,
) -> StoreResult<()> {
    let (status, body) = match executed {
        Ok(body) => (StatusCode::OK, body.clone()),
        Err(error) => (error.status(), error.body()),
    };
    let stored = IdempotentReply {
        fingerprint,
        status: status.as_u16(),
        body: serde_json::to_string(&body)?,
        created_ms: now_ms,
    };
    txn.put(keys::idempotency(key), &stored)
}

fn reply(status: StatusCode, body: &Value, request_id: &str, replayed: bool) -> HttpResponse {
    let mut response = HttpResponse::build(status);
    response.insert_header(("Request-Id", request_id));
    if replayed {
        response.insert_header(("Idempotent-Replayed", "true"));
    }
    response.json(body)
}

fn reply_error(error: &ApiError, request_id: Option<&str>) -> HttpResponse {
    if error.status().is_server_error() {
        tracing::warn!(status = error.status().as_u16(), "sandbox: answered an error");
    }
    let mut response = HttpResponse::build(error.status());
    if let Some(request_id) = request_id {
        response.insert_header(("Request-Id", request_id));
    }
    response.json(error.body())
}

fn replay(stored: &IdempotentReply, request_id: &str) -> HttpResponse {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    HttpResponse::build(status)
        .insert_header(("Request-Id", request_id))
        .insert_header(("Idempotent-Replayed", "true"))
        .content_type("application/json")
        .body(stored.body.clone())
}

// Validation: parameters in, a typed request or Stripe's 400 out.

fn validate_session(mut params: Params, now_secs: i64) -> Result<NewSession, ApiError> {
    let mode = params.require_str("mode")?;
    if mode != "payment" {
        return Err(ApiError::invalid_param(
            "mode",
            format!("Invalid mode: the sandbox supports only `payment`, not `{mode}`."),
        ));
    }

    let (currency, line_items) = validate_line_items(&mut params)?;
    let amount_total = total_of(&line_items)?;
    let success_url = validate_url(&mut params, "success_url")?
        .ok_or_else(|| ApiError::missing_param("success_url"))?;
    let cancel_url = validate_url(&mut params, "cancel_url")?;
    let client_reference_id = validate_client_reference(&mut params)?;
    let customer_email = validate_email(&mut params)?;
    let metadata = validate_metadata(&mut params)?;
    let expires_at = validate_expiry(&mut params, now_secs)?;
    params.finish()?;

    Ok(NewSession {
        currency,
        line_items,
        amount_total,
        client_reference_id,
        customer_email,
        metadata,
        success_url,
        cancel_url,
        expires_at,
    })
}

/// The line items, and the one currency they share.
fn validate_line_items(params: &mut Params) -> Result<(String, Vec<LineItem>), ApiError> {
    let elements = params.take_array("line_items")?;
    if elements.is_empty() {
        return Err(ApiError::missing_param("line_items"));
    }

    let mut currency: Option<String> = None;
    let mut items = Vec::new();
    for element in elements {
        let (item_currency, item) = validate_line_item(element)?;
        match &currency {
            Some(first) if *first != item_currency => {
                return Err(ApiError::invalid_param(
                    "line_items",
                    "All line items must be in the same currency.",
                ));
            }
            _ => currency = Some(item_currency),
        }
        items.push(item);
    }
    Ok((currency.unwrap_or_default(), items))
}

fn validate_line_item(mut element: Params) -> Result<(String, LineItem), ApiError> {
    if element.take_str("price")?.is_some() {
        return Err(ApiError::invalid_param(
            &element.name_of("price"),
            "The sandbox knows no prices: give price_data instead.",
        ));
    }
    let quantity_name = element.name_of("quantity");
    let quantity =
        element.take_i64("quantity")?.ok_or_else(|| ApiError::missing_param(&quantity_name))?;
    if !(1..=999_999).contains(&quantity) {
        return Err(ApiError::invalid_param(
            &quantity_name,
            "Invalid quantity: it must be at least 1.",
        ));
    }

    let mut price_data = element.require_nested("price_data")?;
    let currency = validate_currency(&mut price_data)?;
    let amount_name = price_data.name_of("unit_amount");
    let unit_amount =
        price_data.take_i64("unit_amount")?.ok_or_else(|| ApiError::missing_param(&amount_name))?;
    if !(0..=AMOUNT_MAX).contains(&unit_amount) {
        return Err(ApiError::invalid_param(
            &amount_name,
            format!("Invalid amount: {unit_amount}"),
        )
        .with_code("parameter_invalid_integer"));
    }

    let mut product_data = price_data.require_nested("product_data")?;
    let name_name = product_data.name_of("name");
    let name = product_data.require_str("name")?;
    if name.trim().is_empty() {
        return Err(ApiError::invalid_param(&name_name, "The product's name must not be blank.")
            .with_code("parameter_invalid_string_blank"));
    }
    product_data.finish()?;
    price_data.finish()?;
    element.finish()?;

    Ok((currency, LineItem { name, unit_amount, quantity }))
}

fn validate_currency(price_data: &mut Params) -> Result<String, ApiError> {
    let param = price_data.name_of("currency");
    let currency = price_data.require_str("currency")?.to_ascii_lowercase();
    if currency.len() != 3 || !currency.bytes().all(|byte| byte.is_ascii_lowercase()) {
        return Err(ApiError::invalid_param(&param, format!("Invalid currency: {currency}")));
    }
    Ok(currency)
}

fn total_of(items: &[LineItem]) -> Result<i64, ApiError> {
    let total = items
        .iter()
        .try_fold(0_i64, |sum, item| sum.checked_add(item.unit_amount.checked_mul(item.quantity)?));
    match total {
        Some(total) if (1..=AMOUNT_MAX).contains(&total) => Ok(total),
        _ => Err(ApiError::invalid_param(
            "line_items",
            format!("The total must be at least 1 and at most {AMOUNT_MAX}."),
        )
        .with_code("amount_too_large")),
    }
}

fn validate_url(params: &mut Params, name: &str) -> Result<Option<String>, ApiError> {
    let Some(url) = params.take_str(name)? else {
        return Ok(None);
    };
    let absolute = url.starts_with("http://") || url.starts_with("https://");
    if !absolute || url.len() > URL_MAX_CHARS || url.chars().any(char::is_whitespace) {
        return Err(ApiError::invalid_param(name, "Not a valid URL").with_code("url_invalid"));
    }
    Ok(Some(url))
}

fn validate_client_reference(params: &mut Params) -> Result<Option<String>, ApiError> {
    let reference = params.take_str("client_reference_id")?;
    if reference.as_ref().is_some_and(|text| text.chars().count() > CLIENT_REFERENCE_MAX_CHARS) {
        return Err(ApiError::invalid_param(
            "client_reference_id",
            format!("client_reference_id must be at most {CLIENT_REFERENCE_MAX_CHARS} characters."),
        ));
    }
    Ok(reference)
}

fn validate_email(params: &mut Params) -> Result<Option<String>, ApiError> {
    let Some(email) = params.take_str("customer_email")? else {
        return Ok(None);
    };
    let plausible = email
        .split_once('@')
        .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
    if !plausible || email.chars().any(char::is_whitespace) {
        return Err(ApiError::invalid_param(
            "customer_email",
            format!("Invalid email address: {email}"),
        )
        .with_code("email_invalid"));
    }
    Ok(Some(email))
}

fn validate_metadata(
    params: &mut Params,
) -> Result<std::collections::BTreeMap<String, String>, ApiError> {
    let metadata = match params.take_nested("metadata")? {
        Some(nested) => nested.into_string_map()?,
        None => Default::default(),
    };
    if metadata.len() > METADATA_KEYS_MAX {
        return Err(ApiError::invalid_param(
            "metadata",
            format!("Metadata can have at most {METADATA_KEYS_MAX} keys."),
        ));
    }
    for (key, value) in &metadata {
        if key.chars().count() > METADATA_KEY_MAX_CHARS
            || value.chars().count() > METADATA_VALUE_MAX_CHARS
        {
            return Err(ApiError::invalid_param(
                &format!("metadata[{key}]"),
                format!(
                    "Metadata keys can be at most {METADATA_KEY_MAX_CHARS} characters and values \
                     at most {METADATA_VALUE_MAX_CHARS}."
                ),
            ));
        }
    }
    Ok(metadata)
}

fn validate_expiry(params: &mut Params, now_secs: i64) -> Result<i64, ApiError> {
    let Some(expires_at) = params.take_i64("expires_at")? else {
        return Ok(now_secs + EXPIRY_MAX_SECS);
    };
    if expires_at < now_secs + EXPIRY_MIN_SECS {
        return Err(ApiError::invalid_param(
            "expires_at",
            "The `expires_at` timestamp must be at least 30 minutes from Checkout Session \
             creation.",
        ));
    }
    if expires_at > now_secs + EXPIRY_MAX_SECS {
        return Err(ApiError::invalid_param(
            "expires_at",
            "The `expires_at` timestamp must be less than 24 hours from Checkout Session creation.",
        ));
    }
    Ok(expires_at)
}

fn validate_refund(mut params: Params) -> Result<NewRefund, ApiError> {
    if params.take_str("charge")?.is_some() {
        return Err(ApiError::invalid_param(
            "charge",
            "The sandbox refunds by payment_intent only.",
        ));
    }
    let payment_intent = params.require_str("payment_intent")?;
    let amount = params.take_i64("amount")?;
    if amount.is_some_and(|amount| amount <= 0) {
        return Err(ApiError::invalid_param("amount", "Invalid positive integer")
            .with_code("parameter_invalid_integer"));
    }
    let reason = params.take_str("reason")?;
    if let Some(reason) = &reason {
        if !["duplicate", "fraudulent", "requested_by_customer"].contains(&reason.as_str()) {
            return Err(ApiError::invalid_param("reason", format!("Invalid reason: {reason}")));
        }
    }
    let metadata = validate_metadata(&mut params)?;
    params.finish()?;
    Ok(NewRefund { payment_intent, amount, reason, metadata })
}

/// A list request, validated.
struct ListQuery {
    status: Option<SessionStatus>,
    limit: usize,
    starting_after: Option<String>,
    ending_before: Option<String>,
}

fn validate_list(mut params: Params) -> Result<ListQuery, ApiError> {
    let status = match params.take_str("status")? {
        None => None,
        Some(text) => Some(SessionStatus::parse(&text).ok_or_else(|| {
            ApiError::invalid_param(
                "status",
                "Invalid status: must be one of open, complete, or expired",
            )
        })?),
    };
    let limit = match params.take_i64("limit")? {
        None => LIST_LIMIT_DEFAULT,
        Some(limit) if (1..=LIST_LIMIT_MAX as i64).contains(&limit) => limit as usize,
        Some(limit) => {
            return Err(ApiError::invalid_param(
                "limit",
                format!("Invalid limit {limit}: it must be between 1 and {LIST_LIMIT_MAX}."),
            ));
        }
    };
    let starting_after = params.take_str("starting_after")?;
    let ending_before = params.take_str("ending_before")?;
    if starting_after.is_some() && ending_before.is_some() {
        return Err(ApiError::invalid_request(
            "You may only specify one of these parameters: starting_after, ending_before.",
        ));
    }
    params.finish()?;
    Ok(ListQuery { status, limit, starting_after, ending_before })
}

/// One page of sessions, newest first, as Stripe pages: after a cursor
/// (older), or before one (newer).
fn list_page(txn: &Txn<'_>, query: &ListQuery) -> Result<Value, ApiError> {
    let cursor_seq = |id: &String, param: &str| -> Result<u64, ApiError> {
        let session = ops::session(txn, id)?.ok_or_else(|| {
            ApiError::no_such(StatusCode::BAD_REQUEST, "checkout.session", id, param)
        })?;
        Ok(session.seq)
    };
    let everything = keys::session_order(0)..keys::session_order(u64::MAX);
    let (range, newest_first) = match (&query.starting_after, &query.ending_before) {
        (Some(after), _) => {
            (everything.start..keys::session_order(cursor_seq(after, "starting_after")?), true)
        }
        (_, Some(before)) => {
            (keys::session_order(cursor_seq(before, "ending_before")? + 1)..everything.end, false)
        }
        _ => (everything, true),
    };

    let mut page = Vec::new();
    let mut has_more = false;
    for id in txn.values_in::<String>(range, newest_first) {
        let Some(session) = ops::session(txn, &id?)? else { continue };
        if query.status.is_some_and(|status| status != session.status) {
            continue;
        }
        if page.len() == query.limit {
            has_more = true;
            break;
        }
        page.push(session);
    }
    if !newest_first {
        page.reverse();
    }

    let data: Vec<Value> = page.iter().map(Session::to_json).collect();
    Ok(json!({
        "object": "list",
        "data": data,
        "has_more": has_more,
        "url": "/v1/checkout/sessions",
    }))
}
