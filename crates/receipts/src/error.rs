//! How sending can fail, in the two ways a caller acts on: try again later,
//! or park the message for a person to look at.

/// A send that did not go through.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth another try as it is: the server was down or busy, timed out,
    /// answered SMTP 4xx or HTTP 5xx/429, or a file could not be written.
    #[error("transient: {0}")]
    Transient(String),
    /// Will fail the same way every time: a bad address, SMTP 5xx, HTTP 4xx.
    #[error("permanent: {0}")]
    Permanent(String),
}

impl SendError {
    pub fn is_transient(&self) -> bool {
        matches!(self, SendError::Transient(_))
    }

    /// What went wrong, as the outside world reported it.
    pub fn reason(&self) -> &str {
        match self {
            SendError::Transient(reason) | SendError::Permanent(reason) => reason,
        }
    }
}

/// A sender that cannot be built from its settings.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("the SMTP URL {url:?} is not usable: {reason}")]
    SmtpUrl { url: String, reason: String },
    #[error("the sender address {from:?} is not a mailbox: {reason}")]
    From { from: String, reason: String },
    #[error("the SMS API base URL {url:?} is not an http or https URL")]
    ApiBase { url: String },
    #[error("the SMS account sid must be ASCII letters and digits")]
    AccountSid,
    #[error("the SMS API client cannot be built: {0}")]
    HttpClient(String),
    #[error("the directory {dir} cannot be created: {source}")]
    Directory { dir: std::path::PathBuf, source: std::io::Error },
}
