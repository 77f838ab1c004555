//! Appends, group commit and recovery of the log.

mod common;

use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use common::{append_and_wait, event, open, user_id, ACK_TIMEOUT};
use engine::journal::{Journal, LogPosition};

#[test]
fn acked_events_are_recovered_in_order_after_reopening() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let batches = [vec![event(0, 0)], vec![event(0, 1), event(0, 2)], vec![], vec![event(0, 3)]];

    let store = open(dir.path());
    assert!(store.recover().expect("an empty store recovers").tail.is_empty());
    let journal = store.journal();
    for batch in &batches {
        append_and_wait(&*journal, batch.clone()).expect("the append is durable");
    }
    let position = journal.durable_position();
    drop((store, journal));

    let store = open(dir.path());
    let recovery = store.recover().expect("the store recovers");
    assert!(recovery.checkpoint.is_none());
    assert_eq!(recovery.tail, batches.concat());
    assert_eq!(recovery.torn_records, 0);
    assert!(store.journal().durable_position() >= position);
}

#[test]
fn appends_after_recovery_follow_the_old_ones() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    for round in 0..3 {
        let store = open(dir.path());
        let journal = store.journal();
        let before = journal.durable_position();
        append_and_wait(&*journal, vec![event(round, 0), event(round, 1)]).expect("durable");
        assert!(journal.durable_position() > before);
    }

    let store = open(dir.path());
    let tail = store.recover().expect("the store recovers").tail;
    let expected: Vec<_> = (0..3).flat_map(|round| [event(round, 0), event(round, 1)]).collect();
    assert_eq!(tail, expected);
}

#[test]
fn a_lone_append_is_acked_without_company() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = open(dir.path());

    append_and_wait(&*store.journal(), vec![event(0, 0)]).expect("a lone append completes");

    assert_eq!(store.journal().commits(), 1);
    assert_eq!(store.journal().durable_position(), LogPosition(1));
}

#[test]
fn concurrent_appends_are_batched_and_recovered_in_ack_order() {
    const THREADS: u32 = 8;
    const APPENDS: u32 = 1_000;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = open(dir.path());
    let journal = store.journal();
    let acked = Arc::new(Mutex::new(Vec::new()));

    let threads: Vec<_> = (0..THREADS)
        .map(|thread| {
            let journal = Arc::clone(&journal);
            let acked = Arc::clone(&acked);
            std::thread::spawn(move || append_without_waiting(&*journal, thread, APPENDS, &acked))
        })
        .collect();
    for thread in threads {
        for ack in thread.join().expect("an appender thread") {
            ack.recv_timeout(ACK_TIMEOUT).expect("an ack").expect("a durable append");
        }
    }

    let commits = journal.commits();
    assert!(commits < u64::from(THREADS * APPENDS), "{commits} commits: nothing was batched");
    let acked = acked.lock().expect("the ack record").clone();
    drop((store, journal));

    let tail = open(dir.path()).recover().expect("the store recovers").tail;
    let recovered: Vec<u32> = tail.iter().map(user_id).collect();
    assert_eq!(recovered, acked, "recovered exactly the acked events, in ack order");
    assert_each_thread_in_order(&recovered, THREADS * APPENDS);
}

/// Appends one event at a time, recording each ack's event id in the order
/// acks run; returns the receivers of the outcomes.
fn append_without_waiting(
    journal: &impl Journal,
    thread: u32,
    appends: u32,
    acked: &Arc<Mutex<Vec<u32>>>,
) -> Vec<mpsc::Receiver<Result<(), engine::journal::JournalError>>> {
    (0..appends)
        .map(|index| {
            let (sender, receiver) = mpsc::channel();
            let acked = Arc::clone(acked);
            let event = event(thread, index);
            let id = user_id(&event);
            journal.append(
                vec![event],
                Box::new(move |result| {
                    if result.is_ok() {
                        acked.lock().expect("the ack record").push(id);
                    }
                    let _ = sender.send(result);
                }),
            );
            receiver
        })
        .collect()
}

fn assert_each_thread_in_order(ids: &[u32], total: u32) {
    assert_eq!(ids.len(), total as usize);
    let mut next_by_thread: HashMap<u32, u32> = HashMap::new();
    for &id in ids {
        let (thread, index) = (id / 1_000_000, id % 1_000_000);
        let next = next_by_thread.entry(thread).or_default();
        assert_eq!(index, *next, "thread {thread} out of order");
        *next += 1;
    }
}

#[test]
fn a_panicking_ack_does_not_stop_the_journal() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = open(dir.path());
    let journal = store.journal();

    journal.append(vec![event(0, 0)], Box::new(|_| panic!("a buggy caller")));

    append_and_wait(&*journal, vec![event(0, 1)]).expect("still durable");
    assert!(!journal.is_failed());
}
