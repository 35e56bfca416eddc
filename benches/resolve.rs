//! Random lookups on a built graph: idgraph's `resolve` and the person's uuid, against the
//! baseline's `HashMap` lookup, union-find `find` and the person's uuid. The graph is built
//! from the realistic workload (seed 1); what varies is its size (100k or 1M events; 10M
//! with `IDGRAPH_BENCH_10M=1`). Each iteration makes the same 100,000 lookups, drawn with a
//! fixed seed from the ids that have a person, plus one in ten ids that were never seen.
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
use idgraph::{Project, Shape};

const LOOKUPS: usize = 100_000;

fn resolve(c: &mut Criterion) {
    let mut group = c.benchmark_group("resolve");
    common::configure(&mut group);
    group.throughput(Throughput::Elements(LOOKUPS as u64));
    for events in common::sizes() {
        let bytes = common::json_lines(Shape::Realistic, events);
        let engine = common::ingest_idgraph(&bytes);
        let baseline = common::ingest_baseline(&bytes);
        drop(bytes);
        let known: Vec<String> = engine
            .persons()
            .flat_map(|p| p.distinct_ids().map(str::to_owned).collect::<Vec<_>>())
            .collect();
        let mut rng = common::Rng::new(common::SEED);
        let queries: Vec<String> = (0..LOOKUPS)
            .map(|i| {
                if i % 10 == 9 {
                    format!("never-seen-{}", rng.below(1 << 30))
                } else {
                    known[rng.below(known.len())].clone()
                }
            })
            .collect();
        group.bench_with_input(BenchmarkId::new("idgraph", events), &queries, |b, q| {
            b.iter(|| {
                let mut found = 0u64;
                for id in q {
                    if let Some(person) = engine.resolve(&Project::Default, id) {
                        found ^= person.uuid().as_u64_pair().0;
                    }
                }
                black_box(found)
            });
        });
        group.bench_with_input(BenchmarkId::new("baseline", events), &queries, |b, q| {
            b.iter(|| {
                let mut found = 0u64;
                for id in q {
                    if let Some(person) = baseline.resolve(id) {
                        found ^= person.uuid.as_u64_pair().0;
                    }
                }
                black_box(found)
            });
        });
    }
    group.finish();
}

criterion_group!(benches, resolve);
criterion_main!(benches);
