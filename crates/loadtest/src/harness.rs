//! One whole rush: the server (started here, or `--target`), the performance
//! and the buyers' accounts, the rush, the audit, and the report.

use std::collections::HashSet;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use reqwest::Url;

use crate::args::RushArgs;
use crate::audit::{self, AuditReport};
use crate::client::{Api, PerformanceRef};
use crate::cpu::{cpu_time, find_process, CpuUse};
use crate::report::{self, CpuReport, RushReport};
use crate::rush::{self, Plan};
use crate::server_child::{ServerChild, ServerKind};
use crate::stats::Percentiles;
use crate::{arrivals, layouts, memory, setup};

/// The database servers a baseline run may lean on, by command name.
const DATABASES: &[&str] = &["mariadbd", "mysqld"];

/// Runs `loadtest rush`: against `--target`, or a Boxoffice server started
/// for it.
pub async fn rush(args: &RushArgs) -> anyhow::Result<RushReport> {
    match &args.target {
        Some(target) => {
            args.check()?;
            let base = crate::target::loopback_target(target)?;
            let admin = args.admin_token.clone().filter(|token| !token.is_empty());
            rush_at(args, with_slash(base), admin, None, "external").await
        }
        None => {
            let kind = ServerKind::Boxoffice {
                hold_ttl: args.hold_ttl,
                max_in_flight: args.server_max_in_flight,
                max_http_in_flight: args.server_max_http_in_flight,
                checkpoint_every: args.server_checkpoint_every,
            };
            rush_self_started(args, &kind).await
        }
    }
}

/// Starts `kind` on a fresh data dir, rushes it and stops it.
pub async fn rush_self_started(args: &RushArgs, kind: &ServerKind) -> anyhow::Result<RushReport> {
    args.check()?;
    let token = args.admin_token.clone().filter(|token| !token.is_empty());
    let token = token.unwrap_or_else(|| format!("{:032x}", rand::random::<u128>()));
    let server = ServerChild::start(kind, &token, args.server_cpus.as_deref()).await?;
    let report = rush_at(args, server.base.clone(), Some(token), Some(server.pid()), kind.name());
    let report = report.await;
    drop(server);
    report
}

/// `Url::join` resolves against the last `/`: keep a base path intact.
fn with_slash(mut base: Url) -> Url {
    if !base.path().ends_with('/') {
        let path = format!("{}/", base.path());
        base.set_path(&path);
    }
    base
}

async fn rush_at(
    args: &RushArgs,
    base: Url,
    admin: Option<String>,
    server_pid: Option<u32>,
    server: &str,
) -> anyhow::Result<RushReport> {
    let api = Api::new(base.clone(), args.connections as usize, args.request_timeout, admin)?;
    let run = format!("{:08x}", rand::random::<u32>());
    let (performance, sold_before) = prepare(&api, args, &run).await?;
    let view = api.performance(&performance).await;
    let view = view.map_err(|failure| anyhow::anyhow!("viewing the performance: {failure}"))?;
    let buyers = args.buyers(u64::from(view.available));
    tracing::info!(
        performance = performance.performance,
        places = view.available,
        buyers,
        "rushing"
    );
    let accounts = args.accounts.map_or(buyers, |shared| shared as usize).min(buyers);
    let accounts =
        setup::register_accounts(&api, &run, accounts, args.connections as usize).await?;
    let plan = Plan {
        performance,
        due: arrivals::schedule(buyers, args.arrival()),
        duration: args.duration,
        pay_share: args.pay_share,
        by_seat_share: args.by_seat_share,
        quantity: args.quantity,
        seed: args.seed,
        waiting_room: (!args.no_waiting_room).then_some(args.connections as usize),
        sections: view.sections.iter().flatten().map(|section| section.name.clone()).collect(),
    };

    let open = api.open_connections().await;
    let open = open.map_err(|failure| anyhow::anyhow!("opening connections: {failure}"))?;
    tracing::info!(connections = open, "connections open");

    let memory = server_pid.map(memory::Sampler::start);
    // The baseline's own CPU is only part of its cost: the database works
    // for every request too.
    let database_pid = if server == "baseline" { find_process(DATABASES) } else { None };
    let database_before = database_pid.and_then(|pid| cpu_time(Some(pid)).ok());
    let (cpu_before, started) = (cpu_readings(server_pid)?, Instant::now());
    let opened_before = api.connections_opened();
    api.take_pool_waits();
    let finished = rush::run(api.clone(), plan, accounts).await;
    let (cpu_after, wall) = (cpu_readings(server_pid)?, started.elapsed());
    let connections_opened = api.connections_opened() - opened_before;
    let pool_wait = Percentiles::of(&api.take_pool_waits());
    let database_after = database_pid.and_then(|pid| cpu_time(Some(pid)).ok());
    let server_rss = match memory.zip(server_pid) {
        Some((memory, pid)) => memory.stop(pid).await,
        None => None,
    };

    let mut ledger = finished.ledger.clone();
    ledger.sold_before = sold_before;
    let audit = settle_and_audit(&api, &performance, &ledger, finished.latest_hold).await;
    let cpu = CpuReport {
        server: cpu_before.0.zip(cpu_after.0).map(|(b, a)| CpuUse::between(b, a, wall)),
        database: database_before.zip(database_after).map(|(b, a)| CpuUse::between(b, a, wall)),
        harness: CpuUse::between(cpu_before.1, cpu_after.1, wall),
    };
    let context = report::Context {
        server: server.to_owned(),
        target: base.to_string(),
        performance,
        capacity: view.capacity,
        buyers,
        arrival: args.arrival(),
        cpu,
        server_rss,
        connections_opened,
        pool_wait,
    };
    Ok(report::build(context, &finished, audit))
}

/// The performance to rush, and the tickets it had sold already: a new one
/// when we may create it and none was named.
async fn prepare(
    api: &Api,
    args: &RushArgs,
    run: &str,
) -> anyhow::Result<(PerformanceRef, HashSet<String>)> {
    if api.has_admin_token() && args.performance.is_none() {
        let layout = layouts::scaled(layouts::layout(&args.layout)?, args.layout_scale);
        let performance = setup::create_performance(api, run, layout).await?;
        return Ok((performance, HashSet::new()));
    }
    let performance = setup::find_performance(api, args.performance).await?;
    let sold = audit::purchased_tickets(api, &performance).await.context("before the rush")?;
    Ok((performance, sold))
}

/// The server's CPU (when it is our child) and ours. A server that died in
/// the rush has none to read: its CPU is left out of the report, which is
/// still worth writing.
fn cpu_readings(server_pid: Option<u32>) -> anyhow::Result<(Option<Duration>, Duration)> {
    let server = server_pid.and_then(|pid| match cpu_time(Some(pid)) {
        Ok(cpu) => Some(cpu),
        Err(error) => {
            tracing::warn!("no server CPU: {error:#}");
            None
        }
    });
    Ok((server, cpu_time(None)?))
}

/// Holds waited for before the audit, so the counts it compares are still.
const HOLD_WAIT_MAX: Duration = Duration::from_secs(30);

async fn settle_and_audit(
    api: &Api,
    performance: &PerformanceRef,
    ledger: &audit::Ledger,
    latest_hold: Option<SystemTime>,
) -> AuditReport {
    let left = latest_hold.and_then(|until| until.duration_since(SystemTime::now()).ok());
    match left {
        Some(left) if left <= HOLD_WAIT_MAX => {
            tracing::info!(secs = left.as_secs_f64(), "waiting for the last holds to lapse");
            // A moment more for the server's expiry timers to run.
            tokio::time::sleep(left + Duration::from_millis(500)).await;
        }
        Some(left) => tracing::warn!(secs = left.as_secs(), "holds outlast the wait; auditing now"),
        None => {}
    }
    audit::run(api, performance, ledger).await
}
