//! Fail-stop: after an injected IO fault nothing more is acknowledged, and
//! recovery finds every acknowledged event.

mod common;

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use common::{append_and_wait, event, open, open_with, user_id, ACK_TIMEOUT};
use engine::journal::{Checkpoint, Journal, JournalError};
use persistence::{FaultPlan, Store, StoreOptions};

fn open_with_fault(dir: &std::path::Path, plan: &str) -> Store {
    let fault = Some(plan.parse::<FaultPlan>().expect("a fault plan"));
    open_with(dir, StoreOptions { fault }).expect("the store opens")
}

#[test]
fn a_failed_write_fails_that_append_and_every_later_one() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = open_with_fault(dir.path(), "write-fails-after=3");
    let journal = store.journal();

    for index in 0..3 {
        append_and_wait(&*journal, vec![event(0, index)]).expect("durable before the fault");
    }
    let failure = append_and_wait(&*journal, vec![event(0, 3)]).expect_err("the fault fires");
    let later = append_and_wait(&*journal, vec![event(0, 4)]).expect_err("fail-stop");

    assert!(failure.reason.contains("injected"), "{failure}");
    assert_eq!(later, failure, "later appends carry the same reason");
    assert!(journal.is_failed());
    assert_eq!(journal.failure(), Some(failure));
    assert!(journal.checkpoint(journal.durable_position(), Checkpoint::default()).is_err());
    drop((store, journal));

    let tail = open(dir.path()).recover().expect("the store recovers").tail;
    assert_eq!(tail, (0..3).map(|index| event(0, index)).collect::<Vec<_>>());
}

#[test]
fn after_a_failed_sync_under_load_nothing_more_is_acked() {
    const THREADS: u32 = 4;
    const APPENDS: u32 = 500;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = open_with_fault(dir.path(), "sync-fails-after=10");
    let journal = store.journal();
    let outcomes = Arc::new(Mutex::new(Vec::new()));

    let threads: Vec<_> = (0..THREADS)
        .map(|thread| {
            let journal = Arc::clone(&journal);
            let outcomes = Arc::clone(&outcomes);
            std::thread::spawn(move || append_in_waves(&*journal, thread, APPENDS, &outcomes))
        })
        .collect();
    for thread in threads {
        thread.join().expect("an appender thread");
    }
    let outcomes = outcomes.lock().expect("the outcomes").clone();
    drop((store, journal));

    let acked = acked_prefix(&outcomes);
    assert!(!acked.is_empty() && acked.len() < outcomes.len(), "the fault fired mid-load");
    let tail = open(dir.path()).recover().expect("the store recovers").tail;
    let recovered: Vec<u32> = tail.iter().map(user_id).collect();
    let in_ack_order: Vec<u32> = outcomes.iter().map(|&(id, _)| id).collect();
    assert!(recovered.starts_with(&acked), "every acked event recovered, in order");
    assert!(in_ack_order.starts_with(&recovered), "nothing recovered out of append order");
}

/// The ids acked Ok before the first error; panics if any Ok follows one.
fn acked_prefix(outcomes: &[(u32, bool)]) -> Vec<u32> {
    let first_error = outcomes.iter().position(|&(_, ok)| !ok).unwrap_or(outcomes.len());
    assert!(outcomes[first_error..].iter().all(|&(_, ok)| !ok), "an ack Ok after a failure");
    outcomes[..first_error].iter().map(|&(id, _)| id).collect()
}

/// Appends one event at a time, waiting for the acks after every wave of
/// 25 so that the load spans many commits; records (id, ok) in the order
/// the acks run.
fn append_in_waves(
    journal: &impl Journal,
    thread: u32,
    appends: u32,
    outcomes: &Arc<Mutex<Vec<(u32, bool)>>>,
) {
    let mut waiting = Vec::new();
    for index in 0..appends {
        let (done, receiver) = mpsc::channel();
        let outcomes = Arc::clone(outcomes);
        let event = event(thread, index);
        let id = user_id(&event);
        let ack = move |result: Result<(), JournalError>| {
            outcomes.lock().expect("the outcomes").push((id, result.is_ok()));
            let _ = done.send(());
        };
        journal.append(vec![event], Box::new(ack));
        waiting.push(receiver);

        if waiting.len() == 25 {
            for receiver in waiting.drain(..) {
                receiver.recv_timeout(ACK_TIMEOUT).expect("every append is answered");
            }
        }
    }
    for receiver in waiting {
        receiver.recv_timeout(ACK_TIMEOUT).expect("every append is answered");
    }
}
