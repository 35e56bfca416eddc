use super::{AliasTarget, Journey, Step};
use crate::{Engine, EventKind, Project};

/// Plays `steps` and checks what every test here relies on: the events come out in time
/// order, each from a known session, and the same steps give the same journey.
#[track_caller]
fn play(steps: &[Step]) -> Journey {
    let journey = Journey::play(steps.to_vec());
    assert_eq!(
        journey,
        Journey::play(steps.to_vec()),
        "playing is deterministic"
    );
    for (index, pair) in journey.events().windows(2).enumerate() {
        assert!(pair[0].timestamp() < pair[1].timestamp(), "event {index}");
    }
    for index in 0..journey.events().len() {
        assert!(journey.session_of(index).is_some(), "event {index}");
    }
    journey
}

fn engine_of(journey: &Journey) -> Engine {
    let mut engine = Engine::new();
    for event in journey.events() {
        assert!(engine.apply(event).is_ok());
    }
    engine
}

#[test]
fn a_signup_merges_the_anonymous_visit_into_the_user() {
    let journey = play(&[
        Step::Visit {
            device: 0,
            plan: None,
        },
        Step::Identify { device: 0, user: 1 },
    ]);
    let kinds: Vec<EventKind> = journey.events().iter().map(crate::Event::kind).collect();
    assert_eq!(kinds, [EventKind::Other, EventKind::Identify]);
    assert_eq!(journey.sessions().len(), 1);
    assert_eq!(journey.sessions()[0].users, ["user_1"]);
    assert_eq!(journey.sessions()[0].distinct_ids.len(), 2);
    let engine = engine_of(&journey);
    let person = engine.resolve(&Project::Default, "user_1");
    assert!(person.is_some_and(|p| p.distinct_ids().count() == 2));
}

#[test]
fn a_logout_starts_a_new_session_with_a_new_id() {
    let journey = play(&[
        Step::Identify { device: 0, user: 0 },
        Step::Logout {
            device: 0,
            reset_device_id: false,
        },
        Step::Visit {
            device: 0,
            plan: Some("pro"),
        },
        Step::Identify { device: 0, user: 2 },
    ]);
    assert!(journey.has_logout());
    let sessions = journey.sessions();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions[0].users, ["user_0"]);
    assert_eq!(sessions[1].users, ["user_2"]);
    assert!(
        sessions[1]
            .distinct_ids
            .iter()
            .all(|id| !sessions[0].distinct_ids.contains(id))
    );
    let engine = engine_of(&journey);
    let first = engine
        .resolve(&Project::Default, "user_0")
        .map(|p| p.uuid());
    let second = engine
        .resolve(&Project::Default, "user_2")
        .map(|p| p.uuid());
    assert!(first.is_some() && second.is_some() && first != second);
}

#[test]
fn a_login_on_a_new_device_joins_the_existing_user() {
    let journey = play(&[
        Step::Identify { device: 0, user: 3 },
        Step::LoginOnNewDevice {
            device: 0,
            user: 3,
            identified_only: true,
        },
    ]);
    assert_eq!(journey.sessions().len(), 2);
    assert!(journey.sessions()[1].identified_only);
    let engine = engine_of(&journey);
    let person = engine.resolve(&Project::Default, "user_3");
    // Both anonymous ids joined user_3; the personless page view left no person behind.
    assert!(person.is_some_and(|p| p.distinct_ids().count() == 3));
    assert_eq!(engine.stats().persons, 1);
}

#[test]
fn odd_slots_browse_personless_until_identified() {
    let journey = play(&[Step::Visit {
        device: 1,
        plan: None,
    }]);
    assert!(journey.sessions()[0].identified_only);
    let engine = engine_of(&journey);
    assert_eq!(engine.stats().persons, 0);
    assert_eq!(engine.personless_distinct_ids().count(), 1);
}

#[test]
fn only_an_alias_to_another_users_id_crosses_users() {
    let own = play(&[
        Step::Identify { device: 0, user: 0 },
        Step::Alias {
            device: 0,
            target: AliasTarget::Own(0),
        },
        Step::Alias {
            device: 0,
            target: AliasTarget::User(0),
        },
    ]);
    assert!(!own.crosses_users());
    assert!(
        own.sessions()[0]
            .distinct_ids
            .iter()
            .any(|id| id == "crm_user_0_0")
    );

    let before = play(&[
        Step::Identify { device: 0, user: 0 },
        Step::Alias {
            device: 0,
            target: AliasTarget::User(1),
        },
    ]);
    assert!(before.crosses_users());

    // An anonymous session's alias to a user crosses only once it identifies as another.
    let anonymous = [Step::Alias {
        device: 0,
        target: AliasTarget::User(1),
    }];
    assert!(!play(&anonymous).crosses_users());
    let after = [anonymous[0].clone(), Step::Identify { device: 0, user: 2 }];
    assert!(play(&after).crosses_users());
    let two = [
        anonymous[0].clone(),
        Step::Alias {
            device: 0,
            target: AliasTarget::User(2),
        },
    ];
    assert!(play(&two).crosses_users());
    // A logout in between starts another session, which owes nothing to the alias.
    let reset = [
        anonymous[0].clone(),
        Step::Logout {
            device: 0,
            reset_device_id: true,
        },
        Step::Identify { device: 0, user: 2 },
    ];
    assert!(!play(&reset).crosses_users());
}

#[test]
fn identifying_again_switches_users_without_a_merge() {
    let journey = play(&[
        Step::Identify { device: 0, user: 0 },
        Step::Identify { device: 0, user: 1 },
    ]);
    assert_eq!(journey.sessions()[0].users, ["user_0", "user_1"]);
    let merges = journey
        .events()
        .iter()
        .filter(|e| e.kind() == EventKind::Identify)
        .count();
    assert_eq!(merges, 1);
    assert_eq!(
        journey.users().into_iter().collect::<Vec<_>>(),
        ["user_0", "user_1"]
    );
}
