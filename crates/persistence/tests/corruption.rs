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

#[test]
fn an_undecodable_checkpoint_is_a_store_error() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    with_raw_tree(dir.path(), "snapshots", |snapshots| {
        snapshots.insert(b"root", vec![1, 2, 3]).expect("an insert");
    });

    let opened = open_with(dir.path(), StoreOptions::default());
    assert!(matches!(opened, Err(StoreError::Corrupt { .. })));
}

#[test]
fn a_snapshot_pack_that_lost_or_changed_bytes_is_a_store_error() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = open(dir.path());
    let journal = store.journal();
    let bookings = vec![snapshot(1, small_layout(), 1)];
    journal
        .checkpoint(journal.durable_position(), Checkpoint { bookings, ..Default::default() })
        .expect("durable");
    drop((store, journal));
    let pack = dir.path().join("checkpoints").join("00000000000000000001.pack");
    let written = std::fs::read(&pack).expect("the checkpoint's pack");

    let mut flipped = written.clone();
    flipped[written.len() / 2] ^= 0x40;
    std::fs::write(&pack, &flipped).expect("a write");
    let error = open(dir.path()).recover().expect_err("the changed byte is found");
    assert!(matches!(error, StoreError::Corrupt { .. }), "{error}");

    std::fs::write(&pack, &written[..written.len() - 1]).expect("a write");
    let opened = open_with(dir.path(), StoreOptions::default());
    assert!(matches!(opened, Err(StoreError::Corrupt { .. })), "the lost byte is found");
}
