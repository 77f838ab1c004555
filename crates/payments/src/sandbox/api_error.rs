//! The sandbox API's errors in Stripe's shape:
//! `{"error": {"type": ..., "code": ..., "param": ..., "message": ...}}`
//! with the HTTP status Stripe gives them. The only place that knows them.

use actix_web::error::PayloadError;
use actix_web::http::StatusCode;
use serde_json::{json, Value};

use super::store::StoreError;

/// Why a body could not be read: too large (413), too slow to arrive
/// (408: the server's door gives each body a deadline, and a body past it
/// fails with a timed-out read), or broken off (400).
pub(crate) fn unreadable_body_status(error: &actix_web::Error) -> StatusCode {
    match error.as_error::<PayloadError>() {
        Some(PayloadError::Overflow) => StatusCode::PAYLOAD_TOO_LARGE,
        Some(PayloadError::Io(io)) if io.kind() == std::io::ErrorKind::TimedOut => {
            StatusCode::REQUEST_TIMEOUT
        }
        _ => StatusCode::BAD_REQUEST,
    }
}

/// An API error, as it will be answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ApiError {
    status: StatusCode,
    kind: &'static str,
    code: Option<&'static str>,
    param: Option<String>,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, kind, code: None, param: None, message: message.into() }
    }

    /// A request that is wrong as a whole (400).
    pub(crate) fn invalid_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request_error", message)
    }

    /// A parameter with a wrong value (400, `parameter_invalid_*` codes are
    /// added by the caller where Stripe has one).
    pub(crate) fn invalid_param(param: &str, message: impl Into<String>) -> ApiError {
        ApiError::invalid_request(message).with_param(param)
    }

    pub(crate) fn missing_param(param: &str) -> ApiError {
        ApiError::invalid_param(param, format!("Missing required param: {param}."))
            .with_code("parameter_missing")
    }

    /// No such object; `param` names where its id came from.
    pub(crate) fn no_such(status: StatusCode, object: &str, id: &str, param: &str) -> ApiError {
        ApiError::new(status, "invalid_request_error", format!("No such {object}: '{id}'"))
            .with_code("resource_missing")
            .with_param(param)
    }

    /// No key, or not ours (401).
    pub(crate) fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "invalid_request_error", message)
    }

    /// An idempotency key reused for another request (400).
    pub(crate) fn idempotency_mismatch(key: &str) -> ApiError {
        let message = format!(
            "Keys for idempotent requests can only be used with the same parameters they were \
             first used with. Try using a key other than '{key}' if you meant to execute a \
             different request."
        );
        ApiError::new(StatusCode::BAD_REQUEST, "idempotency_error", message)
    }

    /// A path the API does not have (404).
    pub(crate) fn unrecognized_url(method: &str, path: &str) -> ApiError {
        let message = format!("Unrecognized request URL ({method}: {path}).");
        ApiError::new(StatusCode::NOT_FOUND, "invalid_request_error", message)
    }

    /// A body that could not be read (see [`unreadable_body_status`]).
    pub(crate) fn unreadable_body(error: &actix_web::Error) -> ApiError {
        let message = format!("The request body could not be read: {error}.");
        ApiError::new(unreadable_body_status(error), "invalid_request_error", message)
    }

    /// The sandbox failed on its side (500).
    pub(crate) fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "api_error", message)
    }

    pub(crate) fn with_code(mut self, code: &'static str) -> ApiError {
        self.code = Some(code);
        self
    }

    pub(crate) fn with_param(mut self, param: &str) -> ApiError {
        self.param = Some(param.to_owned());
        self
    }

    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    #[cfg(test)]
    pub(crate) fn code(&self) -> Option<&str> {
        self.code
    }

    #[cfg(test)]
    pub(crate) fn param(&self) -> Option<&str> {
        self.param.as_deref()
    }

    /// The answer's body.
    pub(crate) fn body(&self) -> Value {
        let mut error = json!({ "type": self.kind, "message": self.message });
        if let Some(code) = self.code {
            error["code"] = json!(code);
        }
        if let Some(param) = &self.param {
            error["param"] = json!(param);
        }
        json!({ "error": error })
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        tracing::error!(cause = %error, "sandbox: its store failed");
        ApiError::internal("The sandbox could not reach its store; try again.")
    }
}
