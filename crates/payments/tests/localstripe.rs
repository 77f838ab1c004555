//! The Stripe client against localstripe (PyPI's `localstripe`, a fake but
//! stateful Stripe), run as a child process on a loopback port.
//!
//! localstripe 1.15 knows payment methods, payment intents, refunds and
//! events, but not Checkout Sessions. So the refund call is exercised for
//! real (against payment intents each test makes with raw HTTP calls), a
//! real event is read by the webhook parser, and the session calls are
//! shown to fail cleanly on a server that has no such routes: localstripe
//! answers them with a plain-text 404, which is not Stripe's error object.
//!
//! localstripe must be installed (`python3 -m pip install
//! localstripe==1.15.10`); without it these tests fail, saying so.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use engine::catalogue::Currency;
use engine::ids::{OrderId, PerformanceId};
use engine::payment::{CheckoutProvider, ProviderError, SessionRequest};
use engine::time::Timestamp;
use payments::stripe::{parse_webhook_event, StripeClient, StripeConfig, WebhookKind};
use serde_json::Value;

const SECRET_KEY: &str = "sk_test_boxoffice";

const INSTALL_HINT: &str = "install it with `python3 -m pip install localstripe==1.15.10`";

/// Starts localstripe's aiohttp app on a socket bound to 127.0.0.1 (its own
/// command line would listen on every interface) and prints the port. Its
/// store is kept from writing `/tmp/localstripe.pickle`, so that runs side by
/// side do not overwrite each other's state.
const LAUNCHER: &str = r#"
import socket, sys
try:
    from aiohttp import web
    import localstripe.resources as resources
    from localstripe.server import app
except ImportError as error:
    sys.exit("localstripe is not installed: %s" % error)
resources.Store.dump_to_disk = lambda self: None
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
sock.bind(("127.0.0.1", 0))
print(sock.getsockname()[1], flush=True)
web.run_app(app, sock=sock, print=None)
"#;

/// How long localstripe may take to start: Python and aiohttp take a few
/// seconds on a cold cache.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running localstripe; killed when dropped, so also when a test fails.
struct LocalStripe {
    child: Child,
    base_url: String,
    /// What localstripe wrote to stderr, for the failure message.
    stderr: Arc<Mutex<String>>,
    /// The thread that reads stderr; joined once localstripe has exited, so
    /// the failure message has all of it.
    stderr_reader: Option<JoinHandle<()>>,
    http: reqwest::Client,
}

impl Drop for LocalStripe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl LocalStripe {
    async fn start() -> LocalStripe {
        let mut child = Command::new("python3")
            .args(["-c", LAUNCHER])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("python3 could not be run ({error}); {INSTALL_HINT}"));
        let (stderr, stderr_reader) = drain(child.stderr.take().expect("localstripe's stderr"));
        let port = read_port(child.stdout.take().expect("localstripe's stdout"));

        let mut local = LocalStripe {
            child,
            base_url: String::new(),
            stderr,
            stderr_reader: Some(stderr_reader),
            http: reqwest::Client::new(),
        };
        match port {
            Some(port) => local.base_url = format!("http://127.0.0.1:{port}"),
            None => local.fail("localstripe did not start"),
        }
        local.wait_until_it_answers().await;
        local
    }

    async fn wait_until_it_answers(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.fail(&format!("localstripe exited with {status}"));
            }
            let balance = self.http.get(format!("{}/v1/balance", self.base_url));
            if let Ok(answer) = balance.bearer_auth(SECRET_KEY).send().await {
                if answer.status().is_success() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.fail("localstripe did not answer in time");
    }

    fn fail(&mut self, what: &str) -> ! {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(reader) = self.stderr_reader.take() {
            let _ = reader.join();
        }
        let stderr = self.stderr.lock().map(|text| text.clone()).unwrap_or_default();
        panic!("{what}; {INSTALL_HINT}\nlocalstripe's stderr:\n{stderr}");
    }

    fn client(&self) -> StripeClient {
        self.client_with_key(SECRET_KEY)
    }

    fn client_with_key(&self, secret_key: &str) -> StripeClient {
        let config = StripeConfig {
            base_url: self.base_url.clone(),
            secret_key: secret_key.into(),
            timeout: Duration::from_secs(10),
        };
        StripeClient::new(config).expect("a client")
    }

    /// A raw call, for what the client does not do itself: making payments,
    /// looking at what localstripe holds.
    async fn raw(&self, method: reqwest::Method, path: &str, form: &[(&str, &str)]) -> Value {
        let url = format!("{}{path}", self.base_url);
        let request = self.http.request(method, url).bearer_auth(SECRET_KEY).form(form);
        let answer = request.send().await.expect("localstripe answers");
        let status = answer.status();
        let body = answer.text().await.expect("an answer's body");
        assert!(status.is_success(), "{path}: {status} {body}");
        serde_json::from_str(&body).expect("a JSON answer")
    }

    /// A card payment of `amount` (in Stripe's units) that succeeded.
    async fn paid_intent(&self, amount: i64, currency: &str) -> String {
        let card = self.card("4242424242424242").await;
        let amount = amount.to_string();
        let form = [
            ("amount", amount.as_str()),
            ("currency", currency),
            ("payment_method", card.as_str()),
            ("confirm", "true"),
        ];
        let intent = self.raw(reqwest::Method::POST, "/v1/payment_intents", &form).await;
        assert_eq!(intent["status"], "succeeded", "{intent}");
        id_of(&intent)
    }

    /// A payment intent whose card was declined when it was confirmed.
    async fn declined_intent(&self) -> String {
        let card = self.card("4000000000000341").await;
        let form = [("amount", "2500"), ("currency", "eur"), ("payment_method", card.as_str())];
        let intent = self.raw(reqwest::Method::POST, "/v1/payment_intents", &form).await;
        let id = id_of(&intent);

        let url = format!("{}/v1/payment_intents/{id}/confirm", self.base_url);
        let confirm = self.http.post(url).bearer_auth(SECRET_KEY).send().await;
        let status = confirm.expect("localstripe answers").status();
        assert_eq!(status.as_u16(), 402, "the card should be declined");
        id
    }

    async fn card(&self, number: &str) -> String {
        let form = [
            ("type", "card"),
            ("card[number]", number),
            ("card[exp_month]", "12"),
            ("card[exp_year]", "2030"),
            ("card[cvc]", "123"),
        ];
        id_of(&self.raw(reqwest::Method::POST, "/v1/payment_methods", &form).await)
    }
}

fn id_of(object: &Value) -> String {
    object["id"].as_str().unwrap_or_else(|| panic!("no id in {object}")).to_string()
}

/// The first line localstripe prints, its port; `None` if it printed none
/// in time (it failed to start, or is not installed).
fn read_port(stdout: impl Read + Send + 'static) -> Option<u16> {
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = sender.send(line);
    });
    receiver.recv_timeout(START_TIMEOUT).ok()?.trim().parse().ok()
}

/// Keeps reading `stderr` so that localstripe never blocks on a full pipe.
fn drain(stderr: impl Read + Send + 'static) -> (Arc<Mutex<String>>, JoinHandle<()>) {
    let text = Arc::new(Mutex::new(String::new()));
    let shared = Arc::clone(&text);
    let reader = thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Ok(mut text) = shared.lock() {
                text.push_str(&line);
                text.push('\n');
            }
        }
    });
    (text, reader)
}

fn euros() -> Currency {
    Currency { code: "EUR".into(), exponent: 2 }
}

/// Part of a payment is refunded: the refund names the payment intent and
/// carries the amount asked for.
#[tokio::test]
async fn refunds_part_of_a_payment() {
    let local = LocalStripe::start().await;
    let intent = local.paid_intent(4_990, "eur").await;

    let refund = local.client().refund(&intent, Some(1_250), &euros(), "refund-17-3").await;

    let refund = refund.expect("a refund");
    assert!(refund.starts_with("re_"), "{refund}");
    let held = local.raw(reqwest::Method::GET, &format!("/v1/refunds/{refund}"), &[]).await;
    assert_eq!(held["payment_intent"], intent.as_str());
    assert_eq!(held["amount"], 1_250);
    assert_eq!(held["currency"], "eur");
    assert_eq!(held["status"], "succeeded");
}

/// The refund's amount goes to localstripe in Stripe's units: 7,900 ISK is
/// 790000.
#[tokio::test]
async fn refund_amounts_go_in_stripes_units() {
    let local = LocalStripe::start().await;
    let intent = local.paid_intent(790_000, "isk").await;
    let isk = Currency { code: "ISK".into(), exponent: 0 };

    let refund = local.client().refund(&intent, Some(7_900), &isk, "refund-isk").await;

    let refund = refund.expect("a refund");
    let held = local.raw(reqwest::Method::GET, &format!("/v1/refunds/{refund}"), &[]).await;
    assert_eq!(held["amount"], 790_000);
}

#[tokio::test]
async fn a_refund_of_a_failed_payment_is_refused_with_localstripes_message() {
    let local = LocalStripe::start().await;
    let intent = local.declined_intent().await;

    let result = local.client().refund(&intent, Some(2_500), &euros(), "refund-declined").await;

    let reason = "Cannot refund a failed payment. (HTTP 400)";
    assert_eq!(result, Err(ProviderError::Refused(reason.into())));
}

#[tokio::test]
async fn a_refund_of_an_unknown_payment_is_refused() {
    let local = LocalStripe::start().await;

    let result = local.client().refund("pi_unknown", Some(100), &euros(), "refund-unknown").await;

    assert_eq!(result, Err(ProviderError::Refused("Not Found (HTTP 404)".into())));
}

/// localstripe takes only `sk_` keys, sent as `Authorization: Bearer`: the
/// calls above that succeed show the client sends it, and a wrong key is a
/// refusal, not something to retry.
#[tokio::test]
async fn a_key_localstripe_does_not_take_is_refused() {
    let local = LocalStripe::start().await;
    let intent = local.paid_intent(1_000, "eur").await;

    let result =
        local.client_with_key("pk_test_public").refund(&intent, Some(100), &euros(), "k").await;

    assert_eq!(result, Err(ProviderError::Refused("Unauthorized (HTTP 401)".into())));
}

/// A real event as localstripe records it (`payment_intent.succeeded`),
/// read by the webhook parser: not a checkout session event, so named and
/// not read further.
#[tokio::test]
async fn a_real_event_of_another_type_is_read_as_other() {
    let local = LocalStripe::start().await;
    local.paid_intent(1_000, "eur").await;
    let path = "/v1/events?type=payment_intent.succeeded";
    let events = local.raw(reqwest::Method::GET, path, &[]).await;
    let event = &events["data"][0];

    let parsed = parse_webhook_event(event.to_string().as_bytes()).expect("a readable event");

    assert_eq!(parsed.id, id_of(event));
    assert_eq!(parsed.kind, WebhookKind::Other("payment_intent.succeeded".into()));
}

/// localstripe has no Checkout Sessions: every session call meets a
/// plain-text 404 and fails as a refusal or an unknown session, without a
/// panic and without pretending to be transient. Should a later localstripe
/// add sessions, this test fails and the calls can be covered for real.
#[tokio::test]
async fn session_calls_fail_cleanly_on_a_server_without_checkout_sessions() {
    let local = LocalStripe::start().await;
    let client = local.client();
    let order = OrderId { performance: PerformanceId(17), number: 3 };
    let request = SessionRequest {
        order,
        amount_minor: 4_990,
        currency: euros(),
        description: "2 tickets".into(),
        customer_email: None,
        success_url: "https://boxoffice.test/paid".into(),
        cancel_url: "https://boxoffice.test/cancelled".into(),
        expires_at: Timestamp::from_millis(0),
        idempotency_key: "checkout-17-3".into(),
    };

    let not_found = ProviderError::Refused("HTTP 404: 404: Not Found".into());
    assert_eq!(client.create_session(request).await, Err(not_found.clone()));
    assert_eq!(client.open_sessions_of(order).await, Err(not_found));
    let unknown = Err(ProviderError::UnknownSession("cs_test_1".into()));
    assert_eq!(client.retrieve_session("cs_test_1").await, unknown);
    assert_eq!(client.expire_session("cs_test_1").await, unknown);
}
