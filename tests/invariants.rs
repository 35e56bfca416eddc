//! Invariants that hold for any event stream, each checked on random streams from
//! `idgraph::testing::strategy` (at least 256 cases each).
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a test fails loudly"
)]

use std::collections::{BTreeMap, BTreeSet};

use idgraph::testing::{journey, strategy};
use idgraph::{Engine, Event, EventKind, Project};
use proptest::prelude::*;

/// The snapshot bytes of `engine`.
fn snapshot(engine: &Engine) -> Vec<u8> {
    let mut bytes = Vec::new();
    engine
        .save_to(&mut bytes, &[])
        .expect("the engine saves to memory");
    bytes
}

/// Any stream the test kit makes: random events, client journeys or adversarial streams.
fn any_stream() -> impl Strategy<Value = Vec<Event>> {
    prop_oneof![
        2 => strategy::events(40),
        1 => journey::journeys(30).prop_map(journey::Journey::into_events),
        1 => strategy::adversarial(60),
    ]
}

fn engine_of(events: &[Event]) -> Engine {
    let mut engine = Engine::new();
    for event in events {
        engine.apply(event).expect("the engine has room");
    }
    engine
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Applying a merge event a second time changes nothing: no merge, the same persons with
    /// the same ids and flags. Properties too, unless the event both sets and unsets a key:
    /// then PostHog's rule "present means gone, absent means the value lands" (docs/behaviour.md
    /// decision 5) makes the second application remove what the first one wrote.
    #[test]
    fn a_repeated_merge_event_changes_nothing(
        events in strategy::events(30),
        merge in prop_oneof![
            strategy::event_named("$identify"),
            strategy::event_named("$create_alias"),
            strategy::event_named("$merge_dangerously"),
        ],
    ) {
        let mut engine = engine_of(&events);
        engine.apply(&merge).unwrap();
        let once = engine.dump();
        let again = engine.apply(&merge).unwrap();
        prop_assert!(!again.merged);
        let twice = engine.dump();
        let shape = |dump: &idgraph::Dump| -> Vec<(Vec<String>, bool, String)> {
            dump.persons.iter().map(|p| (p.distinct_ids.clone(), p.is_identified, p.uuid.clone())).collect()
        };
        prop_assert_eq!(shape(&twice), shape(&once));
        prop_assert_eq!(&twice.groups, &once.groups);
        if merge.property("$unset").is_none() {
            prop_assert_eq!(twice, once);
        }
    }

    /// No person ever holds ids of two projects, whatever the events.
    #[test]
    fn projects_never_share_a_person(events in strategy::events(40)) {
        let engine = engine_of(&events);
        let mut owner: BTreeMap<uuid::Uuid, String> = BTreeMap::new();
        for person in engine.persons() {
            let project = person.project().to_string();
            prop_assert_eq!(owner.insert(person.uuid(), project.clone()).unwrap_or(project.clone()), project.clone());
            for id in person.distinct_ids() {
                let resolved = engine.resolve(person.project(), id).expect("its own id resolves");
                prop_assert_eq!(resolved.uuid(), person.uuid());
            }
        }
        // The same id in another project is another person, or none.
        for person in engine.persons() {
            for id in person.distinct_ids() {
                for other in [Project::Default, Project::Team(2), Project::Token("phc_token".into())] {
                    if &other != person.project()
                        && let Some(p) = engine.resolve(&other, id)
                    {
                        prop_assert_ne!(p.uuid(), person.uuid());
                    }
                }
            }
        }
    }

    /// The same stream gives byte-identical dumps and snapshots, however the hash tables
    /// were seeded.
    #[test]
    fn the_same_stream_gives_identical_dumps_and_snapshots(events in strategy::events(40)) {
        let (first, second) = (engine_of(&events), engine_of(&events));
        let a = serde_json::to_vec(&first.dump()).unwrap();
        let b = serde_json::to_vec(&second.dump()).unwrap();
        prop_assert_eq!(a, b);
        prop_assert_eq!(snapshot(&first), snapshot(&second));
    }

    /// Every distinct id resolves to exactly one person or to none, and every person's id
    /// list is exactly the ids that resolve to it.
    #[test]
    fn ids_and_persons_agree(events in strategy::events(40)) {
        let engine = engine_of(&events);
        let mut listed: BTreeMap<(String, String), uuid::Uuid> = BTreeMap::new();
        for person in engine.persons() {
            for id in person.distinct_ids() {
                let key = (person.project().to_string(), id.to_owned());
                prop_assert!(listed.insert(key, person.uuid()).is_none(), "an id listed by two persons");
            }
        }
        let seen: BTreeSet<(Project, String)> = events
            .iter()
            .flat_map(|e| {
                let mut ids = vec![(e.project().clone(), e.distinct_id().to_owned())];
                for key in ["$anon_distinct_id", "alias"] {
                    if let Some(id) = e.property(key).and_then(idgraph::Value::as_str) {
                        ids.push((e.project().clone(), id.to_owned()));
                    }
                }
                ids
            })
            .collect();
        for (project, id) in &seen {
            let resolved = engine.resolve(project, id).map(|p| p.uuid());
            prop_assert_eq!(resolved, listed.get(&(project.to_string(), id.clone())).copied());
        }
        let total: usize = engine.persons().map(|p| p.distinct_ids().count()).sum();
        prop_assert_eq!(total, listed.len());
        prop_assert_eq!(engine.stats().distinct_ids, listed.len());
    }

    /// A dropped event changes nothing.
    #[test]
    fn a_dropped_event_changes_nothing(events in strategy::events(30), extra in strategy::event()) {
        let mut engine = engine_of(&events);
        let before = engine.dump();
        let outcome = engine.apply(&extra).unwrap();
        if outcome.dropped {
            prop_assert_eq!(engine.dump(), before);
            prop_assert!(outcome.person.is_none());
        }
        prop_assert!(outcome.merged <= matches!(extra.kind(), EventKind::Identify | EventKind::CreateAlias | EventKind::MergeDangerously));
    }

    /// Reset safety: in client journeys, after `reset` (a logout) a different user's
    /// `identify` never joins the previous user's person. posthog-js gives the browser a new
    /// anonymous id on `reset`, and the `$identify` that follows names only that id, so no
    /// person may end up holding two user ids, unless the journey aliased one user's id from
    /// another user's session on purpose.
    #[test]
    fn after_a_reset_another_users_identify_never_joins_the_previous_users_person(
        journey in journey::journeys_with_logouts(40),
    ) {
        prop_assume!(!journey.crosses_users());
        let engine = engine_of(journey.events());
        for person in engine.persons() {
            let users: Vec<&str> = person.distinct_ids().filter(|id| journey.is_user_id(id)).collect();
            prop_assert!(users.len() <= 1, "one person holds users {:?}", users);
        }
        // Every session that identified still resolves to its last user's person, whatever
        // the sessions before it on the same browser were.
        for session in journey.sessions() {
            if let Some(user) = session.users.last() {
                prop_assert!(engine.resolve(&Project::Default, user).is_some(), "{} has no person", user);
            }
        }
    }

    /// Restore equivalence: saving a snapshot after any prefix of a stream, loading it and
    /// applying the rest gives the same state (dump, counters, and snapshot bytes) and the
    /// same outcomes as applying the whole stream to one engine.
    #[test]
    fn a_restored_snapshot_continues_as_if_never_saved(
        events in any_stream(),
        cut in any::<prop::sample::Index>(),
    ) {
        let cut = cut.index(events.len() + 1);
        let mut whole = engine_of(&events[..cut]);
        let mut restored = Engine::load_from(snapshot(&whole).as_slice()).unwrap().engine;
        prop_assert_eq!(restored.dump(), whole.dump());
        for event in &events[cut..] {
            prop_assert_eq!(restored.apply(event).unwrap(), whole.apply(event).unwrap());
        }
        prop_assert_eq!(restored.dump(), whole.dump());
        prop_assert_eq!(restored.counters(), whole.counters());
        prop_assert_eq!(snapshot(&restored), snapshot(&whole));
    }
}
