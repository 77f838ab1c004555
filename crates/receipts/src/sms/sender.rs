//! Sending an [`Sms`]: through a Twilio-style HTTP API, or into a directory
//! of JSON files, the embedded default that needs no provider.
//!
//! The API call is `POST {base}/2010-04-01/Accounts/{sid}/Messages.json`
//! with the form fields `To`, `From` and `Body`, HTTP basic auth (account
//! sid, auth token), and the message id in `Idempotency-Key`: Twilio ignores
//! it, but a provider or a stub that honours it can tell a resend.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::error::{ConfigError, SendError};
use crate::files;
use crate::sms::{is_e164, Sms};
use crate::telemetry;

/// Twilio's own API.
pub const TWILIO_API_BASE: &str = "https://api.twilio.com";

/// How long one API call may take, from connecting to the last byte.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The most characters of a provider's error answer kept in a reason.
const ERROR_TEXT_CHARS_MAX: usize = 300;

/// Where and as whom to send through a Twilio-style API.
#[derive(Clone)]
pub struct TwilioConfig {
    /// Such as [`TWILIO_API_BASE`], or a stub's `http://127.0.0.1:PORT`.
    pub base_url: String,
    pub account_sid: String,
    pub auth_token: String,
    /// The sending number (E.164) or alphanumeric sender id.
    pub from: String,
}

impl std::fmt::Debug for TwilioConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioConfig")
            .field("base_url", &self.base_url)
            .field("account_sid", &self.account_sid)
            .field("auth_token", &"***")
            .field("from", &self.from)
            .finish()
    }
}

/// Sends SMS through one transport.
pub struct SmsSender {
    transport: Transport,
}

enum Transport {
    Twilio(Twilio),
    Files { dir: PathBuf, from: String },
}

struct Twilio {
    client: reqwest::Client,
    messages_url: reqwest::Url,
    account_sid: String,
    auth_token: String,
    from: String,
}

impl SmsSender {
    /// Sends through the API that `config` names.
    pub fn twilio(config: TwilioConfig) -> Result<SmsSender, ConfigError> {
        let messages_url = messages_url(&config)?;
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            // A redirected POST would be replayed as a GET: an answer, not a route.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|error| ConfigError::HttpClient(error.to_string()))?;

        let twilio = Twilio {
            client,
            messages_url,
            account_sid: config.account_sid,
            auth_token: config.auth_token,
            from: config.from,
        };
        Ok(SmsSender { transport: Transport::Twilio(twilio) })
    }

    /// Writes each SMS to `dir/{message id}.json` (creating `dir`), so a
    /// resend replaces the file rather than adding one.
    pub fn files(dir: impl Into<PathBuf>, from: &str) -> Result<SmsSender, ConfigError> {
        let dir = dir.into();
        files::ensure_directory(&dir)
            .map_err(|source| ConfigError::Directory { dir: dir.clone(), source })?;
        Ok(SmsSender { transport: Transport::Files { dir, from: from.to_owned() } })
    }

    /// Delivers `sms`: `Ok` once the API accepted it (2xx), or once its file
    /// is durably on disk. A number that is not E.164 fails permanently.
    pub async fn send(&self, sms: &Sms) -> Result<(), SendError> {
        let outcome = match reachable(sms) {
            Ok(()) => self.deliver(sms).await,
            Err(error) => Err(error),
        };

        telemetry::record_send("sms", self.transport.name(), sms.message_id.as_str(), &outcome);
        outcome
    }

    async fn deliver(&self, sms: &Sms) -> Result<(), SendError> {
        match &self.transport {
            Transport::Twilio(twilio) => twilio.send(sms).await,
            Transport::Files { dir, from } => write_file(dir, from, sms).await,
        }
    }
}

impl Transport {
    fn name(&self) -> &'static str {
        match self {
            Transport::Twilio(_) => "twilio",
            Transport::Files { .. } => "files",
        }
    }
}

/// Whether `sms` has a number a provider can reach.
fn reachable(sms: &Sms) -> Result<(), SendError> {
    if is_e164(&sms.to) {
        Ok(())
    } else {
        Err(SendError::Permanent(format!("{:?} is not an E.164 phone number", sms.to)))
    }
}

fn messages_url(config: &TwilioConfig) -> Result<reqwest::Url, ConfigError> {
    let sid_is_plain = !config.account_sid.is_empty()
        && config.account_sid.bytes().all(|b| b.is_ascii_alphanumeric());
    if !sid_is_plain {
        return Err(ConfigError::AccountSid);
    }

    let base = config.base_url.trim_end_matches('/');
    let url = format!("{base}/2010-04-01/Accounts/{}/Messages.json", config.account_sid);
    let bad_base = || ConfigError::ApiBase { url: config.base_url.clone() };
    let url = reqwest::Url::parse(&url).map_err(|_| bad_base())?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        _ => Err(bad_base()),
    }
}

/// What a Twilio-style API answers on success; only the sid is read.
#[derive(Deserialize)]
struct Accepted {
    sid: String,
}

/// What it answers on failure, in Twilio's shape.
#[derive(Deserialize)]
struct Refused {
    message: Option<String>,
    code: Option<i64>,
}

impl Twilio {
    async fn send(&self, sms: &Sms) -> Result<(), SendError> {
        let form = [("To", sms.to.as_str()), ("From", self.from.as_str()), ("Body", &sms.body)];
        let request = self
            .client
            .post(self.messages_url.clone())
            .basic_auth(&self.account_sid, Some(&self.auth_token))
            .header("Idempotency-Key", sms.message_id.as_str())
            .form(&form);

        let response = request.send().await.map_err(|error| {
            SendError::Transient(format!("SMS API unreachable: {}", error_chain(&error)))
        })?;
        let status = response.status();
        let text = response.text().await.map_err(|error| {
            SendError::Transient(format!("SMS API answer cut off: {}", error_chain(&error)))
        })?;

        if status.is_success() {
            log_accepted(sms, &text);
            return Ok(());
        }
        Err(refusal(status, &text))
    }
}

/// 5xx, 429 (too many requests) and 408 (request timeout) will pass; any
/// other 4xx will not. Nothing else is expected, as redirects are not
/// followed, and is taken as passing.
fn refusal(status: reqwest::StatusCode, text: &str) -> SendError {
    let reason = format!("SMS API answered {status}: {}", refusal_text(text));
    let passing = status.is_server_error()
        || status == reqwest::StatusCode::TOO_MANY_REQUESTS
        || status == reqwest::StatusCode::REQUEST_TIMEOUT;
    if passing || !status.is_client_error() {
        SendError::Transient(reason)
    } else {
        SendError::Permanent(reason)
    }
}

/// The provider's own words: Twilio's `message` and `code`, or the start of
/// whatever else it answered.
fn refusal_text(text: &str) -> String {
    match serde_json::from_str::<Refused>(text) {
        Ok(Refused { message: Some(message), code }) => match code {
            Some(code) => format!("{message} (code {code})"),
            None => message,
        },
        _ => text.chars().take(ERROR_TEXT_CHARS_MAX).collect(),
    }
}

/// A 2xx is a sent message whatever its body: failing it would send twice.
fn log_accepted(sms: &Sms, text: &str) {
    match serde_json::from_str::<Accepted>(text) {
        Ok(accepted) => {
            tracing::debug!(message_id = %sms.message_id, sid = %accepted.sid, "SMS accepted")
        }
        Err(error) => {
            tracing::warn!(message_id = %sms.message_id, %error, "SMS accepted, answer without a sid")
        }
    }
}

/// `error` and its sources, since reqwest's own text hides the cause (such
/// as "connection refused").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

async fn write_file(dir: &std::path::Path, from: &str, sms: &Sms) -> Result<(), SendError> {
    let file_name = format!("{}.json", sms.message_id);
    let record = serde_json::json!({
        "message_id": sms.message_id.as_str(),
        "to": sms.to,
        "from": from,
        "body": sms.body,
        "segments": sms.segments(),
    });
    let mut contents = serde_json::to_vec_pretty(&record).expect("a JSON value always serialises");
    contents.push(b'\n');

    files::write_durably(dir, &file_name, contents).await.map_err(|error| {
        SendError::Transient(format!("cannot write {}: {error}", dir.join(&file_name).display()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(base_url: &str, account_sid: &str) -> TwilioConfig {
        TwilioConfig {
            base_url: base_url.to_owned(),
            account_sid: account_sid.to_owned(),
            auth_token: "secret".to_owned(),
            from: "+15005550006".to_owned(),
        }
    }

    #[test]
    fn the_messages_url_follows_twilios_shape() {
        let url = messages_url(&config("http://127.0.0.1:9/", "AC123")).unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:9/2010-04-01/Accounts/AC123/Messages.json");
        assert!(matches!(
            messages_url(&config("ftp://x", "AC1")),
            Err(ConfigError::ApiBase { .. })
        ));
        assert!(matches!(messages_url(&config("http://x", "../AC")), Err(ConfigError::AccountSid)));
    }

    #[test]
    fn the_auth_token_stays_out_of_debug_output() {
        let text = format!("{:?}", config("http://x", "AC1"));
        assert!(!text.contains("secret"), "{text}");
    }

    #[test]
    fn refusals_keep_the_providers_words() {
        let twilio = r#"{"code": 21211, "message": "Invalid 'To' Phone Number", "status": 400}"#;
        assert_eq!(refusal_text(twilio), "Invalid 'To' Phone Number (code 21211)");
        assert_eq!(refusal_text("<html>bad gateway</html>"), "<html>bad gateway</html>");
    }
}
