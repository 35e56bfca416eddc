//! The engine against the reference model (`idgraph::testing::Model`): random event
//! sequences from `idgraph::testing::strategy` go through both, and after every event the
//! warnings it raised and the whole dump (persons with uuids, properties, versions and
//! timestamps; personless ids; groups) must be equal.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a test fails loudly when the engine refuses an event"
)]

use idgraph::testing::{Model, journey, strategy};
use idgraph::{Engine, Event, Timestamp, Value, WarningKind};
use proptest::prelude::*;

/// Applies `events` to both sides and fails at the first event after which they differ.
#[track_caller]
fn check(mut engine: Engine, mut model: Model, events: &[Event]) -> Result<(), TestCaseError> {
    for (index, event) in events.iter().enumerate() {
        let outcome = engine.apply(event).expect("the engine has room");
        let got: Vec<WarningKind> = outcome.warnings.iter().map(|w| w.kind).collect();
        let want = model.apply(event);
        prop_assert_eq!(got, want, "warnings of event {} {:?}", index, event);
        prop_assert_eq!(
            engine.dump(),
            model.dump(),
            "state after event {} {:?}",
            index,
            event
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn engine_matches_model_after_every_event(events in strategy::events(40)) {
        check(Engine::new(), Model::new(), &events)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn engine_matches_model_on_client_journeys(journey in journey::journeys(40)) {
        check(Engine::new(), Model::new(), journey.events())?;
    }

    #[test]
    fn engine_matches_model_on_adversarial_streams(events in strategy::adversarial(120)) {
        check(Engine::new(), Model::new(), &events)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(150))]

    #[test]
    fn engine_matches_model_on_group_heavy_sequences(
        events in strategy::sequence(
            prop_oneof![strategy::group_event(), strategy::event()],
            40,
        )
    ) {
        check(Engine::new(), Model::new(), &events)?;
    }

    #[test]
    fn engine_matches_model_without_lifting_or_churn_filtering(events in strategy::events(40)) {
        let engine = Engine::builder().lift_properties(false).filter_churn(false).build();
        let model = Model::new().lift_properties(false).filter_churn(false);
        check(engine, model, &events)?;
    }
}

/// Events whose property values run to hundreds of KiB, on four ids, so that writes pass
/// the size limit, merges trim, and protected keys (`email`, `$current_url`) outgrow a
/// trim (docs/behaviour.md §13, decision 16).
fn large_property_events(max_len: usize) -> impl Strategy<Value = Vec<Event>> {
    use proptest::collection::{btree_map, vec};
    use proptest::sample::select;
    let key = || select(&["a", "b", "c", "email", "$current_url"][..]);
    let value = select(&[1_usize, 60_000, 150_000, 200_000, 250_000, 310_000, 655_350][..])
        .prop_map(|n| Value::from("x".repeat(n)));
    let members = move || btree_map(key(), value.clone(), 0..3).prop_map(Value::object);
    let id = || select(&["anon_1", "anon_2", "user_1", "user_2"][..]);
    let event = (
        select(&["$set", "$identify", "$merge_dangerously", "$pageview"][..]),
        id(),
        id(),
        members(),
        members(),
        vec(key(), 0..2),
    )
        .prop_map(|(name, target, source, set, set_once, unset)| {
            let merge_key = if name == "$identify" {
                "$anon_distinct_id"
            } else {
                "alias"
            };
            let unset: Vec<Value> = unset.into_iter().map(Value::from).collect();
            Event::new(name, target)
                .with_property(merge_key, source)
                .with_property("$set", set)
                .with_property("$set_once", set_once)
                .with_property("$unset", Value::from(unset))
        });
    vec(event, 1..max_len).prop_map(|events| {
        (0_i64..)
            .zip(events)
            .map(|(i, e)| e.with_timestamp(Timestamp::from_unix_micros(1_704_067_200_000_000 + i)))
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn engine_matches_model_at_the_size_limit(events in large_property_events(12)) {
        check(Engine::new(), Model::new(), &events)?;
    }
}

/// The model is only a reference if it agrees with the conformance cases that the engine
/// is held to; the cases go through the model the way `tests/conformance.rs` sends them
/// through the engine.
#[test]
fn model_matches_engine_on_the_conformance_cases() {
    for line in include_str!("data/conformance.jsonl").lines() {
        if line.trim().is_empty() {
            continue;
        }
        let case: serde_json::Value = serde_json::from_str(line).unwrap();
        let mut engine = Engine::new();
        let mut model = Model::new();
        for raw in case["events"].as_array().unwrap() {
            let event = Event::from_json(&raw.to_string()).unwrap();
            let got: Vec<_> = engine.apply(&event).unwrap().warnings;
            let got: Vec<WarningKind> = got.iter().map(|w| w.kind).collect();
            assert_eq!(got, model.apply(&event), "{}", case["name"]);
        }
        assert_eq!(engine.dump(), model.dump(), "{}", case["name"]);
    }
}

/// Events without a timestamp are stamped when applied, so only the shape is compared.
#[test]
fn events_without_timestamps_agree_on_everything_but_times() {
    let events = [
        Event::new("$pageview", "a").with_property("$set", Value::object([("k", Value::from(1))])),
        Event::new("$identify", "b").with_property("$anon_distinct_id", "a"),
    ];
    let (mut engine, mut model) = (Engine::new(), Model::new());
    for event in &events {
        engine.apply(event).unwrap();
        model.apply(event);
    }
    let (mut got, mut want) = (engine.dump(), model.dump());
    for person in got.persons.iter_mut().chain(want.persons.iter_mut()) {
        person.created_at = Timestamp::EPOCH.to_string();
    }
    assert_eq!(got, want);
}

/// Regression: a merge event whose `$anon_distinct_id` or `alias` is neither a string nor
/// null is dropped with `invalid_anon_distinct_id` / `invalid_alias` (docs/behaviour.md §3,
/// newest validation step, which checks both properties on all three merge events). The
/// engine once checked only the property the event kind merges with.
#[test]
fn merge_events_with_the_other_merge_id_malformed_are_dropped() {
    let at = Timestamp::from_unix_micros(1_704_067_200_000_000);
    for (event, dropped_with) in [
        (
            Event::new("$identify", "user").with_property("alias", 42),
            WarningKind::InvalidAlias,
        ),
        (
            Event::new("$create_alias", "user")
                .with_property("alias", "anon")
                .with_property("$anon_distinct_id", 42),
            WarningKind::InvalidAnonDistinctId,
        ),
    ] {
        let event = event.with_timestamp(at);
        let (mut engine, mut model) = (Engine::new(), Model::new());
        assert_eq!(model.apply(&event), [dropped_with]);
        let outcome = engine.apply(&event).unwrap();
        let kinds: Vec<WarningKind> = outcome.warnings.iter().map(|w| w.kind).collect();
        assert_eq!(kinds, [dropped_with]);
        assert!(outcome.dropped);
        assert!(engine.dump().persons.is_empty());
    }
}

/// Regression: an id is illegal when JavaScript's `trim()` leaves it empty (docs/behaviour.md
/// section 4.1). `trim()` keeps U+0085 (NEXT LINE), which is not ECMAScript white space, so
/// `"\u{85}"` is a legal id that merges; the engine once trimmed it as Rust's `str::trim`
/// does and refused the merge.
#[test]
fn next_line_alone_is_a_legal_id() {
    let event = Event::new("$identify", "user")
        .with_property("$anon_distinct_id", "\u{85}")
        .with_timestamp(Timestamp::from_unix_micros(1_704_067_200_000_000));
    let (mut engine, mut model) = (Engine::new(), Model::new());
    assert!(model.apply(&event).is_empty());
    assert!(engine.apply(&event).unwrap().warnings.is_empty());
    assert_eq!(engine.dump(), model.dump());
    assert_eq!(engine.dump().persons[0].distinct_ids, ["user", "\u{85}"]);
}
