//! Payment providers with hosted checkout, behind the engine's
//! [`engine::payment::CheckoutProvider`] trait.
//!
//! - [`stripe`] is a client of Stripe Checkout Sessions' HTTP protocol; it
//!   talks to Stripe itself or to anything that speaks the same protocol.
//! - [`currency`] converts ISO 4217 minor units to the provider's units.
//! - [`signature`] signs and verifies webhooks (the `Stripe-Signature` scheme).
//! - [`sandbox`] is a local provider speaking that protocol, with its own
//!   payment page and signed webhooks, so the whole flow runs without network.

pub mod currency;
pub mod sandbox;
pub mod signature;
pub mod stripe;
