//! `loadtest compare`: the same rush against Boxoffice and then against the
//! MariaDB baseline, each started here on a fresh store, and the ratios.

use std::path::{Path, PathBuf};

use anyhow::{bail, ensure};
use serde::Serialize;

use crate::args::RushArgs;
use crate::harness;
use crate::report::{self, RushReport};
use crate::server_child::ServerKind;

#[derive(clap::Args, Clone, Debug)]
pub struct CompareArgs {
    #[command(flatten)]
    pub rush: RushArgs,

    /// The baseline's database.
    #[arg(long, default_value = "mysql://boxoffice:boxoffice@127.0.0.1:3306/boxoffice_baseline")]
    pub database_url: String,
}

/// Boxoffice's figure over the baseline's, for each.
#[derive(Clone, Debug, Serialize)]
pub struct Ratios {
    pub purchases_per_sec: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub sold_out_after_s: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub boxoffice: RushReport,
    pub baseline: RushReport,
    /// boxoffice ÷ baseline.
    pub ratios: Ratios,
}

impl Comparison {
    pub fn passed(&self) -> bool {
        self.boxoffice.audit.passed && self.baseline.audit.passed
    }
}

pub async fn run(args: &CompareArgs) -> anyhow::Result<Comparison> {
    ensure!(args.rush.target.is_none(), "compare starts both servers itself: drop --target");
    if !crate::BASELINE_BUILT_IN {
        bail!(
            "the MariaDB baseline (crates/loadtest/src/baseline) is not built into this \
             binary yet, so there is nothing to compare against; `loadtest rush` works"
        );
    }
    let boxoffice_kind = ServerKind::Boxoffice {
        hold_ttl: args.rush.hold_ttl,
        max_in_flight: args.rush.server_max_in_flight,
        max_http_in_flight: args.rush.server_max_http_in_flight,
        checkpoint_every: args.rush.server_checkpoint_every,
    };
    let boxoffice = side(&args.rush, &boxoffice_kind).await?;
    let baseline_kind = ServerKind::Baseline {
        database_url: args.database_url.clone(),
        hold_ttl: args.rush.hold_ttl,
    };
    let baseline = side(&args.rush, &baseline_kind).await?;
    let ratios = ratios(&boxoffice, &baseline);
    let comparison = Comparison { boxoffice, baseline, ratios };
    println!("{}", table(&comparison));
    if let Some(path) = &args.rush.report {
        report::write_json(path, &comparison)?;
    }
    Ok(comparison)
}

/// One side's rush, with its summary printed and its plot written.
async fn side(args: &RushArgs, kind: &ServerKind) -> anyhow::Result<RushReport> {
    let report = harness::rush_self_started(args, kind).await?;
    println!("{}", report::summary(&report));
    if let Some(plot) = &args.plot {
        crate::plot::write(&report, &suffixed(plot, kind.name()))?;
    }
    Ok(report)
}

/// `rush.svg` becomes `rush-boxoffice.svg`.
fn suffixed(path: &Path, side: &str) -> PathBuf {
    let stem = path.file_stem().map(|stem| stem.to_string_lossy()).unwrap_or_default();
    let extension = path.extension().map(|ext| ext.to_string_lossy()).unwrap_or("svg".into());
    path.with_file_name(format!("{stem}-{side}.{extension}"))
}

fn ratio(ours: f64, theirs: f64) -> Option<f64> {
    (theirs > 0.0 && ours.is_finite()).then(|| ours / theirs)
}

fn ratios(boxoffice: &RushReport, baseline: &RushReport) -> Ratios {
    let sold_out = boxoffice.sold_out_after_s.zip(baseline.sold_out_after_s);
    Ratios {
        purchases_per_sec: ratio(boxoffice.purchases_per_sec, baseline.purchases_per_sec),
        p50_ms: ratio(boxoffice.p50_ms, baseline.p50_ms),
        p99_ms: ratio(boxoffice.p99_ms, baseline.p99_ms),
        sold_out_after_s: sold_out.and_then(|(ours, theirs)| ratio(ours, theirs)),
    }
}

fn table(comparison: &Comparison) -> String {
    let (ours, theirs, ratios) = (&comparison.boxoffice, &comparison.baseline, &comparison.ratios);
    let show = |value: Option<f64>| value.map_or("n/a".to_owned(), |v| format!("{v:.2}"));
    let rows = [
        (
            "purchases/s",
            Some(ours.purchases_per_sec),
            Some(theirs.purchases_per_sec),
            ratios.purchases_per_sec,
        ),
        ("p50 ms", Some(ours.p50_ms), Some(theirs.p50_ms), ratios.p50_ms),
        ("p99 ms", Some(ours.p99_ms), Some(theirs.p99_ms), ratios.p99_ms),
        (
            "sold out after s",
            ours.sold_out_after_s,
            theirs.sold_out_after_s,
            ratios.sold_out_after_s,
        ),
    ];
    let mut out =
        format!("{:<18}{:>12}{:>12}{:>20}\n", "", "boxoffice", "baseline", "boxoffice/baseline");
    for (name, a, b, r) in rows {
        out.push_str(&format!("{name:<18}{:>12}{:>12}{:>20}\n", show(a), show(b), show(r)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plot_names_gain_the_side() {
        assert_eq!(
            suffixed(Path::new("out/rush.svg"), "baseline"),
            Path::new("out/rush-baseline.svg")
        );
        assert_eq!(ratio(10.0, 4.0), Some(2.5));
        assert_eq!(ratio(1.0, 0.0), None);
    }
}
