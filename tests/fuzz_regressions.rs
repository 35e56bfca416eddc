//! Crashers found by the fuzz targets, replayed through the same function the target runs
//! (`idgraph::testing::fuzz`), one named test each.
#![cfg(feature = "testing")]

/// Regression: the snapshot loader accepts counters and person versions up to `u64::MAX`,
/// and the engine once incremented them with `+=`: a panic (`attempt to add with overflow`)
/// in builds with debug assertions, a silent wrap without. They saturate now.
/// `snapshot_load` found one crasher for each increment, in format version 1. The inputs
/// here are the same states in the current format, for the increments the fuzz target's
/// operations reach (the warning counters are pinned by a unit test in
/// `src/snapshot/tests.rs`, since those operations raise no warning): mode byte 1, then the
/// body of the golden graph of `tests/fixtures/snapshot_v2.idg` in the current format with
/// the named fields at `u64::MAX` (the fuzz target writes a header with a valid checksum
/// around it). A unit test in `src/snapshot/tests.rs` pins the files to the current format.
mod snapshot_load_counter_overflow {
    use idgraph::testing::fuzz::snapshot_load as replay_snapshot_load;

    /// `counters.events += 1` in `Engine::apply_into` (src/engine.rs).
    #[test]
    fn event_counter_at_u64_max() {
        replay_snapshot_load(include_bytes!(
            "../fuzz/regressions/snapshot_load/event_counter_at_u64_max"
        ));
    }

    /// `counters.merges += 1` in `Engine::apply_into` (src/engine.rs).
    #[test]
    fn merge_counter_at_u64_max() {
        replay_snapshot_load(include_bytes!(
            "../fuzz/regressions/snapshot_load/merge_counter_at_u64_max"
        ));
    }

    /// Three increments of a person's version: when an event changes a person
    /// (src/posthog/apply.rs), and for the staying and the departing person in `Engine::unlink`
    /// (src/posthog/edit.rs).
    #[test]
    fn person_versions_at_u64_max() {
        replay_snapshot_load(include_bytes!(
            "../fuzz/regressions/snapshot_load/person_versions_at_u64_max"
        ));
    }
}

/// The seeds of the `capture_request` target (bodies the real SDKs sent, gzip and plain)
/// pass its check, so that the check itself is known to accept what real traffic is.
#[test]
fn the_capture_seeds_pass_the_capture_check() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus/capture_request");
    let mut seeds = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("seed-")
        {
            idgraph::testing::fuzz::capture_request(&std::fs::read(&path).unwrap());
            seeds += 1;
        }
    }
    assert!(seeds >= 5, "{seeds} seeds");
}
