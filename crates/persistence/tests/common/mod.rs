//! Helpers shared by the persistence tests: stores in temporary
//! directories, events that say who appended them, and seat maps.

#![allow(dead_code)]

use std::path::Path;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use engine::booking::{Booking, BookingSnapshot};
use engine::catalogue::{Layout, PerformanceInfo, SeatPlan, Section, SectionKind};
use engine::events::{Event, User};
use engine::ids::{CityId, PerformanceId, UserId, VenueId};
use engine::journal::{Journal, JournalError};
use engine::time::Timestamp;
use persistence::{Store, StoreError, StoreOptions};

pub const ACK_TIMEOUT: Duration = Duration::from_secs(60);

pub fn open(dir: &Path) -> Store {
    open_with(dir, StoreOptions::default()).expect("the store opens")
}

/// Opens the store, waiting while a just-closed one in this process still
/// holds the directory's lock.
pub fn open_with(dir: &Path, options: StoreOptions) -> Result<Store, StoreError> {
    when_unlocked(|| Store::open(dir, options.clone()))
}

/// Opens sled itself, waiting for the lock like [`open_with`].
pub fn open_raw(dir: &Path) -> sled::Db {
    when_unlocked(|| sled::Config::new().path(dir).open()).expect("sled opens the directory")
}

/// Retries `attempt` while it fails on sled's directory lock: sled's
/// background threads release a closed database a moment after it drops.
pub fn when_unlocked<T, E: std::fmt::Display>(
    mut attempt: impl FnMut() -> Result<T, E>,
) -> Result<T, E> {
    for _ in 0..400 {
        match attempt() {
            Err(error) if error.to_string().contains("could not acquire lock") => {
                std::thread::sleep(Duration::from_millis(25));
            }
            outcome => return outcome,
        }
    }
    attempt()
}

/// A registration whose id and name say which thread appended it, and when.
pub fn event(thread: u32, index: u32) -> Event {
    Event::UserRegistered(User {
        id: UserId(thread * 1_000_000 + index),
        name: format!("thread {thread} event {index}"),
        email: format!("t{thread}-{index}@example.org"),
        phone: "+41 00 000 00 00".into(),
        token_sha256: [thread as u8; 32],
    })
}

/// An event bigger than any value the store writes.
pub fn huge_event(id: u32, bytes: usize) -> Event {
    Event::UserRegistered(User {
        id: UserId(id),
        name: "x".repeat(bytes),
        email: String::new(),
        phone: String::new(),
        token_sha256: [0; 32],
    })
}

pub fn user_id(event: &Event) -> u32 {
    match event {
        Event::UserRegistered(user) => user.id.0,
        other => panic!("not a test event: {other:?}"),
    }
}

/// Appends and waits for the ack.
pub fn append_and_wait(journal: &impl Journal, events: Vec<Event>) -> Result<(), JournalError> {
    let (sender, receiver) = mpsc::channel();
    journal.append(
        events,
        Box::new(move |result| {
            let _ = sender.send(result);
        }),
    );
    receiver.recv_timeout(ACK_TIMEOUT).expect("the ack arrives")
}

pub fn performance(id: u32) -> PerformanceInfo {
    PerformanceInfo {
        id: PerformanceId(id),
        venue: VenueId(1),
        city: CityId(1),
        title: format!("Performance {id}"),
        start_local: "2030-10-27T20:00:00".into(),
        start: Timestamp(1_919_000_000_000),
        utc_offset_seconds: 3600,
        on_sale: Timestamp(1_900_000_000_000),
        order_max: 10,
        user_max: 20,
    }
}

pub fn small_layout() -> Layout {
    Layout {
        sections: vec![Section {
            name: "Stalls".into(),
            kind: SectionKind::Seated { rows: 10, seats_per_row: 20 },
            price_minor: 5_000,
        }],
    }
}

/// 78,584 places, like the largest stadium we sell.
pub fn stadium_layout() -> Layout {
    Layout {
        sections: vec![
            Section {
                name: "Stands".into(),
                kind: SectionKind::Seated { rows: 98, seats_per_row: 800 },
                price_minor: 9_000,
            },
            Section {
                name: "Floor".into(),
                kind: SectionKind::Standing { capacity: 184 },
                price_minor: 7_000,
            },
        ],
    }
}

/// A snapshot of `layout`, marked with `mark` so two snapshots of one
/// performance can be told apart.
pub fn snapshot(id: u32, layout: Layout, mark: u64) -> BookingSnapshot {
    let plan = Arc::new(SeatPlan::new(Arc::new(layout)));
    let mut snapshot = Booking::new(performance(id), plan).snapshot();
    snapshot.seq = mark;
    snapshot
}

/// A stadium snapshot as big as a busy one: every ticket linked to a large
/// hold or order number, so it encodes to some 400 KB.
pub fn busy_stadium_snapshot(id: u32, mark: u64) -> BookingSnapshot {
    let mut snapshot = snapshot(id, stadium_layout(), mark);
    for (ticket, link) in snapshot.link.iter_mut().enumerate() {
        *link = 3_000_000 + ticket as u32 * 7;
    }
    snapshot
}

/// Every (tree, key, value length) in the sled database in `dir`; the store
/// must be closed.
pub fn raw_entries(dir: &Path) -> Vec<(String, Vec<u8>, usize)> {
    let db = open_raw(dir);
    let mut entries = Vec::new();
    for name in db.tree_names() {
        let tree = db.open_tree(&name).expect("a tree");
        let tree_name = String::from_utf8_lossy(&name).into_owned();
        for entry in tree.iter() {
            let (key, value) = entry.expect("an entry");
            entries.push((tree_name.clone(), key.to_vec(), value.len()));
        }
    }
    entries
}

/// The log keys in `dir`, as sequence numbers; the store must be closed.
pub fn raw_log_seqs(dir: &Path) -> Vec<u64> {
    raw_entries(dir)
        .into_iter()
        .filter(|(tree, _, _)| tree == "log")
        .map(|(_, key, _)| u64::from_be_bytes(key.try_into().expect("8 byte log keys")))
        .collect()
}

/// Files under `blobs/` that hold anything.
pub fn blobs_with_content(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir.join("blobs")) else { return Vec::new() };
    entries
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| std::fs::metadata(path).is_ok_and(|meta| meta.len() > 0))
        .collect()
}
