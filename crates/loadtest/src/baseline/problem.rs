//! The baseline's errors as RFC 9457 `application/problem+json`, with the
//! same `code`s Boxoffice answers, so one harness can read both. Also the
//! JSON body and query extractors that tell 400 from 422 as Boxoffice does.
//!
//! This is the baseline (the design Boxoffice replaces), not the product.
//!
//! TODO: this copies `api::problem` and `api::body` rather than reusing
//! them, because `From<mysql_async::Error> for Problem` cannot be written
//! for the product's type here; a mapping helper for database errors
//! would let the baseline use the product's code.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::http::{header, StatusCode};
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};
use serde::de::DeserializeOwned;
use serde_json::{json, Map, Value};

/// An answer other than success.
#[derive(Debug)]
pub struct Problem {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    pub extra: Map<String, Value>,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.detail)
    }
}

impl Problem {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Problem {
        Problem { status, code, detail: detail.into(), extra: Map::new() }
    }

    pub fn with(mut self, member: &str, value: impl Into<Value>) -> Problem {
        self.extra.insert(member.to_owned(), value.into());
        self
    }

    /// 422 for a body that parses but says something impossible.
    pub fn invalid(field: &str, detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-field", detail).with("field", field)
    }

    pub fn unprocessable(code: &'static str, field: &str, detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail).with("field", field)
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::CONFLICT, code, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::NOT_FOUND, "not-found", detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }
}

/// A refusal worked out by the product's own checks (a layout, say).
impl From<api::problem::Problem> for Problem {
    fn from(problem: api::problem::Problem) -> Problem {
        Problem {
            status: problem.status,
            code: problem.code,
            detail: problem.detail,
            extra: problem.extra,
        }
    }
}

/// A database failure is the server's problem, never the client's: 503, so
/// the load test counts it as an error of the baseline.
impl From<mysql_async::Error> for Problem {
    fn from(error: mysql_async::Error) -> Problem {
        tracing::warn!(%error, "a database call failed");
        Problem::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the database failed")
    }
}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut body = Map::new();
        let kind = format!("https://boxoffice.invalid/problems/{}", self.code);
        body.insert("type".into(), json!(kind));
        body.insert("title".into(), json!(self.status.canonical_reason().unwrap_or("Error")));
        body.insert("status".into(), json!(self.status.as_u16()));
        body.insert("code".into(), json!(self.code));
        body.insert("detail".into(), json!(self.detail));
        body.extend(self.extra.clone());

        let mut response = HttpResponse::build(self.status);
        response.insert_header((header::CONTENT_TYPE, "application/problem+json"));
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header((header::RETRY_AFTER, "1"));
        }
        response.body(Value::Object(body).to_string())
    }
}

/// The largest request body accepted, as Boxoffice's.
pub const BODY_BYTES_MAX: usize = 256 * 1024;

pub fn payload_config() -> web::PayloadConfig {
    web::PayloadConfig::new(BODY_BYTES_MAX)
}

/// A JSON request body: 400 if it is not JSON, 422 naming the field if it
/// does not fit, 413 if too large.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Body<T> {
    type Error = Problem;
    type Future = Pin<Box<dyn Future<Output = Result<Body<T>, Problem>>>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let bytes = web::Bytes::from_request(request, payload);
        Box::pin(async move {
            let bytes = bytes.await.map_err(payload_problem)?;
            parse_json(&bytes).map(Body)
        })
    }
}

fn payload_problem(error: actix_web::Error) -> Problem {
    match error.as_error::<PayloadError>() {
        Some(PayloadError::Overflow) => Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            format!("the body may be at most {BODY_BYTES_MAX} bytes"),
        ),
        _ => Problem::new(StatusCode::BAD_REQUEST, "unreadable-body", error.to_string()),
    }
}

fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let value: Value = serde_json::from_slice(bytes).map_err(|error| {
        Problem::new(StatusCode::BAD_REQUEST, "malformed-json", error.to_string())
    })?;
    serde_json::from_value(value).map_err(|error| {
        let message = error.to_string();
        let missing = message.strip_prefix("missing field `").and_then(|rest| rest.split_once('`'));
        let field = missing.map_or("body", |(name, _)| name);
        Problem::invalid(field, message.clone())
    })
}

/// A query string; a misfit is 422.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Query<T> {
    type Error = Problem;
    type Future = std::future::Ready<Result<Query<T>, Problem>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let parsed =
            serde_urlencoded::from_str::<T>(request.query_string()).map(Query).map_err(|error| {
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-query", error.to_string())
            });
        std::future::ready(parsed)
    }
}
