//! Inputs shared by the benches: seeded workloads as JSON Lines and parsed both ways, the
//! sizes to run, and criterion settings that keep `cargo bench` to a few minutes.
#![allow(
    dead_code,
    reason = "each bench uses a different part of the helpers through #[path]"
)]

use std::time::Duration;

use criterion::{BenchmarkGroup, SamplingMode, measurement::WallTime};
use idgraph::{Engine, Event, Outcome, Shape, Workload, WorkloadConfig};

use crate::baseline::{Baseline, BaselineEvent};

/// Every bench draws its events from this seed, so runs compare the same input.
pub const SEED: u64 = 1;

/// The event counts to run: 100k and 1M, and 10M when `IDGRAPH_BENCH_10M=1` (it needs
/// minutes and several GiB per run, so it is opt-in).
pub fn sizes() -> Vec<u64> {
    let mut sizes = vec![100_000, 1_000_000];
    if std::env::var("IDGRAPH_BENCH_10M").is_ok_and(|v| v == "1") {
        sizes.push(10_000_000);
    }
    sizes
}

/// Ten samples of a fixed iteration count: one iteration at 1M events takes most of a
/// second, and criterion's default linear sampling would need 55 of them per sample set.
pub fn configure(group: &mut BenchmarkGroup<'_, WallTime>) {
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
}

pub fn config(shape: Shape, events: u64) -> WorkloadConfig {
    WorkloadConfig {
        seed: SEED,
        events,
        shape,
        ..WorkloadConfig::default()
    }
}

/// The workload as JSON Lines.
pub fn json_lines(shape: Shape, events: u64) -> Vec<u8> {
    let mut bytes = Vec::new();
    let written = Workload::new(config(shape, events))
        .write_json_lines(&mut bytes)
        .expect("writing to memory cannot fail");
    assert_eq!(written, events);
    bytes
}

pub fn lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty())
}

/// The lines parsed by idgraph.
pub fn idgraph_events(bytes: &[u8]) -> Vec<Event> {
    lines(bytes)
        .map(|l| Event::from_json_slice(l).expect("generated lines parse"))
        .collect()
}

/// The lines parsed by the baseline.
pub fn baseline_events(bytes: &[u8]) -> Vec<BaselineEvent> {
    lines(bytes)
        .map(|l| BaselineEvent::parse(l).expect("generated lines parse"))
        .collect()
}

/// A fresh engine as a bulk loader would configure it: nobody follows the change feed.
pub fn engine() -> Engine {
    Engine::builder().record_changes(false).build()
}

pub fn apply_idgraph(events: &[Event]) -> Engine {
    let mut engine = engine();
    let mut outcome = Outcome::default();
    for event in events {
        engine
            .apply_into(event, &mut outcome)
            .expect("bench workloads stay far below capacity");
    }
    engine
}

pub fn apply_baseline(events: &[BaselineEvent]) -> Baseline {
    let mut baseline = Baseline::new();
    for event in events {
        baseline.apply(event);
    }
    baseline
}

pub fn ingest_idgraph(bytes: &[u8]) -> Engine {
    let mut engine = engine();
    let mut outcome = Outcome::default();
    for line in lines(bytes) {
        let event = Event::from_json_slice(line).expect("generated lines parse");
        engine
            .apply_into(&event, &mut outcome)
            .expect("bench workloads stay far below capacity");
    }
    engine
}

pub fn ingest_baseline(bytes: &[u8]) -> Baseline {
    let mut baseline = Baseline::new();
    for line in lines(bytes) {
        baseline.apply(&BaselineEvent::parse(line).expect("generated lines parse"));
    }
    baseline
}

/// The competent baseline: the same rules, the line read by a typed visitor that builds
/// only what the rules read (`baseline/typed.rs`).
pub fn ingest_baseline_typed(bytes: &[u8]) -> Baseline {
    let mut baseline = Baseline::new();
    for line in lines(bytes) {
        baseline.apply(&BaselineEvent::parse_typed(line).expect("generated lines parse"));
    }
    baseline
}

/// SplitMix64, for picking lookups without a dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z % n as u64) as usize
    }
}
