//! The durable outbox: entries committed with the change that owes them,
//! consumers' marks, retention, and numbering across restarts and crashes.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use common::{
    append_and_wait, event, open, open_raw, open_with, raw_entries, raw_log_seqs, user_id,
    ACK_TIMEOUT,
};
use engine::events::Event;
use engine::ids::{OrderId, PerformanceId, UserId};
use engine::journal::JournalError;
use engine::outbox::{Consumer, Finished, Outbox, OutboxEntry, OutboxSeq, Refund, Sale};
use engine::time::Timestamp;
use persistence::{FaultPlan, SledOutbox, Store, StoreOptions};

fn order(number: u32) -> OrderId {
    OrderId { performance: PerformanceId(1), number }
}

/// A sale (for email and SMS) whose order number says which change owes it.
fn sale(number: u32) -> OutboxEntry {
    OutboxEntry::Sale(Sale {
        order: order(number),
        user: UserId(number),
        performance: PerformanceId(1),
        tickets: vec![number % 200],
        amount_minor: 5_000,
    })
}

/// A refund, for the provider only.
fn refund(number: u32) -> OutboxEntry {
    OutboxEntry::Refund(Refund {
        order: order(number),
        payment: format!("pay-{number}"),
        amount_minor: Some(5_000),
        idempotency_key: format!("refund-{number}-1"),
    })
}

fn order_number(entry: &OutboxEntry) -> u32 {
    match entry {
        OutboxEntry::Sale(sale) => sale.order.number,
        OutboxEntry::Refund(refund) => refund.order.number,
        other => panic!("not a test entry: {other:?}"),
    }
}

/// A change and the sale it owes, in one append, as the engine makes them.
fn purchase(thread: u32, index: u32) -> Vec<Event> {
    let change = event(thread, index);
    let owed = sale(user_id(&change));
    vec![change, Event::Outbox(owed)]
}

fn parked_at(attempts: u32) -> Finished {
    Finished::Parked { attempts, reason: "mailbox full".into(), at: Timestamp(1_000) }
}

fn finish_and_wait(
    outbox: &SledOutbox,
    consumer: Consumer,
    seq: u64,
    finished: Finished,
) -> Result<(), JournalError> {
    let (sender, receiver) = mpsc::channel();
    let ack = Box::new(move |result| drop(sender.send(result)));
    outbox.finish(consumer, OutboxSeq(seq), finished, ack);
    receiver.recv_timeout(ACK_TIMEOUT).expect("the ack arrives")
}

fn retry_and_wait(outbox: &SledOutbox, consumer: Consumer, seq: u64) -> bool {
    let (sender, receiver) = mpsc::channel();
    let ack = Box::new(move |result| drop(sender.send(result)));
    let parked = outbox.request_retry(consumer, OutboxSeq(seq), ack).expect("the outbox reads");
    receiver.recv_timeout(ACK_TIMEOUT).expect("the ack arrives").expect("durable");
    parked
}

/// The sequence numbers pending for `consumer`.
fn pending_seqs(outbox: &SledOutbox, consumer: Consumer) -> Vec<u64> {
    let pending = outbox.pending(consumer, None, usize::MAX).expect("the outbox reads");
    pending.into_iter().map(|(seq, _)| seq.0).collect()
}

fn parked_seqs(outbox: &SledOutbox, consumer: Consumer) -> Vec<u64> {
    let parked = outbox.parked(consumer).expect("the outbox reads");
    parked.into_iter().map(|parked| parked.seq.0).collect()
}

/// How many entries the outbox tree still holds; the store must be closed.
fn stored_entries(dir: &Path) -> usize {
    let outbox = raw_entries(dir).into_iter().filter(|(tree, _, _)| tree == "outbox");
    let entry_seqs: BTreeSet<Vec<u8>> =
        outbox.filter(|(_, key, _)| key[0] == b'e').map(|(_, key, _)| key[1..9].to_vec()).collect();
    entry_seqs.len()
}

fn open_with_fault(dir: &Path, plan: &str) -> Store {
    let fault = Some(plan.parse::<FaultPlan>().expect("a fault plan"));
    open_with(dir, StoreOptions { fault }).expect("the store opens")
}

#[test]
fn entries_go_to_the_outbox_and_never_to_the_log() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = open(dir.path());
    append_and_wait(&*store.journal(), purchase(0, 1)).expect("durable");
    append_and_wait(&*store.journal(), vec![Event::Outbox(refund(2))]).expect("durable");
    drop(store);

    let store = open(dir.path());
    assert_eq!(store.recover().expect("the store recovers").tail, vec![event(0, 1)]);
    let outbox = store.outbox();
    let email = outbox.pending(Consumer::Email, None, 10).expect("the outbox reads");
    assert_eq!(email, vec![(OutboxSeq(0), sale(1))]);
    assert_eq!(pending_seqs(&outbox, Consumer::Sms), vec![0]);
    assert_eq!(pending_seqs(&outbox, Consumer::Provider), vec![1]);
}

#[test]
fn pending_reads_in_order_after_a_position_and_up_to_a_limit() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = open(dir.path());
    let entries: Vec<Event> = (0..10).map(|n| Event::Outbox(sale(n))).collect();
    append_and_wait(&*store.journal(), entries).expect("durable");
    let outbox = store.outbox();

    let page = outbox.pending(Consumer::Email, Some(OutboxSeq(3)), 4).expect("the outbox reads");

    let numbers: Vec<(u64, u32)> =
        page.iter().map(|(seq, entry)| (seq.0, order_number(entry))).collect();
    assert_eq!(numbers, vec![(4, 4), (5, 5), (6, 6), (7, 7)]);
    assert!(outbox.pending(Consumer::Email, Some(OutboxSeq(9)), 4).expect("reads").is_empty());
}

/// The sequence numbers of the entries stored (values and pending marks),
/// read with sled itself before the store's repair at open.
fn raw_entry_and_mark_seqs(dir: &Path) -> (BTreeSet<u64>, BTreeSet<u64>) {
    let seq = |key: &[u8], at: usize| u64::from_be_bytes(key[at..at + 8].try_into().expect("8"));
    let outbox = raw_entries(dir).into_iter().filter(|(tree, _, _)| tree == "outbox");
    let (mut entries, mut marks) = (BTreeSet::new(), BTreeSet::new());
    for (_, key, _) in outbox {
        match key[0] {
            b'e' => drop(entries.insert(seq(&key, 1))),
            b'q' => drop(marks.insert(seq(&key, 2))),
            _ => {}
        }
    }
    (entries, marks)
}

#[test]
fn a_failed_write_leaves_neither_the_change_nor_the_entries_it_owes() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = open_with_fault(dir.path(), "write-fails-after=1");
    append_and_wait(&*store.journal(), purchase(0, 1)).expect("durable before the fault");

    let failure = append_and_wait(&*store.journal(), purchase(0, 2)).expect_err("the fault");
    assert!(failure.reason.contains("injected"), "{failure}");
    let outbox = store.outbox();
    assert!(outbox.pending(Consumer::Email, None, 10).is_err(), "a failed store reads nothing");
    assert!(finish_and_wait(&outbox, Consumer::Email, 0, Finished::Done).is_err(), "fail-stop");
    drop((store, outbox));

    // The fault tore the commit: its entry reached sled (which wrote it
    // out as it closed), its change did not. The store's open removes it.
    let (entries, marks) = raw_entry_and_mark_seqs(dir.path());
    assert_eq!((entries, marks), ([0, 1].into(), [0, 1].into()), "the torn commit's entry");

    let store = open(dir.path());
    assert_eq!(store.recover().expect("the store recovers").tail, vec![event(0, 1)]);
    let outbox = store.outbox();
    assert_eq!(pending_seqs(&outbox, Consumer::Email), vec![0]);
    append_and_wait(&*store.journal(), purchase(0, 3)).expect("durable");
    assert_eq!(pending_seqs(&outbox, Consumer::Sms), vec![0, 1]);
}

/// A commit torn after its entries and log values, before the commit mark
/// that closes it: sled holds all of it but the mark, and the next open
/// removes it whole, the change with its entries.
#[test]
fn a_commit_torn_before_its_mark_is_removed_whole() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = open_with_fault(dir.path(), "mark-fails-after=1");
    append_and_wait(&*store.journal(), purchase(0, 1)).expect("durable before the fault");
    append_and_wait(&*store.journal(), purchase(0, 2)).expect_err("the fault fires");
    drop(store);

    assert_eq!(raw_log_seqs(dir.path()), vec![0, 1], "the torn commit's change reached sled");
    assert_eq!(raw_entry_and_mark_seqs(dir.path()).0, [0, 1].into(), "and its entry");

    let store = open(dir.path());
    assert_eq!(store.recover().expect("the store recovers").tail, vec![event(0, 1)]);
    let outbox = store.outbox();
    assert_eq!(pending_seqs(&outbox, Consumer::Email), vec![0]);
    append_and_wait(&*store.journal(), purchase(0, 3)).expect("durable");
    let owed = outbox.pending(Consumer::Sms, None, 10).expect("the outbox reads");
    assert_eq!(owed, vec![(OutboxSeq(0), sale(1)), (OutboxSeq(1), sale(3))]);
    drop((store, outbox));

    let store = open(dir.path());
    assert_eq!(store.recover().expect("recovers").tail, vec![event(0, 1), event(0, 3)]);
    assert_eq!(pending_seqs(&store.outbox(), Consumer::Email), vec![0, 1]);
}

/// An entry every consumer finished is deleted in the commit that takes
/// its last mark; a crash between the marks and the entry leaves an entry
/// nobody owes, which the next open removes.
#[test]
fn an_entry_no_consumer_owes_is_removed_at_open() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = open(dir.path());
    append_and_wait(&*store.journal(), vec![Event::Outbox(sale(1)), Event::Outbox(sale(2))])
        .expect("durable");
    drop(store);

    // What a finish cut short between its marks and its entry leaves.
    let db = open_raw(dir.path());
    let outbox = db.open_tree("outbox").expect("the outbox tree");
    for key in outbox.iter().keys() {
        let key = key.expect("a key");
        if matches!(key[0], b'q' | b'p') && key[2..10] == 0u64.to_be_bytes() {
            outbox.remove(key).expect("a remove");
        }
    }
    db.flush().expect("sled flushes");
    drop((outbox, db));
    assert_eq!(raw_entry_and_mark_seqs(dir.path()), ([0, 1].into(), [1].into()));

    let store = open(dir.path());
    assert_eq!(pending_seqs(&store.outbox(), Consumer::Email), vec![1]);
    drop(store);
    assert_eq!(stored_entries(dir.path()), 1, "the entry nobody owed is gone");
}

/// A commit written to sled whose sync failed was never acknowledged; it
/// may or may not be recovered, but its change and its entries together.
#[test]
fn a_failed_sync_leaves_the_change_and_its_entries_together() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = open_with_fault(dir.path(), "sync-fails-after=2");
    append_and_wait(&*store.journal(), purchase(0, 1)).expect("durable");
    append_and_wait(&*store.journal(), purchase(0, 2)).expect("durable");

    append_and_wait(&*store.journal(), purchase(0, 3)).expect_err("the fault fires");
    drop(store);

    let store = open(dir.path());
    let changes: Vec<u32> = store.recover().expect("recovers").tail.iter().map(user_id).collect();
    let outbox = store.outbox();
    let pending = outbox.pending(Consumer::Email, None, usize::MAX).expect("the outbox reads");
    let owed: Vec<u32> = pending.iter().map(|(_, entry)| order_number(entry)).collect();
    assert!(changes.starts_with(&[1, 2]), "{changes:?}");
    assert_eq!(owed, changes, "every recovered change with its entry, and no other entry");

    append_and_wait(&*store.journal(), purchase(0, 4)).expect("durable");
    let seqs = pending_seqs(&outbox, Consumer::Sms);
    assert!(seqs.windows(2).all(|pair| pair[0] < pair[1]), "{seqs:?}");
}

#[test]
fn finishes_parks_and_retry_requests_survive_reopening() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = open(dir.path());
    append_and_wait(&*store.journal(), (0..3).map(|n| Event::Outbox(sale(n))).collect())
        .expect("durable");
    let outbox = store.outbox();
    finish_and_wait(&outbox, Consumer::Email, 0, Finished::Done).expect("durable");
    finish_and_wait(&outbox, Consumer::Email, 1, parked_at(5)).expect("durable");
    finish_and_wait(&outbox, Consumer::Sms, 2, Finished::Done).expect("durable");
    drop((store, outbox));

    let store = open(dir.path());
    let outbox = store.outbox();
    assert_eq!(pending_seqs(&outbox, Consumer::Email), vec![2]);
    assert_eq!(pending_seqs(&outbox, Consumer::Sms), vec![0, 1]);
    let parked = outbox.parked(Consumer::Email).expect("the outbox reads");
    assert_eq!(parked.len(), 1);
    let (seq, attempts, retry) = (parked[0].seq, parked[0].attempts, parked[0].retry_requested);
    assert_eq!((seq, attempts, retry), (OutboxSeq(1), 5, false));
    assert_eq!((parked[0].entry.clone(), parked[0].parked_at), (sale(1), Timestamp(1_000)));
    assert!(retry_and_wait(&outbox, Consumer::Email, 1));
    assert!(!retry_and_wait(&outbox, Consumer::Email, 2), "pending, not parked");
    assert!(!retry_and_wait(&outbox, Consumer::Sms, 1), "parked by another consumer");
    drop((store, outbox));

    let store = open(dir.path());
    let parked = store.outbox().parked(Consumer::Email).expect("the outbox reads");
    assert!(parked[0].retry_requested);
}

#[test]
fn a_parked_entry_parked_again_keeps_one_mark_and_loses_its_retry_flag() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = open(dir.path());
    append_and_wait(&*store.journal(), vec![Event::Outbox(refund(1))]).expect("durable");
    let outbox = store.outbox();
    finish_and_wait(&outbox, Consumer::Provider, 0, parked_at(5)).expect("durable");
    assert!(retry_and_wait(&outbox, Consumer::Provider, 0));

    finish_and_wait(&outbox, Consumer::Provider, 0, parked_at(10)).expect("durable");

    let parked = outbox.parked(Consumer::Provider).expect("the outbox reads");
    assert_eq!(
        parked.iter().map(|p| (p.attempts, p.retry_requested)).collect::<Vec<_>>(),
        [(10, false)]
    );
    assert!(pending_seqs(&outbox, Consumer::Provider).is_empty());
}

#[test]
fn an_entry_goes_once_every_consumer_is_done_and_parked_ones_stay() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = open(dir.path());
    append_and_wait(&*store.journal(), vec![Event::Outbox(sale(1)), Event::Outbox(sale(2))])
        .expect("durable");
    let outbox = store.outbox();
    for seq in [0, 1] {
        finish_and_wait(&outbox, Consumer::Sms, seq, Finished::Done).expect("durable");
    }
    finish_and_wait(&outbox, Consumer::Email, 0, Finished::Done).expect("durable");
    finish_and_wait(&outbox, Consumer::Email, 1, parked_at(3)).expect("durable");
    drop((store, outbox));
    assert_eq!(stored_entries(dir.path()), 1, "the parked entry stays");

    let store = open(dir.path());
    let outbox = store.outbox();
    assert_eq!(parked_seqs(&outbox, Consumer::Email), vec![1]);
    finish_and_wait(&outbox, Consumer::Email, 1, Finished::Done).expect("durable");
    assert!(parked_seqs(&outbox, Consumer::Email).is_empty());
    drop((store, outbox));
    assert_eq!(stored_entries(dir.path()), 0);
}

#[test]
fn numbers_keep_growing_after_retention_and_reopening() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    for round in 0..3 {
        let store = open(dir.path());
        append_and_wait(&*store.journal(), vec![Event::Outbox(refund(round))]).expect("durable");
        let outbox = store.outbox();
        assert_eq!(pending_seqs(&outbox, Consumer::Provider), vec![u64::from(round)]);
        finish_and_wait(&outbox, Consumer::Provider, u64::from(round), Finished::Done)
            .expect("durable");
        drop((store, outbox));
        assert_eq!(stored_entries(dir.path()), 0, "round {round}: the done entry is gone");
    }
}

#[test]
fn each_consumer_reads_and_finishes_on_its_own() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = open(dir.path());
    let entries = vec![sale(0), refund(1), sale(2), refund(3)];
    append_and_wait(&*store.journal(), entries.into_iter().map(Event::Outbox).collect())
        .expect("durable");
    let outbox = store.outbox();

    for seq in [0, 2] {
        finish_and_wait(&outbox, Consumer::Email, seq, Finished::Done).expect("durable");
    }
    finish_and_wait(&outbox, Consumer::Provider, 3, parked_at(1)).expect("durable");

    assert!(pending_seqs(&outbox, Consumer::Email).is_empty());
    assert_eq!(pending_seqs(&outbox, Consumer::Sms), vec![0, 2]);
    assert_eq!(pending_seqs(&outbox, Consumer::Provider), vec![1]);
    assert!(parked_seqs(&outbox, Consumer::Email).is_empty());
    assert_eq!(parked_seqs(&outbox, Consumer::Provider), vec![3]);
}

#[test]
fn repeated_and_stray_finishes_change_nothing() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = open(dir.path());
    append_and_wait(&*store.journal(), vec![Event::Outbox(sale(0))]).expect("durable");
    let outbox = store.outbox();
    finish_and_wait(&outbox, Consumer::Email, 0, Finished::Done).expect("durable");

    finish_and_wait(&outbox, Consumer::Email, 0, Finished::Done).expect("a no-op");
    finish_and_wait(&outbox, Consumer::Email, 0, parked_at(1)).expect("a no-op");
    finish_and_wait(&outbox, Consumer::Provider, 0, Finished::Done).expect("not for it");
    finish_and_wait(&outbox, Consumer::Sms, 99, Finished::Done).expect("no such entry");

    assert!(parked_seqs(&outbox, Consumer::Email).is_empty());
    assert_eq!(pending_seqs(&outbox, Consumer::Sms), vec![0]);
}

#[test]
fn an_entry_missing_under_its_mark_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = open(dir.path());
    append_and_wait(&*store.journal(), vec![Event::Outbox(sale(0))]).expect("durable");
    drop(store);
    let db = common::open_raw(dir.path());
    let outbox = db.open_tree("outbox").expect("the outbox tree");
    let entry_keys: Vec<_> =
        outbox.scan_prefix(b"e").keys().map(|key| key.expect("a key")).collect();
    for key in entry_keys {
        outbox.remove(key).expect("a removal");
    }
    db.flush().expect("sled flushes");
    drop((outbox, db));

    let store = open(dir.path());
    let error = store.outbox().pending(Consumer::Email, None, 10).expect_err("refused");
    assert!(error.reason.contains("outbox entry 0"), "{error}");
    assert!(store.outbox().parked(Consumer::Email).expect("nothing parked").is_empty());
}

#[tokio::test]
async fn a_commit_adding_entries_wakes_a_waiting_consumer() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = open(dir.path());
    let appended = store.outbox().appended();
    // Created before the check, so a commit in between is not missed.
    let notified = appended.notified();
    assert!(pending_seqs(&store.outbox(), Consumer::Email).is_empty());

    append_and_wait(&*store.journal(), purchase(0, 1)).expect("durable");

    tokio::time::timeout(ACK_TIMEOUT, notified).await.expect("the consumer is woken");
    assert_eq!(pending_seqs(&store.outbox(), Consumer::Email), vec![0]);
}

#[tokio::test]
async fn finishes_from_many_tasks_share_commits() {
    const ENTRIES: u32 = 2_000;
    const TASKS: u32 = 50;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = open(dir.path());
    let entries = (0..ENTRIES).map(|n| Event::Outbox(sale(n))).collect();
    append_and_wait(&*store.journal(), entries).expect("durable");
    let outbox = store.outbox();
    let commits_before = store.journal().commits();

    let tasks: Vec<_> = (0..TASKS)
        .map(|task| tokio::spawn(finish_every_nth(Arc::clone(&outbox), task, TASKS, ENTRIES)))
        .collect();
    for task in tasks {
        task.await.expect("a finishing task");
    }

    let commits = store.journal().commits() - commits_before;
    assert!(commits < u64::from(ENTRIES), "{commits} commits for {ENTRIES} finishes");
    assert!(pending_seqs(&outbox, Consumer::Email).is_empty());
    assert_eq!(pending_seqs(&outbox, Consumer::Sms).len(), ENTRIES as usize);
    drop((store, outbox));
    assert_eq!(stored_entries(dir.path()), ENTRIES as usize, "SMS still owes them all");
}

/// Finishes entries `task`, `task + tasks`, …, all queued before any ack is
/// awaited, so that finishes of many tasks are in flight together.
async fn finish_every_nth(outbox: Arc<SledOutbox>, task: u32, tasks: u32, entries: u32) {
    let mut acks = Vec::new();
    for seq in (task..entries).step_by(tasks as usize) {
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let ack = Box::new(move |result| drop(sender.send(result)));
        outbox.finish(Consumer::Email, OutboxSeq(u64::from(seq)), Finished::Done, ack);
        acks.push(receiver);
        tokio::task::yield_now().await;
    }
    for ack in acks {
        ack.await.expect("the ack runs").expect("durable");
    }
}

/// Where the crash child keeps its store and its record of acks.
const CRASH_DIR_ENV: &str = "BOXOFFICE_OUTBOX_CRASH_DIR";
const CRASH_CHILD: &str = "crash_child_appends_and_finishes_until_killed";

/// Not a test of its own: the body of the child process that
/// [`a_crash_keeps_every_acked_change_with_its_entries_and_finishes`]
/// kills. Does nothing unless run as that child.
#[test]
fn crash_child_appends_and_finishes_until_killed() {
    let Ok(dir) = std::env::var(CRASH_DIR_ENV) else { return };
    let dir = std::path::PathBuf::from(dir);
    let store = open(&dir.join("store"));
    let acks = Arc::new(std::sync::Mutex::new(
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("acks"))
            .expect("the ack record opens"),
    ));

    for thread in 0..16 {
        let (journal, acks) = (store.journal(), Arc::clone(&acks));
        std::thread::spawn(move || {
            for index in 0.. {
                append_and_wait(&*journal, purchase(thread, index)).expect("durable");
                record(&acks, &format!("appended {}", user_id(&event(thread, index))));
            }
        });
    }
    finish_email_entries_forever(&store.outbox(), &acks);
}

fn finish_email_entries_forever(outbox: &SledOutbox, acks: &std::sync::Mutex<std::fs::File>) {
    let mut after = None;
    loop {
        let pending = outbox.pending(Consumer::Email, after, 50).expect("the outbox reads");
        if pending.is_empty() {
            std::thread::sleep(Duration::from_millis(1));
        }
        for (seq, _) in pending {
            finish_and_wait(outbox, Consumer::Email, seq.0, Finished::Done).expect("durable");
            record(acks, &format!("finished {seq}"));
            after = Some(seq);
        }
    }
}

/// One line per ack, written at once: a killed process loses no line the
/// kernel has, and the kill does not take the page cache with it.
fn record(acks: &std::sync::Mutex<std::fs::File>, line: &str) {
    use std::io::Write;
    let mut file = acks.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    file.write_all(format!("{line}\n").as_bytes()).expect("the ack record is written");
}

/// Rounds of the crash test; more with `BOXOFFICE_OUTBOX_CRASH_ROUNDS`.
fn crash_rounds() -> usize {
    std::env::var("BOXOFFICE_OUTBOX_CRASH_ROUNDS").ok().and_then(|n| n.parse().ok()).unwrap_or(3)
}

#[test]
fn a_crash_keeps_every_acked_change_with_its_entries_and_finishes() {
    for round in 0..crash_rounds() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        run_child_until_killed(dir.path(), 200 + round % 3 * 300);
        let acks = std::fs::read_to_string(dir.path().join("acks")).expect("the ack record");
        check_after_crash(&dir.path().join("store"), &acks);
    }
}

/// Starts the child and kills it with SIGKILL once it has recorded
/// `acks_before_kill` acks, give or take a moment.
fn run_child_until_killed(dir: &Path, acks_before_kill: usize) {
    let mut child = std::process::Command::new(std::env::current_exe().expect("the test binary"))
        .args([CRASH_CHILD, "--exact", "--nocapture", "--test-threads=1"])
        .env(CRASH_DIR_ENV, dir)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("the child starts");

    let started = std::time::Instant::now();
    while acks_recorded(dir) < acks_before_kill {
        assert!(started.elapsed() < ACK_TIMEOUT, "the child records too few acks");
        assert!(child.try_wait().expect("the child's status").is_none(), "the child died");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("the child is reaped");
}

fn acks_recorded(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("acks")).map_or(0, |acks| acks.lines().count())
}

/// Every acked change is there, each change has its entry and no entry is
/// without its change, no acked finish is undone, and numbering goes on
/// after every number seen.
fn check_after_crash(store_dir: &Path, acks: &str) {
    let (appended, finished) = parse_acks(acks);
    let store = open(store_dir);
    let changes: BTreeSet<u32> =
        store.recover().expect("the store recovers").tail.iter().map(user_id).collect();
    let outbox = store.outbox();
    let sms = outbox.pending(Consumer::Sms, None, usize::MAX).expect("the outbox reads");
    let owed: BTreeMap<u32, u64> = sms.iter().map(|(seq, e)| (order_number(e), seq.0)).collect();

    assert!(appended.is_subset(&changes), "an acked change was lost");
    assert_eq!(owed.keys().copied().collect::<BTreeSet<_>>(), changes, "changes ≠ entries");
    assert_eq!(owed.len(), sms.len(), "an entry twice");
    let email = pending_seqs(&outbox, Consumer::Email);
    assert!(email.iter().all(|seq| !finished.contains(seq)), "an acked finish was undone");

    let highest = sms.iter().map(|(seq, _)| seq.0).chain(finished.iter().copied()).max();
    append_and_wait(&*store.journal(), purchase(99, 0)).expect("durable");
    let newest = *pending_seqs(&outbox, Consumer::Sms).last().expect("the new entry");
    assert!(highest.is_none_or(|highest| newest > highest), "a number was reused");
}

/// The appended change ids and the finished sequence numbers in the record.
fn parse_acks(acks: &str) -> (BTreeSet<u32>, BTreeSet<u64>) {
    let (mut appended, mut finished) = (BTreeSet::new(), BTreeSet::new());
    // Only whole lines: a kill may cut the last one short.
    for line in acks.split_inclusive('\n').filter_map(|line| line.strip_suffix('\n')) {
        match line.split_once(' ') {
            Some(("appended", id)) if id.parse::<u32>().is_ok() => {
                appended.insert(id.parse().expect("an id"));
            }
            Some(("finished", seq)) if seq.parse::<u64>().is_ok() => {
                finished.insert(seq.parse().expect("a seq"));
            }
            _ => {}
        }
    }
    (appended, finished)
}
