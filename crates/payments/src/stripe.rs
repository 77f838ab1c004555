//! A client of Stripe Checkout Sessions' HTTP API, behind the engine's
//! [`CheckoutProvider`].
//!
//! It speaks Stripe's own protocol (form-encoded bodies, `Authorization:
//! Bearer`, `Idempotency-Key` on the calls that create something, JSON
//! answers, the `{"error": {"type", "code", "message"}}` error object), so
//! the same client talks to Stripe or to anything speaking that protocol,
//! such as the [`sandbox`](crate::sandbox).
//!
//! Amounts cross the trait in ISO 4217 minor units and are converted at this
//! boundary only, by [`currency`](crate::currency). Answers are read
//! tolerantly (fields we do not use are ignored, `payment_intent` may be
//! absent, an id or an expanded object), and no answer, however malformed,
//! makes the client panic: what it cannot read becomes a [`ProviderError`].
//!
//! Webhook events are parsed by [`parse_webhook_event`]; checking their
//! signature is [`signature`](crate::signature)'s work, done before.

use std::error::Error as _;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use engine::catalogue::Currency;
use engine::ids::OrderId;
use engine::payment::{
    CheckoutProvider, CheckoutSession, ProviderError, ProviderFuture, SessionPayment,
    SessionRequest, SessionState, SessionStatus, UnsupportedCurrency,
};
use engine::time::{Clock, SystemClock, Timestamp};
use reqwest::header::{HeaderValue, AUTHORIZATION};
use reqwest::{Method, Url};
use serde_json::Value;

use crate::currency;

/// Where Stripe is and how to authenticate to it.
#[derive(Clone)]
pub struct StripeConfig {
    /// Such as `https://api.stripe.com` or `http://127.0.0.1:8080/sandbox`;
    /// the API's paths (`/v1/...`) are appended to it.
    pub base_url: String,
    /// The account's secret key (`sk_live_...`, `sk_test_...`).
    pub secret_key: String,
    /// How long one call may take, answer included, before it counts as
    /// [`ProviderError::Timeout`].
    pub timeout: Duration,
}

impl fmt::Debug for StripeConfig {
    /// Never shows the secret key, so a config can be logged.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeConfig")
            .field("base_url", &self.base_url)
            .field("secret_key", &"<redacted>")
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Why a [`StripeConfig`] cannot make a client.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StripeConfigError {
    /// Not a URL Stripe's paths can be appended to.
    #[error("the Stripe base URL {0:?} is not an http or https URL without query or fragment")]
    BaseUrl(String),
    /// An empty key, or one that cannot go in an `Authorization` header.
    #[error("the Stripe secret key is empty or holds characters a header cannot carry")]
    SecretKey,
    /// A zero timeout, which would fail every call.
    #[error("the Stripe call timeout must be more than zero")]
    Timeout,
    /// The HTTP client itself could not be set up (its TLS backend).
    #[error("the HTTP client could not be built: {0}")]
    Http(String),
}

/// A Stripe Checkout client; cheap to clone, and every clone shares one
/// connection pool.
#[derive(Clone)]
pub struct StripeClient {
    http: reqwest::Client,
    base_url: Url,
    /// `Bearer <secret key>`, marked sensitive so it never shows in a log.
    authorization: HeaderValue,
    /// Read only to bring a session's expiry into the window Stripe accepts.
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for StripeClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeClient").field("base_url", &self.base_url.as_str()).finish()
    }
}

/// Sessions asked for per page of `open_sessions_of`: Stripe's largest.
const LIST_PAGE_SIZE: u32 = 100;

/// Pages `open_sessions_of` reads at most. Stripe lists the newest sessions
/// first, and the sessions looked for are those of a creation that timed
/// out moments ago, so they are on the first pages; the bound keeps an
/// account with very many open sessions from making one call last minutes.
const LIST_PAGES_MAX: usize = 20;

/// The largest answer read; Stripe's are a few KiB, a list page of 100
/// sessions a few hundred.
const ANSWER_BYTES_MAX: usize = 4 << 20;

/// The earliest expiry sent: Stripe refuses less than 30 minutes from its
/// own clock, so a minute is added for the trip and for clock skew.
const EXPIRY_EARLIEST: Duration = Duration::from_secs(31 * 60);

/// The latest expiry sent: Stripe refuses more than 24 hours, less a minute
/// for clock skew.
const EXPIRY_LATEST: Duration = Duration::from_secs(24 * 60 * 60 - 60);

const USER_AGENT: &str = concat!("boxoffice-payments/", env!("CARGO_PKG_VERSION"));

impl StripeClient {
    /// A client that reads the system clock.
    pub fn new(config: StripeConfig) -> Result<StripeClient, StripeConfigError> {
        StripeClient::with_clock(config, Arc::new(SystemClock))
    }

    /// A client that reads `clock`, for tests that fix "now".
    pub fn with_clock(
        config: StripeConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<StripeClient, StripeConfigError> {
        let base_url = parse_base_url(&config.base_url)?;
        let authorization = bearer(&config.secret_key)?;
        if config.timeout.is_zero() {
            return Err(StripeConfigError::Timeout);
        }

        // No redirects: an API answer is never a redirect, and following one
        // would send the request somewhere it was not addressed.
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(USER_AGENT)
            .build()
            .map_err(|error| StripeConfigError::Http(error.to_string()))?;
        Ok(StripeClient { http, base_url, authorization, clock })
    }

    async fn create(self, request: SessionRequest) -> Result<CheckoutSession, ProviderError> {
        let amount = currency::to_stripe_amount(request.amount_minor, &request.currency)
            .map_err(|refusal| ProviderError::Refused(refusal.to_string()))?;
        let expires_at = expiry_seconds(request.expires_at, self.clock.now());
        let form = session_form(&request, amount, expires_at);
        let call = Call::post("create_session", self.url(&["v1", "checkout", "sessions"]), form)
            .idempotent(&request.idempotency_key);

        let answer = self.call(call).await?;
        let session = checkout_session(&answer).map_err(unreadable)?;
        tracing::debug!(order = %request.order, session = %session.id, "opened a checkout session");
        Ok(session)
    }

    async fn retrieve(self, id: String) -> Result<SessionState, ProviderError> {
        let id = checked_session_id(&id)?;
        let call = Call::get("retrieve_session", self.url(&["v1", "checkout", "sessions", id]))
            .about_session(id);
        let answer = self.call(call).await?;
        session_state(&answer).map_err(unreadable)
    }

    /// Stripe answers 400 to the expiry of a session that is no longer
    /// open; its state then tells the caller what happened instead.
    async fn expire(self, id: String) -> Result<SessionState, ProviderError> {
        let id = checked_session_id(&id)?;
        let url = self.url(&["v1", "checkout", "sessions", id, "expire"]);
        let call = Call::post("expire_session", url, Vec::new()).about_session(id);

        match self.call(call).await {
            Ok(answer) => session_state(&answer).map_err(unreadable),
            Err(ProviderError::Refused(reason)) => {
                self.state_after_refused_expiry(id, reason).await
            }
            Err(error) => Err(error),
        }
    }

    async fn state_after_refused_expiry(
        &self,
        id: &str,
        reason: String,
    ) -> Result<SessionState, ProviderError> {
        let state = self.clone().retrieve(id.to_string()).await?;
        if state.status == SessionStatus::Open {
            // Still open, so the refusal was about something else.
            return Err(ProviderError::Refused(reason));
        }
        tracing::info!(
            session = id,
            status = ?state.status,
            payment_status = ?state.payment_status,
            "the session could not be expired: it was no longer open"
        );
        Ok(state)
    }

    async fn open_sessions(self, order: OrderId) -> Result<Vec<SessionState>, ProviderError> {
        let mut found = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..LIST_PAGES_MAX {
            let page = self.open_sessions_page(after.as_deref()).await?;
            found.extend(sessions_of(order, &page.sessions)?);
            match page.next_after() {
                Some(last) => after = Some(last),
                None => return Ok(found),
            }
        }

        metrics::counter!("payments_stripe_list_truncated_total").increment(1);
        tracing::warn!(
            %order,
            pages = LIST_PAGES_MAX,
            found = found.len(),
            "stopped listing open sessions at the page bound; older ones were not looked at"
        );
        Ok(found)
    }

    async fn open_sessions_page(&self, after: Option<&str>) -> Result<Page, ProviderError> {
        let mut url = self.url(&["v1", "checkout", "sessions"]);
        url.query_pairs_mut()
            .append_pair("status", "open")
            .append_pair("limit", &LIST_PAGE_SIZE.to_string());
        if let Some(after) = after {
            url.query_pairs_mut().append_pair("starting_after", after);
        }

        let answer = self.call(Call::get("list_sessions", url)).await?;
        Page::read(&answer).map_err(unreadable)
    }

    async fn refund_payment(self, refund: RefundRequest) -> Result<String, ProviderError> {
        if refund.payment.is_empty() {
            return Err(ProviderError::Refused("there is no payment to refund".into()));
        }
        let mut form = vec![("payment_intent", refund.payment.clone())];
        // Without an amount, Stripe refunds all that is left of the payment.
        if let Some(amount_minor) = refund.amount_minor {
            let amount = currency::to_stripe_amount(amount_minor, &refund.currency)
                .map_err(|refusal| ProviderError::Refused(refusal.to_string()))?;
            form.push(("amount", amount.to_string()));
        }
        let call = Call::post("refund", self.url(&["v1", "refunds"]), form)
            .idempotent(&refund.idempotency_key);

        let answer = self.call(call).await?;
        let id = refund_id(&answer)?;
        tracing::info!(
            payment = %refund.payment,
            refund = %id,
            amount_minor = refund.amount_minor,
            currency = %refund.currency.code,
            "refunded a payment"
        );
        Ok(id)
    }

    /// The base URL with `segments` appended, each percent-encoded.
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base_url.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// Makes one call, counting and logging it.
    async fn call(&self, call: Call) -> Result<Value, ProviderError> {
        let started = Instant::now();
        let result = self.exchange(&call).await;
        record(&call, &result, started.elapsed());
        result
    }

    async fn exchange(&self, call: &Call) -> Result<Value, ProviderError> {
        let response = self.request(call).send().await.map_err(transport_error)?;
        let status = response.status().as_u16();
        let body = read_answer(response).await?;

        if (200..300).contains(&status) {
            return serde_json::from_slice(&body)
                .map_err(|error| unreadable(format!("the answer is not JSON ({error})")));
        }
        Err(error_from_answer(status, &body, call.session.as_deref()))
    }

    fn request(&self, call: &Call) -> reqwest::RequestBuilder {
        let mut request = self
            .http
            .request(call.method.clone(), call.url.clone())
            .header(AUTHORIZATION, self.authorization.clone());
        if call.method == Method::POST {
            request = request.form(&call.form);
        }
        if let Some(key) = &call.idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        request
    }
}

impl CheckoutProvider for StripeClient {
    fn name(&self) -> &'static str {
        "stripe"
    }

    fn check_amount(
        &self,
        amount_minor: i64,
        currency: &Currency,
    ) -> Result<(), UnsupportedCurrency> {
        currency::check_amount(amount_minor, currency)
    }

    fn create_session(&self, request: SessionRequest) -> ProviderFuture<CheckoutSession> {
        Box::pin(self.clone().create(request))
    }

    fn retrieve_session(&self, id: &str) -> ProviderFuture<SessionState> {
        Box::pin(self.clone().retrieve(id.to_string()))
    }

    fn expire_session(&self, id: &str) -> ProviderFuture<SessionState> {
        Box::pin(self.clone().expire(id.to_string()))
    }

    fn open_sessions_of(&self, order: OrderId) -> ProviderFuture<Vec<SessionState>> {
        Box::pin(self.clone().open_sessions(order))
    }

    fn refund(
        &self,
        payment: &str,
        amount_minor: Option<i64>,
        currency: &Currency,
        idempotency_key: &str,
    ) -> ProviderFuture<String> {
        let refund = RefundRequest {
            payment: payment.to_string(),
            amount_minor,
            currency: currency.clone(),
            idempotency_key: idempotency_key.to_string(),
        };
        Box::pin(self.clone().refund_payment(refund))
    }
}

/// The trait's refund arguments, owned, so its future can outlive the call.
struct RefundRequest {
    payment: String,
    amount_minor: Option<i64>,
    currency: Currency,
    idempotency_key: String,
}

/// A form body: Stripe's bracketed keys and their values, in order.
type Form = Vec<(&'static str, String)>;

/// One HTTP call to Stripe.
struct Call {
    /// What the call does, for logs and metrics: `create_session`, `refund`.
    name: &'static str,
    method: Method,
    url: Url,
    form: Form,
    idempotency_key: Option<String>,
    /// The session the call names, so that a 404 can say which session is
    /// unknown; `None` for calls about no one session.
    session: Option<String>,
}

impl Call {
    fn get(name: &'static str, url: Url) -> Call {
        Call {
            name,
            method: Method::GET,
            url,
            form: Vec::new(),
            idempotency_key: None,
            session: None,
        }
    }

    fn post(name: &'static str, url: Url, form: Form) -> Call {
        Call { method: Method::POST, form, ..Call::get(name, url) }
    }

    fn idempotent(self, key: &str) -> Call {
        Call { idempotency_key: Some(key.to_string()), ..self }
    }

    fn about_session(self, id: &str) -> Call {
        Call { session: Some(id.to_string()), ..self }
    }
}

fn parse_base_url(text: &str) -> Result<Url, StripeConfigError> {
    let invalid = || StripeConfigError::BaseUrl(text.to_string());
    let url = Url::parse(text).map_err(|_| invalid())?;
    let usable = matches!(url.scheme(), "http" | "https")
        && !url.cannot_be_a_base()
        && url.query().is_none()
        && url.fragment().is_none();
    usable.then_some(url).ok_or_else(invalid)
}

fn bearer(secret_key: &str) -> Result<HeaderValue, StripeConfigError> {
    if secret_key.is_empty() || secret_key.chars().any(char::is_whitespace) {
        return Err(StripeConfigError::SecretKey);
    }
    let mut value = HeaderValue::from_str(&format!("Bearer {secret_key}"))
        .map_err(|_| StripeConfigError::SecretKey)?;
    value.set_sensitive(true);
    Ok(value)
}

/// Session ids are Stripe's (`cs_test_a1B2...`): letters, digits and `_`.
/// Anything else cannot name a session, and is never put in a path.
fn checked_session_id(id: &str) -> Result<&str, ProviderError> {
    let plausible = !id.is_empty()
        && id.len() <= 255
        && id.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'_');
    if plausible {
        Ok(id)
    } else {
        Err(ProviderError::UnknownSession(id.to_string()))
    }
}

/// `requested`, brought into the window Stripe accepts from `now`, in Unix
/// seconds. An expiry earlier than Stripe allows is fine to move later: the
/// engine expires the session itself when the hold ends.
fn expiry_seconds(requested: Timestamp, now: Timestamp) -> i64 {
    let earliest = now.plus(EXPIRY_EARLIEST);
    let latest = now.plus(EXPIRY_LATEST);
    requested.clamp(earliest, latest).as_millis().div_euclid(1000)
}

/// The form of `POST /v1/checkout/sessions`: one line item of the whole
/// order, named by the order's id both as the client reference and in the
/// metadata (the payment's webhooks carry either).
fn session_form(request: &SessionRequest, stripe_amount: i64, expires_at: i64) -> Form {
    let order = request.order.to_string();
    let mut form: Form = vec![
        ("mode", "payment".into()),
        ("line_items[0][price_data][currency]", request.currency.code.to_ascii_lowercase()),
        ("line_items[0][price_data][unit_amount]", stripe_amount.to_string()),
        ("line_items[0][price_data][product_data][name]", product_name(request, &order)),
        ("line_items[0][quantity]", "1".into()),
        ("success_url", request.success_url.clone()),
        ("cancel_url", request.cancel_url.clone()),
        ("client_reference_id", order.clone()),
        ("metadata[order_id]", order),
        ("expires_at", expires_at.to_string()),
    ];
    if let Some(email) = request.customer_email.as_deref().filter(|email| !email.trim().is_empty())
    {
        form.push(("customer_email", email.to_string()));
    }
    form
}

/// Stripe refuses a product without a name, so an empty description is
/// replaced by the order's id.
fn product_name(request: &SessionRequest, order: &str) -> String {
    let description = request.description.trim();
    if description.is_empty() {
        format!("Order {order}")
    } else {
        description.to_string()
    }
}

fn checkout_session(answer: &Value) -> Result<CheckoutSession, String> {
    let id = text(answer, "id").ok_or("the session has no id")?;
    let url = text(answer, "url").ok_or("the session has no url")?;
    Ok(CheckoutSession { id: id.to_string(), url: url.to_string() })
}

/// A Checkout Session object, read as the engine needs it.
fn session_state(session: &Value) -> Result<SessionState, String> {
    let id = text(session, "id").ok_or("the session has no id")?;
    let (amount_minor, currency) = session_amount(session)?;
    Ok(SessionState {
        id: id.to_string(),
        order: session_order(session),
        status: session_status(text(session, "status"))?,
        payment_status: payment_status(text(session, "payment_status"))?,
        payment: payment_reference(session),
        amount_minor,
        currency,
    })
}

/// The order a session names: its client reference, else its metadata's
/// `order_id`; `None` if neither is an order id (a session of another
/// integration on the same account).
fn session_order(session: &Value) -> Option<OrderId> {
    let client_reference = text(session, "client_reference_id").and_then(|id| id.parse().ok());
    let metadata = || session.pointer("/metadata/order_id")?.as_str()?.parse().ok();
    client_reference.or_else(metadata)
}

fn session_status(status: Option<&str>) -> Result<SessionStatus, String> {
    match status {
        Some("open") => Ok(SessionStatus::Open),
        Some("complete") => Ok(SessionStatus::Complete),
        Some("expired") => Ok(SessionStatus::Expired),
        other => Err(format!("the session's status {other:?} is none we know")),
    }
}

fn payment_status(status: Option<&str>) -> Result<SessionPayment, String> {
    match status {
        Some("paid") => Ok(SessionPayment::Paid),
        Some("unpaid") => Ok(SessionPayment::Unpaid),
        Some("no_payment_required") => Ok(SessionPayment::NoPaymentRequired),
        other => Err(format!("the session's payment status {other:?} is none we know")),
    }
}

/// The payment intent's id: `payment_intent` is null before there is one,
/// an id, or the whole object when the caller asked to expand it.
fn payment_reference(session: &Value) -> Option<String> {
    match session.get("payment_intent")? {
        Value::String(id) if !id.is_empty() => Some(id.clone()),
        Value::Object(intent) => intent.get("id")?.as_str().map(str::to_string),
        _ => None,
    }
}

fn session_amount(session: &Value) -> Result<(i64, Currency), String> {
    let amount = session.get("amount_total").and_then(Value::as_i64);
    let amount = amount.ok_or("the session has no integer amount_total")?;
    let code = text(session, "currency").ok_or("the session has no currency")?;
    currency::from_stripe_amount(amount, code).map_err(|refusal| refusal.to_string())
}

fn refund_id(answer: &Value) -> Result<String, ProviderError> {
    let id = text(answer, "id").ok_or_else(|| unreadable("the refund has no id"))?;
    match text(answer, "status") {
        Some(status @ ("failed" | "canceled")) => {
            Err(ProviderError::Refused(format!("Stripe reports refund {id} as {status}")))
        }
        _ => Ok(id.to_string()),
    }
}

/// One page of a list answer.
struct Page {
    sessions: Vec<Value>,
    has_more: bool,
}

impl Page {
    fn read(answer: &Value) -> Result<Page, String> {
        let sessions = answer.get("data").and_then(Value::as_array);
        let sessions = sessions.ok_or("the list has no data array")?.clone();
        let has_more = answer.get("has_more").and_then(Value::as_bool).unwrap_or(false);
        Ok(Page { sessions, has_more })
    }

    /// The id to list after, if there is a next page. A page that claims
    /// more but names no last session ends the listing instead of asking for
    /// the same page again.
    fn next_after(&self) -> Option<String> {
        if !self.has_more {
            return None;
        }
        Some(text(self.sessions.last()?, "id")?.to_string())
    }
}

/// The sessions of `sessions` that name `order`. Those of other orders are
/// not read further, so a session of another integration that we could not
/// read does not fail the listing; one of ours that we cannot read does.
fn sessions_of(order: OrderId, sessions: &[Value]) -> Result<Vec<SessionState>, ProviderError> {
    sessions
        .iter()
        .filter(|session| session_order(session) == Some(order))
        .map(|session| session_state(session).map_err(unreadable))
        .collect()
}

fn text<'a>(value: &'a Value, field: &str) -> Option<&'a str> {
    value.get(field)?.as_str()
}

/// An answer we could not make sense of: counted as the provider failing,
/// since a retry may well meet a sane answer.
fn unreadable(why: impl fmt::Display) -> ProviderError {
    ProviderError::Unavailable(format!("Stripe's answer could not be read: {why}"))
}

async fn read_answer(mut response: reqwest::Response) -> Result<Vec<u8>, ProviderError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
        if body.len() + chunk.len() > ANSWER_BYTES_MAX {
            return Err(unreadable(format!("it is larger than {ANSWER_BYTES_MAX} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn transport_error(error: reqwest::Error) -> ProviderError {
    if error.is_timeout() {
        return ProviderError::Timeout;
    }
    if error.is_builder() {
        return ProviderError::Refused(format!("the request could not be made: {error}"));
    }
    ProviderError::Unavailable(with_causes(&error))
}

/// An error's message followed by its causes', which say what `error
/// sending request` alone does not (connection refused, reset, DNS).
fn with_causes(error: &reqwest::Error) -> String {
    let mut message = error.to_string();
    let mut cause = error.source();
    while let Some(next) = cause {
        message.push_str(": ");
        message.push_str(&next.to_string());
        cause = next.source();
    }
    message
}

/// Stripe's error object; every field optional, since the answer may come
/// from a proxy or a stand-in that writes less.
#[derive(Debug, Default, serde::Deserialize)]
struct ErrorObject {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

#[derive(serde::Deserialize)]
struct ErrorAnswer {
    error: ErrorObject,
}

/// What a non-2xx answer means for the caller. `session` is the session the
/// call named, if any: only then is a 404 an unknown session.
fn error_from_answer(status: u16, body: &[u8], session: Option<&str>) -> ProviderError {
    let error = serde_json::from_slice::<ErrorAnswer>(body).map(|answer| answer.error).ok();
    let missing = status == 404 || error_code(&error) == Some("resource_missing");
    let description = describe(status, error.as_ref(), body);

    match (status, session) {
        // 409: another request with the same idempotency key is in flight.
        (409 | 429, _) => ProviderError::Unavailable(description),
        (400..=499, Some(id)) if missing => ProviderError::UnknownSession(id.to_string()),
        (400..=499, _) => ProviderError::Refused(description),
        _ => ProviderError::Unavailable(description),
    }
}

fn error_code(error: &Option<ErrorObject>) -> Option<&str> {
    error.as_ref()?.code.as_deref()
}

/// Stripe's message and code, or the status and the start of the body when
/// the answer is not Stripe's error object.
fn describe(status: u16, error: Option<&ErrorObject>, body: &[u8]) -> String {
    let message = error.and_then(|error| error.message.clone());
    let code = error.and_then(|error| error.code.clone());
    match (message, code) {
        (Some(message), Some(code)) => format!("{message} ({code}, HTTP {status})"),
        (Some(message), None) => format!("{message} (HTTP {status})"),
        (None, Some(code)) => format!("{code} (HTTP {status})"),
        (None, None) => format!("HTTP {status}: {}", body_excerpt(body)),
    }
}

/// The first 200 characters of a body, printable, for a log line.
fn body_excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let excerpt: String =
        text.chars().take(200).map(|c| if c.is_control() { ' ' } else { c }).collect();
    let excerpt = excerpt.trim();
    if excerpt.is_empty() {
        "(no body)".to_string()
    } else {
        excerpt.to_string()
    }
}

fn record(call: &Call, result: &Result<Value, ProviderError>, elapsed: Duration) {
    metrics::counter!("payments_stripe_calls_total", "call" => call.name).increment(1);
    metrics::histogram!("payments_stripe_call_seconds", "call" => call.name)
        .record(elapsed.as_secs_f64());
    let elapsed_ms = elapsed.as_millis() as u64;
    match result {
        Ok(_) => {
            tracing::debug!(call = call.name, path = call.url.path(), elapsed_ms, "Stripe answered")
        }
        Err(error) => {
            let kind = failure_kind(error);
            metrics::counter!("payments_stripe_failures_total", "call" => call.name, "kind" => kind)
                .increment(1);
            tracing::warn!(
                call = call.name,
                path = call.url.path(),
                elapsed_ms,
                kind,
                cause = %error,
                "a Stripe call failed"
            );
        }
    }
}

fn failure_kind(error: &ProviderError) -> &'static str {
    match error {
        ProviderError::Timeout => "timeout",
        ProviderError::Unavailable(_) => "unavailable",
        ProviderError::Refused(_) => "refused",
        ProviderError::UnknownSession(_) => "unknown_session",
    }
}

/// A webhook event, as far as Boxoffice acts on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookEvent {
    /// Stripe's event id (`evt_...`): the same event may be delivered more
    /// than once, and this is what tells a redelivery.
    pub id: String,
    /// What the event says.
    pub kind: WebhookKind,
}

/// What an event says, with the session it carries for the four checkout
/// session events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WebhookKind {
    /// `checkout.session.completed`: the buyer finished the payment page;
    /// the session's payment status says whether the money is in already.
    Completed(SessionState),
    /// `checkout.session.async_payment_succeeded`: a delayed payment arrived.
    AsyncPaymentSucceeded(SessionState),
    /// `checkout.session.async_payment_failed`: a delayed payment failed.
    AsyncPaymentFailed(SessionState),
    /// `checkout.session.expired`.
    Expired(SessionState),
    /// Any other event type, named; nothing to do but acknowledge it.
    Other(String),
}

impl WebhookKind {
    /// The session the event carries, if it is a checkout session event.
    pub fn session(&self) -> Option<&SessionState> {
        match self {
            WebhookKind::Completed(session)
            | WebhookKind::AsyncPaymentSucceeded(session)
            | WebhookKind::AsyncPaymentFailed(session)
            | WebhookKind::Expired(session) => Some(session),
            WebhookKind::Other(_) => None,
        }
    }
}

/// Why a webhook payload could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// The payload is not JSON at all.
    #[error("the webhook payload is not JSON: {0}")]
    NotJson(String),
    /// A field every event has is missing (`id`, `type`, `data.object`).
    #[error("the webhook event has no {0}")]
    Missing(&'static str),
    /// A checkout session event whose session cannot be read; answering it
    /// with an error makes Stripe deliver it again later.
    #[error("the webhook event's session could not be read: {0}")]
    Session(String),
}

/// Reads a webhook payload whose signature was already checked. An event
/// of a type we do not act on is read as [`WebhookKind::Other`] without
/// looking at its object.
pub fn parse_webhook_event(payload: &[u8]) -> Result<WebhookEvent, WebhookError> {
    let event: Value = serde_json::from_slice(payload)
        .map_err(|error| WebhookError::NotJson(error.to_string()))?;
    let id = text(&event, "id").ok_or(WebhookError::Missing("id"))?.to_string();
    let event_type = text(&event, "type").ok_or(WebhookError::Missing("type"))?;

    let kind = match event_type {
        "checkout.session.completed" => WebhookKind::Completed(event_session(&event)?),
        "checkout.session.async_payment_succeeded" => {
            WebhookKind::AsyncPaymentSucceeded(event_session(&event)?)
        }
        "checkout.session.async_payment_failed" => {
            WebhookKind::AsyncPaymentFailed(event_session(&event)?)
        }
        "checkout.session.expired" => WebhookKind::Expired(event_session(&event)?),
        other => WebhookKind::Other(other.to_string()),
    };
    Ok(WebhookEvent { id, kind })
}

fn event_session(event: &Value) -> Result<SessionState, WebhookError> {
    let session = event.pointer("/data/object").ok_or(WebhookError::Missing("data.object"))?;
    session_state(session).map_err(WebhookError::Session)
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::ids::PerformanceId;
    use serde_json::json;

    fn order() -> OrderId {
        OrderId { performance: PerformanceId(17), number: 3 }
    }

    fn session_json() -> Value {
        json!({
            "id": "cs_test_a1",
            "object": "checkout.session",
            "status": "complete",
            "payment_status": "paid",
            "payment_intent": "pi_123",
            "amount_total": 790_000,
            "currency": "isk",
            "client_reference_id": "17-3",
            "metadata": {"order_id": "17-3"},
            "url": null
        })
    }

    #[test]
    fn a_session_is_read_back_in_iso_minor_units() {
        let state = session_state(&session_json()).expect("a readable session");
        assert_eq!(
            state,
            SessionState {
                id: "cs_test_a1".into(),
                order: Some(order()),
                status: SessionStatus::Complete,
                payment_status: SessionPayment::Paid,
                payment: Some("pi_123".into()),
                amount_minor: 7_900,
                currency: Currency { code: "ISK".into(), exponent: 0 },
            }
        );
    }

    #[test]
    fn payment_intent_may_be_null_absent_an_id_or_an_expanded_object() {
        let mut session = session_json();
        for (intent, expected) in [
            (json!(null), None),
            (json!("pi_9"), Some("pi_9")),
            (json!({"id": "pi_8", "object": "payment_intent"}), Some("pi_8")),
            (json!(42), None),
        ] {
            session["payment_intent"] = intent;
            assert_eq!(payment_reference(&session).as_deref(), expected);
        }
        session.as_object_mut().map(|fields| fields.remove("payment_intent"));
        assert_eq!(session_state(&session).map(|state| state.payment), Ok(None));
    }

    #[test]
    fn the_order_comes_from_the_client_reference_else_the_metadata() {
        let mut session = session_json();
        session["client_reference_id"] = json!(null);
        assert_eq!(session_order(&session), Some(order()));
        session["client_reference_id"] = json!("someone-else's");
        assert_eq!(session_order(&session), Some(order()));
        session["metadata"] = json!({"order_id": 17});
        assert_eq!(session_order(&session), None);
        session["metadata"] = json!("not an object");
        assert_eq!(session_order(&session), None);
    }

    #[test]
    fn unknown_statuses_and_missing_amounts_are_errors_not_guesses() {
        let mut session = session_json();
        session["status"] = json!("pending");
        assert!(session_state(&session).is_err());
        let mut session = session_json();
        session["amount_total"] = json!("790000");
        assert!(session_state(&session).is_err());
        let mut session = session_json();
        session["currency"] = json!("xxx");
        assert!(session_state(&session).is_err());
    }

    #[test]
    fn expiry_is_brought_into_stripes_window() {
        let now = Timestamp::from_millis(1_800_000_000_000);
        let seconds = |millis: i64| expiry_seconds(Timestamp::from_millis(millis), now);
        let now_s = 1_800_000_000;
        assert_eq!(seconds(now.as_millis() + 5 * 60_000), now_s + 31 * 60);
        assert_eq!(seconds(now.as_millis() + 2 * 3_600_000), now_s + 2 * 3_600);
        assert_eq!(seconds(now.as_millis() + 48 * 3_600_000), now_s + 24 * 3_600 - 60);
        assert_eq!(seconds(i64::MIN), now_s + 31 * 60);
    }

    #[test]
    fn errors_map_to_what_the_caller_can_do_about_them() {
        let stripe = |code: &str, message: &str| {
            json!({"error": {"type": "invalid_request_error", "code": code, "message": message}})
                .to_string()
        };
        let missing = stripe("resource_missing", "No such checkout.session: 'cs_x'");
        let cases: [(u16, &str, Option<&str>, &str); 9] = [
            (404, &missing, Some("cs_x"), "unknown_session"),
            (400, &missing, Some("cs_x"), "unknown_session"),
            (404, &missing, None, "refused"),
            (400, &stripe("parameter_invalid_integer", "Invalid integer"), None, "refused"),
            (401, "", None, "refused"),
            (409, &stripe("idempotency_key_in_use", "in use"), None, "unavailable"),
            (429, &stripe("rate_limit", "Too many requests"), None, "unavailable"),
            (500, "{\"error\": 3}", None, "unavailable"),
            (302, "", None, "unavailable"),
        ];
        for (status, body, session, expected) in cases {
            let error = error_from_answer(status, body.as_bytes(), session);
            assert_eq!(failure_kind(&error), expected, "{status} {body}");
        }
    }

    #[test]
    fn a_refusal_carries_stripes_message_and_code() {
        let body = json!({"error": {"code": "amount_too_small", "message": "Too small"}});
        let error = error_from_answer(400, body.to_string().as_bytes(), None);
        let expected = "Too small (amount_too_small, HTTP 400)";
        assert_eq!(error, ProviderError::Refused(expected.into()));
        let error = error_from_answer(502, b"<html>\n\x07Bad gateway</html>", None);
        let expected = "HTTP 502: <html>  Bad gateway</html>";
        assert_eq!(error, ProviderError::Unavailable(expected.into()));
    }

    #[test]
    fn the_session_form_is_stripes() {
        let request = SessionRequest {
            order: order(),
            amount_minor: 5,
            currency: Currency { code: "ISK".into(), exponent: 0 },
            description: "  ".into(),
            customer_email: Some("".into()),
            success_url: "https://x/ok?s={CHECKOUT_SESSION_ID}".into(),
            cancel_url: "https://x/no".into(),
            expires_at: Timestamp::from_millis(0),
            idempotency_key: "k".into(),
        };
        let form = session_form(&request, 500, 1_800_000_000);
        let field = |key: &str| form.iter().find(|(k, _)| *k == key).map(|(_, v)| v.as_str());
        assert_eq!(field("line_items[0][price_data][currency]"), Some("isk"));
        assert_eq!(field("line_items[0][price_data][unit_amount]"), Some("500"));
        assert_eq!(field("line_items[0][price_data][product_data][name]"), Some("Order 17-3"));
        assert_eq!(field("customer_email"), None);
        assert_eq!(field("expires_at"), Some("1800000000"));
    }

    #[test]
    fn implausible_session_ids_never_reach_a_path() {
        for id in ["", "../v1/refunds", "cs_1?x=1", "cs 1", "cs_ü"] {
            assert_eq!(checked_session_id(id), Err(ProviderError::UnknownSession(id.into())));
        }
        assert_eq!(checked_session_id("cs_test_a1B2"), Ok("cs_test_a1B2"));
    }

    #[test]
    fn configs_that_cannot_work_are_refused_and_the_key_is_never_shown() {
        let config = |base_url: &str, secret_key: &str, timeout_ms: u64| StripeConfig {
            base_url: base_url.into(),
            secret_key: secret_key.into(),
            timeout: Duration::from_millis(timeout_ms),
        };
        let error = |config| StripeClient::new(config).map(|_| ()).unwrap_err();
        assert!(matches!(error(config("ftp://x", "sk_1", 1)), StripeConfigError::BaseUrl(_)));
        assert!(matches!(error(config("http://x/?a=1", "sk_1", 1)), StripeConfigError::BaseUrl(_)));
        assert_eq!(error(config("http://x", "", 1)), StripeConfigError::SecretKey);
        assert_eq!(error(config("http://x", "sk 1", 1)), StripeConfigError::SecretKey);
        assert_eq!(error(config("http://x", "sk_1", 0)), StripeConfigError::Timeout);
        let shown = format!("{:?}", config("http://x", "sk_secret", 1));
        assert!(!shown.contains("sk_secret"), "{shown}");
    }

    #[test]
    fn paths_are_appended_to_the_base_url_with_or_without_a_trailing_slash() {
        for (base, expected) in [
            ("https://api.stripe.com", "https://api.stripe.com/v1/checkout/sessions/cs_1"),
            (
                "http://127.0.0.1:8080/sandbox",
                "http://127.0.0.1:8080/sandbox/v1/checkout/sessions/cs_1",
            ),
            (
                "http://127.0.0.1:8080/sandbox/",
                "http://127.0.0.1:8080/sandbox/v1/checkout/sessions/cs_1",
            ),
        ] {
            let config = StripeConfig {
                base_url: base.into(),
                secret_key: "sk_1".into(),
                timeout: Duration::from_secs(1),
            };
            let client = StripeClient::new(config).expect("a client");
            assert_eq!(client.url(&["v1", "checkout", "sessions", "cs_1"]).as_str(), expected);
        }
    }

    #[test]
    fn webhook_events_carry_the_session_of_the_four_checkout_events() {
        for (event_type, kind) in [
            ("checkout.session.completed", WebhookKind::Completed as fn(_) -> _),
            ("checkout.session.async_payment_succeeded", WebhookKind::AsyncPaymentSucceeded),
            ("checkout.session.async_payment_failed", WebhookKind::AsyncPaymentFailed),
            ("checkout.session.expired", WebhookKind::Expired),
        ] {
            let payload =
                json!({"id": "evt_1", "type": event_type, "data": {"object": session_json()}});
            let event = parse_webhook_event(payload.to_string().as_bytes()).expect(event_type);
            let session = session_state(&session_json()).expect("a readable session");
            assert_eq!(event, WebhookEvent { id: "evt_1".into(), kind: kind(session) });
        }
    }

    #[test]
    fn other_webhook_events_are_named_and_not_read_further() {
        let payload = json!({"id": "evt_2", "type": "charge.refunded", "data": {"object": 7}});
        let event = parse_webhook_event(payload.to_string().as_bytes()).expect("an event");
        assert_eq!(event.kind, WebhookKind::Other("charge.refunded".into()));
        assert_eq!(event.kind.session(), None);
    }

    #[test]
    fn unreadable_webhook_payloads_are_errors() {
        let parse = |payload: &str| parse_webhook_event(payload.as_bytes()).unwrap_err();
        assert!(matches!(parse("not json"), WebhookError::NotJson(_)));
        assert_eq!(parse("{\"type\": \"x\"}"), WebhookError::Missing("id"));
        assert_eq!(parse("{\"id\": \"evt\"}"), WebhookError::Missing("type"));
        let no_object = "{\"id\": \"evt\", \"type\": \"checkout.session.expired\"}";
        assert_eq!(parse(no_object), WebhookError::Missing("data.object"));
        let bad =
            "{\"id\": \"e\", \"type\": \"checkout.session.expired\", \"data\": {\"object\": {}}}";
        assert!(matches!(parse(bad), WebhookError::Session(_)));
    }
}
