//! `engine`: the booking engine alone, in process, no HTTP. Many buyer
//! tasks, each its own user, reserve 1 to 4 tickets of a section through
//! `BoxOffice` and then buy them (reserve, quote, payment, complete: two
//! state changes per order). Reported as state changes per second.
//!
//! - `engine/stadium/*`: one hot 78,584-place stadium performance, so every
//!   order goes through one actor.
//! - `engine/many-performances/*`: 100 theatre performances (1,001 seats)
//!   in 20 cities, orders spread over all of them and so over every shard.
//!
//! Each runs with `sled-fdatasync` (the real `persistence::Store` in a temp
//! dir: group commit, flush, fdatasync) and `null-journal` (acks at once,
//! keeps nothing): the difference is the price of durability.
//!
//! The stadium sells out after about 31k orders, so a [`Sale`] replaces the
//! world with a fresh one whenever its plan is used up, outside the timed
//! part: no iteration ever times a sold-out refusal.

use benches::layouts::{STADIUM, THEATRE};
use benches::world::{Durability, Sale, Shape, CHANGES_PER_ORDER};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// Concurrent buyers: far more than cores, as in an on-sale rush, and well
/// under the engine's `max_in_flight`, so nothing is shed.
const TASKS: usize = 256;
/// One actor thread per core, as the server defaults to on this machine.
const SHARDS: usize = 2;

fn stadium() -> Shape {
    Shape { cities: 1, performances_per_city: 1, layout: STADIUM, tasks: TASKS, shards: SHARDS }
}

fn many_performances() -> Shape {
    Shape { cities: 20, performances_per_city: 5, layout: THEATRE, tasks: TASKS, shards: SHARDS }
}

fn bench_sales(c: &mut Criterion, group_name: &str, shape: Shape) {
    let system = actix_rt::System::new();
    let mut group = c.benchmark_group(group_name);
    // One iteration is one order; the throughput counts its state changes.
    group.throughput(Throughput::Elements(CHANGES_PER_ORDER));
    // Fewer, longer samples: each may set up a world, and the box is shared.
    group.sample_size(20);
    for durability in [Durability::Off, Durability::Sled] {
        let mut sale = Sale::new(shape.clone(), durability);
        group.bench_function(durability.name(), |b| {
            b.iter_custom(|orders| system.block_on(sale.take(orders)))
        });
        system.block_on(sale.finish());
    }
    group.finish();
}

fn engine_stadium(c: &mut Criterion) {
    bench_sales(c, "engine/stadium", stadium());
}

fn engine_many_performances(c: &mut Criterion) {
    bench_sales(c, "engine/many-performances", many_performances());
}

criterion_group!(benches, engine_stadium, engine_many_performances);
criterion_main!(benches);
