//! Request bodies and query strings, with the errors a client can act on.
//!
//! actix-web answers 400 for every body it cannot turn into the handler's
//! type. We separate the cases: JSON that does not parse is 400, JSON that
//! parses but does not fit (a missing field, a wrong type, a number out of
//! range) is 422 and names the field, and a body over the limit is 413.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest};
use serde::de::DeserializeOwned;

use crate::problem::Problem;

/// The largest request body accepted. A venue layout of a few hundred
/// sections fits many times over.
pub const BODY_BYTES_MAX: usize = 256 * 1024;

/// A JSON request body of type `T`.
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

/// Parses JSON, telling a syntax error (400) from a misfit (422).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|error| {
        Problem::new(StatusCode::BAD_REQUEST, "malformed-json", error.to_string())
    })?;

    serde_path_to_error::deserialize(value).map_err(|error| {
        let field = field_of(&error);
        let detail = format!("{field}: {}", error.inner());
        Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-field", detail).with("field", field)
    })
}

/// The field a misfit is about. A missing field is reported at the object
/// that lacks it, so its name comes from serde's message instead.
fn field_of(error: &serde_path_to_error::Error<serde_json::Error>) -> String {
    let path = error.path().to_string();
    let message = error.inner().to_string();
    let missing = message.strip_prefix("missing field `").and_then(|rest| rest.split_once('`'));
    match missing {
        Some((name, _)) if path == "." => name.to_owned(),
        Some((name, _)) => format!("{path}.{name}"),
        None => path,
    }
}

/// A query string of type `T`; a misfit is 422 naming the parameter.
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

pub fn json_config() -> web::PayloadConfig {
    web::PayloadConfig::new(BODY_BYTES_MAX)
}
