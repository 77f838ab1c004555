//! The outbox's three consumers, each a loop of its own: receipts by
//! email, receipts by SMS, and the calls owed to the payment provider. One
//! failing (the SMTP relay down, say) holds up neither of the others, and
//! none of them can fail or undo a purchase: the purchase was durable
//! before its entry was ever read.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use engine::box_office::BoxOffice;
use engine::outbox::worker::{self, Deliver, DeliveryError, DeliveryFuture, RetryPolicy};
use engine::outbox::{Consumer, Outbox, OutboxEntry, OutboxSeq};
use engine::time::Clock;
use receipts::{Email, EmailSender, SendError, Sms, SmsSender, TwilioConfig};
use tokio::sync::watch;

use crate::admission::Admission;
use crate::notices;

/// Past this many requests in flight, the server is busy selling: a
/// receipt waits for a quieter moment, so that on two cores the receipts of
/// a rush do not slow the rush down.
const BUSY_IN_FLIGHT: usize = 8;

/// How long one receipt waits for a quieter moment at most, so receipts
/// still go out under load that never lets up.
const YIELD_AT_MOST: Duration = Duration::from_secs(1);
use crate::server::{EmailConfig, ReceiptsConfig, SmsConfig};

/// The running consumers; [`Workers::stop`] ends them.
pub struct Workers {
    stop: watch::Sender<bool>,
    loops: Vec<actix_web::rt::task::JoinHandle<()>>,
}

impl Workers {
    /// Starts one loop per consumer on the current actix runtime.
    pub fn start(
        office: &BoxOffice,
        outbox: Arc<dyn Outbox>,
        receipts: &ReceiptsConfig,
        clock: Arc<dyn Clock>,
        admission: Arc<Admission>,
    ) -> anyhow::Result<Workers> {
        let (stop, stopped) = watch::channel(false);
        let receipts_of =
            |sender| Receipts { office: office.clone(), sender, admission: admission.clone() };
        let email = receipts_of(Sender::Email(email_sender(receipts)?));
        let sms = receipts_of(Sender::Sms(sms_sender(receipts)?));
        let provider = ProviderCalls { office: office.clone() };

        let context = LoopContext { outbox, clock, stopped };
        let loops = vec![
            context.spawn(Consumer::Email, email),
            context.spawn(Consumer::Sms, sms),
            context.spawn(Consumer::Provider, provider),
        ];
        Ok(Workers { stop, loops })
    }

    /// Asks every loop to stop and waits for them: a delivery already made
    /// is recorded first, so the next start does not make it again.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for running in self.loops {
            let _ = running.await;
        }
    }
}

/// What every consumer's loop shares.
struct LoopContext {
    outbox: Arc<dyn Outbox>,
    clock: Arc<dyn Clock>,
    stopped: watch::Receiver<bool>,
}

impl LoopContext {
    fn spawn(
        &self,
        consumer: Consumer,
        deliver: impl Deliver,
    ) -> actix_web::rt::task::JoinHandle<()> {
        let (outbox, clock, stopped) =
            (self.outbox.clone(), self.clock.clone(), self.stopped.clone());
        actix_web::rt::spawn(async move {
            let policy = RetryPolicy::default();
            let ran = worker::run(outbox, consumer, deliver, policy, clock, stopped).await;
            if let Err(error) = ran {
                tracing::error!(consumer = consumer.name(), %error, "an outbox worker stopped");
            }
        })
    }
}

fn email_sender(config: &ReceiptsConfig) -> anyhow::Result<EmailSender> {
    let sender = match &config.email {
        EmailConfig::Files(dir) => EmailSender::files(dir.clone(), &config.email_from),
        EmailConfig::Smtp { url } => EmailSender::smtp(url, &config.email_from),
    };
    sender.context("configuring receipt emails")
}

fn sms_sender(config: &ReceiptsConfig) -> anyhow::Result<SmsSender> {
    let sender = match &config.sms {
        SmsConfig::Files(dir) => SmsSender::files(dir.clone(), &config.sms_from),
        SmsConfig::Http { base_url, account_sid, auth_token } => SmsSender::twilio(TwilioConfig {
            base_url: base_url.clone(),
            account_sid: account_sid.clone(),
            auth_token: auth_token.clone(),
            from: config.sms_from.clone(),
        }),
    };
    sender.context("configuring receipt SMS")
}

enum Sender {
    Email(EmailSender),
    Sms(SmsSender),
}

/// Sends each sale's receipt (and each late payment's notice) on one
/// channel. The message id comes from the order and the channel, so a
/// resend after a crash is recognisable as the same message.
struct Receipts {
    office: BoxOffice,
    sender: Sender,
    admission: Arc<Admission>,
}

impl Receipts {
    /// Waits, boundedly, while the server is busy with requests.
    // TODO: a priority of the OS's would do this better (receipt workers on
    // a thread of their own at a lower priority), but that needs libc.
    async fn yield_to_sales(&self) {
        let started = Instant::now();
        while self.admission.in_flight() > BUSY_IN_FLIGHT && started.elapsed() < YIELD_AT_MOST {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Deliver for Receipts {
    fn deliver<'a>(&'a self, _seq: OutboxSeq, entry: &'a OutboxEntry) -> DeliveryFuture<'a> {
        Box::pin(async move {
            let Some(receipt) = notices::receipt_of(&self.office, entry) else { return Ok(()) };
            let receipt = receipt.map_err(|error| DeliveryError::permanent(error.to_string()))?;
            self.yield_to_sales().await;
            let sent = match &self.sender {
                Sender::Email(sender) => sender.send(&Email::render(&receipt)).await,
                Sender::Sms(sender) => sender.send(&Sms::render(&receipt)).await,
            };
            sent.map_err(delivery_error)
        })
    }
}

fn delivery_error(error: SendError) -> DeliveryError {
    match error.is_transient() {
        true => DeliveryError::transient(error.reason()),
        false => DeliveryError::permanent(error.reason()),
    }
}

/// Makes the calls owed to the payment provider: expiring the sessions of
/// checkouts that ended, and refunds.
struct ProviderCalls {
    office: BoxOffice,
}

impl Deliver for ProviderCalls {
    fn deliver<'a>(&'a self, _seq: OutboxSeq, entry: &'a OutboxEntry) -> DeliveryFuture<'a> {
        Box::pin(async move {
            self.office.make_owed_call(entry).await.map_err(|failed| DeliveryError {
                transient: failed.transient,
                reason: failed.reason,
            })
        })
    }
}
