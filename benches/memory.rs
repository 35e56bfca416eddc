//! Heap bytes per distinct id of the graph state after ingesting the realistic workload
//! (seed 1), for idgraph and the plain baseline. What varies: the number of events (100k,
//! 1M; 10M with `IDGRAPH_BENCH_10M=1`). Run with `cargo bench --features workload --bench
//! memory`; it prints a table, it is not a criterion bench.
//!
//! A counting global allocator measures the bytes live at a moment (requested sizes, so
//! allocator overhead is not counted, for either side). Events are generated and parsed a
//! chunk at a time and freed before the state is measured, so only the graph is counted.
// Counting allocations needs `unsafe impl GlobalAlloc`. The library keeps
// `#![forbid(unsafe_code)]` in lib.rs; Cargo.toml's crate-wide level is `deny`, which makes
// unsafe code an error in every target unless that target opts in, as this one does.
#![allow(unsafe_code)]
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::cast_precision_loss,
    reason = "a measuring binary fails loudly and prints loose ratios"
)]

#[path = "baseline/mod.rs"]
mod baseline;
#[path = "common/mod.rs"]
mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use idgraph::{Outcome, Shape, Workload, write_event_json};

use crate::baseline::Baseline;

/// The system allocator, counting the bytes currently allocated.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to `System`, which upholds `GlobalAlloc`'s
// contract; the counter only observes sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            LIVE.fetch_add(new_size, Ordering::Relaxed);
        }
        new
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn live() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// Events held at once while ingesting; they are freed before each measurement.
const CHUNK: usize = 250_000;

/// Heap bytes of idgraph's state after `events`, and its distinct ids (with a person, and
/// personless).
fn idgraph_state(events: u64) -> (usize, usize) {
    let mut workload = Workload::new(common::config(Shape::Realistic, events));
    let before = live();
    let mut engine = common::engine();
    let mut outcome = Outcome::default();
    loop {
        let chunk: Vec<_> = workload.by_ref().take(CHUNK).collect();
        if chunk.is_empty() {
            break;
        }
        for event in &chunk {
            engine.apply_into(event, &mut outcome).unwrap();
        }
    }
    drop(outcome);
    drop(workload);
    let bytes = live() - before;
    let stats = engine.stats();
    (bytes, stats.distinct_ids + stats.personless_distinct_ids)
}

/// Heap bytes of the baseline's state after `events`, and its distinct ids.
fn baseline_state(events: u64) -> (usize, usize) {
    let mut workload = Workload::new(common::config(Shape::Realistic, events));
    let before = live();
    let mut baseline = Baseline::new();
    loop {
        let chunk: Vec<_> = workload.by_ref().take(CHUNK).collect();
        if chunk.is_empty() {
            break;
        }
        let mut bytes = Vec::new();
        for event in &chunk {
            write_event_json(event, &mut bytes).unwrap();
        }
        drop(chunk);
        for event in common::baseline_events(&bytes) {
            baseline.apply(&event);
        }
    }
    drop(workload);
    let bytes = live() - before;
    (bytes, baseline.ids.len())
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument other than "memory" skips the run.
    if let Some(filter) = std::env::args().skip(1).find(|a| !a.starts_with('-'))
        && !"memory".contains(&filter)
    {
        return;
    }
    println!(
        "| events | distinct ids | idgraph bytes/id | baseline bytes/id | idgraph / baseline |"
    );
    println!("|---:|---:|---:|---:|---:|");
    for events in common::sizes() {
        let (ours, ids) = idgraph_state(events);
        let (theirs, baseline_ids) = baseline_state(events);
        assert_eq!(ids, baseline_ids, "both sides hold the same distinct ids");
        let (ours_per_id, theirs_per_id) = (ours as f64 / ids as f64, theirs as f64 / ids as f64);
        println!(
            "| {events} | {ids} | {ours_per_id:.0} | {theirs_per_id:.0} | {:.3} |",
            ours_per_id / theirs_per_id
        );
    }
}
