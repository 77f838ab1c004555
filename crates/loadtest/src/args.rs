//! The flags of `loadtest rush` (and `loadtest compare`, which runs the same
//! rush twice).

use std::path::PathBuf;
use std::time::Duration;

use crate::arrivals::{self, Arrival, Shape};

#[derive(clap::Args, Clone, Debug)]
pub struct RushArgs {
    /// The server to rush (loopback only). Without it, a Boxoffice server is
    /// started on a fresh temp data dir for this run.
    #[arg(long)]
    pub target: Option<String>,

    /// The admin token, to create the performance to rush. Without one, a
    /// performance already on sale is rushed.
    #[arg(long, env = "BOXOFFICE_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    /// The performance to rush when there is no admin token (default: the
    /// on-sale one with the most tickets left).
    #[arg(long)]
    pub performance: Option<u32>,

    /// The rush stops after this long, whatever is still under way.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub duration: Duration,

    /// How many buyers (default: `--demand` times what the venue can sell).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub buyers: Option<u32>,

    /// Demand over supply, when `--buyers` is not given.
    #[arg(long, default_value_t = 4.0)]
    pub demand: f64,

    /// Buyers arrive at this steady rate, such as 5000/s, instead of in a
    /// burst.
    #[arg(long, value_parser = parse_rate, conflicts_with = "burst_secs")]
    pub arrival_rate: Option<f64>,

    /// Every buyer arrives within this many seconds of the on-sale instant.
    #[arg(long, default_value_t = 10.0, value_parser = parse_positive)]
    pub burst_secs: f64,

    /// How arrivals spread over the burst.
    #[arg(long, value_enum, default_value = "front-loaded")]
    pub shape: Shape,

    /// The share of buyers who pay for their hold; the rest walk away.
    #[arg(long, default_value_t = 0.8, value_parser = parse_share)]
    pub pay_share: f64,

    /// The share of buyers who pick named seats from the available list;
    /// the rest ask for a quantity in a section.
    #[arg(long, default_value_t = 0.2, value_parser = parse_share)]
    pub by_seat_share: f64,

    /// Tickets per buyer, such as 2 or 1-4.
    #[arg(long, default_value = "1-4", value_parser = parse_quantity)]
    pub quantity: (u32, u32),

    /// The venue layout when creating the performance: club, theatre,
    /// concert-hall, arena, stadium, or a layout .json file.
    #[arg(long, default_value = "stadium")]
    pub layout: String,

    /// Makes every section of the layout this many times as large (rows,
    /// or a standing section's capacity), for a venue that lasts a long
    /// rush with every buyer paying: a stadium times 10 has 785,840 places.
    /// A venue holds at most 1,000,000.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub layout_scale: u32,

    /// Keep-alive connections the buyers share (and requests in flight).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub connections: u32,

    /// Buyers do not wait to be admitted: every buyer sends at its due time
    /// (through the `--connections` gate), so an overload reaches the server,
    /// which must shed it. A 503 or 429 ends the visit as `refused`.
    #[arg(long)]
    pub no_waiting_room: bool,

    /// Arrivals at this rate, such as 10000/s, for the first
    /// `--overload-secs`, then at `--arrival-rate` for the rest of the run.
    #[arg(long, value_parser = parse_rate, requires_all = ["overload_secs", "arrival_rate"])]
    pub overload_rate: Option<f64>,

    /// How long the overload phase lasts.
    #[arg(long, value_parser = parse_positive, requires = "overload_rate")]
    pub overload_secs: Option<f64>,

    /// Starts the overload phase this many seconds after the on-sale
    /// instant, after arrivals at `--arrival-rate`: an overload of a server
    /// already warm and at work, not of one that has just started.
    #[arg(long, default_value_t = 0.0, value_parser = parse_non_negative, requires = "overload_rate")]
    pub overload_after: f64,

    /// Buyers share this many accounts, round-robin, instead of one each, so
    /// a long rush at a high rate does not wait for hundreds of thousands of
    /// sign-ups. A reserve past the per-user limit ends as `user_limit`.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub accounts: Option<u32>,

    /// Gives up on a request after this long (its outcome is then unknown).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub request_timeout: Duration,

    /// Writes the JSON report here.
    #[arg(long)]
    pub report: Option<PathBuf>,

    /// Writes an SVG plot of latency and throughput over time here.
    #[arg(long)]
    pub plot: Option<PathBuf>,

    // The next five shape the server this harness starts itself. With
    // `--target` that server is already running as it is: given there,
    // they are refused rather than silently ignored.
    /// The hold time of the server this harness starts itself.
    #[arg(long, default_value = "5s", value_parser = parse_duration, conflicts_with = "target")]
    pub hold_ttl: Duration,

    /// The `--max-in-flight` of the server this harness starts itself:
    /// requests waiting for one performance before it answers 503.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..), conflicts_with = "target")]
    pub server_max_in_flight: Option<u32>,

    /// The `--max-http-in-flight` of the server this harness starts itself:
    /// requests in the whole server before it refuses at the door.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..), conflicts_with = "target")]
    pub server_max_http_in_flight: Option<u32>,

    /// Runs the server this harness starts itself on these CPUs only, as
    /// `taskset -c` reads them (such as 0, or 0-1). With the harness run
    /// under `taskset -c 1` and the server on 0, neither takes CPU from
    /// the other: an overload can then offer more than the server can
    /// serve. Needs util-linux's `taskset`.
    #[arg(long, conflicts_with = "target")]
    pub server_cpus: Option<String>,

    /// The `--checkpoint-every` of the server this harness starts itself
    /// (60s unless given): shorter, such as 20s, to see its checkpoints
    /// during a rush.
    #[arg(long, value_parser = parse_duration, conflicts_with = "target")]
    pub server_checkpoint_every: Option<Duration>,

    /// Seeds the buyers' choices, for a repeatable rush.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

impl RushArgs {
    pub fn arrival(&self) -> Arrival {
        match (self.arrival_rate, self.overload_rate.zip(self.overload_secs)) {
            (Some(per_sec), Some((overload_per_sec, secs))) => {
                Arrival::Overload { overload_per_sec, secs, per_sec, after: self.overload_after }
            }
            (Some(per_sec), None) => Arrival::Rate { per_sec },
            (None, _) => Arrival::Burst { secs: self.burst_secs, shape: self.shape },
        }
    }

    /// Refuses an overload phase that cannot be measured: its first second
    /// is the ramp-up and left out, so it needs two, and it must end within
    /// `--duration`.
    pub fn check(&self) -> anyhow::Result<()> {
        let Some(secs) = self.overload_secs else { return Ok(()) };
        if secs < 2.0 {
            anyhow::bail!("--overload-secs {secs} is too short to measure: give it 2 or more");
        }
        let ends = self.overload_after + secs;
        if ends > self.duration.as_secs_f64() {
            anyhow::bail!(
                "the overload phase ends {ends} s in, after --duration {}",
                humantime::format_duration(self.duration)
            );
        }
        Ok(())
    }

    /// `--buyers`, or enough to ask for `--demand` times `places`; with an
    /// overload phase, as many as arrive within `--duration`, since its
    /// point is a rate held for a time, not a crowd of a given size.
    pub fn buyers(&self, places: u64) -> usize {
        if let Some(buyers) = self.buyers {
            return buyers as usize;
        }
        if let Arrival::Overload { .. } = self.arrival() {
            return arrivals::arriving_within(self.arrival(), self.duration).max(1);
        }
        let mean_quantity = f64::from(self.quantity.0 + self.quantity.1) / 2.0;
        ((places as f64 * self.demand / mean_quantity).ceil() as usize).max(1)
    }
}

/// Durations read as the server reads them: `5s`, `10m`, never zero.
pub use api::cli::parse_duration;

fn parse_rate(text: &str) -> Result<f64, String> {
    parse_positive(text.trim_end_matches("/s"))
}

fn parse_positive(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(value) if value.is_finite() && value > 0.0 => Ok(value),
        _ => Err(format!("{text:?} is not a number above zero")),
    }
}

fn parse_non_negative(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(value) if value.is_finite() && value >= 0.0 => Ok(value),
        _ => Err(format!("{text:?} is not a number, zero or more")),
    }
}

fn parse_share(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(share) if (0.0..=1.0).contains(&share) => Ok(share),
        _ => Err(format!("{text:?} is not a share from 0 to 1")),
    }
}

/// The most tickets one buyer asks for: the server's default order limit.
const QUANTITY_MAX: u32 = 10;

fn parse_quantity(text: &str) -> Result<(u32, u32), String> {
    let (low, high) = text.split_once('-').unwrap_or((text, text));
    let parse =
        |part: &str| part.trim().parse::<u32>().map_err(|_| format!("{text:?} is not 2 or 1-4"));
    let (low, high) = (parse(low)?, parse(high)?);
    if low == 0 || low > high || high > QUANTITY_MAX {
        return Err(format!("quantities go from 1 to {QUANTITY_MAX}, low to high"));
    }
    Ok((low, high))
}

#[cfg(test)]
mod tests {
    use clap::error::ErrorKind;
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Rush {
        #[command(flatten)]
        args: RushArgs,
    }

    const TARGET: [&str; 3] = ["rush", "--target", "http://127.0.0.1:8080"];

    #[test]
    fn flags_for_a_self_started_server_are_refused_with_a_target() {
        for flag in [
            ["--hold-ttl", "2s"],
            ["--server-max-in-flight", "1"],
            ["--server-max-http-in-flight", "1"],
            ["--server-cpus", "0"],
            ["--server-checkpoint-every", "20s"],
        ] {
            let error = Rush::try_parse_from(TARGET.into_iter().chain(flag)).err();
            let error = error.unwrap_or_else(|| panic!("{flag:?} with --target was taken"));
            assert_eq!(error.kind(), ErrorKind::ArgumentConflict, "{flag:?}: {error}");
            assert!(error.to_string().contains("--target"), "{error}");

            let alone = Rush::try_parse_from(["rush"].into_iter().chain(flag));
            assert!(alone.is_ok(), "{flag:?} without --target");
        }
    }

    #[test]
    fn a_target_alone_takes_the_default_hold_time_without_conflict() {
        let rush = Rush::try_parse_from(TARGET).unwrap();
        assert_eq!(rush.args.hold_ttl, Duration::from_secs(5));
    }

    #[test]
    fn quantities_and_rates_parse() {
        assert_eq!(parse_quantity("1-4"), Ok((1, 4)));
        assert_eq!(parse_quantity("2"), Ok((2, 2)));
        assert!(parse_quantity("4-1").is_err());
        assert!(parse_quantity("0").is_err());
        assert!(parse_quantity("1-11").is_err());
        assert_eq!(parse_rate("5000/s"), Ok(5000.0));
        assert!(parse_rate("0/s").is_err());
        assert!(parse_share("1.5").is_err());
    }
}
