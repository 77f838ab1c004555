//! When each virtual buyer is due to arrive, as offsets from the on-sale
//! instant.
//!
//! The schedule is fixed before the rush starts and never waits for the
//! server: a buyer arrives at its due time whether or not earlier buyers are
//! done (an open loop), and its latency is measured from that due time. A
//! closed loop, where a buyer starts only when a connection comes free,
//! hides the server's slowness in the harness's queue (coordinated omission).

use std::time::Duration;

/// How arrivals spread over time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Shape {
    /// The same rate throughout the burst.
    Uniform,
    /// Most buyers in the first moments, tailing off exponentially, as when
    /// a crowd was waiting for the on-sale instant.
    FrontLoaded,
}

/// The arrival process of one rush.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Arrival {
    /// A steady number of buyers per second.
    Rate { per_sec: f64 },
    /// Every buyer within `secs` of the on-sale instant.
    Burst { secs: f64, shape: Shape },
    /// `per_sec` for the first `after` seconds (a server warm and at work),
    /// `overload_per_sec` for the next `secs`, then `per_sec` again: an
    /// overload and the recovery from it.
    Overload { overload_per_sec: f64, secs: f64, per_sec: f64, after: f64 },
}

/// How many buyers of a steady or overload arrival are due before `within`.
pub fn arriving_within(arrival: Arrival, within: Duration) -> usize {
    let within = within.as_secs_f64();
    let count = match arrival {
        Arrival::Rate { per_sec } => within * per_sec,
        Arrival::Overload { overload_per_sec, secs, per_sec, after } => {
            let overloaded = (within - after).clamp(0.0, secs);
            overload_per_sec * overloaded + per_sec * (within - overloaded)
        }
        Arrival::Burst { .. } => return 0,
    };
    count.ceil() as usize
}

/// How fast a front-loaded burst decays: a quarter of the burst's length,
/// so about 63% of the buyers arrive in its first quarter.
const FRONT_LOADED_DECAY: f64 = 0.25;

/// The due offset of each of `buyers`, in order (non-decreasing).
pub fn schedule(buyers: usize, arrival: Arrival) -> Vec<Duration> {
    (0..buyers).map(|index| due(index, buyers, arrival)).collect()
}

fn due(index: usize, buyers: usize, arrival: Arrival) -> Duration {
    let seconds = match arrival {
        Arrival::Rate { per_sec } => index as f64 / per_sec,
        Arrival::Overload { overload_per_sec, secs, per_sec, after } => {
            let (warming, overloaded) = (per_sec * after, overload_per_sec * secs);
            let index = index as f64;
            if index < warming {
                index / per_sec
            } else if index < warming + overloaded {
                after + (index - warming) / overload_per_sec
            } else {
                after + secs + (index - warming - overloaded) / per_sec
            }
        }
        Arrival::Burst { secs, shape } => {
            // The buyer's place in the crowd, in [0, 1).
            let quantile = index as f64 / buyers.max(1) as f64;
            secs * shaped(quantile, shape)
        }
    };
    Duration::from_secs_f64(seconds.max(0.0))
}

/// Maps a quantile to a fraction of the burst: the inverse of the
/// cumulative distribution of arrivals over [0, 1].
fn shaped(quantile: f64, shape: Shape) -> f64 {
    match shape {
        Shape::Uniform => quantile,
        Shape::FrontLoaded => {
            // An exponential truncated at the burst's end.
            let tau = FRONT_LOADED_DECAY;
            let tail = (-1.0 / tau).exp();
            -tau * (1.0 - quantile * (1.0 - tail)).ln()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(offsets: &[Duration]) -> Vec<f64> {
        offsets.iter().map(Duration::as_secs_f64).collect()
    }

    #[test]
    fn a_rate_spaces_buyers_evenly_from_zero() {
        let due = secs(&schedule(5, Arrival::Rate { per_sec: 100.0 }));
        let expected = [0.0, 0.01, 0.02, 0.03, 0.04];
        for (got, want) in due.iter().zip(expected) {
            assert!((got - want).abs() < 1e-9, "{due:?}");
        }
    }

    #[test]
    fn a_uniform_burst_fills_its_window_evenly() {
        let due = secs(&schedule(1000, Arrival::Burst { secs: 10.0, shape: Shape::Uniform }));
        assert_eq!(due[0], 0.0);
        assert!(due.windows(2).all(|pair| pair[0] <= pair[1]), "due times go forward");
        assert!(*due.last().unwrap() < 10.0);
        let first_half = due.iter().filter(|&&t| t < 5.0).count();
        assert_eq!(first_half, 500);
    }

    #[test]
    fn a_front_loaded_burst_puts_most_buyers_early_and_none_late() {
        let burst = Arrival::Burst { secs: 8.0, shape: Shape::FrontLoaded };
        let due = secs(&schedule(10_000, burst));
        assert_eq!(due[0], 0.0);
        assert!(due.windows(2).all(|pair| pair[0] <= pair[1]), "due times go forward");
        assert!(due.iter().all(|&t| (0.0..8.0).contains(&t)), "all within the burst");
        let first_quarter = due.iter().filter(|&&t| t < 2.0).count();
        assert!((6_000..6_600).contains(&first_quarter), "{first_quarter} in the first quarter");
    }

    #[test]
    fn an_overload_phase_is_followed_by_the_normal_rate() {
        let arrival =
            Arrival::Overload { overload_per_sec: 100.0, secs: 2.0, per_sec: 10.0, after: 0.0 };
        let buyers = arriving_within(arrival, Duration::from_secs(5));
        assert_eq!(buyers, 230, "200 in the overload, 30 after");
        let due = secs(&schedule(buyers, arrival));
        assert!(due.windows(2).all(|pair| pair[0] <= pair[1]), "due times go forward");
        assert!((due[199] - 1.99).abs() < 1e-9 && (due[200] - 2.0).abs() < 1e-9, "{due:?}");
        assert!((due[201] - 2.1).abs() < 1e-9, "{due:?}");
        assert!(*due.last().unwrap() < 5.0);
    }

    #[test]
    fn an_overload_after_a_warm_start_comes_between_two_normal_phases() {
        let arrival =
            Arrival::Overload { overload_per_sec: 100.0, secs: 2.0, per_sec: 10.0, after: 3.0 };
        let buyers = arriving_within(arrival, Duration::from_secs(6));
        assert_eq!(buyers, 240, "30 warm, 200 in the overload, 10 after");
        let due = secs(&schedule(buyers, arrival));
        assert!(due.windows(2).all(|pair| pair[0] <= pair[1]), "due times go forward");
        assert!((due[29] - 2.9).abs() < 1e-9 && (due[30] - 3.0).abs() < 1e-9, "{due:?}");
        assert!((due[31] - 3.01).abs() < 1e-9, "{due:?}");
        assert!((due[230] - 5.0).abs() < 1e-9 && (due[231] - 5.1).abs() < 1e-9, "{due:?}");
        assert!(*due.last().unwrap() < 6.0);
    }

    #[test]
    fn due_times_do_not_depend_on_the_server() {
        // The schedule is a pure function of its inputs: computed once,
        // before the first request, so a slow answer cannot delay an arrival.
        let burst = Arrival::Burst { secs: 3.0, shape: Shape::FrontLoaded };
        assert_eq!(schedule(777, burst), schedule(777, burst));
    }
}
