//! JSON Lines bytes to a graph (parse and apply), idgraph against the plain baseline that
//! parses every line into a `serde_json::Value` and pulls out what it needs, and against
//! the competent one (`baseline_typed`) that reads only what the rules need with a typed
//! visitor and borrowed strings. Realistic
//! workload, seed 1; what varies: the number of events (100k, 1M; 10M with
//! `IDGRAPH_BENCH_10M=1`). The bytes are in memory, so no I/O is timed.
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

fn ingest(c: &mut Criterion) {
    let mut group = c.benchmark_group("ingest");
    common::configure(&mut group);
    for events in common::sizes() {
        let bytes = common::json_lines(Shape::Realistic, events);
        group.throughput(Throughput::Elements(events));
        group.bench_with_input(BenchmarkId::new("idgraph", events), &bytes, |b, bytes| {
            b.iter_with_large_drop(|| common::ingest_idgraph(black_box(bytes)));
        });
        group.bench_with_input(BenchmarkId::new("baseline", events), &bytes, |b, bytes| {
            b.iter_with_large_drop(|| common::ingest_baseline(black_box(bytes)));
        });
        group.bench_with_input(
            BenchmarkId::new("baseline_typed", events),
            &bytes,
            |b, bytes| {
                b.iter_with_large_drop(|| common::ingest_baseline_typed(black_box(bytes)));
            },
        );
    }
    group.finish();
}

criterion_group!(benches, ingest);
criterion_main!(benches);
