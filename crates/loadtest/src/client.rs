//! Typed calls to the Boxoffice HTTP API (and to the baseline, which speaks
//! the same paths and bodies), over one shared pool of keep-alive
//! connections ([`Connections`]): at most `connections` requests are on the
//! wire at once, each on a connection of its own.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use hyper::{Method, Request};
use reqwest::Url;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::connections::{Connections, Lost};
use crate::gate::Turn;

/// Why a call did not succeed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The server answered with an error status and, usually, a problem
    /// `code` such as `not-available` and a `detail` saying what was wrong.
    Status { status: u16, code: Option<String>, detail: Option<String> },
    /// The request timed out: it may or may not have taken effect.
    Timeout,
    /// No answer for another reason (connection refused or reset).
    Transport,
    /// A success status with a body that is not what the API promises.
    Decode,
}

impl Failure {
    /// How the failure is counted in the errors-by-status table.
    pub fn key(&self) -> String {
        match self {
            Failure::Status { status, code: Some(code), .. } => format!("{status} {code}"),
            Failure::Status { status, code: None, .. } => status.to_string(),
            Failure::Timeout => "timeout".into(),
            Failure::Transport => "transport".into(),
            Failure::Decode => "bad-body".into(),
        }
    }

    pub fn is_code(&self, wanted: &str) -> bool {
        matches!(self, Failure::Status { code: Some(code), .. } if code == wanted)
    }

    pub fn is_server_error(&self) -> bool {
        matches!(self, Failure::Status { status, .. } if *status >= 500)
    }

    /// Whether the call might have taken effect without our hearing of it.
    pub fn outcome_unknown(&self) -> bool {
        matches!(self, Failure::Timeout | Failure::Transport | Failure::Decode)
    }
}

/// The counted key, then the server's detail when it gave one: for the
/// messages of a setup or an audit that could not go on.
impl std::fmt::Display for Failure {
    fn fmt(&self, out: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Status { detail: Some(detail), .. } => {
                write!(out, "{} ({detail})", self.key())
            }
            _ => write!(out, "{}", self.key()),
        }
    }
}

impl From<Lost> for Failure {
    fn from(lost: Lost) -> Failure {
        match lost {
            Lost::Timeout => Failure::Timeout,
            Lost::Transport => Failure::Transport,
        }
    }
}

pub type Reply<T> = Result<T, Failure>;

/// A performance and the catalogue path to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct PerformanceRef {
    pub city: u32,
    pub venue: u32,
    pub performance: u32,
}

impl PerformanceRef {
    fn path(&self) -> String {
        let PerformanceRef { city, venue, performance } = self;
        format!("cities/{city}/venues/{venue}/performances/{performance}")
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct PerformanceView {
    pub id: u32,
    pub city_id: u32,
    pub venue_id: u32,
    pub on_sale: String,
    pub capacity: u32,
    pub available: u32,
    #[serde(default)]
    pub sections: Option<Vec<SectionView>>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct SectionView {
    pub name: String,
    pub capacity: u32,
    #[serde(default)]
    pub available: Option<u32>,
}

/// What a buyer reads of a performance's page: the counts, not the 13 KB of
/// names, rows and prices around them, which the rush learns once at its
/// start. Unread fields are skipped without being copied.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Glance {
    pub available: u32,
    #[serde(default)]
    pub sections: Option<Vec<SectionCount>>,
}

/// The key before every count of a Boxoffice performance page.
const COUNT_KEY: &[u8] = b"\"available\":";

impl Glance {
    /// Reads a page's counts; `sections` is how many the layout has.
    ///
    /// Parsing a stadium's page takes some 16 µs, a sixth of the harness's
    /// core at 10,000 views a second, and a busy harness starts its buyers
    /// late. Boxoffice writes the page's total right before its sections
    /// and each section's count last in the section, and the key before a
    /// count cannot occur inside a string value (its quotes would be
    /// escaped) nor inside the page's keys (fixed field names), so scanning
    /// for that key finds every count. The scan checks where each count
    /// sits, not that the JSON between them is valid: the harness trusts
    /// the server it rushes. A page of any other shape (the baseline's, say)
    /// is parsed in full.
    pub fn read(page: &[u8], sections: usize) -> Option<Glance> {
        let scanned = scan_counts(page).filter(|(_, counts)| counts.len() == sections);
        match scanned {
            Some((available, counts)) => {
                let sections =
                    counts.into_iter().map(|count| SectionCount { available: Some(count) });
                Some(Glance { available, sections: Some(sections.collect()) })
            }
            None => serde_json::from_slice(page).ok(),
        }
    }
}

/// The total and the sections' counts of a page shaped as Boxoffice writes
/// it: `{…"available":T,"sections":[{…"available":N},…]}`.
fn scan_counts(page: &[u8]) -> Option<(u32, Vec<u32>)> {
    let finder = memchr::memmem::Finder::new(COUNT_KEY);
    let mut found = finder.find_iter(page).map(|at| at + COUNT_KEY.len());

    let (total, rest) = count_at(page, found.next()?)?;
    let mut after_last = rest.strip_prefix(b",\"sections\":[")?;

    let mut counts = Vec::new();
    for at in found {
        let (count, rest) = count_at(page, at)?;
        after_last = rest.strip_prefix(b"}")?;
        counts.push(count);
    }
    (after_last == b"]}").then_some((total, counts))
}

/// The decimal count at `at` in `page`, and what follows it.
fn count_at(page: &[u8], at: usize) -> Option<(u32, &[u8])> {
    let rest = page.get(at..)?;
    let digits = rest.iter().take_while(|byte| byte.is_ascii_digit()).count();
    let count = std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()?;
    Some((count, &rest[digits..]))
}

/// One section's count on a [`Glance`], in layout order.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct SectionCount {
    #[serde(default)]
    pub available: Option<u32>,
}

/// A ticket of a list, as a buyer choosing seats reads it: only its id.
#[derive(Clone, Debug, Deserialize)]
pub struct ListedTicket {
    pub id: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct TicketView {
    pub id: String,
    pub section: String,
    pub status: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Reservation {
    pub reserved_until: String,
    pub tickets: Vec<TicketView>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Order {
    pub id: String,
    pub tickets: Vec<TicketView>,
}

#[derive(Deserialize)]
struct OrderReply {
    order: Order,
}

/// A registered buyer's credentials.
#[derive(Clone, Debug, Deserialize)]
pub struct Account {
    pub id: u32,
    pub token: String,
}

#[derive(Deserialize)]
struct Created {
    id: u32,
}

/// What a reservation asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pick {
    Quantity { section: String, quantity: u32 },
    Tickets(Vec<String>),
}

/// The API client: a base URL and one connection pool.
#[derive(Clone)]
pub struct Api {
    connections: Arc<Connections>,
    base: Url,
    admin_token: Option<String>,
}

impl Api {
    pub fn new(
        base: Url,
        connections: usize,
        timeout: Duration,
        admin_token: Option<String>,
    ) -> anyhow::Result<Api> {
        let pool = Arc::new(Connections::new(&base, connections, timeout)?);
        Ok(Api { connections: pool, base, admin_token })
    }

    pub fn base(&self) -> &Url {
        &self.base
    }

    /// Opens the whole pool ahead of a rush (see [`Connections::open_all`]).
    pub async fn open_connections(&self) -> Reply<usize> {
        self.connections.open_all().await.map_err(Failure::from)
    }

    /// Connections opened so far (see [`Connections::opened`]).
    pub fn connections_opened(&self) -> u64 {
        self.connections.opened()
    }

    /// How long requests waited for a free connection since the last call
    /// (see [`Connections::take_waits`]).
    pub fn take_pool_waits(&self) -> hdrhistogram::Histogram<u64> {
        self.connections.take_waits()
    }

    pub fn has_admin_token(&self) -> bool {
        self.admin_token.is_some()
    }

    /// Sends one request, `path` relative to the base, and decodes a
    /// success as `T`.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> Reply<T> {
        let body = self.body_in_turn(Turn::UnderWay, method, path, bearer, body).await?;
        serde_json::from_slice(&body).map_err(|_| Failure::Decode)
    }

    /// Sends one request, waiting in `turn` when every connection is busy,
    /// and answers with the body of a success.
    async fn body_in_turn(
        &self,
        turn: Turn,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> Reply<Bytes> {
        let request = self.request(method, path, bearer, body)?;
        let answer = self.connections.send(request, turn).await?;
        if !(200..300).contains(&answer.status) {
            let (code, detail) = problem(&answer.body);
            return Err(Failure::Status { status: answer.status, code, detail });
        }
        Ok(answer.body)
    }

    fn request(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> Reply<Request<Full<Bytes>>> {
        let target = format!("{}{path}", self.base.path());
        let mut request = Request::builder().method(method).uri(target);
        if let Some(token) = bearer {
            let value = HeaderValue::try_from(format!("Bearer {token}"));
            request = request.header(AUTHORIZATION, value.map_err(|_| Failure::Transport)?);
        }
        let body = match body {
            Some(body) => {
                request = request.header(CONTENT_TYPE, "application/json");
                Bytes::from(serde_json::to_vec(&body).expect("a JSON value serializes"))
            }
            None => Bytes::new(),
        };
        request.body(Full::new(body)).map_err(|_| Failure::Transport)
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Reply<T> {
        self.call(Method::GET, path, None, None).await
    }

    fn admin(&self) -> Option<&str> {
        self.admin_token.as_deref()
    }

    pub async fn health(&self) -> Reply<serde_json::Value> {
        self.get("health").await
    }

    pub async fn performance(&self, performance: &PerformanceRef) -> Reply<PerformanceView> {
        self.get(&performance.path()).await
    }

    /// A performance's page as a buyer arriving reads it: a buyer's first
    /// request, which waits behind buyers under way when the pool is busy.
    /// `sections` is how many its layout has (see [`Glance::read`]).
    pub async fn glance(&self, performance: &PerformanceRef, sections: usize) -> Reply<Glance> {
        let path = performance.path();
        let page = self.body_in_turn(Turn::Arriving, Method::GET, &path, None, None).await?;
        Glance::read(&page, sections).ok_or(Failure::Decode)
    }

    /// One page of a performance's tickets, after the ticket id `after`, as
    /// `T`: [`TicketView`] for the audit, [`ListedTicket`] for a buyer.
    pub async fn tickets<T: DeserializeOwned>(
        &self,
        performance: &PerformanceRef,
        status: Option<&str>,
        limit: u32,
        after: Option<&str>,
    ) -> Reply<Vec<T>> {
        let mut path = format!("{}/tickets?limit={limit}", performance.path());
        if let Some(status) = status {
            path.push_str(&format!("&status={status}"));
        }
        if let Some(after) = after {
            path.push_str(&format!("&after={after}"));
        }
        self.get(&path).await
    }

    pub async fn register(&self, name: &str, email: &str, phone: &str) -> Reply<Account> {
        let body = serde_json::json!({ "name": name, "email": email, "phone": phone });
        self.call(Method::POST, "users", None, Some(body)).await
    }

    pub async fn reserve(
        &self,
        account: &Account,
        performance: u32,
        pick: &Pick,
    ) -> Reply<Reservation> {
        let body = match pick {
            Pick::Quantity { section, quantity } => serde_json::json!({
                "performance_id": performance, "section": section, "quantity": quantity,
            }),
            Pick::Tickets(ids) => {
                serde_json::json!({ "performance_id": performance, "ticket_ids": ids })
            }
        };
        let path = format!("users/{}/tickets", account.id);
        self.call(Method::POST, &path, Some(&account.token), Some(body)).await
    }

    pub async fn purchase(&self, account: &Account, ticket_ids: &[String]) -> Reply<Order> {
        let body = serde_json::json!({ "ticket_ids": ticket_ids, "payment_token": "tok" });
        let path = format!("users/{}/tickets", account.id);
        let reply = self.call::<OrderReply>(Method::PUT, &path, Some(&account.token), Some(body));
        reply.await.map(|reply| reply.order)
    }

    // The catalogue, as an admin.

    pub async fn create_city(&self, name: &str) -> Reply<u32> {
        let body = serde_json::json!({
            "name": name, "country": "CH", "time_zone": "Europe/Zurich", "currency": "CHF",
        });
        let reply = self.call::<Created>(Method::POST, "cities", self.admin(), Some(body)).await;
        reply.map(|created| created.id)
    }

    pub async fn create_venue(
        &self,
        city: u32,
        name: &str,
        layout: serde_json::Value,
    ) -> Reply<u32> {
        let body = serde_json::json!({ "name": name, "layout": layout });
        let path = format!("cities/{city}/venues");
        let reply = self.call::<Created>(Method::POST, &path, self.admin(), Some(body)).await;
        reply.map(|created| created.id)
    }

    pub async fn create_performance(
        &self,
        city: u32,
        venue: u32,
        title: &str,
        on_sale: &str,
    ) -> Reply<u32> {
        let body = serde_json::json!({
            "title": title, "start_local": "2099-06-01T20:00:00", "on_sale": on_sale,
        });
        let path = format!("cities/{city}/venues/{venue}/performances");
        let reply = self.call::<Created>(Method::POST, &path, self.admin(), Some(body)).await;
        reply.map(|created| created.id)
    }

    // Browsing, to find a performance without the admin token.

    pub async fn list_ids(&self, path: &str) -> Reply<Vec<u32>> {
        let mut ids = Vec::new();
        let mut after: Option<u32> = None;
        loop {
            let mut page = format!("{path}?limit=1000");
            if let Some(after) = after {
                page.push_str(&format!("&after={after}"));
            }
            let found: Vec<Created> = self.get(&page).await?;
            let full = found.len() == 1000;
            ids.extend(found.iter().map(|item| item.id));
            after = ids.last().copied();
            if !full {
                return Ok(ids);
            }
        }
    }

    pub async fn performances_at(&self, city: u32, venue: u32) -> Reply<Vec<PerformanceView>> {
        self.get(&format!("cities/{city}/venues/{venue}/performances?limit=1000")).await
    }
}

/// The `code` and `detail` members of an RFC 9457 problem body, where
/// there are.
fn problem(body: &[u8]) -> (Option<String>, Option<String>) {
    #[derive(Deserialize)]
    struct Problem {
        code: Option<String>,
        detail: Option<String>,
    }
    match serde_json::from_slice::<Problem>(body) {
        Ok(problem) => (problem.code, problem.detail),
        Err(_) => (None, None),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use api::performance_page::PerformancePage;
    use engine::catalogue::{City, Currency, PerformanceInfo, Venue};
    use engine::ids::{CityId, PerformanceId, VenueId};
    use engine::time::Timestamp;

    use super::*;

    /// A name that puts the count's key, quotes and braces inside strings.
    const AWKWARD: &str = "\"available\":7,\"sections\":[{}] \\ Zürich";

    /// The page Boxoffice serves for `layout` with these counts.
    fn page(layout: &str, counts: impl Fn(usize) -> u32) -> (Vec<u8>, usize) {
        let (_, layout) = api::seed::layouts().into_iter().find(|(id, _)| id == layout).unwrap();
        let sections = layout.sections.len();
        let currency = Currency { code: "CHF".into(), exponent: 2 };
        let country = "CH".into();
        let time_zone = "Europe/Zurich".into();
        let city = City { id: CityId(1), name: AWKWARD.into(), country, time_zone, currency };
        let layout = Arc::new(layout);
        let venue = Venue { id: VenueId(2), city: city.id, name: AWKWARD.into(), layout };
        let info = PerformanceInfo {
            id: PerformanceId(3),
            venue: venue.id,
            city: city.id,
            title: AWKWARD.into(),
            start_local: "2030-10-27T20:00:00".into(),
            start: Timestamp(1_919_526_000_000),
            utc_offset_seconds: 3_600,
            on_sale: Timestamp(1_900_000_000_000),
            order_max: 10,
            user_max: 40,
        };
        let page = PerformancePage::new(&info, &city, &venue).unwrap();
        let counts: Vec<u32> = (0..sections).map(counts).collect();
        (page.render(&counts).into_bytes(), sections)
    }

    #[test]
    fn a_glance_scans_the_same_counts_as_a_full_parse() {
        for layout in ["club", "arena", "stadium"] {
            let (page, sections) = page(layout, |index| (index as u32 * 7919) % 1000);
            let parsed: Glance = serde_json::from_slice(&page).unwrap();

            assert!(scan_counts(&page).is_some(), "{layout}: the scan reads the page");
            assert_eq!(Glance::read(&page, sections), Some(parsed), "{layout}");
        }
    }

    #[test]
    fn a_page_of_another_shape_is_parsed_in_full() {
        let (page, sections) = page("arena", |_| 9_999_999);
        let parsed: Glance = serde_json::from_slice(&page).unwrap();
        assert!(scan_counts(&page).is_some(), "long counts are scanned");
        assert_eq!(Glance::read(&page, sections + 1), Some(parsed), "a layout mismatch");

        let cut_short = &page[..page.len() - 2];
        assert_eq!(scan_counts(cut_short), None, "a page cut short");
        assert_eq!(scan_counts(br#"{"available":0,"sections":["#), None, "no sections, cut short");
        assert_eq!(scan_counts(br#"{"available":0,"sections":[]}"#), Some((0, vec![])));

        let missing = br#"{"available":5,"sections":[{"name":"A"},{"name":"B","available":5}]}"#;
        let parsed: Glance = serde_json::from_slice(missing).unwrap();
        assert_eq!(Glance::read(missing, 2), Some(parsed), "a section without its count");

        let reordered = br#"{"sections":[{"available":2}],"available":2}"#;
        assert_eq!(scan_counts(reordered), None);
        assert_eq!(Glance::read(reordered, 1).map(|glance| glance.available), Some(2));

        assert_eq!(Glance::read(b"<html>busy</html>", 1), None);
    }

    #[test]
    fn a_failure_is_counted_by_its_code_and_told_with_its_detail() {
        let body = br#"{"type":"about:blank","code":"invalid-field","detail":"too many places"}"#;
        let (code, detail) = problem(body);
        let failure = Failure::Status { status: 422, code, detail };

        assert_eq!(failure.key(), "422 invalid-field");
        assert_eq!(failure.to_string(), "422 invalid-field (too many places)");
        assert_eq!(problem(b"not json"), (None, None));
        assert_eq!(Failure::Timeout.to_string(), "timeout");
    }
}
