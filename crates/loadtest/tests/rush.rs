//! End to end: `loadtest rush` starts its own server, rushes the 300-place
//! club with 1,000 buyers, audits it, and writes its report and plot.

use std::process::Command;

use serde_json::Value;

fn loadtest() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_loadtest"));
    command.env("RUST_LOG", "warn");
    command
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
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "loadtest failed\n{stdout}\n{stderr}");
    assert!(stdout.contains("audit       PASSED"), "{stdout}");

    let report: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
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

    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("latency per second"), "not the plot");
}

#[test]
fn a_target_off_this_machine_is_refused() {
    let output =
        loadtest().args(["rush", "--target", "http://192.168.1.10:8080"]).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("not a loopback address"), "{stderr}");
}
