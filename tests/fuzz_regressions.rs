//! Crashers found by the fuzz targets, replayed through the same code path as the target
//! that found them (`fuzz/fuzz_targets/*.rs`), one named test each.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a test fails loudly"
)]

use idgraph::{Engine, Event, Project, Value};

/// CRC-32 (IEEE), bit by bit: the snapshot header's checksum, written out so that this
/// test needs no checksum crate.
fn crc32(parts: &[&[u8]]) -> u32 {
    let mut crc = !0u32;
    for &byte in parts.iter().flat_map(|p| p.iter()) {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

/// The bytes `snapshot_load` loads for `input`: the rest as a whole file when the first
/// byte is even, or as a body under a valid version 1 header when it is odd.
fn snapshot_load_bytes(input: &[u8]) -> Vec<u8> {
    let (&mode, rest) = input.split_first().unwrap();
    if mode % 2 == 0 {
        return rest.to_vec();
    }
    let mut flags_and_len = [0u8; 12];
    flags_and_len[4..].copy_from_slice(&(rest.len() as u64).to_le_bytes());
    let mut bytes = b"IDGRAPH\0".to_vec();
    bytes.extend_from_slice(&1u32.to_le_bytes());
    bytes.extend_from_slice(&flags_and_len);
    bytes.extend_from_slice(&crc32(&[&flags_and_len, rest]).to_le_bytes());
    bytes.extend_from_slice(rest);
    bytes
}

/// What `fuzz/fuzz_targets/snapshot_load.rs` does with an input once it loads: save and
/// load again, then merge, set, explain and unlink on the ids the engine holds.
#[track_caller]
fn replay_snapshot_load(input: &[u8]) {
    let bytes = snapshot_load_bytes(input);
    let Ok(snapshot) = Engine::load_from_bytes(&bytes) else {
        // Refusing the snapshot is a fix too.
        return;
    };
    let mut engine = snapshot.engine;
    let mut saved = Vec::new();
    engine.save(&mut saved).unwrap();
    assert!(Engine::load(saved.as_slice()).is_ok());
    let ids: Vec<(Project, String)> = engine
        .persons()
        .take(3)
        .filter_map(|p| Some((p.project().clone(), p.distinct_ids().next()?.to_owned())))
        .collect();
    for (project, id) in &ids {
        for event in [
            Event::new("$identify", "fuzz_user")
                .with_project(project.clone())
                .with_property("$anon_distinct_id", id.as_str()),
            Event::new("$merge_dangerously", id.as_str())
                .with_project(project.clone())
                .with_property("alias", "fuzz_user"),
            Event::new("$pageview", id.as_str())
                .with_project(project.clone())
                .with_property("$set", Value::object([("k", Value::from(1))])),
        ] {
            let _ = engine.apply(&event);
        }
        let _ = engine.explain(project, id, "fuzz_user");
        let _ = engine.unlink(project, id, "fuzz_user");
    }
    let _ = engine.dump();
}

/// Regression: the snapshot loader accepts counters and person versions up to `u64::MAX`,
/// and the engine once incremented them with `+=`: a panic (`attempt to add with overflow`)
/// in builds with debug assertions, a silent wrap without. They saturate now.
/// `snapshot_load` found one crasher for each increment, named for it; each is mode byte 1 then a snapshot body, so the
/// header is written around it with a valid checksum.
mod snapshot_load_counter_overflow {
    use super::replay_snapshot_load;

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
