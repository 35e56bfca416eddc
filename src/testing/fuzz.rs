//! The checks behind the fuzz targets in `fuzz/`, as functions, so that a crasher the fuzzer
//! finds replays through exactly the same code in a named `#[test]`
//! (`tests/fuzz_regressions.rs`).

use crate::{Engine, Event, Project, Snapshot, SnapshotError};

/// The header of a snapshot of the format this build writes, version 4 (see
/// `src/snapshot/file.rs`): magic, version, flags, body length, then the CRC-32 of the
/// version, the flags, the length and the body.
pub(crate) fn with_header(body: &[u8]) -> Vec<u8> {
    let mut covered = [0u8; 16];
    covered[..4].copy_from_slice(&4u32.to_le_bytes());
    covered[8..].copy_from_slice(&(body.len() as u64).to_le_bytes());
    let mut crc = crc32fast::Hasher::new();
    crc.update(&covered);
    crc.update(body);
    let mut bytes = Vec::with_capacity(28 + body.len());
    bytes.extend_from_slice(b"IDGRAPH\0");
    bytes.extend_from_slice(&covered);
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

/// A reader that hands over at most `step` bytes per call, so that even a small snapshot's
/// columns outrun the stream's buffer and take the path that reads into the column itself.
struct Trickle<'a> {
    rest: &'a [u8],
    step: usize,
}

impl std::io::Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let (now, rest) = self
            .rest
            .split_at(buf.len().min(self.step).min(self.rest.len()));
        buf[..now.len()].copy_from_slice(now);
        self.rest = rest;
        Ok(now.len())
    }
}

/// The `snapshot_load` check: `data`'s first byte picks how the rest is read (bit 0 clear: a
/// whole file; set: a body under a valid header of the format this build writes) and how the reader hands it over
/// (bit 1 clear: all at once; set: at most 1 to 16 bytes a call, from the bits above).
/// Loading never panics and gives an
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
    // The reader path must agree with the in-memory path on every input; bytes it leaves
    // after the snapshot are what the in-memory path refuses.
    let mut reader = Trickle {
        rest: &bytes,
        step: if mode & 2 == 0 {
            usize::MAX
        } else {
            usize::from(mode >> 2) % 16 + 1
        },
    };
    let from_reader = Engine::load_from(&mut reader).and_then(|Snapshot { engine, .. }| {
        if reader.rest.is_empty() {
            Ok(engine)
        } else {
            Err(SnapshotError::TrailingBytes)
        }
    });
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
    if let Err(error) = engine.save_to(&mut saved, &snapshot.position) {
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
    let _ = engine.save_to(&mut Vec::new(), &[]);
}

/// The `capture_request` check: `data` as a request body (gzip or not) read by capture's
/// rules, with and without capture validation, at an arrival time and as a saved body;
/// then as a file of lines through `Input` and `Replay`, the path the CLI reads with.
/// Reading never panics; every event read applies to an engine; a request is read the same
/// way twice; and the events of a body are the events `Replay` applies from it as a line.
///
/// # Panics
///
/// When any of that does not hold: that is the finding.
pub fn capture_request(data: &[u8]) {
    use crate::{Arrival, CaptureReader, Input, Replay, Timestamp};

    let now = Timestamp::from_unix_micros(1_704_067_200_000_000);
    let mut engine = Engine::new();
    let mut reader = CaptureReader::new();
    for validation in [false, true] {
        reader.capture_validation(validation);
        for arrival in [Arrival::At(now), Arrival::Saved] {
            let first = reader.read(data, arrival);
            let again = reader.read(data, arrival);
            assert_eq!(
                format!("{first:?}"),
                format!("{again:?}"),
                "reading is a function"
            );
            let Ok(request) = first else { continue };
            for event in request.events() {
                assert!(engine.apply(event).is_ok(), "the engine refused {event:?}");
            }
        }
    }
    let Ok(dump) = serde_json::to_vec(&engine.dump()) else {
        panic!("a dump that does not serialize");
    };
    drop(dump);

    let Ok(mut input) = Input::new(std::io::BufReader::new(data)) else {
        return;
    };
    let mut replay = Replay::new(Engine::new());
    loop {
        match replay.read_line(&mut input) {
            Ok(Some(_)) => {}
            Ok(None) => break,
            // A damaged gzip stream is an I/O error of the input, not a panic.
            Err(crate::Error::Io(_)) => return,
            Err(error) => panic!("the replay's engine refused a line: {error}"),
        }
    }
    let _ = replay.finish();
}

#[cfg(test)]
mod tests {
    use super::{Trickle, snapshot_load, state};
    use crate::Engine;

    const GOLDEN: &[u8] = include_bytes!("../../tests/fixtures/snapshot_v2.idg");
    const REGRESSIONS: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fuzz/regressions/snapshot_load"
    );

    /// The regression inputs are bodies of the format this build writes, under the header
    /// mode 1 gives them: each loads, so that replaying one reaches the state it pins.
    #[test]
    fn the_regression_inputs_load_under_the_header_of_mode_1() {
        for entry in std::fs::read_dir(REGRESSIONS).unwrap() {
            let input = std::fs::read(entry.unwrap().path()).unwrap();
            assert_eq!(input[0], 1);
            assert!(Engine::load_from_bytes(&super::with_header(&input[1..])).is_ok());
        }
    }

    /// The golden file loads alike handed over a byte at a time up to whole, and passes
    /// the `snapshot_load` check in each of the modes that read it as a whole file.
    #[test]
    fn the_golden_file_loads_alike_through_readers_of_every_grain() {
        let reference = state(&Engine::load_from_bytes(GOLDEN).unwrap().engine);
        for step in 1..=16 {
            let loaded = Engine::load_from(Trickle { rest: GOLDEN, step }).map(|s| s.engine);
            assert_eq!(state(&loaded.unwrap()), reference, "{step} bytes a read");
        }
        for mode in (0..64u8).step_by(2) {
            snapshot_load(&[&[mode], GOLDEN].concat());
        }
    }
}
