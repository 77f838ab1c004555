//! Checkpoints: what recovery returns after them, and what they remove.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::{
    append_and_wait, blobs_with_content, busy_stadium_snapshot, event, huge_event, open,
    performance, raw_entries, raw_log_seqs, small_layout, snapshot,
};
use engine::catalogue::{Catalogue, City, Currency};
use engine::events::{Event, User};
use engine::ids::{CityId, PerformanceId};
use engine::journal::{Checkpoint, Journal, LogPosition};
use persistence::{MAX_VALUE_BYTES, VALUE_LIMIT_CEILING};

fn catalogue() -> Catalogue {
    let mut catalogue = Catalogue::default();
    let city = City {
        id: CityId(1),
        name: "Zürich".into(),
        country: "CH".into(),
        time_zone: "Europe/Zurich".into(),
        currency: Currency { code: "CHF".into(), exponent: 2 },
    };
    catalogue.cities.insert(city.id, city);
    catalogue.performances.insert(PerformanceId(1), performance(1));
    catalogue
}

fn users(count: u32) -> Vec<Arc<User>> {
    (0..count)
        .map(|index| match event(9, index) {
            Event::UserRegistered(user) => Arc::new(user),
            _ => unreachable!("test events are registrations"),
        })
        .collect()
}

#[test]
fn recovery_returns_the_checkpoint_and_the_tail_after_it() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = open(dir.path());
    let journal = store.journal();
    let before: Vec<_> = (0..50).map(|index| event(0, index)).collect();
    let after: Vec<_> = (0..50).map(|index| event(1, index)).collect();

    append_and_wait(&*journal, before).expect("durable");
    let position = journal.durable_position();
    append_and_wait(&*journal, after.clone()).expect("durable");
    let bookings = vec![snapshot(1, small_layout(), 5), snapshot(2, small_layout(), 7)];
    let checkpoint = Checkpoint { catalogue: catalogue(), users: users(3), bookings };
    journal.checkpoint(position, checkpoint.clone()).expect("the checkpoint is durable");
    drop((store, journal));

    assert!(raw_log_seqs(dir.path()).iter().all(|&seq| seq >= position.0), "log before trimmed");
    let recovery = open(dir.path()).recover().expect("the store recovers");
    let recovered = recovery.checkpoint.expect("a checkpoint");
    assert_eq!(recovered.position, position);
    assert_eq!(recovered.catalogue.cities, checkpoint.catalogue.cities);
    assert_eq!(recovered.catalogue.performances, checkpoint.catalogue.performances);
    let users: Vec<User> = checkpoint.users.iter().map(|user| User::clone(user)).collect();
    assert_eq!(recovered.users, users);
    assert_eq!(recovered.bookings.values().cloned().collect::<Vec<_>>(), checkpoint.bookings);
    assert_eq!(recovery.tail, after);
}

/// A large checkpoint is made durable a slice at a time, and pauses for the
/// commits going on meanwhile: none of them may be lost or reordered, and
/// the checkpoint must be whole.
#[test]
fn a_checkpoint_written_in_slices_between_commits_loses_nothing() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = open(dir.path());
    let journal = store.journal();
    append_and_wait(&*journal, (0..100).map(|index| event(0, index)).collect()).expect("durable");
    let position = journal.durable_position();

    // Commits one event at a time until the checkpoint is done (or 20,000).
    let checkpointed = Arc::new(AtomicBool::new(false));
    let writer = std::thread::spawn({
        let (journal, checkpointed) = (journal.clone(), checkpointed.clone());
        move || {
            let mut during = Vec::new();
            for index in 0..20_000 {
                if checkpointed.load(Ordering::Acquire) {
                    break;
                }
                during.push(event(1, index));
                append_and_wait(&*journal, vec![event(1, index)]).expect("durable");
            }
            during
        }
    });
    // Some 3 MB: several slices.
    let stadiums: Vec<_> = (1..=6).map(|id| busy_stadium_snapshot(id, 3)).collect();
    let checkpoint =
        Checkpoint { catalogue: catalogue(), users: users(20_000), bookings: stadiums.clone() };
    let started = (journal.commits(), std::time::Instant::now());
    while journal.commits() == started.0 {
        assert!(started.1.elapsed().as_secs() < 60, "the writer never committed");
        std::thread::yield_now();
    }
    let commits_before = journal.commits();
    journal.checkpoint(position, checkpoint).expect("durable");
    let commits_during = journal.commits() - commits_before;
    checkpointed.store(true, Ordering::Release);
    let during = writer.join().expect("the writer finishes");
    drop((store, journal));

    assert!(commits_during > 0, "the commits went on during the checkpoint");

    let recovery = open(dir.path()).recover().expect("the store recovers");
    assert_eq!(recovery.tail, during, "every commit, in order");
    let recovered = recovery.checkpoint.expect("a checkpoint");
    assert_eq!(recovered.bookings.into_values().collect::<Vec<_>>(), stadiums);
    assert_eq!(recovered.users.len(), 20_000);
}

#[test]
fn a_later_checkpoint_replaces_only_the_snapshots_it_includes() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = open(dir.path());
    let journal = store.journal();
    let first = vec![snapshot(1, small_layout(), 1), snapshot(2, small_layout(), 1)];
    let checkpoint = Checkpoint { bookings: first, ..Checkpoint::default() };
    journal.checkpoint(journal.durable_position(), checkpoint).expect("durable");

    append_and_wait(&*journal, vec![event(0, 0)]).expect("durable");
    let replacement = snapshot(1, small_layout(), 2);
    let checkpoint = Checkpoint { bookings: vec![replacement.clone()], ..Checkpoint::default() };
    journal.checkpoint(journal.durable_position(), checkpoint).expect("durable");
    append_and_wait(&*journal, vec![event(0, 1)]).expect("durable");
    drop((store, journal));

    let recovery = open(dir.path()).recover().expect("the store recovers");
    let bookings = recovery.checkpoint.expect("a checkpoint").bookings;
    assert_eq!(bookings[&PerformanceId(1)], replacement);
    assert_eq!(bookings[&PerformanceId(2)], snapshot(2, small_layout(), 1));
    assert_eq!(recovery.tail, vec![event(0, 1)]);
    let snapshot_values = raw_entries(dir.path()).iter().filter(|e| e.0 == "snapshots").count();
    assert!(snapshot_values < 10, "replaced chunks are removed: {snapshot_values} values");
}

#[test]
fn appends_continue_after_a_checkpoint_that_emptied_the_log() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = open(dir.path());
    let journal = store.journal();
    append_and_wait(&*journal, vec![event(0, 0)]).expect("durable");
    let position = journal.durable_position();
    journal.checkpoint(position, Checkpoint::default()).expect("durable");
    drop((store, journal));

    let store = open(dir.path());
    assert_eq!(store.journal().durable_position(), position, "no sequence number reused");
    append_and_wait(&*store.journal(), vec![event(0, 1)]).expect("durable");
    drop(store);

    let recovery = open(dir.path()).recover().expect("the store recovers");
    assert_eq!(recovery.tail, vec![event(0, 1)]);
}

#[test]
fn a_checkpoint_past_the_durable_position_is_refused_without_failing() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = open(dir.path());
    let journal = store.journal();

    let refused = journal.checkpoint(LogPosition(99), Checkpoint::default());

    assert!(refused.is_err());
    assert!(!journal.is_failed());
    append_and_wait(&*journal, vec![event(0, 0)]).expect("still durable");
}

#[test]
fn a_checkpoint_inside_a_record_is_refused_without_failing() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = open(dir.path());
    let journal = store.journal();
    append_and_wait(&*journal, vec![huge_event(1, 20_000)]).expect("durable");
    assert!(journal.durable_position() > LogPosition(2), "the event spans several values");

    let refused = journal.checkpoint(LogPosition(1), Checkpoint::default());

    assert!(refused.is_err());
    assert!(!journal.is_failed());
}

#[test]
fn no_value_exceeds_the_limit_and_sled_writes_no_blobs() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = open(dir.path());
    let journal = store.journal();
    let mut big_batch: Vec<_> = (0..10_000).map(|index| event(0, index)).collect();
    big_batch.insert(5_000, huge_event(77, 300 * 1024));

    append_and_wait(&*journal, big_batch.clone()).expect("durable");
    let position = journal.durable_position();
    append_and_wait(&*journal, big_batch.clone()).expect("durable");
    let stadiums: Vec<_> = (1..=3).map(|id| busy_stadium_snapshot(id, 1)).collect();
    let stadium_bytes = postcard::to_stdvec(&stadiums[0]).expect("encodes").len();
    assert!(stadium_bytes > 350_000, "a realistic stadium snapshot: {stadium_bytes} bytes");
    let checkpoint =
        Checkpoint { catalogue: catalogue(), users: users(20_000), bookings: stadiums };
    journal.checkpoint(position, checkpoint).expect("durable");
    assert_eq!(blobs_with_content(dir.path()), Vec::<std::path::PathBuf>::new());
    drop((store, journal));

    let entries = raw_entries(dir.path());
    let largest = entries.iter().map(|&(_, _, len)| len).max().expect("some values");
    assert!(largest <= MAX_VALUE_BYTES && MAX_VALUE_BYTES <= VALUE_LIMIT_CEILING, "{largest}");
    assert!(entries.len() > 300, "the stadiums and the batches were chunked");
    assert_eq!(blobs_with_content(dir.path()), Vec::<std::path::PathBuf>::new());

    let recovery = open(dir.path()).recover().expect("the store recovers");
    assert_eq!(recovery.tail, big_batch);
    let bookings = recovery.checkpoint.expect("a checkpoint").bookings;
    assert_eq!(bookings[&PerformanceId(2)], busy_stadium_snapshot(2, 1));
}

/// Three hot performances snapshotted at every checkpoint, each time with
/// a performance that nobody touches again: every pack still holds a live
/// snapshot, so without compaction every pack would stay, full of the hot
/// ones' dead snapshots.
#[test]
fn packs_kept_mostly_for_dead_snapshots_are_compacted_away() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = open(dir.path());
    let journal = store.journal();
    let packs_dir = dir.path().join("checkpoints");
    let quiet = |mark: u64| snapshot(100 + mark as u32, small_layout(), mark);

    let mut packs_after_each = Vec::new();
    for mark in 1..=6 {
        append_and_wait(&*journal, vec![event(0, mark as u32)]).expect("durable");
        let hot = (1..=3).map(|performance| busy_stadium_snapshot(performance, mark));
        let bookings = hot.chain([quiet(mark)]).collect();
        let checkpoint = Checkpoint { bookings, ..Checkpoint::default() };
        journal.checkpoint(journal.durable_position(), checkpoint).expect("durable");
        let files = std::fs::read_dir(&packs_dir).expect("the checkpoint files");
        let packs = files.filter(|file| {
            file.as_ref().expect("a file").path().extension().is_some_and(|e| e == "pack")
        });
        packs_after_each.push(packs.count());
    }
    drop((store, journal));

    assert!(packs_after_each.iter().all(|&packs| packs <= 2), "packs: {packs_after_each:?}");
    let recovery = open(dir.path()).recover().expect("the store recovers");
    let bookings = recovery.checkpoint.expect("a checkpoint").bookings;
    assert_eq!(bookings.len(), 9);
    for performance in 1..=3 {
        assert_eq!(bookings[&PerformanceId(performance)], busy_stadium_snapshot(performance, 6));
    }
    for mark in 1..=6 {
        assert_eq!(bookings[&PerformanceId(100 + mark as u32)], quiet(mark));
    }
}

/// Files a checkpoint cannot write (here its directory is gone, a plain
/// file in its place) fail that checkpoint only: the log goes on taking
/// appends, and a later checkpoint, once it can write, succeeds.
#[test]
fn a_checkpoint_that_cannot_write_its_files_fails_alone() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = open(dir.path());
    let journal = store.journal();
    append_and_wait(&*journal, vec![event(0, 0)]).expect("durable");
    let files = dir.path().join("checkpoints");
    std::fs::remove_dir(&files).expect("the empty checkpoints directory");
    std::fs::write(&files, "not a directory").expect("a write");

    let bookings = vec![snapshot(1, small_layout(), 1)];
    let checkpoint = Checkpoint { bookings: bookings.clone(), ..Checkpoint::default() };
    let e =
        journal.checkpoint(journal.durable_position(), checkpoint).expect_err("it cannot write");
    eprintln!("ERR {e:?}");
    append_and_wait(&*journal, vec![event(0, 1)]).expect("the log still takes appends");

    std::fs::remove_file(&files).expect("the plain file goes");
    std::fs::create_dir(&files).expect("the directory is back");
    let position = journal.durable_position();
    let checkpoint = Checkpoint { bookings: bookings.clone(), ..Checkpoint::default() };
    journal.checkpoint(position, checkpoint).expect("durable");
    append_and_wait(&*journal, vec![event(0, 2)]).expect("durable");
    drop((store, journal));

    let recovery = open(dir.path()).recover().expect("the store recovers");
    let recovered = recovery.checkpoint.expect("a checkpoint");
    assert_eq!(recovered.position, position);
    assert_eq!(recovered.bookings.into_values().collect::<Vec<_>>(), bookings);
    assert_eq!(recovery.tail, vec![event(0, 2)]);
}
