//! Applying pre-parsed events to a fresh graph: idgraph against the plain baseline, on the
//! realistic workload (seed 1). What varies: the number of events (100k, 1M; 10M with
//! `IDGRAPH_BENCH_10M=1`). Parsing is outside the timing; so is dropping the graph.
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
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use idgraph::{Outcome, Shape, Workload, write_event_json};

use crate::baseline::{Baseline, BaselineEvent};

/// Events held in memory at once for the 10M run: pre-parsing 10M events for both sides
/// would take more memory than a shared machine has to spare.
const CHUNK: u64 = 1_000_000;

fn apply(c: &mut Criterion) {
    let mut group = c.benchmark_group("apply");
    common::configure(&mut group);
    for events in common::sizes() {
        group.throughput(Throughput::Elements(events));
        if events <= CHUNK {
            let bytes = common::json_lines(Shape::Realistic, events);
            let ours = common::idgraph_events(&bytes);
            let theirs = common::baseline_events(&bytes);
            drop(bytes);
            group.bench_with_input(BenchmarkId::new("idgraph", events), &ours, |b, ev| {
                b.iter_with_large_drop(|| common::apply_idgraph(black_box(ev)));
            });
            group.bench_with_input(BenchmarkId::new("baseline", events), &theirs, |b, ev| {
                b.iter_with_large_drop(|| common::apply_baseline(black_box(ev)));
            });
        } else {
            group.sample_size(10);
            group.bench_function(BenchmarkId::new("idgraph", events), |b| {
                b.iter_custom(|iters| (0..iters).map(|_| chunked(events, Side::Idgraph)).sum());
            });
            group.bench_function(BenchmarkId::new("baseline", events), |b| {
                b.iter_custom(|iters| (0..iters).map(|_| chunked(events, Side::Baseline)).sum());
            });
        }
    }
    group.finish();
}

#[derive(Clone, Copy)]
enum Side {
    Idgraph,
    Baseline,
}

/// Applies `events` into one fresh graph a chunk at a time, generating and parsing each chunk
/// outside the timing, and returns the time spent applying.
fn chunked(events: u64, side: Side) -> Duration {
    let mut workload = Workload::new(common::config(Shape::Realistic, events));
    let mut engine = common::engine();
    let mut baseline = Baseline::new();
    let mut outcome = Outcome::default();
    let mut spent = Duration::ZERO;
    let mut left = events;
    while left > 0 {
        let n = left.min(CHUNK);
        left -= n;
        let chunk: Vec<_> = workload.by_ref().take(n as usize).collect();
        match side {
            Side::Idgraph => {
                let start = Instant::now();
                for event in &chunk {
                    engine.apply_into(event, &mut outcome).unwrap();
                }
                spent += start.elapsed();
            }
            Side::Baseline => {
                let mut bytes = Vec::new();
                for event in &chunk {
                    write_event_json(event, &mut bytes).unwrap();
                }
                drop(chunk);
                let parsed: Vec<BaselineEvent> = common::baseline_events(&bytes);
                drop(bytes);
                let start = Instant::now();
                for event in &parsed {
                    baseline.apply(event);
                }
                spent += start.elapsed();
            }
        }
    }
    black_box((&engine, &baseline));
    spent
}

criterion_group!(benches, apply);
criterion_main!(benches);
