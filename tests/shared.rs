//! A shared engine's readers see exactly the states the serial engine passes through at the
//! writer's publishes, never a half-applied batch; a held view (a save) defers publishing
//! without stopping the writer; a save taken while ingesting resumes to the same bytes.
#![cfg(feature = "testing")]
#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests fail loudly")]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use idgraph::testing::strategy;
use idgraph::{Dump, Engine, Event, Project, Shape, Timestamp, Value, Workload, WorkloadConfig};
use proptest::prelude::*;

/// The events with a time each, so that the serial engine and the writer store the same
/// one (the writer fixes a missing time to its clock once; a second engine would read the
/// clock again).
fn timed(events: Vec<Event>) -> Vec<Event> {
    let at = Timestamp::parse("2024-06-01T00:00:00Z").unwrap();
    events
        .into_iter()
        .map(|e| match e.timestamp() {
            Some(_) => e,
            None => e.with_timestamp(at),
        })
        .collect()
}

fn workload(events: usize, seed: u64) -> Vec<Event> {
    Workload::new(WorkloadConfig {
        events: events as u64,
        seed,
        shape: Shape::Realistic,
        ..WorkloadConfig::default()
    })
    .collect()
}

/// What a step of the test does to both engines.
#[derive(Clone, Debug)]
enum Step {
    Apply(Box<Event>),
    /// Erase the distinct id of the event this many steps back (or nothing, if none).
    EraseBack(usize),
    Publish,
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        8 => strategy::event().prop_map(|e| Step::Apply(Box::new(e))),
        1 => (0usize..8).prop_map(Step::EraseBack),
        2 => Just(Step::Publish),
    ];
    prop::collection::vec(step, 0..80)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn readers_only_ever_see_the_serial_engines_states_at_publishes(steps in steps()) {
        let mut serial = Engine::new();
        let (mut writer, reader) = Engine::new().into_shared(Vec::new());
        let mut published: Dump = serial.dump();
        let mut applied: Vec<Event> = Vec::new();
        for (index, step) in steps.into_iter().enumerate() {
            match step {
                Step::Apply(event) => {
                    let event = timed(vec![*event]).remove(0);
                    let expected = serial.apply(&event).map_err(|e| e.to_string());
                    let got = writer.apply(event.clone()).map_err(|e| e.to_string());
                    prop_assert_eq!(got, expected);
                    applied.push(event);
                }
                Step::EraseBack(back) => {
                    if let Some(event) = applied.iter().rev().nth(back) {
                        let (project, id) = (event.project().clone(), event.distinct_id().to_owned());
                        let expected = serial.erase(&project, &id).map_err(|e| e.to_string());
                        let got = writer.erase(&project, &id).map_err(|e| e.to_string());
                        prop_assert_eq!(got, expected);
                    }
                }
                Step::Publish => {
                    writer.set_position(index.to_string().as_bytes());
                    prop_assert!(writer.publish());
                    published = serial.dump();
                    prop_assert_eq!(writer.unpublished(), 0);
                    prop_assert_eq!(
                        reader.read().save_to_vec(b"").unwrap(),
                        serial.save_to_vec(b"").unwrap()
                    );
                }
            }
            let view = reader.read();
            prop_assert_eq!(&view.dump(), &published);
            prop_assert_eq!(&writer.engine().dump(), &serial.dump());
        }
        prop_assert!(writer.publish());
        let view = reader.read();
        prop_assert_eq!(view.save_to_vec(b"").unwrap(), serial.save_to_vec(b"").unwrap());
        prop_assert_eq!(writer.engine().save_to_vec(b"").unwrap(), serial.save_to_vec(b"").unwrap());
    }
}

#[test]
fn a_reader_thread_never_sees_a_half_applied_batch() {
    const BATCH: usize = 250;
    let events = workload(6_000, 7);
    let mut serial = Engine::new();
    let mut at_publish = vec![serial.dump()];
    for batch in events.chunks(BATCH) {
        for event in batch {
            serial.apply(event).unwrap();
        }
        at_publish.push(serial.dump());
    }
    let at_publish = Arc::new(at_publish);

    let (mut writer, reader) = Engine::new().into_shared(Vec::new());
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (reader, done, at_publish) =
                (reader.clone(), Arc::clone(&done), Arc::clone(&at_publish));
            std::thread::spawn(move || {
                let (mut reads, mut last) = (0usize, 0u64);
                while !done.load(Ordering::Acquire) || reads == 0 {
                    let view = reader.read();
                    let sequence = view.sequence();
                    assert!(sequence >= last, "states go forward only");
                    last = sequence;
                    let index = usize::try_from(sequence).unwrap();
                    assert_eq!(view.dump(), at_publish[index], "publish {sequence}");
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    for (index, batch) in events.chunks(BATCH).enumerate() {
        for event in batch {
            writer.apply(event.clone()).unwrap();
        }
        writer.set_position((index + 1).to_string().as_bytes());
        assert!(writer.publish());
    }
    done.store(true, Ordering::Release);
    for reader in readers {
        assert!(reader.join().unwrap() > 0);
    }
    assert_eq!(reader.read().dump(), serial.dump());
}

/// Most events of a realistic stream change nothing but the counters, and the writer does
/// not apply those again on the other copy: every publish must still give the bytes of the
/// serial engine, counters and all.
#[test]
fn every_publish_of_a_realistic_stream_saves_the_serial_engines_bytes() {
    let events = timed(workload(5_000, 19));
    let mut serial = Engine::new();
    let (mut writer, reader) = Engine::new().into_shared(Vec::new());
    for (index, batch) in events.chunks(97).enumerate() {
        for event in batch {
            let expected = serial.apply(event).unwrap();
            assert_eq!(writer.apply(event.clone()).unwrap(), expected);
        }
        assert_eq!(writer.unpublished(), batch.len());
        assert!(writer.publish());
        assert_eq!(
            reader.read().save_to_vec(b"").unwrap(),
            serial.save_to_vec(b"").unwrap(),
            "publish {index}"
        );
    }
    assert_eq!(reader.read().counters(), serial.counters());
}

#[test]
fn a_held_view_defers_publishing_while_the_writer_goes_on() {
    let events = timed(workload(400, 3));
    let (mut writer, reader) = Engine::new().into_shared(b"start".to_vec());
    for event in &events[..200] {
        writer.apply(event.clone()).unwrap();
    }
    writer.set_position(b"200");
    assert!(writer.publish());
    let held = reader.hold();
    for event in &events[200..] {
        writer.apply(event.clone()).unwrap();
    }
    writer.set_position(b"400");
    assert!(!writer.publish(), "a held state is not taken back");
    assert_eq!(writer.unpublished(), 200);
    assert_eq!(reader.read().position(), b"200");
    assert_eq!(held.position(), b"200");
    drop(held);
    assert!(writer.publish());
    let mut serial = Engine::new();
    for event in &events {
        serial.apply(event).unwrap();
    }
    assert_eq!(reader.read().position(), b"400");
    assert_eq!(reader.read().dump(), serial.dump());
    assert_eq!(
        writer.engine().save_to_vec(b"").unwrap(),
        serial.save_to_vec(b"").unwrap()
    );
}

#[test]
fn a_save_during_ingest_restores_to_its_position_and_resumes_to_the_same_bytes() {
    const BATCH: usize = 200;
    let events = workload(8_000, 11);
    let dir = std::env::temp_dir().join(format!("idgraph-shared-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("during.snap");

    let (mut writer, reader) = Engine::new().into_shared(b"0".to_vec());
    let saver = {
        let (reader, path) = (reader.clone(), path.clone());
        std::thread::spawn(move || {
            // Wait until something is published, then save while the writer goes on.
            while reader.read().sequence() < 5 {
                std::thread::yield_now();
            }
            reader.save_to_path(&path).unwrap()
        })
    };
    for (index, batch) in events.chunks(BATCH).enumerate() {
        for event in batch {
            writer.apply(event.clone()).unwrap();
        }
        let applied = ((index + 1) * BATCH).min(events.len());
        writer.set_position(applied.to_string().as_bytes());
        writer.publish();
    }
    while !writer.publish() {
        std::thread::yield_now();
    }
    let saved_position = saver.join().unwrap();

    let restored = Engine::load_from_path(&path).unwrap();
    assert_eq!(restored.position, saved_position);
    let resume_at: usize = std::str::from_utf8(&restored.position)
        .unwrap()
        .parse()
        .unwrap();
    assert!(resume_at >= 5 * BATCH && resume_at.is_multiple_of(BATCH));
    let mut resumed = restored.engine;
    for event in &events[resume_at..] {
        resumed.apply(event).unwrap();
    }
    let mut serial = Engine::new();
    for event in &events {
        serial.apply(event).unwrap();
    }
    assert_eq!(
        resumed.save_to_vec(b"").unwrap(),
        serial.save_to_vec(b"").unwrap()
    );
    assert_eq!(
        reader.read().save_to_vec(b"").unwrap(),
        serial.save_to_vec(b"").unwrap()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_split_replays_to_the_same_state_on_both_copies() {
    let events = timed(workload(1_000, 5));
    let (mut writer, reader) = Engine::new().into_shared(Vec::new());
    for event in &events {
        writer.apply(event.clone()).unwrap();
    }
    let person = writer
        .engine()
        .persons()
        .find(|p| p.distinct_ids().count() >= 2)
        .map(|p| (p.project().clone(), p.sorted_distinct_ids()[1].to_owned()))
        .expect("a merged person");
    writer.split(&person.0, &[&person.1]).unwrap();
    assert!(writer.publish());
    // The copy the readers had before is now the writer's, brought up to date by replay.
    writer
        .apply(Event::new("$pageview", "after_split").with_project(Project::Default))
        .unwrap();
    assert!(writer.publish());
    assert_eq!(reader.read().dump(), writer.engine().dump());
    assert_eq!(
        reader.read().save_to_vec(b"").unwrap(),
        writer.engine().save_to_vec(b"").unwrap()
    );
}

/// The other copy takes the writer's decision of what an update writes rather than
/// deciding again: updates past the 64 entries a decision keeps, unsets, churn, writes the
/// size limit refuses and merges must all end in the serial engine's bytes.
#[test]
fn updates_decided_on_the_writers_copy_replay_to_the_serial_engines_bytes() {
    let wide = |prefix: &str, round: i64| {
        Value::object((0..100_i64).map(|i| {
            // A third keep their value from round to round, a third change, and a third
            // appear only in later rounds.
            let value = match i % 3 {
                0 => Value::from(i),
                1 => Value::from(round),
                _ => Value::from(format!("{prefix}{round}")),
            };
            (
                format!(
                    "{prefix}{:03}",
                    i + if i % 3 == 2 { round * 100 } else { 0 }
                ),
                value,
            )
        }))
    };
    let mut events = Vec::new();
    for round in 0..4 {
        events.push(
            Event::new("$set", "wide")
                .with_property("$set", wide("s", round))
                .with_property("$set_once", wide("o", round))
                .with_property(
                    "$unset",
                    Value::from(vec![Value::from(format!("s{:03}", 1))]),
                ),
        );
        events.push(
            Event::new("$pageview", "wide")
                .with_property(
                    "$current_url",
                    Value::from(format!("https://example.com/{round}")),
                )
                .with_property("$browser", Value::from("Firefox")),
        );
    }
    // Past the size limit: refused whole, then a smaller write lands.
    let big = "x".repeat(700_000);
    events.push(
        Event::new("$set", "wide")
            .with_property("$set", Value::object([("big", Value::from(big.as_str()))])),
    );
    events.push(
        Event::new("$set", "wide")
            .with_property("$set", Value::object([("small", Value::from(1))])),
    );
    events.push(
        Event::new("$identify", "known")
            .with_property("$anon_distinct_id", Value::from("wide"))
            .with_property("$set", wide("m", 9)),
    );
    // A merge of two persons: the survivor's update is decided after the merge.
    events.push(Event::new("$set", "other").with_property("$set", wide("p", 1)));
    events.push(
        Event::new("$identify", "known")
            .with_property("$anon_distinct_id", Value::from("other"))
            .with_property("$set", wide("m", 10)),
    );
    // A publish hands readers the copy the writer applied to; the copy each event was
    // replayed on reaches them one publish later, so the last event above needs another.
    events.push(Event::new("$pageview", "known"));
    let events = timed(events);

    let mut serial = Engine::new();
    let (mut writer, reader) = Engine::new().into_shared(Vec::new());
    for (index, event) in events.iter().enumerate() {
        let expected = serial.apply(event).unwrap();
        assert_eq!(
            writer.apply(event.clone()).unwrap(),
            expected,
            "event {index}"
        );
        assert!(writer.publish());
        // Each publish replays the event on the copy the readers had, so each update's
        // decision is taken there once.
        assert_eq!(
            reader.read().save_to_vec(b"").unwrap(),
            serial.save_to_vec(b"").unwrap(),
            "event {index}"
        );
    }
    let props = serial.resolve(&Project::Default, "known").unwrap();
    assert!(props.properties().any(|(k, _)| k == "small"));
    assert!(!props.properties().any(|(k, _)| k == "big"));
    assert!(props.properties().any(|(k, _)| k == "p000"));
    let mut ids: Vec<&str> = props.distinct_ids().collect();
    ids.sort_unstable();
    assert_eq!(ids, ["known", "other", "wide"]);
    // The first `$identify` attaches "known" to wide's person, the second merges other's.
    assert_eq!(serial.counters().merges, 2);
}
