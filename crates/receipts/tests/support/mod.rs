//! What the receipts tests share: receipts in many scripts, and the servers
//! the transports are tried against.

#![allow(dead_code, reason = "each test binary uses a different part")]

pub mod smtp_sink;
pub mod twilio_stub;

use engine::ids::{OrderId, PerformanceId};
use receipts::{Receipt, ReceiptKind};

/// The order every fixture is about: `2396-7`.
pub const ORDER: OrderId = OrderId { performance: PerformanceId(2396), number: 7 };

/// A sale to a Greek-named buyer in Zürich of a Japanese-titled
/// performance at a venue whose name is an attempt at markup.
pub fn sale() -> Receipt {
    Receipt {
        kind: ReceiptKind::Sale,
        order_id: ORDER,
        buyer_name: "Zoë Παπαδοπούλου 🎭".to_owned(),
        buyer_email: "zoe@example.org".to_owned(),
        buyer_phone: "+41 44 668 18 00".to_owned(),
        performance_title: "Hamlet in 東京 \"live\" & more".to_owned(),
        venue_name: "<script>alert('venue')</script> Opernhaus".to_owned(),
        city_name: "Zürich".to_owned(),
        starts_local: "Sat 31 Dec 2026, 20:00 Europe/Paris (UTC+01:00)".to_owned(),
        seats: vec!["Stalls, row C, seat 12".to_owned(), "Stalls, row C, seat 13".to_owned()],
        amount: "€1,234.50".to_owned(),
    }
}

/// The notice for the same order's late payment.
pub fn late_refund() -> Receipt {
    Receipt { kind: ReceiptKind::LatePaymentRefunded, ..sale() }
}

/// A sale written right to left: an Arabic buyer, venue and city, in yen.
pub fn arabic_sale() -> Receipt {
    Receipt {
        buyer_name: "زينب الهاشمي".to_owned(),
        performance_title: "عايدة".to_owned(),
        venue_name: "دار الأوبرا".to_owned(),
        city_name: "القاهرة".to_owned(),
        seats: vec!["الصالة، الصف ج، المقعد ١٢".to_owned()],
        amount: "¥1,235".to_owned(),
        ..sale()
    }
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: std::time::Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    condition()
}
