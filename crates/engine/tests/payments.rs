//! Money and tickets never disagree: a charge is refunded only when no
//! order was bought with it, however many copies of one purchase race.
//!
//! The engine runs with a journal that acknowledges at once and a payment
//! provider that records every charge and refund and, like a real one,
//! answers a repeated idempotency key with the charge it made first.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use engine::booking::Selection;
use engine::box_office::{BoxOffice, EngineConfig, EngineDeps, Recovered};
use engine::catalogue::{Layout, Section, SectionKind};
use engine::ids::{PerformanceId, UserId};
use engine::payment::{Charge, PaymentFuture, PaymentOutcome, PaymentProvider};
use engine::time::{Clock, SystemClock};
use parking_lot::Mutex;
use support::{one_performance, ImmediateJournal};

mod support;

#[derive(Default)]
struct RecordingProvider {
    /// Idempotency key → the reference of the charge made for it.
    charges: Mutex<HashMap<String, String>>,
    refunds: Mutex<Vec<String>>,
}

/// The provider as the engine holds it, sharing its records with the test.
struct Recorder(Arc<RecordingProvider>);

impl PaymentProvider for Recorder {
    fn name(&self) -> &'static str {
        "recording"
    }

    fn charge(&self, charge: Charge) -> PaymentFuture {
        let mut charges = self.0.charges.lock();
        let fresh = format!("ch-{}", charges.len() + 1);
        let reference = charges.entry(charge.idempotency_key).or_insert(fresh).clone();
        Box::pin(async move {
            // A real provider takes a while, so racing copies overlap.
            tokio::time::sleep(Duration::from_millis(5)).await;
            PaymentOutcome::Approved { reference }
        })
    }

    fn refund(&self, reference: &str, _amount_minor: i64) -> PaymentFuture {
        self.0.refunds.lock().push(reference.to_owned());
        let reference = format!("re-{reference}");
        Box::pin(std::future::ready(PaymentOutcome::Approved { reference }))
    }
}

async fn start(provider: Arc<RecordingProvider>) -> (BoxOffice, PerformanceId) {
    let config = EngineConfig {
        hold_ttl: Duration::from_secs(600),
        max_in_flight: 1024,
        shard_count: 1,
        checkout_ttl: Duration::from_secs(600),
    };
    let deps = EngineDeps {
        journal: Arc::new(ImmediateJournal),
        clock: Arc::new(SystemClock),
        payments: Arc::new(Recorder(provider)),
        checkout: Arc::new(engine::payment::InstantCheckout::default()),
    };
    let office = BoxOffice::start(config, deps, Recovered::default()).expect("an empty start");

    let kind = SectionKind::Seated { rows: 2, seats_per_row: 8 };
    let layout =
        Layout { sections: vec![Section { name: "Stalls".into(), kind, price_minor: 4200 }] };
    let performance = one_performance(&office, SystemClock.now(), layout, 10).await;
    (office, performance)
}

#[actix_rt::test]
async fn racing_copies_of_one_purchase_never_refund_the_charge_that_bought_it() {
    let provider = Arc::new(RecordingProvider::default());
    let (office, performance) = start(provider.clone()).await;
    let user = office.register_user(
        "Wilhelm".into(),
        "w@example.org".into(),
        "+41 31 000 00 00".into(),
        [0; 32],
    );
    let user = user.await.expect("a user").id;

    let selection = Selection::Quantity { section: "Stalls".into(), quantity: 2 };
    let held = office.reserve(user, performance, selection).await.expect("a hold");

    let copies: Vec<_> = (0..6)
        .map(|_| {
            let (office, tickets) = (office.clone(), held.tickets.clone());
            actix_rt::spawn(async move {
                office.purchase(user, performance, tickets, "tok".into()).await
            })
        })
        .collect();
    let mut orders = Vec::new();
    for copy in copies {
        if let Ok(purchase) = copy.await.expect("a purchase task") {
            orders.push(purchase.order);
        }
    }
    tokio::time::sleep(Duration::from_millis(50)).await;

    assert!(!orders.is_empty(), "one copy must buy");
    assert!(
        orders.iter().all(|order| *order == orders[0]),
        "the copies made two orders: {orders:?}"
    );
    assert_eq!(provider.charges.lock().len(), 1, "the copies were charged apart");
    assert!(
        provider.refunds.lock().is_empty(),
        "refunded {:?}, the charge of the order",
        provider.refunds.lock()
    );
}

#[actix_rt::test]
async fn a_charge_whose_hold_is_gone_is_refunded() {
    let provider = Arc::new(RecordingProvider::default());
    let (office, performance) = start(provider.clone()).await;
    let buyer = office.register_user(
        "Ana".into(),
        "a@example.org".into(),
        "+41 31 000 00 01".into(),
        [0; 32],
    );
    let buyer: UserId = buyer.await.expect("a user").id;

    let selection = Selection::Quantity { section: "Stalls".into(), quantity: 1 };
    let held = office.reserve(buyer, performance, selection).await.expect("a hold");

    // The buyer gives the ticket back while the payment runs.
    let (racing, tickets) = (office.clone(), held.tickets.clone());
    let purchase =
        actix_rt::spawn(
            async move { racing.purchase(buyer, performance, tickets, "tok".into()).await },
        );
    tokio::time::sleep(Duration::from_millis(1)).await;
    office.release(buyer, performance, held.tickets.clone()).await.expect("a release");

    assert!(purchase.await.expect("a purchase task").is_err(), "bought a released ticket");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(provider.refunds.lock().len(), 1, "the charge for nothing was not refunded");
}
