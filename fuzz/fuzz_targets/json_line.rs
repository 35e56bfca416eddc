//! JSON lines in, events applied: whatever the bytes, parsing and applying never panic.
//!
//! The whole input is tried as one line, then each of its lines in turn, all against one
//! engine per input, so that later lines meet the persons, groups and personless ids that
//! earlier ones left. Each event is applied three times: a repeated event must be as safe
//! as a new one (merges already done, properties already set). The same lines then go
//! through `Replay`, the path the CLI reads files with.
#![no_main]

use idgraph::{Engine, Event, Replay, Value};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut engine = Engine::new();
    for line in std::iter::once(data).chain(data.split(|&b| b == b'\n')) {
        let Ok(event) = Event::from_json_slice(line) else {
            continue;
        };
        for _ in 0..3 {
            if engine.apply(&event).is_err() {
                // Only a full engine refuses an event, which a fuzz input cannot reach.
                panic!("the engine refused {event:?}");
            }
        }
        // Read back what the event touched: its person, and how `explain` links its ids.
        let project = event.project().clone();
        if let Some(person) = engine.resolve(&project, event.distinct_id()) {
            assert!(person.distinct_ids().any(|id| id == event.distinct_id()));
        }
        for key in ["$anon_distinct_id", "alias"] {
            if let Some(other) = event.property(key).and_then(Value::as_str) {
                let why = engine.explain(&project, event.distinct_id(), other);
                let person = |id| engine.resolve(&project, id).map(|p| p.uuid());
                let same = person(event.distinct_id()).is_some()
                    && person(event.distinct_id()) == person(other);
                assert_eq!(why.same_person, same, "{why:?}");
                // Two ids of one person are joined by a chain of the links that merged them.
                assert!(!same || other == event.distinct_id() || !why.chain.is_empty());
            }
        }
    }
    let dump = engine.dump();
    let Ok(_) = serde_json::to_vec(&dump) else {
        panic!("a dump that does not serialize: {dump:?}");
    };

    let mut replay = Replay::new(Engine::new());
    for line in data.split(|&b| b == b'\n') {
        if replay.line(line).is_err() {
            panic!("the replay's engine refused a line");
        }
    }
    let _ = replay.finish();
});
