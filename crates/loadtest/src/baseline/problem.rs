//! The baseline's errors as RFC 9457 `application/problem+json`, with the
//! same `code`s Boxoffice answers, so one harness can read both. Bodies and
//! query strings go through the product's own extractors.
//!
//! This is the baseline (the design Boxoffice replaces), not the product.
//!
//! TODO: `Problem` here is a copy of `api::problem::Problem`, because
//! `From<mysql_async::Error>` cannot be written for the product's type in
//! this crate; a mapping helper for database errors at each call would let
//! the baseline use the product's type.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
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

/// Bodies and query strings are read by the product's own extractors: the
/// same limits, the same 400 / 413 / 422 split, the same problems.
pub use api::body::{json_config as payload_config, Body, Query};
