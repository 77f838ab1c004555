//! The `serve` command line, shared by `boxoffice serve` and the load
//! test's own server process: its flags, logging, and the run from start-up
//! to a graceful shutdown.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;

use crate::server::{
    self, CatalogueChoice, EmailConfig, PaymentsConfig, ReceiptsConfig, ServerConfig, SmsConfig,
};

/// The sandbox's keys when none are given: it runs inside this server and
/// moves no money, so these are names, not secrets.
pub const SANDBOX_SECRET_KEY: &str = "sk_test_boxoffice_sandbox";
pub const SANDBOX_WEBHOOK_SECRET: &str = "whsec_boxoffice_sandbox";

/// How buyers pay.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PaymentsChoice {
    /// Any payment token pays at once; checkouts are paid on opening.
    Instant,
    /// A local provider speaking Stripe's protocol, with its own payment page.
    Sandbox,
    /// Stripe Checkout, or anything that speaks its protocol.
    Stripe,
}

#[derive(clap::Args, Clone, Debug)]
pub struct ServeArgs {
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,

    /// Where the log and snapshots are kept.
    #[arg(long, default_value = "./data")]
    pub data_dir: PathBuf,

    /// How long a reservation holds its tickets, such as 2s or 10m.
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub hold_ttl: Duration,

    /// How long a checkout keeps its tickets while the buyer pays at the
    /// provider; the provider's session is expired when it ends.
    #[arg(long, default_value = "15m", value_parser = parse_duration)]
    pub checkout_ttl: Duration,

    /// The admin bearer token. Without one, admin calls are refused.
    #[arg(long, env = "BOXOFFICE_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    /// The catalogue an empty data dir starts with.
    #[arg(long, value_enum, default_value = "demo")]
    pub catalogue: CatalogueChoice,

    /// How many requests may wait for one performance before more are
    /// refused with 503.
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_in_flight: u32,

    /// How many requests the whole server may have in flight before more are
    /// refused at once with 503, before any work is done on them.
    #[arg(long, default_value_t = 2048, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_http_in_flight: u32,

    /// How long a request's body may take to arrive after its head before
    /// the request is refused with 408, such as 10s.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub body_timeout: Duration,

    /// Threads the performance actors spread over (default: one per core).
    #[arg(long)]
    pub shards: Option<usize>,

    /// HTTP worker threads (default: one per core).
    #[arg(long)]
    pub http_workers: Option<usize>,

    /// How often to snapshot changed performances and trim the log.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub checkpoint_every: Duration,

    /// How buyers pay: `sandbox`, a local provider with its own payment
    /// page that needs no network; `stripe`; or `instant`, where any
    /// payment token pays at once (for load tests only).
    #[arg(long, env = "BOXOFFICE_PAYMENTS", value_enum, default_value = "sandbox")]
    pub payments: PaymentsChoice,

    /// Stripe's secret key (`sk_...`); needed with `--payments stripe`. The
    /// sandbox accepts this key too, if given.
    #[arg(long, env = "BOXOFFICE_STRIPE_SECRET_KEY", hide_env_values = true)]
    pub stripe_secret_key: Option<String>,

    /// The secret that signs webhooks (`whsec_...`); needed with `--payments
    /// stripe`. The sandbox signs its webhooks with it too, if given.
    #[arg(long, env = "BOXOFFICE_STRIPE_WEBHOOK_SECRET", hide_env_values = true)]
    pub stripe_webhook_secret: Option<String>,

    /// Where Stripe's API is, for `--payments stripe` (anything that speaks
    /// its protocol).
    #[arg(long, env = "BOXOFFICE_STRIPE_BASE_URL", default_value = "https://api.stripe.com")]
    pub stripe_base_url: String,

    /// How long one call to the payment provider may take before it counts
    /// as timed out (a checkout waits for it).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub provider_timeout: Duration,

    /// Where buyers' browsers reach this server, for the payment page's
    /// redirects back (default: http:// and the listening address).
    #[arg(long, env = "BOXOFFICE_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Send receipt emails through this SMTP server (`smtp://host:port`);
    /// without it they are written as .eml files under the data dir.
    #[arg(long, env = "BOXOFFICE_SMTP_URL")]
    pub smtp_url: Option<String>,

    /// The sender of receipt emails.
    #[arg(
        long,
        env = "BOXOFFICE_EMAIL_FROM",
        default_value = "Boxoffice <receipts@boxoffice.invalid>"
    )]
    pub email_from: String,

    /// Send receipt SMS through this Twilio-style API (such as
    /// `https://api.twilio.com`); without it they are written as files
    /// under the data dir.
    #[arg(long, env = "BOXOFFICE_SMS_URL")]
    pub sms_url: Option<String>,

    /// The SMS API's account id and token (HTTP basic auth).
    #[arg(long, env = "BOXOFFICE_SMS_ACCOUNT_SID", default_value = "")]
    pub sms_account_sid: String,
    #[arg(long, env = "BOXOFFICE_SMS_AUTH_TOKEN", hide_env_values = true, default_value = "")]
    pub sms_auth_token: String,

    /// The sender of receipt SMS.
    #[arg(long, env = "BOXOFFICE_SMS_FROM", default_value = "Boxoffice")]
    pub sms_from: String,
}

pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text).map_err(|error| error.to_string())?;
    if duration.is_zero() {
        return Err("must be longer than zero".into());
    }
    Ok(duration)
}

/// Lifecycle at info. actix-http logs every malformed request from a client
/// at error level; any client could bury a real error under those.
const DEFAULT_LOG_FILTER: &str = "info,actix_http::h1::dispatcher=off";

/// Logs to standard output: lifecycle at info unless `RUST_LOG` says.
pub fn init_logging() {
    // Colours only for a person at a terminal, not in a log file.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stdout());
    tracing_subscriber::fmt()
        .with_ansi(colour)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| DEFAULT_LOG_FILTER.into()),
        )
        .init();
}

impl ServeArgs {
    /// The server's configuration; `metrics` renders `GET /metrics`.
    pub fn config(
        self,
        metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    ) -> anyhow::Result<ServerConfig> {
        let cores = std::thread::available_parallelism().map_or(2, |cores| cores.get());
        let payments = self.payments_config()?;
        let receipts = self.receipts_config();
        Ok(ServerConfig {
            addr: self.addr,
            data_dir: self.data_dir,
            hold_ttl: self.hold_ttl,
            admin_token: self.admin_token.filter(|token| !token.is_empty()),
            catalogue: self.catalogue,
            max_in_flight: self.max_in_flight as usize,
            max_http_in_flight: self.max_http_in_flight as usize,
            body_timeout: self.body_timeout,
            shard_count: self.shards.unwrap_or(cores).max(1),
            checkout_ttl: self.checkout_ttl,
            http_workers: self.http_workers.unwrap_or(cores).max(1),
            checkpoint_every: self.checkpoint_every,
            metrics,
            payments,
            provider_timeout: self.provider_timeout,
            public_url: self.public_url,
            receipts,
        })
    }

    fn payments_config(&self) -> anyhow::Result<PaymentsConfig> {
        let given = |secret: &Option<String>| secret.clone().filter(|value| !value.is_empty());
        Ok(match self.payments {
            PaymentsChoice::Instant => PaymentsConfig::Instant,
            PaymentsChoice::Sandbox => PaymentsConfig::Sandbox {
                secret_key: given(&self.stripe_secret_key)
                    .unwrap_or_else(|| SANDBOX_SECRET_KEY.into()),
                webhook_secret: given(&self.stripe_webhook_secret)
                    .unwrap_or_else(|| SANDBOX_WEBHOOK_SECRET.into()),
            },
            PaymentsChoice::Stripe => PaymentsConfig::Stripe {
                base_url: self.stripe_base_url.clone(),
                secret_key: given(&self.stripe_secret_key)
                    .context("--payments stripe needs BOXOFFICE_STRIPE_SECRET_KEY")?,
                webhook_secret: given(&self.stripe_webhook_secret)
                    .context("--payments stripe needs BOXOFFICE_STRIPE_WEBHOOK_SECRET")?,
            },
        })
    }

    fn receipts_config(&self) -> ReceiptsConfig {
        let email = match &self.smtp_url {
            Some(url) => EmailConfig::Smtp { url: url.clone() },
            None => EmailConfig::Files(self.data_dir.join("receipts").join("email")),
        };
        let sms = match &self.sms_url {
            Some(url) => SmsConfig::Http {
                base_url: url.clone(),
                account_sid: self.sms_account_sid.clone(),
                auth_token: self.sms_auth_token.clone(),
            },
            None => SmsConfig::Files(self.data_dir.join("receipts").join("sms")),
        };
        ReceiptsConfig {
            email,
            sms,
            email_from: self.email_from.clone(),
            sms_from: self.sms_from.clone(),
        }
    }
}

/// Installs the process's metrics recorder; once per process.
pub fn install_metrics() -> anyhow::Result<metrics_exporter_prometheus::PrometheusHandle> {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder();
    recorder.context("installing the metrics recorder")
}

/// Runs the server in an actix system of its own until a signal stops it.
pub fn run(config: ServerConfig) -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(serve(config))
}

/// Serves until SIGINT or SIGTERM, then finishes the requests in flight and
/// takes a last checkpoint, so the next start has little log to replay.
async fn serve(config: ServerConfig) -> anyhow::Result<()> {
    let running = server::start(config).await?;
    let handle = running.server.handle();
    let serving = actix_web::rt::spawn(running.server);

    tokio::select! {
        served = serving => served.context("the HTTP server task")?.context("serving HTTP")?,
        signal = shutdown_signal() => {
            signal?;
            tracing::info!("shutting down: finishing the requests in flight");
            handle.stop(true).await;
        }
    }

    running.workers.stop().await;
    // Webhooks it has yet to send stay in its store for the next start.
    if let Some(sandbox) = &running.sandbox {
        sandbox.shutdown();
    }
    tracing::info!("taking a last checkpoint");
    server::checkpoint(&running.office).await;
    Ok(())
}

/// Waits for SIGINT or SIGTERM.
pub async fn shutdown_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    tokio::select! {
        interrupted = tokio::signal::ctrl_c() => interrupted.context("listening for SIGINT")?,
        _ = terminate.recv() => {}
    }
    Ok(())
}
