//! The ticket-rush harness: virtual buyers rush one performance of a
//! Boxoffice server (or the MariaDB baseline) open-loop, then the harness
//! audits that nothing was sold twice and reports latency, throughput and
//! CPU.
//!
//! - [`args`]: the rush's flags; [`arrivals`]: when each buyer is due.
//! - [`client`]: typed HTTP calls over [`connections`], one bounded pool of
//!   keep-alive connections, whose [`gate`] lets buyers under way go first.
//! - [`setup`]: the performance and the buyers' accounts, before the rush.
//! - [`rush`]: the buyers; [`stats`]: what they measured.
//! - [`audit`]: the server's tickets against the acknowledged purchases.
//! - [`report`], [`plot`]: the JSON report, the summary table, the SVG.
//! - [`harness`]: one whole rush; [`compare`]: Boxoffice against the baseline.
//! - [`serve`], [`server_child`]: the server under test in its own process;
//!   [`cpu`]: what each process used; [`memory`]: the server's resident
//!   memory; [`target`]: loopback targets only.
//! - [`baseline`]: the MariaDB baseline server, for `compare`.

pub mod args;
pub mod arrivals;
pub mod audit;
pub mod client;
pub mod compare;
pub mod connections;
pub mod cpu;
pub mod gate;
pub mod harness;
pub mod layouts;
pub mod memory;
pub mod plot;
pub mod report;
pub mod rush;
pub mod serve;
pub mod server_child;
pub mod setup;
pub mod stats;
pub mod target;

/// The MariaDB baseline server (`loadtest baseline`), written apart: the
/// harness knows only `BaselineArgs` and `run`.
pub mod baseline;

/// Whether `loadtest baseline` exists, for `compare` to start it.
pub const BASELINE_BUILT_IN: bool = true;
