//! The payment provider a server talks to, built from its configuration:
//! the instant one, the sandbox inside this server, or Stripe.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use engine::payment::{CheckoutProvider, InstantCheckout};
use payments::sandbox::{Sandbox, SandboxConfig, MOUNT};
use payments::stripe::{StripeClient, StripeConfig};
use persistence::Store;

use crate::routes::PaymentsState;
use crate::server::{PaymentsConfig, ServerConfig};

pub struct Payments {
    pub checkout: Arc<dyn CheckoutProvider>,
    pub state: PaymentsState,
    /// The sandbox, when this server is its own provider.
    pub sandbox: Option<Sandbox>,
}

/// `local` is where this process listens, for the sandbox's webhooks and
/// the server's calls to its own sandbox; `public_url` is where browsers
/// reach it.
pub fn build(
    config: &ServerConfig,
    store: &Store,
    local: SocketAddr,
    public_url: &str,
) -> anyhow::Result<Payments> {
    let public_url = public_url.trim_end_matches('/');
    let timeout = config.provider_timeout;
    match &config.payments {
        PaymentsConfig::Instant => Ok(Payments {
            checkout: Arc::new(InstantCheckout::default()),
            state: state("instant", None, public_url),
            sandbox: None,
        }),
        PaymentsConfig::Sandbox { secret_key, webhook_secret } => {
            let webhook_url = format!("http://{local}/payments/webhook");
            let sandbox_url = format!("{public_url}{MOUNT}");
            let tree = store.side_tree("sandbox").context("opening the sandbox's tree")?;
            let sandbox_config =
                SandboxConfig::new(secret_key, webhook_secret, webhook_url, sandbox_url);
            let sandbox = Sandbox::open(tree, sandbox_config).context("opening the sandbox")?;
            // The server asks its own sandbox over loopback, like any provider.
            let client = stripe_client(&format!("http://{local}{MOUNT}"), secret_key, timeout)?;
            Ok(Payments {
                checkout: Arc::new(client),
                state: state("sandbox", Some(webhook_secret), public_url),
                sandbox: Some(sandbox),
            })
        }
        PaymentsConfig::Stripe { base_url, secret_key, webhook_secret } => Ok(Payments {
            checkout: Arc::new(stripe_client(base_url, secret_key, timeout)?),
            state: state("stripe", Some(webhook_secret), public_url),
            sandbox: None,
        }),
    }
}

fn stripe_client(
    base_url: &str,
    secret_key: &str,
    timeout: Duration,
) -> anyhow::Result<StripeClient> {
    let config =
        StripeConfig { base_url: base_url.to_owned(), secret_key: secret_key.to_owned(), timeout };
    StripeClient::new(config).context("configuring the Stripe client")
}

fn state(mode: &'static str, webhook_secret: Option<&String>, public_url: &str) -> PaymentsState {
    PaymentsState {
        mode,
        webhook_secret: webhook_secret.cloned(),
        public_url: public_url.to_owned(),
    }
}

/// Where a server listening on `addr` is reached from this machine: a
/// wildcard address is reached on loopback.
pub fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip().is_unspecified() {
        true if addr.is_ipv4() => SocketAddr::from(([127, 0, 0, 1], addr.port())),
        true => SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, addr.port())),
        false => addr,
    }
}
