//! Receipts for completed purchases, by email and by SMS.
//!
//! A [`Receipt`] is what the buyer is told, already looked up and formatted
//! by the caller. It is rendered per channel into an [`Email`] (plain text
//! and HTML) or an [`Sms`], which an [`EmailSender`] or an [`SmsSender`]
//! delivers:
//!
//! ```no_run
//! # async fn example(receipt: receipts::Receipt) -> Result<(), Box<dyn std::error::Error>> {
//! use receipts::{Email, EmailSender, Sms, SmsSender};
//!
//! let email_sender = EmailSender::files("data/outbox/email", "Boxoffice <tickets@example.org>")?;
//! let sms_sender = SmsSender::files("data/outbox/sms", "Boxoffice")?;
//!
//! email_sender.send(&Email::render(&receipt)).await?;
//! sms_sender.send(&Sms::render(&receipt)).await?;
//! # Ok(())
//! # }
//! ```
//!
//! Every message has an id stable per order, kind and channel
//! ([`Receipt::message_id`]), which goes into the email's `Message-ID`, the
//! SMS API's `Idempotency-Key` and the file transports' file names, so a
//! resend is recognisable or, in a file, replaces the first copy.
//!
//! A failed send says whether another try may work ([`SendError`]). This
//! crate neither retries nor queues: the outbox and its workers do.

mod email;
mod error;
mod files;
mod receipt;
pub mod sms;
mod telemetry;
mod wording;

pub use email::{Email, EmailSender, SEND_TIMEOUT, SMTP_CONNECT_TIMEOUT};
pub use error::{ConfigError, SendError};
pub use receipt::{Channel, MessageId, Receipt, ReceiptKind};
pub use sms::{Sms, SmsSender, TwilioConfig, SEGMENTS_MAX, TWILIO_API_BASE};
