//! Boxoffice's booking engine: what is for sale, the rules that sell it, and
//! the actors that apply those rules one message at a time.
//!
//! - [`booking`] is the pure core: one performance's seat map and rules,
//!   with time as an argument and events as the outcome.
//! - [`events`] are the facts the log keeps; replaying them rebuilds state.
//! - [`journal`] and [`payment`] are the narrow traits behind which the log
//!   and the payment provider live.
//!
//! This crate never touches sled or HTTP.

pub mod actor;
pub mod availability;
pub mod booking;
pub mod box_office;
pub mod catalogue;
pub mod civil;
pub mod events;
pub mod ids;
pub mod index;
pub mod journal;
pub mod outbox;
pub mod payment;
pub mod recovery;
pub mod time;
mod users;
