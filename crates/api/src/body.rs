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
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor,
};
use serde_json::error::Category;
use serde_json::Value;

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

/// A JSON request body that may be left out: an empty body is `None`, and
/// anything else must parse as `T` (a bad body is never read as absent).
pub struct OptionalBody<T>(pub Option<T>);

impl<T: DeserializeOwned + 'static> FromRequest for OptionalBody<T> {
    type Error = Problem;
    type Future = Pin<Box<dyn Future<Output = Result<OptionalBody<T>, Problem>>>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let bytes = web::Bytes::from_request(request, payload);
        Box::pin(async move {
            let bytes = bytes.await.map_err(payload_problem)?;
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Ok(OptionalBody(None));
            }
            parse_json(&bytes).map(|body| OptionalBody(Some(body)))
        })
    }
}

/// A body as raw bytes (a signed webhook, checked byte for byte), with the
/// same size limit and problem+json refusals as JSON bodies.
pub struct RawBody(pub web::Bytes);

impl FromRequest for RawBody {
    type Error = Problem;
    type Future = Pin<Box<dyn Future<Output = Result<RawBody, Problem>>>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let bytes = web::Bytes::from_request(request, payload);
        Box::pin(async move { bytes.await.map(RawBody).map_err(payload_problem) })
    }
}

fn payload_problem(error: actix_web::Error) -> Problem {
    match error.as_error::<PayloadError>() {
        Some(error) if crate::admission::is_body_too_slow(error) => Problem::new(
            StatusCode::REQUEST_TIMEOUT,
            "body-too-slow",
            "the body did not arrive in time after the request's head",
        ),
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
    let value = parse_value(bytes)?;
    // serde reads a struct from an array too, field by field in order: a
    // body of `[1]` must not mean `{"amount": 1}`.
    if !value.is_object() {
        let detail = "the body must be a JSON object";
        return Err(Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "not-an-object", detail));
    }

    serde_path_to_error::deserialize(value).map_err(|error| {
        let field = field_of(&error);
        let detail = format!("{field}: {}", error.inner());
        Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-field", detail).with("field", field)
    })
}

/// Reads any JSON value, refusing an object that names a key twice: the
/// standard leaves its meaning open, and we will not guess which one the
/// client meant.
fn parse_value(bytes: &[u8]) -> Result<Value, Problem> {
    let mut reader = serde_json::Deserializer::from_slice(bytes);
    let value = UniqueKeys.deserialize(&mut reader).and_then(|value| {
        reader.end()?;
        Ok(value)
    });

    value.map_err(|error| match error.classify() {
        Category::Data => {
            let message = error.to_string();
            let problem =
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "duplicate-field", &message);
            match backticked(&message) {
                Some(field) => problem.with("field", field),
                None => problem,
            }
        }
        _ => Problem::new(StatusCode::BAD_REQUEST, "malformed-json", error.to_string()),
    })
}

/// Builds a `serde_json::Value` as it reads, checking each object's keys.
struct UniqueKeys;

impl<'de> DeserializeSeed<'de> for UniqueKeys {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for UniqueKeys {
    type Value = Value;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(UniqueKeys)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(de::Error::custom(format_args!("duplicate field `{key}`")));
            }
            let value = map.next_value_seed(UniqueKeys)?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

/// The field a misfit is about. A missing field is reported at the object
/// that lacks it, so its name comes from serde's message instead.
fn field_of(error: &serde_path_to_error::Error<serde_json::Error>) -> String {
    let path = error.path().to_string();
    let message = error.inner().to_string();
    let missing = message.strip_prefix("missing field ").and_then(backticked);
    match missing {
        Some(name) if path == "." => name.to_owned(),
        Some(name) => format!("{path}.{name}"),
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
                let message = error.to_string();
                let problem =
                    Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-query", &message);
                match backticked(&message) {
                    Some(field) => problem.with("field", field),
                    None => problem,
                }
            });
        std::future::ready(parsed)
    }
}

/// The name serde quotes in a message such as "unknown field `foo`".
fn backticked(message: &str) -> Option<&str> {
    let (_, rest) = message.split_once('`')?;
    rest.split_once('`').map(|(name, _)| name)
}

pub fn json_config() -> web::PayloadConfig {
    web::PayloadConfig::new(BODY_BYTES_MAX)
}
