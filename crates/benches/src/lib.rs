//! Shared setup for Boxoffice's criterion benchmarks (the files under
//! `benches/`): the venue layouts, a sale plan that never asks a section for
//! more than it holds, an in-process engine world on either journal, and the
//! null journal that stands for "durability off".
//!
//! Nothing here is measured itself; every bench times only its own loop.

pub mod layouts;
pub mod null_journal;
pub mod plan;
pub mod world;
