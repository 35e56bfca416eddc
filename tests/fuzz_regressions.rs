//! Crashers found by the fuzz targets, replayed through the same function the target runs
//! (`idgraph::testing::fuzz`), one named test each.
#![cfg(feature = "testing")]

/// Regression: the snapshot loader accepts counters and person versions up to `u64::MAX`,
/// and the engine once incremented them with `+=`: a panic (`attempt to add with overflow`)
/// in builds with debug assertions, a silent wrap without. They saturate now.
/// `snapshot_load` found one crasher for each increment, named for it; each is mode byte 1
/// then a snapshot body, so the header is written around it with a valid checksum.
mod snapshot_load_counter_overflow {
    use idgraph::testing::fuzz::snapshot_load as replay_snapshot_load;

    /// `counters.events += 1` in `Engine::apply_into` (src/ingest.rs). The input is the
    /// body of `tests/fixtures/snapshot_v1.idg` with the counter's eight bytes (body offset
    /// 33) set to 0xff.
    #[test]
    fn event_counter_at_u64_max() {
        replay_snapshot_load(include_bytes!(
            "../fuzz/regressions/snapshot_load/event_counter_at_u64_max"
        ));
    }

    /// `counters.merges += 1` in `Engine::apply_into` (src/ingest.rs).
    #[test]
    fn merge_counter_overflow() {
        replay_snapshot_load(include_bytes!(
            "../fuzz/regressions/snapshot_load/merge_counter_overflow"
        ));
    }

    /// `counters.warnings[i] += 1` in `Engine::apply_into` (src/ingest.rs).
    #[test]
    fn warning_counter_overflow() {
        replay_snapshot_load(include_bytes!(
            "../fuzz/regressions/snapshot_load/warning_counter_overflow"
        ));
    }

    /// `state.version += 1` when an event changes a person (src/ingest.rs).
    #[test]
    fn person_version_overflow_on_apply() {
        replay_snapshot_load(include_bytes!(
            "../fuzz/regressions/snapshot_load/person_version_overflow_on_apply"
        ));
    }

    /// `state.version += 1` for the staying person in `Engine::unlink` (src/edit.rs).
    #[test]
    fn person_version_overflow_on_unlink() {
        replay_snapshot_load(include_bytes!(
            "../fuzz/regressions/snapshot_load/person_version_overflow_on_unlink"
        ));
    }

    /// `old.version + 101` for the departing person in `Engine::unlink` (src/edit.rs).
    #[test]
    fn departing_person_version_overflow_on_unlink() {
        replay_snapshot_load(include_bytes!(
            "../fuzz/regressions/snapshot_load/departing_person_version_overflow_on_unlink"
        ));
    }
}
