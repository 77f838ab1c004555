//! End-to-end tests of the HTTP API against a real server on a free port:
//! every point of the API's spec, one module per area. Each test starts its
//! own server with an empty catalogue and builds what it needs through the
//! admin API, so tests share nothing and can run in parallel.

mod harness;

mod admin;
mod booking;
mod checkout;
mod concurrency;
mod errors;
mod expiry;
mod fake_stripe;
mod hostile;
mod limits;
mod lists;
mod misbehaving_provider;
mod receipts;
mod smoke;
mod users;
