//! Data the store cannot read is reported as an error, never a panic.

mod common;

use common::{append_and_wait, event, open, open_raw, open_with, small_layout, snapshot};
use engine::journal::{Checkpoint, Journal};
use persistence::{StoreError, StoreOptions};

fn with_raw_tree(dir: &std::path::Path, tree: &str, change: impl FnOnce(&sled::Tree)) {
    let db = open_raw(dir);
    change(&db.open_tree(tree).expect("the tree"));
    db.flush().expect("sled flushes");
}

#[test]
fn an_undecodable_log_value_is_a_store_error() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = open(dir.path());
    append_and_wait(&*store.journal(), vec![event(0, 0)]).expect("durable");
    drop(store);

    // Over a value of a commit written whole: anything past the last commit
    // would be taken for what a crash left of one, and removed.
    with_raw_tree(dir.path(), "log", |log| {
        log.insert(0u64.to_be_bytes(), vec![0b11, 0xff, 0xff, 0xff]).expect("an insert");
    });

    let error = open(dir.path()).recover().expect_err("the garbage is refused");
    assert!(matches!(error, StoreError::Corrupt { .. }), "{error}");
}

#[test]
fn a_malformed_log_key_is_a_store_error() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    with_raw_tree(dir.path(), "log", |log| {
        log.insert(b"nope", vec![0b11]).expect("an insert");
    });

    let opened = open_with(dir.path(), StoreOptions::default());
    assert!(matches!(opened, Err(StoreError::Corrupt { .. })));
}

/// An earlier version's root that does not decode, and the empty one that
/// fences earlier versions off, alone, without the checkpoint it goes with.
#[test]
fn an_undecodable_checkpoint_is_a_store_error() {
    for root in [vec![1, 2, 3], Vec::new()] {
        let dir = tempfile::tempdir().expect("a temporary directory");
        with_raw_tree(dir.path(), "snapshots", |snapshots| {
            snapshots.insert(b"root", root).expect("an insert");
        });

        let opened = open_with(dir.path(), StoreOptions::default());
        assert!(matches!(opened, Err(StoreError::Corrupt { .. })));
    }
}

#[test]
fn checkpoint_files_that_lost_or_changed_bytes_are_a_store_error() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = open(dir.path());
    let journal = store.journal();
    let bookings = vec![snapshot(1, small_layout(), 1)];
    let checkpoint = Checkpoint { bookings, ..Checkpoint::default() };
    journal.checkpoint(journal.durable_position(), checkpoint).expect("durable");
    drop((store, journal));
    let files = dir.path().join("checkpoints");

    // The pack's snapshot is read at recovery; the root file's manifest
    // already when the store opens.
    for name in ["00000000000000000001.pack", "00000000000000000001.root"] {
        let path = files.join(name);
        let written = std::fs::read(&path).expect("a checkpoint file");
        let mut flipped = written.clone();
        flipped[written.len() - 2] ^= 0x40;

        for damaged in [flipped, written[..written.len() - 1].to_vec()] {
            std::fs::write(&path, &damaged).expect("a write");
            let recovered = open_with(dir.path(), StoreOptions::default())
                .and_then(|store| store.recover().map(drop));
            assert!(matches!(recovered, Err(StoreError::Corrupt { .. })), "{name}: {recovered:?}");
        }
        std::fs::write(&path, &written).expect("a write");
    }
    assert!(open(dir.path()).recover().is_ok(), "whole again, it recovers");
}

/// A store another holder has open is told apart from one that is damaged,
/// so that an operator is pointed at the right cause.
#[test]
fn a_store_held_open_is_told_apart_from_a_damaged_one() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let held = open(dir.path());
    // Not `open_with`, which waits for the lock to go.
    let Err(locked) = persistence::Store::open(dir.path(), StoreOptions::default()) else {
        panic!("a second open of a held store succeeded");
    };
    assert!(locked.is_locked(), "{locked}");
    drop(held);

    let damaged = tempfile::tempdir().expect("a temporary directory");
    with_raw_tree(damaged.path(), "snapshots", |snapshots| {
        snapshots.insert(b"root", vec![1, 2, 3]).expect("an insert");
    });
    let Err(corrupt) = open_with(damaged.path(), StoreOptions::default()) else {
        panic!("a damaged store opened");
    };
    assert!(!corrupt.is_locked(), "{corrupt}");
}
