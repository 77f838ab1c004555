//! After the rush: does what the server says match what it acknowledged?
//!
//! The harness keeps a ledger of every purchase the server acknowledged and
//! of every purchase whose answer it never got (a timeout: it may or may not
//! have gone through). The server's side is its ticket list and its
//! availability counts. The audit passes when
//!
//! - no ticket is in two acknowledged orders (nor was sold before the rush
//!   and again in it),
//! - every ticket of an acknowledged order is purchased (none lost),
//! - every ticket sold during the rush is in an acknowledged order or an
//!   unknown one, so acknowledged ≤ sold ≤ acknowledged + unknown,
//! - the performance's available counts, in total and per section, match
//!   the ticket list.
//!
//! `oversold` counts tickets sold twice or sold to nobody we know of; it
//! must be 0. When the server's state cannot be read (it died in the rush),
//! there is no audit: `oversold` is `None` and the report fails.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use anyhow::bail;
use serde::Serialize;

use crate::client::{Api, Failure, PerformanceRef, PerformanceView, TicketView};

/// A purchase the server acknowledged.
#[derive(Clone, Debug)]
pub struct AckedOrder {
    pub order_id: String,
    pub tickets: Vec<String>,
}

/// What the harness knows it bought.
#[derive(Clone, Debug, Default)]
pub struct Ledger {
    pub acked: Vec<AckedOrder>,
    /// The tickets of purchases whose outcome the harness never learned.
    pub unknown: Vec<Vec<String>>,
    /// Tickets already purchased before the rush began.
    pub sold_before: HashSet<String>,
}

/// What the server says, read when nothing was changing.
#[derive(Clone, Debug, Default)]
pub struct ServerState {
    pub capacity: u32,
    pub tickets: Vec<TicketView>,
    pub available: u32,
    /// Per section name, as the performance view counts them.
    pub section_available: BTreeMap<String, u32>,
}

/// The audit's findings. One not done (see [`not_done`]) has only the
/// ledger's counts (`acked_orders`, `acked_tickets`, `unknown_tickets`,
/// `double_sold`); the server's are 0 and mean nothing.
#[derive(Clone, Debug, Default, Serialize)]
pub struct AuditReport {
    pub passed: bool,
    pub capacity: u32,
    pub tickets_listed: u64,
    /// Tickets that became purchased during the rush.
    pub sold: u64,
    pub acked_orders: u64,
    pub acked_tickets: u64,
    pub unknown_tickets: u64,
    /// Tickets in more than one acknowledged order.
    pub double_sold: u64,
    /// Tickets sold during the rush that no purchase of ours accounts for.
    pub unexplained_sold: u64,
    /// Tickets of acknowledged orders that are not purchased.
    pub lost: u64,
    /// `None` (`null`) when the server's state could not be read: unknown,
    /// not 0.
    pub oversold: Option<u64>,
    pub available_listed: u64,
    pub available_shown: u32,
    pub problems: Vec<String>,
}

/// Checks the ledger against the server's state.
pub fn audit(ledger: &Ledger, server: &ServerState) -> AuditReport {
    let mut report = AuditReport {
        capacity: server.capacity,
        tickets_listed: server.tickets.len() as u64,
        available_shown: server.available,
        ..AuditReport::default()
    };
    let status = listed_statuses(server, &mut report);
    let (acked, unknown) = ledger_counts(ledger, &mut report);

    check_sales(ledger, &status, &acked, &unknown, &mut report);
    check_availability(server, &mut report);

    let oversold = report.double_sold + report.unexplained_sold;
    report.oversold = Some(oversold);
    let upper = report.acked_tickets + report.unknown_tickets;
    if report.sold < report.acked_tickets || report.sold > upper {
        let problem = format!(
            "{} tickets sold, outside acknowledged {} to acknowledged plus unknown {upper}",
            report.sold, report.acked_tickets
        );
        note(&mut report, problem);
    }
    report.passed = report.problems.is_empty() && oversold == 0 && report.lost == 0;
    report
}

/// The audit of a server whose state could not be read, as when it died
/// in the rush: failed, saying why, with what the ledger alone can tell;
/// the rush's own figures are still worth reporting.
pub fn not_done(ledger: &Ledger, error: &anyhow::Error) -> AuditReport {
    let problem = format!(
        "the audit could not read the server's state: {error:#}; \
         nothing was audited, so sold, lost and oversold are unknown"
    );
    let mut report = AuditReport { problems: vec![problem], ..AuditReport::default() };
    ledger_counts(ledger, &mut report);
    report
}

/// The tickets of acknowledged orders and those of unknown outcome, with
/// their counts noted.
fn ledger_counts<'a>(
    ledger: &'a Ledger,
    report: &mut AuditReport,
) -> (HashSet<&'a str>, HashSet<&'a str>) {
    report.acked_orders = ledger.acked.len() as u64;
    let acked = acked_tickets(ledger, report);
    let unknown: HashSet<&str> = ledger.unknown.iter().flatten().map(String::as_str).collect();
    report.unknown_tickets = unknown.iter().filter(|id| !acked.contains(*id)).count() as u64;
    (acked, unknown)
}

/// The most problems a report lists one by one: past a few, more of the
/// same say nothing new, and the counts tell how many.
const PROBLEMS_LISTED: usize = 20;

fn note(report: &mut AuditReport, problem: String) {
    if report.problems.len() < PROBLEMS_LISTED {
        report.problems.push(problem);
    }
}

/// Each listed ticket's status; a ticket listed twice is a problem.
fn listed_statuses<'a>(
    server: &'a ServerState,
    report: &mut AuditReport,
) -> HashMap<&'a str, &'a str> {
    let mut status = HashMap::with_capacity(server.tickets.len());
    for ticket in &server.tickets {
        if status.insert(ticket.id.as_str(), ticket.status.as_str()).is_some() {
            note(report, format!("ticket {} is listed twice", ticket.id));
        }
    }
    if status.len() != server.capacity as usize {
        note(
            report,
            format!(
                "{} distinct tickets listed for a capacity of {}",
                status.len(),
                server.capacity
            ),
        );
    }
    status
}

/// The tickets of acknowledged orders, counting those in two orders, or
/// sold before the rush and again in it.
fn acked_tickets<'a>(ledger: &'a Ledger, report: &mut AuditReport) -> HashSet<&'a str> {
    let mut acked = HashSet::new();
    for order in &ledger.acked {
        for ticket in &order.tickets {
            let again = !acked.insert(ticket.as_str()) || ledger.sold_before.contains(ticket);
            if again {
                report.double_sold += 1;
                note(report, format!("ticket {ticket} sold twice (order {})", order.order_id));
            }
        }
    }
    report.acked_tickets = acked.len() as u64;
    acked
}

fn check_sales(
    ledger: &Ledger,
    status: &HashMap<&str, &str>,
    acked: &HashSet<&str>,
    unknown: &HashSet<&str>,
    report: &mut AuditReport,
) {
    for &ticket in acked {
        if status.get(ticket) != Some(&"purchased") {
            report.lost += 1;
            note(report, format!("ticket {ticket} was bought but is not purchased"));
        }
    }
    let sold_now = status
        .iter()
        .filter(|(id, status)| **status == "purchased" && !ledger.sold_before.contains(**id));
    for (&ticket, _) in sold_now {
        report.sold += 1;
        if !acked.contains(ticket) && !unknown.contains(ticket) {
            report.unexplained_sold += 1;
            note(report, format!("ticket {ticket} is sold, but not by any purchase"));
        }
    }
}

fn check_availability(server: &ServerState, report: &mut AuditReport) {
    let mut listed: BTreeMap<&str, u32> = BTreeMap::new();
    for ticket in server.tickets.iter().filter(|ticket| ticket.status == "available") {
        *listed.entry(ticket.section.as_str()).or_default() += 1;
    }
    report.available_listed = listed.values().map(|&n| u64::from(n)).sum();
    if report.available_listed != u64::from(server.available) {
        let problem = format!(
            "the performance shows {} available, its ticket list {}",
            server.available, report.available_listed
        );
        note(report, problem);
    }
    for (section, &shown) in &server.section_available {
        let counted = listed.get(section.as_str()).copied().unwrap_or(0);
        if counted != shown {
            let problem =
                format!("section {section} shows {shown} available, its tickets {counted}");
            note(report, problem);
        }
    }
}

// Reading the server's side.

/// Every ticket of a performance, page by page.
pub async fn all_tickets(
    api: &Api,
    performance: &PerformanceRef,
) -> anyhow::Result<Vec<TicketView>> {
    const PAGE: u32 = 1000;
    let mut tickets: Vec<TicketView> = Vec::new();
    loop {
        let after = tickets.last().map(|ticket| ticket.id.clone());
        let page = api.tickets(performance, None, PAGE, after.as_deref()).await;
        let page = page.map_err(|failure| failed("listing the tickets", failure))?;
        let full = page.len() == PAGE as usize;
        tickets.extend(page);
        if !full {
            return Ok(tickets);
        }
    }
}

/// The tickets already purchased, before the rush.
pub async fn purchased_tickets(
    api: &Api,
    performance: &PerformanceRef,
) -> anyhow::Result<HashSet<String>> {
    let tickets = all_tickets(api, performance).await?;
    let purchased = tickets.into_iter().filter(|ticket| ticket.status == "purchased");
    Ok(purchased.map(|ticket| ticket.id).collect())
}

/// Reads the tickets between two views of the performance, until both
/// views agree: a hold that expires mid-read would otherwise show as a
/// mismatch that is not one.
pub async fn settled_state(api: &Api, performance: &PerformanceRef) -> anyhow::Result<ServerState> {
    const TRIES: u32 = 10;
    for _ in 0..TRIES {
        let before = view(api, performance).await?;
        let tickets = all_tickets(api, performance).await?;
        let after = view(api, performance).await?;
        let counts = section_counts(&after);
        if before.available == after.available && section_counts(&before) == counts {
            return Ok(ServerState {
                capacity: after.capacity,
                tickets,
                available: after.available,
                section_available: counts,
            });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    bail!("the performance's availability kept changing over {TRIES} reads")
}

async fn view(api: &Api, performance: &PerformanceRef) -> anyhow::Result<PerformanceView> {
    api.performance(performance).await.map_err(|failure| failed("viewing the performance", failure))
}

fn section_counts(view: &PerformanceView) -> BTreeMap<String, u32> {
    let sections = view.sections.iter().flatten();
    sections.filter_map(|s| Some((s.name.clone(), s.available?))).collect()
}

fn failed(what: &str, failure: Failure) -> anyhow::Error {
    anyhow::anyhow!("{what}: {failure}")
}

/// Ties [`settled_state`] and [`audit`] together; a state that cannot be
/// read is an audit [`not_done`], not an error, so the rush is reported.
pub async fn run(api: &Api, performance: &PerformanceRef, ledger: &Ledger) -> AuditReport {
    match settled_state(api, performance).await {
        Ok(state) => audit(ledger, &state),
        Err(error) => {
            tracing::error!("the audit could not read the server's state: {error:#}");
            not_done(ledger, &error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket(id: &str, section: &str, status: &str) -> TicketView {
        TicketView { id: id.into(), section: section.into(), status: status.into() }
    }

    fn order(id: &str, tickets: &[&str]) -> AckedOrder {
        AckedOrder { order_id: id.into(), tickets: tickets.iter().map(|t| t.to_string()).collect() }
    }

    /// Four tickets: 1-0 and 1-1 bought in one order, 1-2 held, 1-3 free.
    fn honest() -> (Ledger, ServerState) {
        let ledger = Ledger { acked: vec![order("o1", &["1-0", "1-1"])], ..Ledger::default() };
        let server = ServerState {
            capacity: 4,
            tickets: vec![
                ticket("1-0", "A", "purchased"),
                ticket("1-1", "A", "purchased"),
                ticket("1-2", "B", "reserved"),
                ticket("1-3", "B", "available"),
            ],
            available: 1,
            section_available: [("A".to_string(), 0), ("B".to_string(), 1)].into(),
        };
        (ledger, server)
    }

    #[test]
    fn an_honest_state_passes() {
        let (ledger, server) = honest();
        let report = audit(&ledger, &server);
        assert!(report.passed, "{report:?}");
        assert_eq!((report.sold, report.acked_tickets, report.oversold), (2, 2, Some(0)));
    }

    #[test]
    fn a_ticket_in_two_orders_is_oversold() {
        let (mut ledger, server) = honest();
        ledger.acked.push(order("o2", &["1-1"]));
        let report = audit(&ledger, &server);
        assert!(!report.passed);
        assert_eq!((report.double_sold, report.oversold), (1, Some(1)));
    }

    #[test]
    fn a_sale_no_purchase_explains_is_oversold() {
        let (ledger, mut server) = honest();
        server.tickets[2].status = "purchased".into();
        let report = audit(&ledger, &server);
        assert!(!report.passed);
        assert_eq!((report.unexplained_sold, report.oversold), (1, Some(1)));
    }

    #[test]
    fn a_sale_whose_answer_was_lost_is_allowed() {
        let (mut ledger, mut server) = honest();
        server.tickets[2].status = "purchased".into();
        ledger.unknown.push(vec!["1-2".into()]);
        let report = audit(&ledger, &server);
        assert!(report.passed, "{report:?}");
        assert_eq!((report.sold, report.unknown_tickets), (3, 1));
    }

    #[test]
    fn a_ticket_sold_before_the_rush_and_again_is_oversold() {
        let (mut ledger, server) = honest();
        ledger.sold_before.insert("1-0".into());
        let report = audit(&ledger, &server);
        assert!(!report.passed);
        assert_eq!(report.oversold, Some(1));
    }

    #[test]
    fn a_lost_purchase_fails() {
        let (ledger, mut server) = honest();
        server.tickets[1].status = "available".into();
        server.available = 2;
        server.section_available.insert("A".into(), 1);
        let report = audit(&ledger, &server);
        assert!(!report.passed);
        assert_eq!((report.lost, report.oversold), (1, Some(0)));
    }

    #[test]
    fn a_wrong_available_count_fails() {
        let (ledger, mut server) = honest();
        server.available = 2;
        let report = audit(&ledger, &server);
        assert!(!report.passed);
        assert_eq!(report.oversold, Some(0));
        assert!(report.problems[0].contains("shows 2 available"), "{:?}", report.problems);
    }

    #[test]
    fn an_audit_not_done_fails_and_claims_no_oversold_count() {
        let (ledger, _) = honest();
        let error = anyhow::anyhow!("viewing the performance: transport");
        let report = not_done(&ledger, &error);
        assert!(!report.passed);
        assert_eq!(report.oversold, None);
        assert_eq!((report.acked_orders, report.acked_tickets), (1, 2));
        assert!(
            report.problems[0].starts_with("the audit could not read the server's state: viewing"),
            "{:?}",
            report.problems
        );
    }
}
