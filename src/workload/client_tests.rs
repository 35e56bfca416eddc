use super::*;
use crate::engine::Engine;
use crate::event::{EventKind, Project};

const T0: i64 = 1_704_067_200_000_000;

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_unix_micros(T0 + seconds * 1_000_000)
}

fn client(mode: PersonProfiles) -> Client {
    Client::new(1, mode, at(0))
}

#[allow(
    clippy::unnecessary_wraps,
    reason = "the client takes properties as Option"
)]
fn props(pairs: &[(&str, &str)]) -> Option<Value> {
    Some(Value::object(
        pairs.iter().map(|(k, v)| (*k, Value::from(*v))),
    ))
}

/// Checks one sent event: its name, distinct id and, when given, `$anon_distinct_id`.
#[track_caller]
fn check_sent(event: Option<&Event>, name: &str, distinct_id: &str, anon: Option<&str>) {
    let event = event.unwrap_or_else(|| panic!("expected a {name} event, nothing was sent"));
    assert_eq!(event.name(), name);
    assert_eq!(event.distinct_id(), distinct_id);
    assert_eq!(
        event.property("$anon_distinct_id").and_then(Value::as_str),
        anon
    );
}

#[test]
fn starts_anonymous_with_a_uuid_v7_that_is_also_the_device_id() {
    let c = client(PersonProfiles::Always);
    assert_eq!(c.state(), UserState::Anonymous);
    assert_eq!(c.distinct_id().len(), 36);
    assert_eq!(c.distinct_id().as_bytes()[14], b'7');
    assert_eq!(c.device_id(), c.distinct_id());
    assert_eq!(c.user_id(), None);
}

#[test]
fn same_seed_gives_the_same_anonymous_id() {
    let a = Client::new(9, PersonProfiles::Always, at(0));
    let b = Client::new(9, PersonProfiles::Always, at(0));
    let c = Client::new(10, PersonProfiles::Always, at(0));
    assert_eq!(a.distinct_id(), b.distinct_id());
    assert_ne!(a.distinct_id(), c.distinct_id());
}

#[test]
fn first_identify_sends_identify_with_the_anonymous_id() {
    let mut c = client(PersonProfiles::Always);
    let anon = c.distinct_id().to_owned();
    let sent = c.identify(at(1), "user_1", props(&[("email", "a@b.c")]), None);
    check_sent(sent.as_ref(), "$identify", "user_1", Some(&anon));
    let sent = sent.unwrap();
    assert_eq!(sent.kind(), EventKind::Identify);
    assert_eq!(sent.timestamp(), Some(at(1)));
    assert_eq!(sent.property("$set"), props(&[("email", "a@b.c")]).as_ref());
    assert_eq!(sent.property("$set_once"), Some(&empty_object()));
    assert_eq!(c.state(), UserState::Identified);
    assert_eq!(c.distinct_id(), "user_1");
    assert_eq!(c.user_id(), Some("user_1"));
    assert_eq!(c.device_id(), anon);
}

#[test]
fn second_identify_while_identified_sends_no_identify() {
    let mut c = client(PersonProfiles::Always);
    assert!(c.identify(at(1), "user_1", None, None).is_some());
    assert!(c.identify(at(2), "user_2", None, None).is_none());
    assert_eq!(c.distinct_id(), "user_2");
    assert_eq!(
        c.capture(at(3), "$pageview", None, None).distinct_id(),
        "user_2"
    );
}

#[test]
fn identify_with_the_same_id_sends_no_identify() {
    let mut c = client(PersonProfiles::Always);
    let anon = c.distinct_id().to_owned();
    assert!(c.identify(at(1), &anon, None, None).is_none());
    assert_eq!(c.state(), UserState::Anonymous);
}

#[test]
fn identify_while_identified_sends_properties_as_a_set_event() {
    let mut c = client(PersonProfiles::Always);
    c.identify(at(1), "user_1", None, None);
    let sent = c.identify(at(2), "user_1", props(&[("plan", "pro")]), None);
    check_sent(sent.as_ref(), "$set", "user_1", None);
    assert_eq!(
        sent.unwrap().property("$set"),
        props(&[("plan", "pro")]).as_ref()
    );
}

#[test]
fn repeated_identical_set_is_sent_once() {
    let mut c = client(PersonProfiles::Always);
    c.identify(at(1), "user_1", props(&[("plan", "pro")]), None);
    // The `$identify` already carried these properties.
    assert!(
        c.identify(at(2), "user_1", props(&[("plan", "pro")]), None)
            .is_none()
    );
    assert!(
        c.set_person_properties(at(3), props(&[("plan", "team")]), None)
            .is_some()
    );
    assert!(
        c.set_person_properties(at(4), props(&[("plan", "team")]), None)
            .is_none()
    );
    assert!(c.set_person_properties(at(5), None, None).is_none());
}

#[test]
fn identify_refuses_falsy_and_distinct_id_like_ids() {
    let mut c = client(PersonProfiles::Always);
    let anon = c.distinct_id().to_owned();
    for id in [
        "",
        "distinct_id",
        "DISTINCT_ID",
        "distinctid",
        "DistinctId",
        "$posthog_cookieless",
    ] {
        assert!(
            c.identify(at(1), id, props(&[("a", "b")]), None).is_none(),
            "{id:?}"
        );
    }
    assert_eq!(c.distinct_id(), anon);
    assert_eq!(c.state(), UserState::Anonymous);
    assert_eq!(c.user_id(), None);
}

#[test]
fn identify_passes_illegal_but_truthy_ids_to_the_server() {
    // posthog-js only refuses the two distinct_id spellings; ingestion refuses the rest.
    let mut c = client(PersonProfiles::Always);
    let sent = c.identify(at(1), "null", None, None);
    check_sent(sent.as_ref(), "$identify", "null", Some(c.device_id()));
}

#[test]
fn reset_starts_a_new_anonymous_id() {
    let mut c = client(PersonProfiles::Always);
    let first = c.distinct_id().to_owned();
    c.identify(at(1), "user_1", None, None);
    c.group(at(2), "company", "acme", None);
    c.reset(at(3), false);
    assert_eq!(c.state(), UserState::Anonymous);
    assert_ne!(c.distinct_id(), first);
    assert_ne!(c.distinct_id(), "user_1");
    assert_eq!(c.user_id(), None);
    assert_eq!(c.groups(), None);
    assert_eq!(c.device_id(), first, "the device id survives a plain reset");
    let anon = c.distinct_id().to_owned();
    let sent = c.identify(at(4), "user_2", None, None);
    check_sent(sent.as_ref(), "$identify", "user_2", Some(&anon));
}

#[test]
fn reset_with_device_id_replaces_the_device_id() {
    let mut c = client(PersonProfiles::Always);
    let first = c.device_id().to_owned();
    c.reset(at(1), true);
    assert_ne!(c.device_id(), first);
    assert_eq!(c.device_id(), c.distinct_id());
}

#[test]
fn reset_forgets_the_last_set_so_it_is_sent_again() {
    let mut c = client(PersonProfiles::Always);
    c.identify(at(1), "user_1", props(&[("plan", "pro")]), None);
    c.reset(at(2), false);
    c.identify(at(3), "user_1", None, None);
    assert!(
        c.set_person_properties(at(4), props(&[("plan", "pro")]), None)
            .is_some()
    );
}

#[test]
fn alias_sends_create_alias_with_the_alias_as_source() {
    let mut c = client(PersonProfiles::Always);
    c.identify(at(1), "user_1", None, None);
    let sent = c.alias(at(2), "crm_7").unwrap();
    assert_eq!(sent.name(), "$create_alias");
    assert_eq!(sent.distinct_id(), "user_1");
    assert_eq!(sent.property("alias"), Some(&Value::from("crm_7")));
    // Identifying as the alias keeps the current id (posthog-js ALIAS_ID_KEY check).
    assert!(c.identify(at(3), "crm_7", None, None).is_none());
    assert_eq!(c.distinct_id(), "user_1");
}

#[test]
fn alias_to_the_current_id_is_an_identify() {
    let mut c = client(PersonProfiles::Always);
    let anon = c.distinct_id().to_owned();
    assert!(c.alias(at(1), &anon).is_none());
    assert_eq!(c.state(), UserState::Anonymous);
}

#[test]
fn group_registers_groups_and_sends_groupidentify() {
    let mut c = client(PersonProfiles::Always);
    let sent = c
        .group(at(1), "company", "acme", props(&[("name", "Acme")]))
        .unwrap();
    assert_eq!(sent.kind(), EventKind::GroupIdentify);
    assert_eq!(sent.property("$group_type"), Some(&Value::from("company")));
    assert_eq!(sent.property("$group_key"), Some(&Value::from("acme")));
    assert_eq!(
        sent.property("$group_set"),
        props(&[("name", "Acme")]).as_ref()
    );
    assert_eq!(c.groups(), props(&[("company", "acme")]).as_ref());
    // Same key, no properties: nothing to send.
    assert!(c.group(at(2), "company", "acme", None).is_none());
    // A new key is announced even without properties.
    assert!(c.group(at(3), "company", "globex", None).is_some());
    c.group(at(4), "project", "p1", None);
    assert_eq!(
        c.groups(),
        props(&[("company", "globex"), ("project", "p1")]).as_ref()
    );
    assert!(c.group(at(5), "", "x", None).is_none());
}

#[test]
fn capture_carries_context_and_person_operations() {
    let mut c = client(PersonProfiles::Always);
    c.set_context("$browser", "Firefox");
    c.set_context("$browser", "Chrome");
    let event = c.capture(at(1), "$pageview", props(&[("plan", "free")]), None);
    assert_eq!(event.property("$browser"), Some(&Value::from("Chrome")));
    assert_eq!(event.property("$set"), props(&[("plan", "free")]).as_ref());
    assert_eq!(event.property("$set_once"), None);
    assert_eq!(
        event.property("$process_person_profile"),
        Some(&Value::from(true))
    );
    assert!(event.uuid().is_some());
}

#[test]
fn identified_only_is_personless_until_identify() {
    let mut c = client(PersonProfiles::IdentifiedOnly);
    let flag = |e: &Event| e.property("$process_person_profile").cloned();
    assert_eq!(
        flag(&c.capture(at(1), "$pageview", None, None)),
        Some(Value::from(false))
    );
    let identify = c.identify(at(2), "user_1", None, None).unwrap();
    assert_eq!(flag(&identify), Some(Value::from(true)));
    assert_eq!(
        flag(&c.capture(at(3), "$pageview", None, None)),
        Some(Value::from(true))
    );
    c.reset(at(4), false);
    assert_eq!(
        flag(&c.capture(at(5), "$pageview", None, None)),
        Some(Value::from(false))
    );
}

#[test]
fn identified_only_turns_on_with_groups_alias_or_set() {
    let flag = |c: &mut Client| {
        c.capture(at(9), "x", None, None)
            .property("$process_person_profile")
            .cloned()
    };
    let mut grouped = client(PersonProfiles::IdentifiedOnly);
    grouped.group(at(1), "company", "acme", None);
    assert_eq!(flag(&mut grouped), Some(Value::from(true)));
    let mut aliased = client(PersonProfiles::IdentifiedOnly);
    aliased.alias(at(1), "crm_1");
    assert_eq!(flag(&mut aliased), Some(Value::from(true)));
    let mut set = client(PersonProfiles::IdentifiedOnly);
    set.set_person_properties(at(1), props(&[("a", "b")]), None);
    assert_eq!(flag(&mut set), Some(Value::from(true)));
    assert!(set.has_person_processing());
}

#[test]
fn identify_from_another_user_after_reset_makes_a_separate_person() {
    let mut c = client(PersonProfiles::Always);
    let mut engine = Engine::new();
    let mut send = |event: Option<Event>| {
        if let Some(event) = event {
            engine.apply(&event).unwrap();
        }
    };
    send(Some(c.capture(at(1), "$pageview", None, None)));
    send(c.identify(at(2), "alice", None, None));
    send(Some(c.capture(at(3), "$pageview", None, None)));
    c.reset(at(4), false);
    send(Some(c.capture(at(5), "$pageview", None, None)));
    send(c.identify(at(6), "bob", None, None));
    send(Some(c.capture(at(7), "$pageview", None, None)));
    let alice = engine.resolve(&Project::Default, "alice").unwrap();
    let bob = engine.resolve(&Project::Default, "bob").unwrap();
    assert_ne!(alice.uuid(), bob.uuid());
    assert_eq!(alice.sorted_distinct_ids().len(), 2);
    assert_eq!(bob.sorted_distinct_ids().len(), 2);
}

#[test]
fn identify_without_reset_does_not_merge_the_second_user() {
    // posthog-js "second-identify-should-not-be-merged".
    let mut c = client(PersonProfiles::Always);
    let mut engine = Engine::new();
    for event in [
        c.identify(at(1), "alice", None, None),
        c.identify(at(2), "bob", None, None),
        Some(c.capture(at(3), "$pageview", None, None)),
    ]
    .into_iter()
    .flatten()
    {
        engine.apply(&event).unwrap();
    }
    let alice = engine.resolve(&Project::Default, "alice").unwrap();
    let bob = engine.resolve(&Project::Default, "bob").unwrap();
    assert_ne!(alice.uuid(), bob.uuid());
}
