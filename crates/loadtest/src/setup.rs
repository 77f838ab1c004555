//! Before the rush, untimed: the performance to rush (created through the
//! admin API, or found by browsing) and one account per buyer.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context as _};
use indicatif::{ProgressBar, ProgressStyle};
use tokio::task::JoinSet;

use crate::client::{Account, Api, Failure, PerformanceRef, PerformanceView};

/// Creates a city, a venue with `layout` and a performance on sale from a
/// second ago, so the rush starts at its on-sale instant.
pub async fn create_performance(
    api: &Api,
    run: &str,
    layout: serde_json::Value,
) -> anyhow::Result<PerformanceRef> {
    let failed = |what: &'static str| move |failure: Failure| anyhow::anyhow!("{what}: {failure}");
    let city =
        api.create_city(&format!("Rushville {run}")).await.map_err(failed("creating a city"))?;
    let venue = api.create_venue(city, &format!("Rush Arena {run}"), layout).await;
    let venue = venue.map_err(failed("creating a venue"))?;
    let on_sale = humantime::format_rfc3339_seconds(SystemTime::now() - Duration::from_secs(1));
    let title = format!("Ticket rush {run}");
    let performance = api.create_performance(city, venue, &title, &on_sale.to_string()).await;
    let performance = performance.map_err(failed("creating a performance"))?;
    Ok(PerformanceRef { city, venue, performance })
}

/// Finds the performance `wanted`, or the on-sale one with the most tickets
/// available, by browsing every city and venue.
pub async fn find_performance(api: &Api, wanted: Option<u32>) -> anyhow::Result<PerformanceRef> {
    let failed = |failure: Failure| anyhow::anyhow!("browsing the catalogue: {failure}");
    let now = SystemTime::now();
    let mut best: Option<PerformanceView> = None;
    for city in api.list_ids("cities").await.map_err(failed)? {
        for venue in api.list_ids(&format!("cities/{city}/venues")).await.map_err(failed)? {
            for found in api.performances_at(city, venue).await.map_err(failed)? {
                if wanted == Some(found.id) {
                    return Ok(reference(&found));
                }
                let on_sale =
                    humantime::parse_rfc3339_weak(&found.on_sale).is_ok_and(|at| at <= now);
                let bigger = best.as_ref().is_none_or(|best| found.available > best.available);
                if wanted.is_none() && on_sale && bigger {
                    best = Some(found);
                }
            }
        }
    }
    match (wanted, best) {
        (Some(id), _) => bail!("no performance {id} in the catalogue"),
        (None, Some(best)) => Ok(reference(&best)),
        (None, None) => bail!("no performance is on sale; pass --admin-token to create one"),
    }
}

fn reference(view: &PerformanceView) -> PerformanceRef {
    PerformanceRef { city: view.city_id, venue: view.venue_id, performance: view.id }
}

/// Registers `count` accounts, `parallel` at a time, with emails unique to
/// this run so a rerun against the same server finds none taken.
pub async fn register_accounts(
    api: &Api,
    run: &str,
    count: usize,
    parallel: usize,
) -> anyhow::Result<Vec<Account>> {
    let progress = bar(count as u64, "registering buyers");
    let run: Arc<str> = run.into();
    let mut accounts = vec![None; count];
    let mut tasks = JoinSet::new();
    for index in 0..count {
        if tasks.len() >= parallel {
            store(&mut accounts, tasks.join_next().await, &progress)?;
        }
        let (api, run) = (api.clone(), run.clone());
        tasks.spawn(async move { (index, register_one(&api, &run, index).await) });
    }
    while let Some(done) = tasks.join_next().await {
        store(&mut accounts, Some(done), &progress)?;
    }
    progress.finish_and_clear();
    Ok(accounts.into_iter().map(|account| account.expect("every index was registered")).collect())
}

type Registered = (usize, anyhow::Result<Account>);

fn store(
    accounts: &mut [Option<Account>],
    done: Option<Result<Registered, tokio::task::JoinError>>,
    progress: &ProgressBar,
) -> anyhow::Result<()> {
    let (index, account) =
        done.context("no registration was running")?.context("a registration task")?;
    accounts[index] = Some(account?);
    progress.inc(1);
    Ok(())
}

/// How long one sign-up keeps trying while the server sheds load, and the
/// longest pause between tries.
const REGISTER_PATIENCE: Duration = Duration::from_secs(60);
const RETRY_WAIT_MAX: Duration = Duration::from_secs(1);

/// One sign-up, retried while the server sheds load (503). The pauses
/// double and are jittered: sign-ups refused together must not all come
/// back together, or a server with a small door refuses them again.
async fn register_one(api: &Api, run: &str, index: usize) -> anyhow::Result<Account> {
    let phone =
        format!("+41 44 {:03} {:02} {:02}", index / 10_000 % 1000, index / 100 % 100, index % 100);
    let given_up = Instant::now() + REGISTER_PATIENCE;
    let mut wait = Duration::from_millis(50);
    for attempt in 0.. {
        // A new address each try: a timed-out try may have registered.
        let email = format!("buyer-{index}-{attempt}@{run}.loadtest.invalid");
        match api.register(&format!("Buyer {index}"), &email, &phone).await {
            Ok(account) => return Ok(account),
            Err(Failure::Status { status: 503, .. }) | Err(Failure::Timeout)
                if Instant::now() < given_up =>
            {
                tokio::time::sleep(wait.mul_f64(rand::random_range(0.5..=1.0))).await;
                wait = (wait * 2).min(RETRY_WAIT_MAX);
            }
            Err(failure) => bail!("registering buyer {index}: {failure}"),
        }
    }
    unreachable!("the tries end by returning")
}

/// A progress bar on stderr (hidden when stderr is not a terminal).
pub fn bar(len: u64, what: &str) -> ProgressBar {
    let progress = ProgressBar::new(len);
    let template = "{prefix:>18} [{bar:30}] {pos}/{len} {elapsed} {wide_msg}";
    let style = ProgressStyle::with_template(template)
        .map(|style| style.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    progress.set_style(style);
    progress.set_prefix(what.to_owned());
    progress
}
