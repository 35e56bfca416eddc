//! Links: explaining why ids are one person, undoing one link, split, delete and erase.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a test fails loudly"
)]

use std::collections::BTreeSet;

use idgraph::{
    EditError, Engine, Event, LinkEffect, LinkKind, Project, RefusalReason, Timestamp, Value,
};
use proptest::prelude::*;

const P: Project = Project::Default;

fn at(minute: i64) -> Timestamp {
    Timestamp::from_unix_micros(1_704_067_200_000_000 + minute * 60_000_000)
}

fn set(members: &[(&str, Value)]) -> Value {
    Value::object(members.iter().map(|(k, v)| (*k, v.clone())))
}

fn engine_of(events: &[Event]) -> Engine {
    let mut engine = Engine::new();
    for event in events {
        engine.apply(event).unwrap();
    }
    engine
}

fn identify(user: &str, anon: &str, minute: i64) -> Event {
    Event::new("$identify", user)
        .with_property("$anon_distinct_id", anon)
        .with_timestamp(at(minute))
}

/// Persons as sets of ids, for comparing partitions.
fn partition(engine: &Engine) -> BTreeSet<BTreeSet<String>> {
    engine
        .persons()
        .map(|p| p.distinct_ids().map(str::to_owned).collect())
        .collect()
}

fn props(engine: &Engine, id: &str) -> Value {
    let person = engine.resolve(&P, id).expect("a person");
    Value::object(person.properties().map(|(k, v)| (k, v.clone())))
}

#[test]
fn explain_gives_the_chain_of_links_with_their_events() {
    let engine = engine_of(&[
        Event::new("$pageview", "anon_x").with_timestamp(at(0)),
        identify("user_x", "anon_x", 1).with_uuid("0190f7d6-0000-7000-8000-000000000001"),
        Event::new("$create_alias", "user_x")
            .with_property("alias", "x@example.com")
            .with_timestamp(at(2)),
    ]);
    let why = engine.explain(&P, "anon_x", "x@example.com");
    assert!(why.same_person);
    let steps: Vec<(&str, &str, LinkKind, LinkEffect)> = why
        .chain
        .iter()
        .map(|s| (s.target.as_str(), s.source.as_str(), s.kind, s.effect))
        .collect();
    assert_eq!(
        steps,
        [
            (
                "user_x",
                "anon_x",
                LinkKind::Identify,
                LinkEffect::AttachedTarget
            ),
            (
                "user_x",
                "x@example.com",
                LinkKind::Alias,
                LinkEffect::AttachedSource
            ),
        ]
    );
    assert_eq!(why.chain[0].event.ordinal, 2);
    assert_eq!(why.chain[0].event.timestamp, at(1));
    assert!(why.chain[0].event.uuid.is_some());
    assert!(engine.explain(&P, "anon_x", "anon_x").chain.is_empty());
}

#[test]
fn explain_shows_refused_merges_between_two_persons() {
    let engine = engine_of(&[
        identify("user_a", "anon_a", 0),
        identify("user_b", "anon_b", 1),
        Event::new("$create_alias", "user_a")
            .with_property("alias", "user_b")
            .with_timestamp(at(2)),
    ]);
    let why = engine.explain(&P, "anon_a", "anon_b");
    assert!(!why.same_person);
    assert!(why.chain.is_empty());
    assert_eq!(why.refused.len(), 1);
    assert_eq!(why.refused[0].reason, RefusalReason::AlreadyIdentified);
    assert_eq!(
        (
            why.refused[0].target.as_str(),
            why.refused[0].source.as_str()
        ),
        ("user_a", "user_b")
    );
    assert!(!engine.explain(&P, "anon_a", "nobody").same_person);
}

#[test]
fn unlinking_an_attach_gives_each_part_what_its_ids_wrote() {
    let mut engine = engine_of(&[
        Event::new("$pageview", "anon_s1")
            .with_property("$set_once", set(&[("first_campaign", "ads".into())]))
            .with_timestamp(at(0)),
        identify("user_123", "anon_s1", 2)
            .with_property("$set", set(&[("email", "s@example.com".into())])),
    ]);
    let uuid = engine.resolve(&P, "anon_s1").unwrap().uuid();
    let unlinked = engine.unlink(&P, "user_123", "anon_s1").unwrap();
    assert_eq!(unlinked.links_removed, 1);
    assert_eq!(unlinked.kept, uuid);
    let anon = engine.resolve(&P, "anon_s1").unwrap();
    assert_eq!(
        anon.uuid(),
        uuid,
        "the part holding the birth id keeps the uuid"
    );
    assert!(!anon.is_identified());
    assert_eq!(
        props(&engine, "anon_s1"),
        set(&[("first_campaign", "ads".into())])
    );
    let user = engine.resolve(&P, "user_123").unwrap();
    assert_eq!(Some(user.uuid()), unlinked.split_off);
    assert_eq!(
        props(&engine, "user_123"),
        set(&[("email", "s@example.com".into())])
    );
    assert!(matches!(
        engine.unlink(&P, "user_123", "anon_s1"),
        Err(EditError::NotLinked { .. })
    ));
}

#[test]
fn unlinking_a_two_person_merge_restores_what_each_side_had() {
    let mut engine = engine_of(&[
        identify("user_123", "web_anon_1", 0)
            .with_property("$set", set(&[("plan", "starter".into())])),
        Event::new("$pageview", "mobile_anon_1")
            .with_property(
                "$set",
                set(&[("plan", "free".into()), ("app_version", "2.1".into())]),
            )
            .with_timestamp(at(1)),
        identify("user_123", "mobile_anon_1", 2),
    ]);
    assert_eq!(
        props(&engine, "mobile_anon_1"),
        set(&[("app_version", "2.1".into()), ("plan", "starter".into())])
    );
    engine.unlink(&P, "user_123", "mobile_anon_1").unwrap();
    assert_eq!(
        props(&engine, "mobile_anon_1"),
        set(&[("app_version", "2.1".into()), ("plan", "free".into())])
    );
    assert_eq!(
        props(&engine, "user_123"),
        set(&[("plan", "starter".into())])
    );
    assert!(!engine.resolve(&P, "mobile_anon_1").unwrap().is_identified());
    assert!(engine.resolve(&P, "web_anon_1").unwrap().is_identified());
    assert_eq!(
        engine.resolve(&P, "mobile_anon_1").unwrap().created_at(),
        at(1)
    );
    assert_eq!(partition(&engine).len(), 2);
}

#[test]
fn unlinking_ids_without_a_direct_link_is_an_error_and_changes_nothing() {
    let mut engine = engine_of(&[
        identify("u", "a", 0),
        Event::new("$create_alias", "u")
            .with_property("alias", "b")
            .with_timestamp(at(1)),
    ]);
    let before = partition(&engine);
    assert!(matches!(
        engine.unlink(&P, "a", "b"),
        Err(EditError::NotLinked { .. })
    ));
    assert!(matches!(
        engine.unlink(&P, "a", "zzz"),
        Err(EditError::UnknownId(_))
    ));
    assert!(matches!(
        engine.unlink(&Project::Team(9), "a", "b"),
        Err(EditError::UnknownProject(_))
    ));
    assert_eq!(partition(&engine), before);
}

#[test]
fn split_moves_ids_to_fresh_empty_persons() {
    let mut engine = engine_of(&[
        identify("u", "a", 0).with_property("$set", set(&[("plan", "pro".into())])),
        Event::new("$create_alias", "u")
            .with_property("alias", "b")
            .with_timestamp(at(1)),
    ]);
    let created = engine.split(&P, &["a"]).unwrap();
    assert_eq!(created.len(), 1);
    let a = engine.resolve(&P, "a").unwrap();
    assert_eq!(a.uuid(), created[0]);
    assert_eq!(a.properties().len(), 0);
    assert!(!a.is_identified());
    assert_eq!(
        engine.resolve(&P, "u").unwrap().sorted_distinct_ids(),
        ["b", "u"]
    );
    assert_eq!(props(&engine, "b"), set(&[("plan", "pro".into())]));
    assert!(matches!(
        engine.split(&P, &["nobody"]),
        Err(EditError::UnknownId(_))
    ));
}

#[test]
fn a_deleted_persons_ids_start_afresh() {
    let mut engine =
        engine_of(&[identify("u", "a", 0).with_property("$set", set(&[("plan", "pro".into())]))]);
    let uuid = engine.delete_person(&P, "a").unwrap();
    assert!(engine.resolve(&P, "u").is_none());
    assert_eq!(engine.stats().persons, 0);
    engine
        .apply(&Event::new("$pageview", "u").with_timestamp(at(5)))
        .unwrap();
    let fresh = engine.resolve(&P, "u").unwrap();
    assert_eq!(fresh.uuid(), uuid, "PostHog derives the same uuid again");
    assert_eq!(fresh.properties().len(), 0);
    assert_eq!(fresh.sorted_distinct_ids(), ["u"]);
}

#[test]
fn erase_removes_the_id_its_links_and_what_it_wrote() {
    let mut engine = engine_of(&[
        Event::new("$pageview", "secret_anon")
            .with_property("$set", set(&[("secret_prop", "x".into())]))
            .with_timestamp(at(0)),
        identify("u", "secret_anon", 1).with_property("$set", set(&[("plan", "pro".into())])),
        Event::new("$create_alias", "secret_anon")
            .with_property("alias", "b")
            .with_timestamp(at(2)),
    ]);
    engine.erase(&P, "secret_anon").unwrap();
    let dump = serde_json::to_string(&engine.dump()).unwrap();
    assert!(!dump.contains("secret_anon"), "{dump}");
    assert!(!dump.contains("secret_prop"), "{dump}");
    assert_eq!(
        engine.resolve(&P, "u").unwrap().sorted_distinct_ids(),
        ["b", "u"]
    );
    assert_eq!(props(&engine, "b"), set(&[("plan", "pro".into())]));
    let why = engine.explain(&P, "u", "b");
    assert!(why.same_person);
    assert_eq!(why.chain[0].kind, LinkKind::Bridge);
    assert!(!format!("{why:?}").contains("secret_anon"));
    assert!(engine.resolve(&P, "secret_anon").is_none());
    assert!(matches!(
        engine.erase(&P, "secret_anon"),
        Err(EditError::UnknownId(_))
    ));
}

#[test]
fn the_move_limit_refuses_a_mega_person_merge_and_explains_it() {
    let mut engine = Engine::builder()
        .max_distinct_ids_per_person(Some(3))
        .build();
    for (minute, anon) in [(0, "d1"), (1, "d2")] {
        assert!(
            engine
                .apply(&identify("u", anon, minute))
                .unwrap()
                .warnings
                .is_empty()
        );
    }
    let outcome = engine.apply(&identify("u", "d3", 2)).unwrap();
    assert!(!outcome.merged);
    assert_eq!(
        outcome.warnings[0].kind,
        idgraph::WarningKind::MergeMoveLimitExceeded
    );
    assert_eq!(
        engine.resolve(&P, "u").unwrap().sorted_distinct_ids(),
        ["d1", "d2", "u"]
    );
    assert!(engine.resolve(&P, "d3").is_none());
    let why = engine.explain(&P, "u", "d3");
    assert!(!why.same_person);
    assert_eq!(why.refused.len(), 1);
    assert_eq!(why.refused[0].reason, RefusalReason::MoveLimitExceeded);
    assert_eq!(
        engine
            .counters()
            .warnings_of(idgraph::WarningKind::MergeMoveLimitExceeded),
        1
    );
}

/// A small pool of ids, so that merges collide often; long enough that an erased one cannot
/// turn up in snapshot bytes by chance, and not part of a property name lifting writes
/// (`user_a` is inside `$raw_user_agent`).
const IDS: [&str; 7] = [
    "vis_1", "vis_2", "vis_3", "vis_4", "vis_5", "vis_6", "vis_7",
];

/// Events over [`IDS`].
fn event() -> impl Strategy<Value = Event> {
    let id = prop::sample::select(IDS.to_vec());
    let key = prop::sample::select(vec!["k1", "k2", "k3"]);
    let value = prop::sample::select(vec!["x", "y", "z"]);
    (0u8..5, id.clone(), id, key, value).prop_map(|(kind, target, source, key, value)| {
        let e = match kind {
            0 => Event::new("$identify", target).with_property("$anon_distinct_id", source),
            1 => Event::new("$create_alias", target).with_property("alias", source),
            2 => Event::new("$merge_dangerously", target).with_property("alias", source),
            3 => Event::new("$set", target).with_property("$set", set(&[(key, value.into())])),
            _ => Event::new("$pageview", target)
                .with_property("$set_once", set(&[(key, value.into())])),
        };
        e.with_timestamp(at(0))
    })
}

fn merge_event() -> impl Strategy<Value = Event> {
    event().prop_filter("a merge event", |e| {
        matches!(
            e.name(),
            "$identify" | "$create_alias" | "$merge_dangerously"
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn explain_finds_a_real_chain_exactly_when_ids_share_a_person(events in prop::collection::vec(event(), 0..30)) {
        let engine = engine_of(&events);
        for a in IDS {
            for b in IDS {
                let same = match (engine.resolve(&P, a), engine.resolve(&P, b)) {
                    (Some(x), Some(y)) => x.uuid() == y.uuid(),
                    _ => false,
                };
                let why = engine.explain(&P, a, b);
                prop_assert_eq!(why.same_person, same);
                if same && a != b {
                    prop_assert!(!why.chain.is_empty());
                    // Consecutive links share an id, and the chain runs from a to b.
                    let mut at = a.to_owned();
                    for step in &why.chain {
                        prop_assert!(step.target == at || step.source == at);
                        at = if step.target == at { step.source.clone() } else { step.target.clone() };
                    }
                    prop_assert_eq!(at, b);
                } else {
                    prop_assert!(why.chain.is_empty());
                }
            }
        }
    }

    #[test]
    fn unlinking_a_merge_restores_the_partition_before_it(events in prop::collection::vec(event(), 0..30), extra in merge_event()) {
        let mut engine = engine_of(&events);
        let before = partition(&engine);
        let known: BTreeSet<String> = before.iter().flatten().cloned().collect();
        let outcome = engine.apply(&extra).unwrap();
        prop_assume!(outcome.merged);
        let source = extra.property("$anon_distinct_id").or(extra.property("alias")).and_then(Value::as_str).unwrap().to_owned();
        engine.unlink(&P, extra.distinct_id(), &source).unwrap();
        let after: BTreeSet<BTreeSet<String>> = partition(&engine)
            .into_iter()
            .map(|ids| ids.intersection(&known).cloned().collect::<BTreeSet<_>>())
            .filter(|ids| !ids.is_empty())
            .collect();
        prop_assert_eq!(after, before);
    }

    #[test]
    fn an_erased_id_appears_nowhere_in_the_dump_or_snapshot(events in prop::collection::vec(event(), 0..30), victim in prop::sample::select(IDS.to_vec())) {
        let mut engine = engine_of(&events);
        prop_assume!(engine.resolve(&P, victim).is_some());
        engine.erase(&P, victim).unwrap();
        let dump = engine.dump();
        for person in &dump.persons {
            prop_assert!(!person.distinct_ids.iter().any(|id| id == victim));
        }
        prop_assert!(engine.resolve(&P, victim).is_none());
        let mut bytes = Vec::new();
        engine.save_to(&mut bytes, &[]).unwrap();
        prop_assert!(!bytes.windows(victim.len()).any(|w| w == victim.as_bytes()));
        let restored = Engine::load_from(&bytes[..]).unwrap().engine;
        prop_assert_eq!(restored.dump(), dump.clone());
        for a in IDS {
            for b in IDS {
                let why = restored.explain(&P, a, b);
                let steps = why.chain.iter().map(|s| (&s.target, &s.source));
                let refused = why.refused.iter().map(|s| (&s.target, &s.source));
                for (target, source) in steps.chain(refused) {
                    prop_assert!(target != victim && source != victim);
                }
            }
        }
        // Other ids stay together as they were.
        prop_assert_eq!(engine.stats().distinct_ids, dump.persons.iter().map(|p| p.distinct_ids.len()).sum::<usize>());
    }
}

/// Values are stored once and collected when nothing refers to them; a merge record must
/// keep its values alive through collections so that `unlink` can still restore them.
#[test]
fn stored_values_survive_collection_while_a_merge_record_needs_them() {
    let mut engine = engine_of(&[
        Event::new("$pageview", "anon")
            .with_property("$set", set(&[("plan", "free".into())]))
            .with_timestamp(at(0)),
        Event::new("$pageview", "user")
            .with_property("$set", set(&[("plan", "pro".into())]))
            .with_timestamp(at(1)),
        identify("user", "anon", 2),
    ]);
    // Many distinct values that die right away force several collections.
    for i in 0..20_000 {
        let event =
            Event::new("$set", "user").with_property("$set", set(&[("counter", Value::from(i))]));
        engine.apply(&event.with_timestamp(at(3))).unwrap();
    }
    assert_eq!(
        engine.resolve(&P, "anon").unwrap().property("counter"),
        Some(&Value::from(19_999))
    );
    engine.unlink(&P, "user", "anon").unwrap();
    assert_eq!(props(&engine, "anon"), set(&[("plan", "free".into())]));
    assert_eq!(
        props(&engine, "user"),
        set(&[("counter", Value::from(19_999)), ("plan", "pro".into())])
    );
}

/// Regression: after a split, the values an id's events wrote stay with the person it left;
/// erasing the id must remove them there too.
#[test]
fn erase_after_split_removes_what_the_id_wrote_from_the_person_it_left() {
    let mut engine = engine_of(&[
        identify("u", "a", 0).with_property("$set", set(&[("plan", "pro".into())])),
        Event::new("$set", "a")
            .with_property("$set", set(&[("secret_note", "x".into())]))
            .with_timestamp(at(1)),
    ]);
    engine.split(&P, &["a"]).unwrap();
    assert_eq!(
        props(&engine, "u"),
        set(&[("plan", "pro".into()), ("secret_note", "x".into())])
    );
    engine.erase(&P, "a").unwrap();
    assert_eq!(props(&engine, "u"), set(&[("plan", "pro".into())]));
}
