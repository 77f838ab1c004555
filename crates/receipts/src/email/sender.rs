//! Sending an [`Email`]: over SMTP (lettre, on tokio), or into a directory
//! of `.eml` files, the embedded default that needs no mail server.
//!
//! Both build the same RFC 5322 message: `multipart/alternative` with the
//! plain-text part first (the fallback) and the HTML part last (preferred),
//! and `Message-ID: <{message id}@boxoffice.invalid>`, stable per order,
//! kind and channel so that a resend is recognisable.

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::email::Email;
use crate::error::{ConfigError, SendError};
use crate::files;
use crate::telemetry;

/// The right-hand side of every `Message-ID`; `.invalid` is reserved
/// (RFC 2606), so it can never clash with a real domain's ids.
const MESSAGE_ID_DOMAIN: &str = "boxoffice.invalid";

/// How long the SMTP client waits for a connection. On tokio, lettre applies
/// its timeout to connecting only: [`SEND_TIMEOUT`] bounds the rest.
pub const SMTP_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one whole send may take, however slowly a server answers (or
/// however long it stays silent).
pub const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// Sends emails from one configured `From` mailbox through one transport.
pub struct EmailSender {
    from: Mailbox,
    transport: Transport,
}

enum Transport {
    /// One connection per message: lettre's pool would spawn its cleanup
    /// task when the transport is built, tying it to the runtime at hand.
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(PathBuf),
}

impl EmailSender {
    /// Sends through the SMTP server at `url`: `smtp://host:port` (plain, fine
    /// on loopback), `smtp://host:port?tls=required` (STARTTLS),
    /// `smtps://host:port` (TLS from the start), with optional credentials
    /// as `smtp://user:password@host`. TLS is rustls with the webpki roots.
    /// `from` is a mailbox such as `Boxoffice <tickets@example.org>`.
    pub fn smtp(url: &str, from: &str) -> Result<EmailSender, ConfigError> {
        let from = parse_from(from)?;
        let smtp_url_error = |error: smtp::Error| ConfigError::SmtpUrl {
            url: redact_password(url),
            reason: error.to_string(),
        };
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(smtp_url_error)?
            .timeout(Some(SMTP_CONNECT_TIMEOUT))
            .build();
        Ok(EmailSender { from, transport: Transport::Smtp(transport) })
    }

    /// Writes each email to `dir/{message id}.eml` (creating `dir`), so a
    /// resend replaces the file rather than adding one.
    pub fn files(dir: impl Into<PathBuf>, from: &str) -> Result<EmailSender, ConfigError> {
        let from = parse_from(from)?;
        let dir = dir.into();
        files::ensure_directory(&dir)
            .map_err(|source| ConfigError::Directory { dir: dir.clone(), source })?;
        Ok(EmailSender { from, transport: Transport::Files(dir) })
    }

    /// Delivers `email`: `Ok` once the SMTP server accepted it, or once its
    /// file is durably on disk.
    pub async fn send(&self, email: &Email) -> Result<(), SendError> {
        let outcome = match self.message(email) {
            Ok(message) => self.deliver(email, message).await,
            Err(error) => Err(error),
        };

        telemetry::record_send("email", self.transport.name(), email.message_id.as_str(), &outcome);
        outcome
    }

    async fn deliver(&self, email: &Email, message: Message) -> Result<(), SendError> {
        match &self.transport {
            Transport::Smtp(transport) => send_over_smtp(transport, message).await,
            Transport::Files(dir) => write_file(dir, email, message).await,
        }
    }

    /// `email` as the RFC 5322 bytes the transports send, with CRLF line
    /// ends. Only the `Date` (now) and the MIME boundary (random) differ from
    /// one call to the next.
    pub fn to_rfc5322(&self, email: &Email) -> Result<Vec<u8>, SendError> {
        Ok(self.message(email)?.formatted())
    }

    fn message(&self, email: &Email) -> Result<Message, SendError> {
        let message_id = format!("<{}@{MESSAGE_ID_DOMAIN}>", email.message_id);
        let body = MultiPart::alternative_plain_html(email.text.clone(), email.html.clone());

        Message::builder()
            .message_id(Some(message_id))
            .from(self.from.clone())
            .to(recipient(email)?)
            .subject(email.subject.clone())
            .multipart(body)
            .map_err(|error| SendError::Permanent(format!("the email cannot be built: {error}")))
    }
}

impl Transport {
    fn name(&self) -> &'static str {
        match self {
            Transport::Smtp(_) => "smtp",
            Transport::Files(_) => "files",
        }
    }
}

/// The buyer's mailbox; an address that does not parse will never work.
fn recipient(email: &Email) -> Result<Mailbox, SendError> {
    let address: Address = email.to_address.parse().map_err(|error| {
        SendError::Permanent(format!("{:?} is not an email address: {error}", email.to_address))
    })?;
    let name = Some(email.to_name.clone()).filter(|name| !name.is_empty());
    Ok(Mailbox::new(name, address))
}

fn parse_from(from: &str) -> Result<Mailbox, ConfigError> {
    from.parse()
        .map_err(|error| ConfigError::From { from: from.to_owned(), reason: format!("{error}") })
}

async fn send_over_smtp(
    transport: &AsyncSmtpTransport<Tokio1Executor>,
    message: Message,
) -> Result<(), SendError> {
    match tokio::time::timeout(SEND_TIMEOUT, transport.send(message)).await {
        Err(_elapsed) => {
            Err(SendError::Transient(format!("the SMTP server took longer than {SEND_TIMEOUT:?}")))
        }
        Ok(Err(error)) => Err(classify_smtp_error(&error)),
        Ok(Ok(_response)) => Ok(()),
    }
}

/// A 5xx reply is permanent, unless it refuses our login: that is about the
/// credentials, not this message, and once an operator fixes them every
/// message goes as it is. Everything else (4xx, a refused or broken
/// connection, a timeout, TLS, an unexpected reply) may pass by itself.
fn classify_smtp_error(error: &smtp::Error) -> SendError {
    let reason = format!("SMTP: {error}");
    let code = error.status().map(|code| code.to_string());
    let refuses_login = code.is_some_and(|code| LOGIN_REFUSAL_CODES.contains(&code.as_str()));
    if error.is_permanent() && !refuses_login {
        SendError::Permanent(reason)
    } else {
        SendError::Transient(reason)
    }
}

/// Authentication required, too weak, failed, or in need of encryption
/// (RFC 4954).
const LOGIN_REFUSAL_CODES: [&str; 4] = ["530", "534", "535", "538"];

async fn write_file(
    dir: &std::path::Path,
    email: &Email,
    message: Message,
) -> Result<(), SendError> {
    let file_name = format!("{}.eml", email.message_id);
    files::write_durably(dir, &file_name, message.formatted()).await.map_err(|error| {
        SendError::Transient(format!("cannot write {}: {error}", dir.join(&file_name).display()))
    })
}

/// `url` with any password replaced, for error messages and logs.
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let Some((credentials, host)) = rest.rsplit_once('@') else { return url.to_owned() };
    let Some((user, _password)) = credentials.split_once(':') else { return url.to_owned() };
    format!("{scheme}://{user}:***@{host}")
}

#[cfg(test)]
mod tests {
    use super::redact_password;

    #[test]
    fn passwords_stay_out_of_messages() {
        assert_eq!(redact_password("smtp://me:s3cret@mail:587"), "smtp://me:***@mail:587");
        assert_eq!(redact_password("smtp://127.0.0.1:2525"), "smtp://127.0.0.1:2525");
        assert_eq!(redact_password("smtp://me@mail"), "smtp://me@mail");
    }
}
