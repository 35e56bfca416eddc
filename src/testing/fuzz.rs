//! The checks behind the fuzz targets in `fuzz/`, as functions, so that a crasher the fuzzer
//! finds replays through exactly the same code in a named `#[test]`
//! (`tests/fuzz_regressions.rs`).

use crate::{Engine, Event, Project};

/// The header of a format version 2 snapshot (see `src/snapshot.rs`): magic, version,
/// flags, body length, then the CRC-32 of the flags, the length and the body.
pub(crate) fn with_header(body: &[u8]) -> Vec<u8> {
    let mut flags_and_len = [0u8; 12];
    flags_and_len[4..].copy_from_slice(&(body.len() as u64).to_le_bytes());
    let mut crc = crc32fast::Hasher::new();
    crc.update(&flags_and_len);
    crc.update(body);
    let mut bytes = Vec::with_capacity(28 + body.len());
    bytes.extend_from_slice(b"IDGRAPH\0");
    bytes.extend_from_slice(&2u32.to_le_bytes());
    bytes.extend_from_slice(&flags_and_len);
    bytes.extend_from_slice(&crc.finalize().to_le_bytes());
    bytes.extend_from_slice(body);
    bytes
}

/// A dump as text. `Dump`'s `PartialEq` cannot compare states holding a NaN property
/// value (the golden file has one), since NaN is unequal to itself; its `Debug` text is
/// exact and compares as expected.
fn state(engine: &Engine) -> String {
    format!("{:?}", engine.dump())
}

/// The `snapshot_load` check: `data`'s first byte picks how the rest is read (even: a whole
/// file; odd: a body under a valid version 2 header). Loading never panics and gives an
/// error or an engine that dumps, round-trips through save and load to the same state, and
/// keeps working (merge, set, explain, unlink) on the ids it holds.
///
/// # Panics
///
/// When any of that does not hold: that is the finding.
pub fn snapshot_load(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let bytes = if mode % 2 == 0 {
        rest.to_vec()
    } else {
        with_header(rest)
    };

    let from_bytes = Engine::load_from_bytes(&bytes);
    // The reader path must agree with the in-memory path on every input.
    let from_reader = Engine::load(bytes.as_slice());
    let snapshot = match (from_bytes, from_reader) {
        (Err(_), Err(_)) => return,
        (Ok(snapshot), Ok(engine)) => {
            assert_eq!(state(&engine), state(&snapshot.engine));
            snapshot
        }
        (a, b) => panic!(
            "load_from_bytes and load disagree: {a:?} / {:?}",
            b.map(|_| ())
        ),
    };

    // A loaded engine round-trips: saved and loaded again, it is the same state.
    let mut engine = snapshot.engine;
    let dump = state(&engine);
    let mut saved = Vec::new();
    if let Err(error) = engine.save_with_position(&mut saved, &snapshot.position) {
        panic!("a loaded engine does not save: {error}");
    }
    let again = match Engine::load_from_bytes(&saved) {
        Ok(again) => again,
        Err(error) => panic!("a saved engine does not load: {error}"),
    };
    assert_eq!(state(&again.engine), dump);
    assert_eq!(again.position, snapshot.position);

    // And it keeps working: merge, set and read on the ids it holds.
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
                .with_property("$set", crate::Value::object([("k", crate::Value::from(1))])),
        ] {
            let _ = engine.apply(&event);
        }
        let _ = engine.explain(project, id, "fuzz_user");
        let _ = engine.unlink(project, id, "fuzz_user");
    }
    let _ = engine.dump();
    let _ = engine.save(&mut Vec::new());
}
