//! Proves with a syscall trace that the server never writes a success to a
//! socket before the log data it acknowledges is synced to disk.
//!
//! kill -9 keeps the page cache, so a crash test alone cannot tell a real
//! fsync from none. Here the real `boxoffice` runs under `strace -f` while
//! one client makes changes one at a time; for each 2xx answer to a change,
//! the trace must show, between reading the request and writing the answer,
//! a `pwrite64` to sled's `db` file followed by a successful `fdatasync` (or
//! `fsync`) of that file.
//!
//! Needs strace (Debian's `strace` package; `.ci/run` installs it). Without
//! it the test says so and passes, except under CI, where it fails.

mod process;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use process::{create_world, sign_up, Launch, ServerProcess};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_acknowledgement_is_sent_before_its_fsync() {
    if !strace_available() {
        assert!(std::env::var_os("CI").is_none(), "CI must install strace for this test");
        eprintln!("skipped: strace is not installed");
        return;
    }
    let dir = tempfile::tempdir().expect("a temp dir");
    let trace = dir.path().join("trace.txt");
    let data_dir = dir.path().join("data");
    let mut launch = under_strace(Launch::new(&data_dir), &trace);
    launch.args.push("--shards=1".into());
    let mut server = ServerProcess::start(launch).await;

    let changes = make_changes(&server.base).await;
    server.kill9();

    let calls = parse_trace(&std::fs::read_to_string(&trace).expect("the trace"));
    let checked = check_order(&calls);
    assert!(
        checked >= changes,
        "only {checked} of {changes} acknowledged changes were in the trace"
    );
}

fn strace_available() -> bool {
    std::process::Command::new("strace").arg("-V").output().is_ok_and(|out| out.status.success())
}

/// Runs the server under `strace -f`, writing the trace to `trace`.
fn under_strace<'a>(mut launch: Launch<'a>, trace: &std::path::Path) -> Launch<'a> {
    let calls = "trace=openat,pwrite64,write,writev,sendto,sendmsg,read,recvfrom,fdatasync,fsync";
    let strace = ["strace", "-f", "-qq", "-s", "40", "-e", calls, "-o"].map(str::to_owned);
    launch.wrapper = strace.into_iter().chain([trace.display().to_string()]).collect();
    launch
}

/// Sign-ups, reserves, purchases and releases, one at a time; returns how
/// many were acknowledged.
async fn make_changes(base: &str) -> usize {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let world = create_world(&client, base).await;
    let mut acknowledged = 3;

    for n in 0..8 {
        let buyer = sign_up(&client, base, &format!("trace-{n}@example.org")).await;
        let url = buyer.tickets(base);
        let token = buyer.token.as_str();

        let body =
            json!({ "performance_id": world.performance, "section": "Stalls", "quantity": 2 });
        let held: Value = client
            .post(&url)
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let ids: Vec<&str> =
            held["tickets"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();

        let body = json!({ "ticket_ids": [ids[0]], "payment_token": "tok_visa" });
        let bought = client.put(&url).bearer_auth(token).json(&body).send().await.unwrap();
        assert_eq!(bought.status(), 200);
        let released =
            client.delete(format!("{url}/{}", ids[1])).bearer_auth(token).send().await.unwrap();
        assert_eq!(released.status(), 204);
        acknowledged += 4;
    }
    acknowledged
}

/// One finished system call, in the order the trace shows them finishing.
#[derive(Debug)]
struct Call {
    name: String,
    fd: i64,
    /// The start of the first string argument, if any.
    text: String,
    result: i64,
    path: Option<String>,
}

/// Parses `strace -f` output, joining `<unfinished ...>` with `resumed>`.
fn parse_trace(trace: &str) -> Vec<Call> {
    let mut pending: HashMap<&str, String> = HashMap::new();
    let mut calls = Vec::new();
    for line in trace.lines() {
        // strace pads the pid column, so the call may follow several spaces.
        let Some((pid, rest)) = line.split_once(' ') else { continue };
        let rest = rest.trim_start();
        let whole = if let Some(start) = rest.strip_suffix(" <unfinished ...>") {
            pending.insert(pid, start.to_owned());
            continue;
        } else if let Some((_, tail)) = rest.split_once(" resumed>") {
            match pending.remove(pid) {
                Some(start) => format!("{start}{tail}"),
                None => continue,
            }
        } else {
            rest.to_owned()
        };
        calls.extend(parse_call(&whole));
    }
    calls
}

fn parse_call(line: &str) -> Option<Call> {
    let (name, args) = line.split_once('(')?;
    let name = name.trim();
    // strace pads short calls with spaces before the ` = result`.
    let (args, result) = args.rsplit_once(" = ")?;
    let args = args.trim_end().strip_suffix(')')?;
    let result: i64 = result.split_whitespace().next()?.parse().ok()?;
    let text = args.split_once('"').map(|(_, rest)| rest.to_owned()).unwrap_or_default();
    let (fd, path) = if name == "openat" {
        (result, Some(text.split('"').next().unwrap_or_default().to_owned()))
    } else {
        (args.split(',').next()?.trim().parse().ok()?, None)
    };
    Some(Call { name: name.to_owned(), fd, text, result, path })
}

/// Checks every acknowledged change; returns how many there were.
fn check_order(calls: &[Call]) -> usize {
    let mut db_fds: HashSet<i64> = HashSet::new();
    let mut open_request: HashMap<i64, (String, bool, bool)> = HashMap::new();
    let mut checked = 0;

    for call in calls {
        match call.name.as_str() {
            "openat" if call.result >= 0 => {
                let is_db = call.path.as_deref().is_some_and(|path| path.ends_with("/db"));
                if is_db {
                    db_fds.insert(call.fd);
                } else {
                    db_fds.remove(&call.fd);
                }
            }
            "read" | "recvfrom" if is_change(&call.text) => {
                let request = call.text.chars().take(30).collect();
                open_request.insert(call.fd, (request, false, false));
            }
            "pwrite64" if db_fds.contains(&call.fd) => {
                for (_, written, _) in open_request.values_mut() {
                    *written = true;
                }
            }
            "fdatasync" | "fsync" if db_fds.contains(&call.fd) && call.result == 0 => {
                for (_, written, synced) in open_request.values_mut() {
                    *synced |= *written;
                }
            }
            "write" | "writev" | "sendto" | "sendmsg" if call.text.starts_with("HTTP/1.1 2") => {
                if let Some((request, written, synced)) = open_request.remove(&call.fd) {
                    assert!(
                        written && synced,
                        "{request:?} was answered {:?} before its log data was synced",
                        call.text
                    );
                    checked += 1;
                }
            }
            _ => {}
        }
    }
    checked
}

fn is_change(text: &str) -> bool {
    ["POST ", "PUT ", "PATCH ", "DELETE "].iter().any(|method| text.starts_with(method))
}
