//! Boxoffice's HTTP server: a thin actix-web layer over the engine.
//!
//! - [`routes`] parses requests, asks the engine, and shapes answers.
//! - [`problem`] turns every refusal into RFC 9457 problem+json.
//! - [`body`] reads JSON bodies and query strings with 400/413/422 told apart.
//! - [`auth`] checks bearer tokens.
//! - [`server`] starts everything: store, recovery, engine, HTTP.
//! - [`cli`] is the `serve` command line, shared with the load test.
//! - [`seed`] builds the demo catalogue and the full day of load from the
//!   data embedded from `crates/api/data/`.

pub mod admission;
pub mod auth;
pub mod body;
pub mod cli;
pub mod notices;
pub mod performance_page;
pub mod problem;
pub mod providers;
pub mod routes;
pub mod seed;
pub mod server;
pub mod views;
pub mod workers;
