//! The rush's results: the JSON report and the summary table.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;
use serde::Serialize;

use crate::arrivals::Arrival;
use crate::audit::AuditReport;
use crate::client::PerformanceRef;
use crate::cpu::CpuUse;
use crate::memory::Rss;
use crate::rush::Finished;
use crate::stats::{Op, Outcome, Percentiles, Second};

#[derive(Clone, Debug, Serialize)]
pub struct RushReport {
    /// `boxoffice`, `baseline`, or `external` for a `--target`.
    pub server: String,
    pub target: String,
    pub performance: PerformanceRef,
    pub capacity: u32,
    pub buyers: usize,
    /// Buyers whose due time came before the rush stopped.
    pub arrived: usize,
    pub arrival: Arrival,
    /// From the on-sale instant to the last answer.
    pub elapsed_s: f64,
    pub purchases: u64,
    pub tickets: u64,
    pub reserves: u64,
    pub purchases_per_sec: f64,
    pub tickets_per_sec: f64,
    pub reserves_per_sec: f64,
    pub peak_purchases_per_sec: u64,
    /// When a buyer first saw nothing left, from the on-sale instant.
    pub sold_out_after_s: Option<f64>,
    /// Over every request of the rush.
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// The audit's: `null` when it could not be done (the server died in
    /// the rush), for nothing is known then.
    pub oversold: Option<u64>,
    /// Answers of status 500 and above.
    pub server_errors: u64,
    /// `view`, `seats`, `reserve`, `purchase`, `all` (every request) and
    /// `journey` (a buyer's due time to its last answer).
    pub ops: BTreeMap<String, Percentiles>,
    pub outcomes: BTreeMap<String, u64>,
    pub errors_by_status: BTreeMap<String, u64>,
    pub cpu: CpuReport,
    /// The server's resident memory during the rush, sampled every 200 ms
    /// (`None` for a server the harness did not start).
    pub server_rss_peak_mib: Option<f64>,
    /// `None` also for a server gone by the end (it died in the rush).
    pub server_rss_end_mib: Option<f64>,
    /// Connections the harness opened during the rush: none once its pool
    /// is open (accounts are signed up over it first), unless the server
    /// closed some.
    pub connections_opened: u64,
    /// How long the rush's requests waited in the harness for a free
    /// connection. It counts in every latency above: a large one means the
    /// pool, not the server, set the pace.
    pub pool_wait: Percentiles,
    /// How late the harness began buyers' visits after they were due, with
    /// `--no-waiting-room` (empty otherwise: in a waiting room the wait in
    /// line is the model, not lateness). It counts in every latency above:
    /// a large one means the harness fell behind its own schedule.
    pub start_lag: Percentiles,
    /// With an overload phase: what got through during it, and how soon
    /// full speed came back after it.
    pub overload: Option<OverloadReport>,
    pub timeline: Vec<SecondReport>,
    pub audit: AuditReport,
}

/// The overload phase, over its whole seconds but the first (the ramp-up).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct OverloadReport {
    /// Buyers the dispatcher actually started per second: what the harness
    /// could offer, which may fall short of the rate asked for.
    pub offered_per_sec: f64,
    /// Visits that got a hold (purchased or abandoned) per second.
    pub completed_per_sec: f64,
    pub reserves_per_sec: f64,
    /// Requests shed (503 or 429) per second.
    pub shed_per_sec: f64,
    /// From the end of the overload phase to the end of the first second
    /// back at full speed: reserves within 10% of the normal arrival rate
    /// (more is the backlog still draining) and nothing shed. `None` if
    /// that never came within the run.
    pub recovered_within_s: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct CpuReport {
    /// `None` for a server the harness did not start, or whose CPU could
    /// not be read (it died in the rush).
    pub server: Option<CpuUse>,
    /// The database server's, for a baseline run on this machine.
    pub database: Option<CpuUse>,
    pub harness: CpuUse,
}

#[derive(Clone, Debug, Serialize)]
pub struct SecondReport {
    pub t: u64,
    pub requests: u64,
    pub reserves: u64,
    pub purchases: u64,
    pub tickets: u64,
    pub refused: u64,
    /// Shed by the server (503 or 429).
    pub shed: u64,
    pub errors: u64,
    /// Buyers started in this second.
    pub arrivals: u64,
    /// Visits ended in this second with a hold taken.
    pub completed: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// How late the visits begun in this second began, at p99 (`None`
    /// when none began, or in a waiting room).
    pub start_lag_p99_ms: Option<f64>,
    /// The fewest tickets a view showed available in this second.
    pub available: Option<u32>,
}

impl SecondReport {
    fn new(t: usize, second: &Second) -> SecondReport {
        let latency = Percentiles::of(&second.latency);
        SecondReport {
            t: t as u64,
            requests: second.requests,
            reserves: second.reserves,
            purchases: second.purchases,
            tickets: second.tickets,
            refused: second.refused,
            shed: second.shed,
            errors: second.errors,
            arrivals: second.arrivals,
            completed: second.completed,
            p50_ms: latency.p50_ms,
            p99_ms: latency.p99_ms,
            start_lag_p99_ms: (!second.start_lag.is_empty())
                .then(|| Percentiles::of(&second.start_lag).p99_ms),
            available: second.available,
        }
    }
}

/// Where the rush ran, for the report.
pub struct Context {
    pub server: String,
    pub target: String,
    pub performance: PerformanceRef,
    pub capacity: u32,
    pub buyers: usize,
    pub arrival: Arrival,
    pub cpu: CpuReport,
    pub server_rss: Option<Rss>,
    pub connections_opened: u64,
    pub pool_wait: Percentiles,
}

pub fn build(context: Context, finished: &Finished, audit: AuditReport) -> RushReport {
    let stats = &finished.stats;
    let sum = |field: fn(&Second) -> u64| stats.seconds.iter().map(field).sum::<u64>();
    let (purchases, tickets, reserves) =
        (sum(|s| s.purchases), sum(|s| s.tickets), sum(|s| s.reserves));
    let secs = finished.elapsed.as_secs_f64().max(1e-3);
    let mut ops: BTreeMap<String, Percentiles> =
        Op::ALL.iter().map(|op| (op.name().to_owned(), Percentiles::of(&stats.ops[op]))).collect();
    let all = Percentiles::of(&stats.all);
    ops.insert("all".into(), all.clone());
    ops.insert("journey".into(), Percentiles::of(&stats.journey));
    let outcomes = Outcome::ALL.iter().map(|&o| (o.name().to_owned(), stats.count(o))).collect();
    RushReport {
        server: context.server,
        target: context.target,
        performance: context.performance,
        capacity: context.capacity,
        buyers: context.buyers,
        arrived: finished.arrived,
        arrival: context.arrival,
        elapsed_s: finished.elapsed.as_secs_f64(),
        purchases,
        tickets,
        reserves,
        purchases_per_sec: purchases as f64 / secs,
        tickets_per_sec: tickets as f64 / secs,
        reserves_per_sec: reserves as f64 / secs,
        peak_purchases_per_sec: stats.seconds.iter().map(|s| s.purchases).max().unwrap_or(0),
        sold_out_after_s: stats.sold_out_after.map(|at| at.as_secs_f64()),
        p50_ms: all.p50_ms,
        p99_ms: all.p99_ms,
        oversold: audit.oversold,
        server_errors: stats.server_errors,
        ops,
        outcomes,
        errors_by_status: stats.errors.clone(),
        cpu: context.cpu,
        server_rss_peak_mib: context.server_rss.map(|rss| rss.peak_mib),
        server_rss_end_mib: context.server_rss.and_then(|rss| rss.end_mib),
        connections_opened: context.connections_opened,
        pool_wait: context.pool_wait,
        start_lag: Percentiles::of(&stats.start_lag),
        overload: overload(context.arrival, &stats.seconds),
        timeline: stats.seconds.iter().enumerate().map(|(t, s)| SecondReport::new(t, s)).collect(),
        audit,
    }
}

/// Goodput during an overload phase and the recovery after it.
fn overload(arrival: Arrival, seconds: &[Second]) -> Option<OverloadReport> {
    let Arrival::Overload { secs, per_sec, after, .. } = arrival else { return None };
    // Seconds of the run, counted from the phase's start.
    let (start, end) = (after.ceil() as usize, (after + secs).floor() as usize);
    let during = seconds.get(start + 1..end.min(seconds.len()))?;
    let mean = |field: fn(&Second) -> u64| {
        during.iter().map(field).sum::<u64>() as f64 / during.len().max(1) as f64
    };
    // The last second is cut short by the end of the run: not a fair test.
    let full_speed = |second: &Second| {
        let ratio = second.reserves as f64 / per_sec;
        (0.9..=1.1).contains(&ratio) && second.shed == 0
    };
    let last = seconds.len().saturating_sub(1);
    let back = ((after + secs).ceil() as usize..last).find(|&t| full_speed(&seconds[t]));
    Some(OverloadReport {
        offered_per_sec: mean(|s| s.arrivals),
        completed_per_sec: mean(|s| s.completed),
        reserves_per_sec: mean(|s| s.reserves),
        shed_per_sec: mean(|s| s.shed),
        recovered_within_s: back.map(|t| (t + 1) as f64 - after - secs),
    })
}

pub fn write_json(path: &Path, value: &impl Serialize) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value).context("encoding the report")?;
    std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))
}

/// How long requests queued in the harness for a connection, and a warning
/// when that queue, not the server, is most of the latency measured.
fn pool_wait_line(wait: &Percentiles, all: &Percentiles) -> String {
    let line = format!(
        "pool wait   p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms for a free connection",
        wait.p50_ms, wait.p99_ms, wait.max_ms
    );
    let harness_bound = wait.p99_ms >= 10.0 && wait.p99_ms >= all.p99_ms / 2.0;
    match harness_bound {
        true => line + "; most of the latency is this queue: the harness's pool is the limit",
        false => line,
    }
}

/// The table printed at the end of a rush.
pub fn summary(report: &RushReport) -> String {
    let mut out = String::new();
    let line = &mut out;
    let _ = writeln!(
        line,
        "\nticket rush on {} ({}), performance {}: {} places, {} buyers ({} arrived) in {:.1}s",
        report.server,
        report.target,
        report.performance.performance,
        report.capacity,
        report.buyers,
        report.arrived,
        report.elapsed_s
    );
    let _ = writeln!(
        line,
        "\n{:<10}{:>9}{:>10}{:>10}{:>10}{:>10}{:>10}",
        "op", "count", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms"
    );
    for (name, p) in &report.ops {
        let _ = writeln!(
            line,
            "{name:<10}{:>9}{:>10.2}{:>10.2}{:>10.2}{:>10.2}{:>10.2}",
            p.count, p.p50_ms, p.p90_ms, p.p99_ms, p.p999_ms, p.max_ms
        );
    }
    let sold_out = report.sold_out_after_s.map_or("never".into(), |s| format!("{s:.2}s"));
    let _ = writeln!(
        line,
        "\nthroughput  {:.1} purchases/s (peak {}), {:.1} tickets/s, {:.1} reserves/s; sold out after {sold_out}",
        report.purchases_per_sec, report.peak_purchases_per_sec, report.tickets_per_sec, report.reserves_per_sec
    );
    let outcomes: Vec<String> =
        report.outcomes.iter().filter(|(_, &n)| n > 0).map(|(k, n)| format!("{k} {n}")).collect();
    let _ = writeln!(line, "buyers      {}", outcomes.join(", "));
    let errors: Vec<String> =
        report.errors_by_status.iter().map(|(k, n)| format!("{k}: {n}")).collect();
    let _ = writeln!(
        line,
        "refusals    {}",
        if errors.is_empty() { "none".into() } else { errors.join(", ") }
    );
    let cpu = |use_: Option<CpuUse>| {
        use_.map_or("n/a".into(), |c| format!("{:.2}s ({:.0}% of a core)", c.cpu_s, c.core_pct))
    };
    let database = match report.cpu.database {
        Some(use_) => format!(", database {}", cpu(Some(use_))),
        None => String::new(),
    };
    let _ = writeln!(
        line,
        "cpu         server {}{database}, harness {}",
        cpu(report.cpu.server),
        cpu(Some(report.cpu.harness))
    );
    if let Some(peak) = report.server_rss_peak_mib {
        let end = report.server_rss_end_mib;
        let end = end.map_or("gone by the end".into(), |end| format!("{end:.0} MiB at the end"));
        let _ = writeln!(line, "memory      server {peak:.0} MiB at peak, {end}");
    }
    let opened = report.connections_opened;
    let _ = writeln!(line, "connections {opened} opened during the rush");
    let _ = writeln!(line, "{}", pool_wait_line(&report.pool_wait, &report.ops["all"]));
    let lag = &report.start_lag;
    if lag.count > 0 {
        let _ = writeln!(
            line,
            "start lag   p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms from a buyer's due time to the start of its visit",
            lag.p50_ms, lag.p99_ms, lag.max_ms
        );
    }
    if let Some(o) = &report.overload {
        let back = o.recovered_within_s.map_or("not within the run".into(), |s| format!("{s:.0}s"));
        let _ = writeln!(
            line,
            "overload    {:.0} buyers/s offered: {:.0} completed/s, {:.0} reserves/s, {:.0} shed/s; full speed back after {back}",
            o.offered_per_sec, o.completed_per_sec, o.reserves_per_sec, o.shed_per_sec
        );
    }
    let _ = writeln!(line, "{}", audit_line(&report.audit));
    for problem in &report.audit.problems {
        let _ = writeln!(line, "            {problem}");
    }
    out
}

/// The audit's verdict and counts; an audit not done has no counts of the
/// server's to show.
fn audit_line(audit: &AuditReport) -> String {
    let Some(oversold) = audit.oversold else {
        return format!(
            "audit       NOT DONE: {} acknowledged, {} of unknown outcome; sold, oversold and lost unknown",
            audit.acked_tickets, audit.unknown_tickets
        );
    };
    let verdict = if audit.passed { "PASSED" } else { "FAILED" };
    format!(
        "audit       {verdict}: {} sold = {} acknowledged + {} of unknown outcome at most; oversold {oversold}, lost {}, {} available",
        audit.sold, audit.acked_tickets, audit.unknown_tickets, audit.lost, audit.available_listed
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn second(arrivals: u64, reserves: u64) -> Second {
        let mut second = Second::new();
        (second.arrivals, second.reserves, second.completed) = (arrivals, reserves, reserves);
        second
    }

    #[test]
    fn recovery_is_the_first_second_back_at_the_normal_rate() {
        let arrival =
            Arrival::Overload { overload_per_sec: 100.0, secs: 3.0, per_sec: 10.0, after: 0.0 };
        let seconds: Vec<Second> =
            [(50, 5), (100, 20), (100, 30), (10, 40), (10, 9), (10, 10), (4, 4)]
                .into_iter()
                .map(|(a, r)| second(a, r))
                .collect();
        let report = overload(arrival, &seconds).unwrap();
        assert_eq!(report.offered_per_sec, 100.0, "the ramp-up second is left out");
        assert_eq!(report.reserves_per_sec, 25.0);
        // Second 3 still drains the backlog (40 of 10); second 4, from 4 s
        // to 5 s, has 9 of 10: back 2 s after the phase.
        assert_eq!(report.recovered_within_s, Some(2.0));
        assert_eq!(overload(Arrival::Rate { per_sec: 1.0 }, &seconds), None);
    }

    #[test]
    fn an_overload_after_a_warm_start_is_measured_over_its_own_seconds() {
        let arrival =
            Arrival::Overload { overload_per_sec: 100.0, secs: 3.0, per_sec: 10.0, after: 2.0 };
        let seconds: Vec<Second> =
            [(10, 10), (10, 10), (60, 5), (100, 20), (100, 30), (10, 40), (10, 10), (4, 4)]
                .into_iter()
                .map(|(a, r)| second(a, r))
                .collect();
        let report = overload(arrival, &seconds).unwrap();
        assert_eq!(report.offered_per_sec, 100.0, "seconds 3 and 4; the ramp-up left out");
        assert_eq!(report.reserves_per_sec, 25.0);
        assert_eq!(report.recovered_within_s, Some(2.0), "second 6, from 6 s to 7 s");
    }

    #[test]
    fn a_pool_wait_that_is_most_of_the_latency_is_called_the_limit() {
        let latency = |p99_ms| Percentiles { p99_ms, ..Percentiles::default() };
        let harness_bound = pool_wait_line(&latency(300.0), &latency(400.0));
        let server_bound = pool_wait_line(&latency(30.0), &latency(400.0));
        let quiet = pool_wait_line(&latency(0.5), &latency(0.8));

        assert!(harness_bound.contains("the harness's pool is the limit"), "{harness_bound}");
        assert!(!server_bound.contains("limit"), "{server_bound}");
        assert!(!quiet.contains("limit"), "{quiet}");
    }
}
