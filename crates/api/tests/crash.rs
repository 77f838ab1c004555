//! Crash test: buyers reserve and buy while the server is killed with
//! SIGKILL at random moments; after every restart, each change the server
//! acknowledged must be there, and no ticket may have two owners.
//!
//! What a buyer was never told may have happened or not: a request cut off
//! by the kill is "uncertain", and either outcome passes.
//!
//! The server checkpoints every 150 ms, so recovery starts from snapshots
//! as well as from the log alone.
//!
//! `BOXOFFICE_CRASH_ROUNDS` sets the number of kills (default 20), for a
//! longer run by hand: `BOXOFFICE_CRASH_ROUNDS=500 cargo test -p api --test crash`.

mod process;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use process::{create_world, Launch, ServerProcess, World};
use rand::Rng;
use serde_json::{json, Value};

/// What one buyer was told, and what is still open to doubt.
#[derive(Clone, Debug, Default)]
struct Buyer {
    id: u64,
    token: String,
    reserved: BTreeSet<String>,
    purchased: BTreeSet<String>,
    /// Tickets whose last change's outcome the buyer never learned.
    uncertain: BTreeSet<String>,
    /// A reserve by quantity whose answer never came: up to this many
    /// tickets the buyer was never told of may be theirs.
    uncertain_quantity: usize,
}

type Ledger = Arc<Mutex<Vec<Buyer>>>;

fn rounds() -> usize {
    std::env::var("BOXOFFICE_CRASH_ROUNDS").ok().and_then(|n| n.parse().ok()).unwrap_or(20)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_changes_survive_kill_9() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let data_dir = dir.path().join("data");
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();

    let mut server = ServerProcess::start(launch(&data_dir)).await;
    let world = create_world(&client, &server.base).await;
    let ledger: Ledger = Arc::default();

    for round in 0..rounds() {
        let stop = Arc::new(AtomicBool::new(false));
        let buyers: Vec<_> = (0..6)
            .map(|_| {
                tokio::spawn(buy(
                    client.clone(),
                    server.base.clone(),
                    world.performance,
                    ledger.clone(),
                    stop.clone(),
                ))
            })
            .collect();

        let delay = rand::rng().random_range(50..400);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        server.kill9();
        stop.store(true, Ordering::SeqCst);
        for buyer in buyers {
            buyer.await.expect("a buyer task");
        }

        server = ServerProcess::start(launch(&data_dir)).await;
        audit(&client, &server, &world, &ledger, round).await;
    }

    let buyers = ledger.lock();
    let sold: usize = buyers.iter().map(|buyer| buyer.purchased.len()).sum();
    let held: usize = buyers.iter().map(|buyer| buyer.reserved.len()).sum();
    eprintln!(
        "{} kills survived: {} buyers, {sold} tickets sold, {held} held",
        rounds(),
        buyers.len()
    );
    assert!(sold > 0, "the buyers never got to buy anything");
}

/// Checkpoints every 150 ms, so kills land before, during and after them
/// and recovery runs from snapshots plus the log as often as from the log.
fn launch(data_dir: &std::path::Path) -> Launch<'_> {
    let mut launch = Launch::new(data_dir);
    launch.args.push("--checkpoint-every=150ms".into());
    launch
}

/// One buyer after another: sign up, reserve, buy most, release some.
async fn buy(
    client: reqwest::Client,
    base: String,
    performance: u32,
    ledger: Ledger,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::SeqCst) {
        let Some(slot) = sign_up(&client, &base, &ledger).await else { return };
        for _ in 0..3 {
            if stop.load(Ordering::SeqCst)
                || !reserve_and_buy(&client, &base, performance, &ledger, slot).await
            {
                return;
            }
        }
    }
}

async fn sign_up(client: &reqwest::Client, base: &str, ledger: &Ledger) -> Option<usize> {
    let n: u64 = rand::rng().random();
    let body = json!({ "name": "Käufer 🎟", "email": format!("buyer-{n}@example.org"), "phone": "+41 44 123 45 67" });
    let response = client.post(format!("{base}/users")).json(&body).send().await.ok()?;
    assert_eq!(response.status(), 201);
    let user: Value = response.json().await.ok()?;

    let mut buyers = ledger.lock();
    buyers.push(Buyer {
        id: user["id"].as_u64().expect("a user id"),
        token: user["token"].as_str().expect("a token").to_owned(),
        ..Buyer::default()
    });
    Some(buyers.len() - 1)
}

/// Returns false once the server is gone.
async fn reserve_and_buy(
    client: &reqwest::Client,
    base: &str,
    performance: u32,
    ledger: &Ledger,
    slot: usize,
) -> bool {
    let (id, token) = {
        let buyers = ledger.lock();
        (buyers[slot].id, buyers[slot].token.clone())
    };
    let url = format!("{base}/users/{id}/tickets");
    let section = if rand::rng().random_bool(0.8) { "Stalls" } else { "Floor" };
    let quantity = rand::rng().random_range(1..=3usize);

    let body = json!({ "performance_id": performance, "section": section, "quantity": quantity });
    ledger.lock()[slot].uncertain_quantity += quantity;
    let Ok(response) = client.post(&url).bearer_auth(&token).json(&body).send().await else {
        return false;
    };
    let status = response.status();
    let Ok(answer) = response.json::<Value>().await else { return false };
    ledger.lock()[slot].uncertain_quantity -= quantity;
    if status != 201 {
        assert!(status == 409, "reserve answered {status}: {answer}");
        return true;
    }
    let held: Vec<String> = ids(&answer["tickets"]);
    ledger.lock()[slot].reserved.extend(held.iter().cloned());

    if rand::rng().random_bool(0.2) {
        return release(client, &url, &token, ledger, slot, &held[0]).await;
    }
    purchase(client, &url, &token, ledger, slot, held).await
}

async fn purchase(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    ledger: &Ledger,
    slot: usize,
    held: Vec<String>,
) -> bool {
    ledger.lock()[slot].uncertain.extend(held.iter().cloned());
    let body = json!({ "ticket_ids": held, "payment_token": "tok_visa" });
    let Ok(response) = client.put(url).bearer_auth(token).json(&body).send().await else {
        return false;
    };
    let status = response.status();
    if response.bytes().await.is_err() {
        return false;
    }
    assert_eq!(status, 200, "purchase of a live hold");

    let mut buyers = ledger.lock();
    let buyer = &mut buyers[slot];
    for ticket in held {
        buyer.uncertain.remove(&ticket);
        buyer.reserved.remove(&ticket);
        buyer.purchased.insert(ticket);
    }
    true
}

async fn release(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    ledger: &Ledger,
    slot: usize,
    ticket: &str,
) -> bool {
    ledger.lock()[slot].uncertain.insert(ticket.to_owned());
    let Ok(response) = client.delete(format!("{url}/{ticket}")).bearer_auth(token).send().await
    else {
        return false;
    };
    assert_eq!(response.status(), 204, "release of a live hold");

    let mut buyers = ledger.lock();
    buyers[slot].uncertain.remove(ticket);
    buyers[slot].reserved.remove(ticket);
    true
}

fn ids(tickets: &Value) -> Vec<String> {
    let tickets = tickets.as_array().expect("a ticket list");
    tickets.iter().map(|t| t["id"].as_str().expect("a ticket id").to_owned()).collect()
}

/// Checks the restarted server against what every buyer was told, then
/// takes what it holds as the truth for the next round.
async fn audit(
    client: &reqwest::Client,
    server: &ServerProcess,
    world: &World,
    ledger: &Ledger,
    round: usize,
) {
    let buyers = ledger.lock().clone();
    let mut owner_of: BTreeMap<String, u64> = BTreeMap::new();
    let mut settled = Vec::with_capacity(buyers.len());

    for buyer in buyers {
        let (reserved, purchased) = own_tickets(client, &server.base, &buyer).await;
        check_buyer(&buyer, &reserved, &purchased, round);
        for ticket in reserved.iter().chain(&purchased) {
            let previous = owner_of.insert(ticket.clone(), buyer.id);
            assert!(previous.is_none(), "round {round}: ticket {ticket} has two owners");
        }
        settled.push(Buyer {
            reserved,
            purchased,
            uncertain: BTreeSet::new(),
            uncertain_quantity: 0,
            ..buyer
        });
    }

    let taken = taken_tickets(client, &server.base, world).await;
    let owned: BTreeSet<String> = owner_of.keys().cloned().collect();
    assert_eq!(taken, owned, "round {round}: the seat map and the buyers' lists disagree");
    *ledger.lock() = settled;
}

fn check_buyer(
    buyer: &Buyer,
    reserved: &BTreeSet<String>,
    purchased: &BTreeSet<String>,
    round: usize,
) {
    let id = buyer.id;
    for ticket in &buyer.purchased {
        assert!(
            purchased.contains(ticket),
            "round {round}: buyer {id} lost purchased ticket {ticket}"
        );
    }
    for ticket in buyer.reserved.difference(&buyer.uncertain) {
        assert!(reserved.contains(ticket), "round {round}: buyer {id} lost held ticket {ticket}");
    }
    for ticket in purchased.difference(&buyer.purchased) {
        assert!(
            buyer.uncertain.contains(ticket),
            "round {round}: buyer {id} owns {ticket}, never bought"
        );
    }
    let unexplained = reserved.difference(&buyer.reserved).count();
    assert!(
        unexplained <= buyer.uncertain_quantity,
        "round {round}: buyer {id} holds {unexplained} tickets never reserved"
    );
}

async fn own_tickets(
    client: &reqwest::Client,
    base: &str,
    buyer: &Buyer,
) -> (BTreeSet<String>, BTreeSet<String>) {
    let url = format!("{base}/users/{}/tickets", buyer.id);
    let response =
        client.get(url).bearer_auth(&buyer.token).send().await.expect("the server answers");
    assert_eq!(response.status(), 200, "buyer {} can still sign in", buyer.id);
    let tickets: Vec<Value> = response.json().await.expect("a ticket list");

    let (mut reserved, mut purchased) = (BTreeSet::new(), BTreeSet::new());
    for ticket in tickets {
        let id = ticket["id"].as_str().expect("an id").to_owned();
        match ticket["status"].as_str() {
            Some("reserved") => reserved.insert(id),
            Some("purchased") => purchased.insert(id),
            other => panic!("a buyer's ticket with status {other:?}"),
        };
    }
    (reserved, purchased)
}

/// Every ticket of the performance that is not available, page by page.
async fn taken_tickets(client: &reqwest::Client, base: &str, world: &World) -> BTreeSet<String> {
    let mut url =
        format!("{base}/cities/1/venues/1/performances/{}/tickets?limit=1000", world.performance);
    let (mut seen, mut taken) = (0, BTreeSet::new());
    loop {
        let response = client.get(&url).send().await.expect("the server answers");
        let next = next_page(&response).map(|path| format!("{base}{path}"));
        let tickets: Vec<Value> = response.json().await.expect("a ticket list");
        seen += tickets.len();
        let not_available = tickets.iter().filter(|t| t["status"] != "available");
        taken.extend(not_available.map(|t| t["id"].as_str().expect("an id").to_owned()));
        match next {
            Some(next) => url = next,
            None => break,
        }
    }
    assert_eq!(seen, world.capacity);
    taken
}

/// The path in a `Link: <…>; rel="next"` header.
fn next_page(response: &reqwest::Response) -> Option<String> {
    let link = response.headers().get("link")?.to_str().ok()?;
    let (target, _) = link.strip_prefix('<')?.split_once('>')?;
    Some(target.to_owned())
}
