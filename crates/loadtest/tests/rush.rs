//! End to end: `loadtest rush` starts its own server, rushes the 300-place
//! club with 1,000 buyers, audits it, and writes its report and plot; and
//! the same without a waiting room against a server that sheds almost
//! everything; and a rush whose time runs out with buyers still waiting.

use std::process::Command;

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
