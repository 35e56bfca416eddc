//! The adversarial union-find shapes of the workload generator (seed 1), applied pre-parsed
//! to a fresh graph, idgraph against the plain baseline. What varies: the shape (one giant
//! person, long alias chains, many singletons) and the number of events (100k, 1M; 10M with
//! `IDGRAPH_BENCH_10M=1`).
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::missing_panics_doc,
    reason = "a bench fails loudly on a broken input"
)]

#[path = "baseline/mod.rs"]
mod baseline;
#[path = "common/mod.rs"]
mod common;

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use idgraph::Shape;

fn shapes(c: &mut Criterion) {
    for (name, shape) in [
        ("giant_person", Shape::GiantPerson),
        ("alias_chains", Shape::AliasChains),
        ("singletons", Shape::Singletons),
    ] {
        let mut group = c.benchmark_group(format!("union_find/{name}"));
        common::configure(&mut group);
        for events in common::sizes() {
            let bytes = common::json_lines(shape, events);
            let ours = common::idgraph_events(&bytes);
            let theirs = common::baseline_events(&bytes);
            drop(bytes);
            group.throughput(Throughput::Elements(events));
            group.bench_with_input(BenchmarkId::new("idgraph", events), &ours, |b, ev| {
                b.iter_with_large_drop(|| common::apply_idgraph(black_box(ev)));
            });
            group.bench_with_input(BenchmarkId::new("baseline", events), &theirs, |b, ev| {
                b.iter_with_large_drop(|| common::apply_baseline(black_box(ev)));
            });
        }
        group.finish();
    }
}

criterion_group!(benches, shapes);
criterion_main!(benches);
