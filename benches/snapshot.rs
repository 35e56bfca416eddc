//! Snapshot save and load against a plain memory copy of the same number of bytes, in the
//! same run.
//!
//! What varies: the number of generated events, `IDGRAPH_BENCH_EVENTS` (default
//! 1,000,000), from the realistic workload generator at a fixed seed. Throughput is the
//! snapshot's size in bytes, so criterion reports each measurement in bytes per second and
//! the ratios to the copies read directly.
//!
//! - `memcpy_into_reserved`: `extend_from_slice` into a vector with room, the baseline
//!   for `save`, which writes into such a vector;
//! - `memcpy_into_new`: the same into a new vector, page faults included, the baseline for
//!   `load`, which builds an engine in new memory; `memcpy_into_new_kept` drops its copies
//!   outside the timing, as the loads do, so that it does not count giving the memory back;
//! - `save` (into the reserved vector, through `io::Write`: two passes over the engine),
//!   `save_to_vec` (into a new vector, one pass), `load` (through `io::Read`, decoding as
//!   the bytes stream in) and `load_from_bytes`; the loads do not count dropping the
//!   engine they built;
//! - `snapshot_restore/*`: the copy into new memory and the two loads again, after the
//!   graph that was saved has been dropped, as in a service restoring its graph at start;
//! - `snapshot_small/*`: the copy and the loads of a 2,000-event graph, too small for a load
//!   to take a second thread.
//!
//! Measured figures are in BENCHMARKS.md.

#![allow(clippy::expect_used, reason = "a bench fails loudly")]

use std::hint::black_box;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use idgraph::{Engine, Event, Workload, WorkloadConfig};

/// The workload generator's seed: a fixed input for every run.
const SEED: u64 = 1;

fn generate(events: usize) -> impl Iterator<Item = Event> {
    Workload::new(WorkloadConfig {
        seed: SEED,
        events: events as u64,
        ..WorkloadConfig::default()
    })
}

fn snapshot(c: &mut Criterion) {
    let events: usize = std::env::var("IDGRAPH_BENCH_EVENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let mut engine = Engine::builder().record_changes(false).build();
    for event in generate(events) {
        engine.apply(&event).expect("applies");
    }
    let mut file = Vec::new();
    engine.save_to(&mut file, &[]).expect("saves");
    let stats = engine.stats();
    let ids = stats.distinct_ids + stats.personless_distinct_ids;
    #[allow(clippy::cast_precision_loss, reason = "a ratio for display")]
    let per_id = file.len() as f64 / ids as f64;
    eprintln!(
        "snapshot of {events} events: {} bytes, {} distinct ids, {} persons, {per_id:.1} bytes per distinct id",
        file.len(),
        ids,
        stats.persons,
    );

    let mut group = c.benchmark_group("snapshot");
    group.throughput(Throughput::Bytes(file.len() as u64));
    group.sample_size(20);

    let mut target = Vec::with_capacity(file.len());
    group.bench_function("memcpy_into_reserved", |b| {
        b.iter(|| {
            target.clear();
            target.extend_from_slice(black_box(&file));
            black_box(&target);
        });
    });
    group.bench_function("save", |b| {
        b.iter(|| {
            target.clear();
            engine.save_to(&mut target, &[]).expect("saves");
            black_box(&target);
        });
    });
    group.bench_function("memcpy_into_new", |b| {
        b.iter(|| copy_into_new(&file));
    });
    group.bench_function("save_to_vec", |b| {
        b.iter(|| engine.save_to_vec(&[]).expect("saves"));
    });
    loads_against_the_copy(&mut group, &file);
    group.finish();

    // A service restoring its graph holds the file, not a second graph: the same copy and
    // loads again once the graph that was saved (and the heap it fragmented) is gone.
    drop(engine);
    drop(target);
    let mut group = c.benchmark_group("snapshot_restore");
    group.throughput(Throughput::Bytes(file.len() as u64));
    group.sample_size(20);
    group.bench_function("memcpy_into_new", |b| {
        b.iter(|| copy_into_new(&file));
    });
    loads_against_the_copy(&mut group, &file);
    group.finish();
}

/// `file` copied into new memory.
fn copy_into_new(file: &[u8]) -> Vec<u8> {
    let mut copy = Vec::with_capacity(file.len());
    copy.extend_from_slice(black_box(file));
    copy
}

/// The copy into new memory dropped outside the timing, and the two loads of `file`, which
/// drop the engines they build outside it too.
fn loads_against_the_copy(group: &mut BenchmarkGroup<'_, WallTime>, file: &[u8]) {
    group.bench_function("memcpy_into_new_kept", |b| {
        b.iter_with_large_drop(|| copy_into_new(file));
    });
    group.bench_function("load", |b| {
        b.iter_with_large_drop(|| Engine::load_from(black_box(file)).expect("loads").engine);
    });
    group.bench_function("load_from_bytes", |b| {
        b.iter_with_large_drop(|| Engine::load_from_bytes(black_box(file)).expect("loads"));
    });
}

/// A small snapshot, under the size at which a load takes a second thread: what starting
/// that thread would cost is visible here.
fn small_snapshot(c: &mut Criterion) {
    let mut engine = Engine::builder().record_changes(false).build();
    for event in generate(2_000) {
        engine.apply(&event).expect("applies");
    }
    let file = engine.save_to_vec(&[]).expect("saves");
    let mut group = c.benchmark_group("snapshot_small");
    group.throughput(Throughput::Bytes(file.len() as u64));
    loads_against_the_copy(&mut group, &file);
    group.finish();
}

criterion_group!(benches, snapshot, small_snapshot);
criterion_main!(benches);
