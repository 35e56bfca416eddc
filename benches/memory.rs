//! Heap bytes per distinct id of the graph state after ingesting the realistic workload
//! (seed 1), for idgraph and the plain baseline. What varies: the number of events (100k,
//! 1M; 10M with `IDGRAPH_BENCH_10M=1`). Run with `cargo bench --features workload --bench
//! memory`; it prints a table, it is not a criterion bench.
//!
//! It also prints the time spent applying, per event, from the same single pass: the
//! growth of apply cost from 100k to 10M events, where a criterion run of 10M (ten samples
//! of a minute each) does not fit a bench session.
//!
//! A second table is the adversarial merge shape: a person with k properties absorbs k
//! one-property persons by `$merge_dangerously`, at k and 2k. Memory and snapshot size must
//! grow with the input (about 2x from k to 2k), not with merges times properties.
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
use std::time::{Duration, Instant};

use idgraph::{Engine, Event, Outcome, Shape, Value, Workload, write_event_json};

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

/// What one pass measured.
struct Pass {
    /// Heap bytes of the state.
    bytes: usize,
    /// Distinct ids (with a person, and personless).
    ids: usize,
    /// Time spent applying, without generating or parsing.
    applying: Duration,
}

/// Ingests `events` into idgraph.
fn idgraph_state(events: u64) -> Pass {
    let mut workload = Workload::new(common::config(Shape::Realistic, events));
    let before = live();
    let mut engine = common::engine();
    let mut outcome = Outcome::default();
    let mut applying = Duration::ZERO;
    loop {
        let chunk: Vec<_> = workload.by_ref().take(CHUNK).collect();
        if chunk.is_empty() {
            break;
        }
        let start = Instant::now();
        for event in &chunk {
            engine.apply_into(event, &mut outcome).unwrap();
        }
        applying += start.elapsed();
    }
    drop(outcome);
    drop(workload);
    let bytes = live() - before;
    let stats = engine.stats();
    Pass {
        bytes,
        ids: stats.distinct_ids + stats.personless_distinct_ids,
        applying,
    }
}

/// Ingests `events` into the baseline.
fn baseline_state(events: u64) -> Pass {
    let mut workload = Workload::new(common::config(Shape::Realistic, events));
    let before = live();
    let mut baseline = Baseline::new();
    let mut applying = Duration::ZERO;
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
        let parsed = common::baseline_events(&bytes);
        drop(bytes);
        let start = Instant::now();
        for event in &parsed {
            baseline.apply(event);
        }
        applying += start.elapsed();
    }
    drop(workload);
    let bytes = live() - before;
    Pass {
        bytes,
        ids: baseline.ids.len(),
        applying,
    }
}

/// The events of the merge shape: `g` with `k` properties, then for each of `k` persons
/// `n_i` a `$set` of one property of its own and a merge of `n_i` into `g`.
fn merge_shape(k: usize) -> Vec<Event> {
    let set = |pairs: Vec<(String, Value)>| Value::object(pairs);
    let mut events = vec![
        Event::new("$pageview", "g").with_property(
            "$set",
            set((0..k)
                .map(|j| (format!("g_{j}"), Value::from("v")))
                .collect()),
        ),
    ];
    for i in 0..k {
        let n = format!("n_{i}");
        events.push(
            Event::new("$pageview", n.as_str())
                .with_property("$set", set(vec![(format!("n_{i}"), Value::from("v"))])),
        );
        events.push(Event::new("$merge_dangerously", "g").with_property("alias", n.as_str()));
    }
    events
}

/// Input, heap and snapshot bytes of the merge shape at `k`.
fn merge_state(k: usize) -> (usize, usize, usize) {
    let events = merge_shape(k);
    let mut input = Vec::new();
    for event in &events {
        write_event_json(event, &mut input).unwrap();
    }
    let before = live();
    let mut engine = Engine::builder().record_changes(false).build();
    let mut outcome = Outcome::default();
    for event in &events {
        engine.apply_into(event, &mut outcome).unwrap();
    }
    drop(outcome);
    let heap = live() - before;
    let snapshot = engine.save_to_vec(b"").unwrap().len();
    (input.len(), heap, snapshot)
}

fn merge_table() {
    println!();
    println!("| merge shape k | input bytes | heap bytes | snapshot bytes | heap / input |");
    println!("|---:|---:|---:|---:|---:|");
    let k = std::env::var("IDGRAPH_BENCH_MERGE_K")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8_000);
    let mut previous: Option<(usize, usize)> = None;
    for k in [k, 2 * k] {
        let (input, heap, snapshot) = merge_state(k);
        println!(
            "| {k} | {input} | {heap} | {snapshot} | {:.1} |",
            heap as f64 / input as f64
        );
        if let Some((heap_before, snapshot_before)) = previous {
            let (heap_growth, snapshot_growth) = (
                heap as f64 / heap_before as f64,
                snapshot as f64 / snapshot_before as f64,
            );
            let verdict = if heap_growth <= 2.2 && snapshot_growth <= 2.2 {
                "linear"
            } else {
                "OVER 2.2x"
            };
            println!("| k to 2k | | {heap_growth:.2}x | {snapshot_growth:.2}x | {verdict} |");
        }
        previous = Some((heap, snapshot));
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument other than "memory" skips the run.
    if let Some(filter) = std::env::args().skip(1).find(|a| !a.starts_with('-'))
        && !"memory".contains(&filter)
    {
        return;
    }
    println!(
        "| events | distinct ids | idgraph bytes/id | baseline bytes/id | idgraph / baseline \
         | idgraph apply ns/event | baseline apply ns/event |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for events in common::sizes() {
        let ours = idgraph_state(events);
        let theirs = baseline_state(events);
        assert_eq!(
            ours.ids, theirs.ids,
            "both sides hold the same distinct ids"
        );
        let ids = ours.ids as f64;
        let (ours_per_id, theirs_per_id) = (ours.bytes as f64 / ids, theirs.bytes as f64 / ids);
        let per_event = |d: Duration| d.as_nanos() as f64 / events as f64;
        println!(
            "| {events} | {} | {ours_per_id:.0} | {theirs_per_id:.0} | {:.3} | {:.0} | {:.0} |",
            ours.ids,
            ours_per_id / theirs_per_id,
            per_event(ours.applying),
            per_event(theirs.applying),
        );
    }
    merge_table();
}
