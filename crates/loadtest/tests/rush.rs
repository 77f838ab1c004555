//! End to end: `loadtest rush` starts its own server, rushes the 300-place
//! club with 1,000 buyers, audits it, and writes its report and plot; and
//! the same without a waiting room against a server that sheds almost
//! everything; and a rush whose time runs out with buyers still waiting;
//! and a rush whose server is killed half-way, reported but not audited.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

fn loadtest() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_loadtest"));
    command.env("RUST_LOG", "warn");
    command
}

/// The summary of a rush that succeeded and passed its audit.
fn passed(output: &std::process::Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "loadtest failed\n{stdout}\n{stderr}");
    assert!(stdout.contains("audit       PASSED"), "{stdout}");
    stdout
}

fn read_report(path: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn a_small_self_started_rush_passes_its_audit() {
    let dir = tempfile::tempdir().unwrap();
    let (report, plot) = (dir.path().join("report.json"), dir.path().join("rush.svg"));
    let output = loadtest()
        .args(["rush", "--layout", "club", "--buyers", "1000", "--burst-secs", "2"])
        .args(["--duration", "15s", "--hold-ttl", "2s", "--connections", "32"])
        .arg("--report")
        .arg(&report)
        .arg("--plot")
        .arg(&plot)
        .output()
        .unwrap();
    passed(&output);

    let report = read_report(&report);
    for field in [
        "purchases_per_sec",
        "tickets_per_sec",
        "reserves_per_sec",
        "sold_out_after_s",
        "p50_ms",
        "p99_ms",
        "oversold",
        "server_errors",
    ] {
        assert!(report.get(field).is_some(), "the report lacks {field}: {report:#}");
    }
    assert_eq!(report["oversold"], 0);
    assert_eq!(report["server_errors"], 0);
    assert_eq!(report["audit"]["passed"], true);
    assert_eq!(report["capacity"], 300);
    assert!(report["purchases_per_sec"].as_f64().unwrap() > 0.0);
    // Demand is over three times supply: the show sells out, and most
    // buyers are told so.
    assert!(report["sold_out_after_s"].as_f64().is_some(), "{report:#}");
    assert!(report["outcomes"]["sold_out"].as_u64().unwrap() > 300, "{report:#}");
    for op in ["view", "reserve", "purchase", "all"] {
        assert!(report["ops"][op]["p99_ms"].as_f64().is_some(), "no {op} percentiles");
    }
    assert!(report["cpu"]["server"]["cpu_s"].as_f64().is_some(), "no server CPU");
    assert!(report["cpu"]["harness"]["cpu_s"].as_f64().is_some(), "no harness CPU");
    assert!(report["connections_opened"].as_u64().is_some(), "{report:#}");
    assert!(report["pool_wait"]["count"].as_u64() > Some(0), "{report:#}");

    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("latency per second"), "not the plot");
}

#[test]
fn without_a_waiting_room_the_server_sheds_and_the_audit_still_passes() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("overload.json");
    // One request waiting per performance: any two buyers at once overload it.
    let output = loadtest()
        .args(["rush", "--layout", "club", "--no-waiting-room", "--server-max-in-flight", "1"])
        .args(["--arrival-rate", "100/s", "--overload-secs", "2", "--overload-rate", "1000/s"])
        .args(["--duration", "4s", "--hold-ttl", "2s", "--connections", "64"])
        .args(["--quantity", "1-2", "--pay-share", "0.1", "--accounts", "100"])
        .arg("--report")
        .arg(&report)
        .output()
        .unwrap();
    let stdout = passed(&output);
    assert!(stdout.contains("overload    "), "{stdout}");

    let report = read_report(&report);
    assert_eq!(report["buyers"], 2200, "2 s at 1,000/s, then 2 s at 100/s");
    assert!(report["outcomes"]["refused"].as_u64().unwrap() > 0, "{report:#}");
    assert!(report["errors_by_status"]["503 overloaded"].as_u64().unwrap() > 0, "{report:#}");
    assert!(report["ops"]["refused"]["count"].as_u64().unwrap() > 0, "{report:#}");
    assert!(report["ops"]["refused"]["p99_ms"].as_f64().is_some(), "{report:#}");
    // Shedding is the server working as meant, not failing.
    assert_eq!(report["server_errors"], 0, "{report:#}");
    assert_eq!(report["outcomes"]["failed"], 0, "{report:#}");
    assert!(report["server_rss_peak_mib"].as_f64().unwrap() > 0.0, "{report:#}");
    assert!(report["overload"]["offered_per_sec"].as_f64().unwrap() > 0.0, "{report:#}");
    let shed: u64 =
        report["timeline"].as_array().unwrap().iter().map(|s| s["shed"].as_u64().unwrap()).sum();
    assert!(shed > 0, "{report:#}");
}

#[test]
fn a_rush_cut_short_counts_every_buyer_still_waiting_as_unfinished() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("short.json");
    // One buyer served at a time cannot get through 3,000 arriving in half
    // a second before the rush stops at 1 s.
    let output = loadtest()
        .args(["rush", "--layout", "stadium", "--buyers", "3000", "--burst-secs", "0.5"])
        .args(["--duration", "1s", "--connections", "1", "--pay-share", "1"])
        .arg("--report")
        .arg(&report)
        .output()
        .unwrap();
    passed(&output);

    let report = read_report(&report);
    let outcomes = report["outcomes"].as_object().unwrap();
    let ended: u64 = outcomes.values().map(|count| count.as_u64().unwrap()).sum();
    assert_eq!(ended, report["arrived"].as_u64().unwrap(), "every arrival ends once: {report:#}");
    assert!(outcomes["unfinished"].as_u64().unwrap() > 1000, "{report:#}");
    assert!(outcomes["purchased"].as_u64().unwrap() > 0, "{report:#}");
    assert_eq!(report["oversold"], 0);
}

#[test]
fn a_server_pinned_to_one_cpu_is_rushed_and_audited() {
    let output = loadtest()
        .args(["rush", "--layout", "club", "--buyers", "300", "--burst-secs", "1"])
        .args(["--duration", "10s", "--hold-ttl", "1s", "--server-cpus", "0"])
        .output()
        .unwrap();
    passed(&output);
}

#[test]
fn an_overload_phase_that_cannot_be_measured_is_refused() {
    for (phase, complaint) in [
        (["--overload-secs", "1", "--overload-after", "0"], "too short"),
        (["--overload-secs", "3", "--overload-after", "2"], "after --duration"),
    ] {
        let output = loadtest()
            .args(["rush", "--arrival-rate", "10/s", "--overload-rate", "20/s", "--duration", "4s"])
            .args(phase)
            .output()
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(complaint), "{stderr}");
    }
}

#[test]
fn a_target_off_this_machine_is_refused() {
    let output =
        loadtest().args(["rush", "--target", "http://192.168.1.10:8080"]).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("not a loopback address"), "{stderr}");
}

/// A Boxoffice server of the test's own, as the harness would start it
/// (`loadtest serve-boxoffice`), for a rush to `--target`; killed on drop.
struct Server {
    child: Child,
    base: String,
    _data_dir: tempfile::TempDir,
}

const ADMIN: &str = "rush-test-admin";

impl Server {
    fn start() -> Server {
        let data_dir = tempfile::tempdir().unwrap();
        let free = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let addr = free.local_addr().unwrap().to_string();
        drop(free);
        let child = loadtest()
            .args(["serve-boxoffice", "--catalogue", "empty", "--payments", "instant"])
            .args(["--hold-ttl", "1s", "--addr", &addr])
            .arg("--data-dir")
            .arg(data_dir.path())
            .env("BOXOFFICE_ADMIN_TOKEN", ADMIN)
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let mut server = Server { child, base: format!("http://{addr}/"), _data_dir: data_dir };
        server.wait_until_up(&addr);
        server
    }

    fn wait_until_up(&mut self, addr: &str) {
        let started = Instant::now();
        while !answers_health(addr) {
            assert!(self.child.try_wait().unwrap().is_none(), "the server exited at start-up");
            assert!(started.elapsed() < Duration::from_secs(60), "the server never came up");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn answers_health(addr: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect(addr) else { return false };
    let request = "GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n";
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut answer = String::new();
    let sent = stream.write_all(request.as_bytes()).is_ok();
    sent && stream.read_to_string(&mut answer).is_ok() && answer.starts_with("HTTP/1.1 200")
}

/// A rush under way: its log lines as they come, and its summary.
struct Running {
    child: Child,
    log: mpsc::Receiver<String>,
    stdout: std::thread::JoinHandle<String>,
}

/// How long the tests below wait for anything: far more than it takes.
const PATIENCE: Duration = Duration::from_secs(60);

impl Running {
    /// Starts `loadtest rush` with `args` and its info log, uncoloured.
    fn start(args: &[&str]) -> Running {
        let mut command = loadtest();
        command.env("RUST_LOG", "info").env("NO_COLOR", "1").arg("rush").args(args);
        let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let (lines, log) = mpsc::channel();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        let mut stdout = child.stdout.take().unwrap();
        let stdout = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stdout.read_to_string(&mut text);
            text
        });
        Running { child, log, stdout }
    }

    /// The first log line holding `wanted`.
    fn log_line(&mut self, wanted: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.log.recv_timeout(left) {
                Ok(line) if line.contains(wanted) => return line,
                Ok(_) => {}
                Err(error) => panic!("no {wanted:?} in the rush's log ({error})"),
            }
        }
    }

    /// Waits for the rush to end: its exit status, summary and the rest of
    /// its log.
    fn finish(mut self) -> (ExitStatus, String, String) {
        let deadline = Instant::now() + PATIENCE;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the rush did not end within {PATIENCE:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let log: Vec<String> = self.log.iter().collect();
        (status, self.stdout.join().unwrap(), log.join("\n"))
    }
}

/// A rush of the club at 200 buyers a second for 4 s, its report to
/// `report`, after `first` of the arguments.
fn rush_losing_its_server(first: &[&str], report: &std::path::Path) -> Running {
    let mut args = first.to_vec();
    args.extend(["--layout", "club", "--buyers", "800", "--arrival-rate", "200/s"]);
    args.extend(["--duration", "4s", "--accounts", "100", "--quantity", "1", "--pay-share", "1"]);
    args.extend(["--report", report.to_str().unwrap()]);
    Running::start(&args)
}

/// What a rush whose server was killed a second in must still say: the
/// figures measured, and an audit not done, so no pass.
fn reported_unaudited(
    status: ExitStatus,
    stdout: &str,
    log: &str,
    report: &std::path::Path,
) -> Value {
    assert_eq!(status.code(), Some(2), "not the exit of a failed audit\n{stdout}\n{log}");
    assert!(stdout.contains("audit       NOT DONE"), "{stdout}\n{log}");

    let report = read_report(report);
    let audit = &report["audit"];
    assert_eq!(audit["passed"], false, "{report:#}");
    assert!(report["oversold"].is_null(), "nothing audited, nothing to count: {report:#}");
    assert!(audit["oversold"].is_null(), "{report:#}");
    let problem = audit["problems"][0].as_str().unwrap();
    assert!(problem.starts_with("the audit could not read the server's state"), "{problem}");
    // A second of a living server, then refusals: both measured.
    assert!(report["purchases"].as_u64().unwrap() > 0, "{report:#}");
    assert_eq!(audit["acked_orders"], report["purchases"], "{report:#}");
    assert!(report["ops"]["all"]["count"].as_u64().unwrap() > 0, "{report:#}");
    assert!(report["p99_ms"].as_f64().is_some(), "{report:#}");
    assert!(report["errors_by_status"]["transport"].as_u64().unwrap() > 0, "{report:#}");
    assert!(report["outcomes"]["failed"].as_u64().unwrap() > 0, "{report:#}");
    report
}

#[test]
fn a_target_killed_mid_rush_is_reported_but_not_passed() {
    let mut server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("lost.json");
    let target = ["--target", &server.base, "--admin-token", ADMIN];
    let mut rush = rush_losing_its_server(&target, &report);

    rush.log_line("connections open");
    std::thread::sleep(Duration::from_secs(1));
    server.child.kill().unwrap();
    let (status, stdout, log) = rush.finish();

    let report = reported_unaudited(status, &stdout, &log, &report);
    assert!(report["cpu"]["server"].is_null(), "not ours to measure: {report:#}");
}

#[test]
fn a_self_started_server_killed_mid_rush_is_reported_but_not_passed() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("lost.json");
    let mut rush = rush_losing_its_server(&["--hold-ttl", "1s"], &report);

    let started = rush.log_line("server started");
    let pid = started.split_whitespace().find_map(|field| field.strip_prefix("pid="));
    let pid = pid.unwrap_or_else(|| panic!("no pid in {started:?}")).to_owned();
    rush.log_line("connections open");
    std::thread::sleep(Duration::from_secs(1));
    let killed = Command::new("kill").args(["-KILL", &pid]).status().unwrap();
    assert!(killed.success(), "kill -KILL {pid}");
    let (status, stdout, log) = rush.finish();

    let report = reported_unaudited(status, &stdout, &log, &report);
    assert!(report["server_rss_peak_mib"].as_f64().unwrap() > 0.0, "{report:#}");
    assert!(report["server_rss_end_mib"].is_null(), "it had no memory at the end: {report:#}");
}
