//! Snapshot save and load against a plain memory copy of the same number of bytes, in the
//! same run.
//!
//! What varies: the number of generated events, `IDGRAPH_BENCH_EVENTS` (default 1,000,000,
//! about 185,000 distinct ids). The graph comes from a small seeded generator local to
//! this file: visitors browse anonymously, most of them identify once, and some events
//! `$set` a few keys. Throughput is the snapshot's size in bytes, so criterion reports
//! each measurement in bytes per second and the ratios to the copies read directly.
//!
//! - `memcpy_into_reserved`: `extend_from_slice` into a vector with room, the baseline
//!   for `save`, which writes into such a vector;
//! - `memcpy_into_new`: the same into a new vector, page faults included, the baseline for
//!   `load`, which builds an engine in new memory;
//! - `save`, `load` (through `io::Read`, one more copy of the body) and `load_from_bytes`;
//!   the loads do not count dropping the engine they built.
//!
//! Measured on 1M events (15.7 MB, 98.9 bytes per distinct id) on a shared 2-core machine:
//! the copies run at about 10 GiB/s, save at about 1/35 of that and load at about 1/100.
//! Both are bound by the engine's heap layout, not the codec: save spends most of its time
//! on cache misses reading each property value's own allocation, load in `malloc` for the
//! values, the per-person property vectors and the id hash table.

#![allow(clippy::expect_used, reason = "a bench fails loudly")]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use idgraph::{Engine, Event, Timestamp, Value};

const SEED: u64 = 0x1d_67a9_4c0f_fee5;

/// SplitMix64: tiny, seeded, and good enough to spread events over ids.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// `events` events over about `events / 10` visitors, 85% of whom identify.
fn generate(events: usize) -> Vec<Event> {
    let visitors = (events / 10).max(1);
    let mut rng = Rng(SEED);
    let anon: Vec<String> = (0..visitors)
        .map(|_| format!("{:016x}{:016x}", rng.next(), rng.next()))
        .collect();
    let mut identified = vec![false; visitors];
    let plans = ["free", "pro", "team", "enterprise"];
    let mut out = Vec::with_capacity(events);
    for i in 0..events {
        let v = usize::try_from(rng.below(visitors as u64)).expect("fits");
        let at = Timestamp::from_unix_micros(
            1_700_000_000_000_000 + i64::try_from(i).expect("fits") * 1_000,
        );
        let user = format!("user_{v}");
        let event = if !identified[v] && rng.below(100) < 12 && v % 20 < 17 {
            identified[v] = true;
            Event::new("$identify", user)
                .with_property("$anon_distinct_id", anon[v].as_str())
                .with_property(
                    "$set",
                    Value::object([
                        ("email", Value::from(format!("user{v}@example.com"))),
                        ("plan", Value::from(plans[v % plans.len()])),
                    ]),
                )
        } else {
            let id = if identified[v] { user } else { anon[v].clone() };
            let event = Event::new("$pageview", id);
            if rng.below(100) < 20 {
                event.with_property(
                    "$set",
                    Value::object([
                        (
                            "visits",
                            Value::from(i64::try_from(i % 1000).expect("fits")),
                        ),
                        ("last_page", Value::from(format!("/page/{}", rng.below(50)))),
                    ]),
                )
            } else {
                event
            }
        };
        out.push(event.with_timestamp(at));
    }
    out
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
    engine.save(&mut file).expect("saves");
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
            engine.save(&mut target).expect("saves");
            black_box(&target);
        });
    });
    group.bench_function("memcpy_into_new", |b| {
        b.iter(|| {
            let mut copy = Vec::with_capacity(file.len());
            copy.extend_from_slice(black_box(&file));
            copy
        });
    });
    group.bench_function("load", |b| {
        b.iter_with_large_drop(|| Engine::load(black_box(&file[..])).expect("loads"));
    });
    group.bench_function("load_from_bytes", |b| {
        b.iter_with_large_drop(|| Engine::load_from_bytes(black_box(&file)).expect("loads"));
    });
    group.finish();
}

criterion_group!(benches, snapshot);
criterion_main!(benches);
