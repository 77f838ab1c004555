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
    pub oversold: u64,
    /// Answers of status 500 and above.
    pub server_errors: u64,
    /// `view`, `seats`, `reserve`, `purchase`, `all` (every request) and
    /// `journey` (a buyer's due time to its last answer).
    pub ops: BTreeMap<String, Percentiles>,
    pub outcomes: BTreeMap<String, u64>,
    pub errors_by_status: BTreeMap<String, u64>,
    pub cpu: CpuReport,
    pub timeline: Vec<SecondReport>,
    pub audit: AuditReport,
}

#[derive(Clone, Debug, Serialize)]
pub struct CpuReport {
    /// `None` for a server the harness did not start.
    pub server: Option<CpuUse>,
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
    pub errors: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
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
            errors: second.errors,
            p50_ms: latency.p50_ms,
            p99_ms: latency.p99_ms,
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
        timeline: stats.seconds.iter().enumerate().map(|(t, s)| SecondReport::new(t, s)).collect(),
        audit,
    }
}

pub fn write_json(path: &Path, value: &impl Serialize) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value).context("encoding the report")?;
    std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))
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
    let _ = writeln!(
        line,
        "cpu         server {}, harness {}",
        cpu(report.cpu.server),
        cpu(Some(report.cpu.harness))
    );
    let audit = &report.audit;
    let verdict = if audit.passed { "PASSED" } else { "FAILED" };
    let _ = writeln!(
        line,
        "audit       {verdict}: {} sold = {} acknowledged + {} of unknown outcome at most; oversold {}, lost {}, {} available",
        audit.sold, audit.acked_tickets, audit.unknown_tickets, audit.oversold, audit.lost, audit.available_listed
    );
    for problem in &audit.problems {
        let _ = writeln!(line, "            {problem}");
    }
    out
}
