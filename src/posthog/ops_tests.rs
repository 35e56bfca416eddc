use super::*;
use crate::event::Event;
use crate::graph::Props;
use crate::posthog::decisions::Kept;

fn obj(members: &[(&str, Value)]) -> Value {
    Value::object(members.iter().map(|(k, v)| (*k, v.clone())))
}

/// The operations as `(name, value)` pairs, for comparing with literals.
fn named<'e>(ops: impl Iterator<Item = (OpKey<'e>, &'e Value)>) -> Vec<(&'e str, &'e Value)> {
    ops.map(|(k, v)| (k.text, v)).collect()
}

/// Applies `event`'s operations to `props` (given as an object) and returns the result.
#[track_caller]
fn apply(props: &[(&str, Value)], event: &Event, filter_churn: bool) -> (Value, bool) {
    let mut names = Interner::default();
    let mut fixed = Vec::new();
    resolve_fixed_keys(&mut names, &mut fixed).unwrap();
    let mut keys = KeyTable {
        names: &mut names,
        fixed: &fixed,
    };
    let mut values = ValueStore::default();
    let setup = Event::new("$set", "u").with_property("$set", obj(props));
    let mut state = Props::default();
    Ops::of_event(&setup, false)
        .create(
            &mut state,
            &mut keys,
            &mut values,
            IdKey::from_raw(0),
            &mut Decisions::Make,
        )
        .unwrap();
    let (before, values_before) = (state.clone(), values.clone());
    let ops = Ops::of_event(event, true);
    let writer = IdKey::from_raw(1);
    let mut slots = Vec::new();
    let mut decisions = Decisions::Keep(Kept::default(), &mut slots);
    let applied = ops
        .apply(
            &mut state,
            &mut keys,
            &mut values,
            writer,
            filter_churn,
            None,
            &mut decisions,
        )
        .unwrap();
    let kept = decisions.kept();
    let changed = applied == Applied::Written;
    if changed {
        // A copy in the state before, taking the decision and the slots, ends the same,
        // down to the slots of its values.
        let (mut copy, mut copy_values) = (before, values_before);
        assert_eq!(kept.slots(), slots.len());
        let again = ops
            .apply(
                &mut copy,
                &mut keys,
                &mut copy_values,
                writer,
                filter_churn,
                None,
                &mut Decisions::Take(kept, slots.iter()),
            )
            .unwrap();
        assert_eq!(again, Applied::Written);
        assert_eq!(copy.entries(), state.entries());
        assert_eq!(copy_values.parts(), values.parts());
    }
    let result = Value::object(
        state
            .entries()
            .iter()
            .map(|p| (keys.names.get(p.key.raw()), values.get(p.value).clone())),
    );
    (result, changed)
}

#[test]
fn set_once_fills_only_absent_keys_and_null_counts_as_present() {
    let event = Event::new("e", "u").with_property(
        "$set_once",
        obj(&[("a", 1.into()), ("b", 2.into()), ("n", 3.into())]),
    );
    let (props, _) = apply(&[("a", 0.into()), ("n", Value::Null)], &event, true);
    assert_eq!(
        props,
        obj(&[("a", 0.into()), ("b", 2.into()), ("n", Value::Null)])
    );
}

#[test]
fn same_event_set_and_unset_removes_present_keys_and_lands_absent_ones() {
    let event = Event::new("$set", "u")
        .with_property("$set", obj(&[("present", 1.into()), ("absent", 2.into())]))
        .with_property(
            "$unset",
            Value::from(vec!["present".into(), "absent".into()]),
        );
    let (props, _) = apply(&[("present", 0.into())], &event, true);
    assert_eq!(props, obj(&[("absent", 2.into())]));
}

#[test]
fn unset_ignores_non_string_entries_and_empty_forms() {
    let event = Event::new("$set", "u").with_property(
        "$unset",
        Value::from(vec![1.into(), Value::Null, "a".into()]),
    );
    assert_eq!(
        apply(&[("a", 1.into()), ("b", 1.into())], &event, true).0,
        obj(&[("b", 1.into())])
    );
    let empty = Event::new("$set", "u").with_property("$unset", obj(&[]));
    assert_eq!(
        apply(&[("a", 1.into())], &empty, true),
        (obj(&[("a", 1.into())]), false)
    );
}

#[test]
fn churn_only_changes_are_not_written_by_ordinary_events() {
    let event =
        Event::new("$pageview", "u").with_property("$set", obj(&[("$browser", "Safari".into())]));
    let before = [("$browser", Value::from("Chrome"))];
    assert_eq!(apply(&before, &event, true), (obj(&before), false));
    assert_eq!(
        apply(&before, &event, false).0,
        obj(&[("$browser", "Safari".into())])
    );
}

#[test]
fn churn_changes_ride_along_with_a_change_that_counts() {
    let event = Event::new("$pageview", "u").with_property(
        "$set",
        obj(&[("$browser", "Safari".into()), ("plan", "pro".into())]),
    );
    let (props, changed) = apply(&[("$browser", "Chrome".into())], &event, true);
    assert!(changed);
    assert_eq!(
        props,
        obj(&[("$browser", "Safari".into()), ("plan", "pro".into())])
    );
}

#[test]
fn a_new_churn_key_always_counts() {
    let event =
        Event::new("$pageview", "u").with_property("$set", obj(&[("$browser", "Safari".into())]));
    assert_eq!(
        apply(&[], &event, true),
        (obj(&[("$browser", "Safari".into())]), true)
    );
}

#[test]
fn lifting_adds_set_and_initial_set_once_and_explicit_keys_win() {
    let event = Event::new("$pageview", "u")
        .with_property("$browser", "Firefox")
        .with_property("utm_source", Value::Null)
        .with_property("$set_once", obj(&[("$initial_browser", "explicit".into())]));
    let ops = Ops::of_event(&event, true);
    assert_eq!(
        named(ops.set()),
        [
            ("$browser", &Value::from("Firefox")),
            ("utm_source", &Value::Null)
        ]
    );
    assert_eq!(
        named(ops.set_once()),
        [("$initial_browser", &Value::from("explicit"))]
    );
    assert_eq!(Ops::of_event(&event, false).set().count(), 0);
}

#[test]
fn os_name_fills_initial_os_and_server_events_skip_os() {
    let event = Event::new("e", "u").with_property("$os_name", "iOS");
    let ops = Ops::of_event(&event, true);
    let once = named(ops.set_once());
    assert!(once.contains(&("$initial_os", &Value::from("iOS"))));
    assert!(once.contains(&("$initial_os_name", &Value::from("iOS"))));
    let server = Event::new("e", "u")
        .with_property("$os", "Linux")
        .with_property("$is_server", true);
    assert_eq!(Ops::of_event(&server, true).set().count(), 0);
}

#[test]
fn set_beats_set_once_for_the_same_key() {
    let event = Event::new("e", "u")
        .with_property("$set", obj(&[("tier", "b".into())]))
        .with_property("$set_once", obj(&[("tier", "a".into())]));
    let ops = Ops::of_event(&event, true);
    assert_eq!(ops.set_once().count(), 0);
}

#[test]
fn overlay_keeps_target_values_on_shared_keys() {
    let mut names = Interner::default();
    let mut keys = KeyTable {
        names: &mut names,
        fixed: &[],
    };
    let mut values = ValueStore::default();
    let mut props = |members: &[(&str, i64)], keys: &mut KeyTable<'_>| {
        let event = Event::new("$set", "u").with_property(
            "$set",
            obj(&members
                .iter()
                .map(|(k, v)| (*k, Value::from(*v)))
                .collect::<Vec<_>>()),
        );
        let mut created = Props::default();
        Ops::of_event(&event, false)
            .create(
                &mut created,
                keys,
                &mut values,
                IdKey::from_raw(0),
                &mut Decisions::Make,
            )
            .unwrap();
        created
    };
    let source = props(&[("a", 1), ("b", 2)], &mut keys);
    let target = props(&[("b", 3), ("c", 4), ("d", 5)], &mut keys);
    let merged = Props::overlay(source.entries(), target.entries());
    let merged: Vec<(&str, Value)> = merged
        .entries()
        .iter()
        .map(|p| (keys.names.get(p.key.raw()), values.get(p.value).clone()))
        .collect();
    assert_eq!(
        merged,
        [
            ("a", 1.into()),
            ("b", 3.into()),
            ("c", 4.into()),
            ("d", 5.into())
        ]
    );
}

#[test]
fn entries_past_the_sixty_fourth_of_a_walk_are_decided_like_the_first() {
    // 100 keys each of `$set` and `$set_once`; before the event every third key holds the
    // value the event sets, every third another value, and the rest are absent.
    let name = |walk: &str, i: i64| format!("{walk}{i:03}");
    let mut before = Vec::new();
    let (mut set, mut set_once) = (Vec::new(), Vec::new());
    for i in 0..100_i64 {
        let (s, o) = (name("s", i), name("o", i));
        match i % 3 {
            0 => before.extend([(s.clone(), Value::from(i)), (o.clone(), Value::from(i))]),
            1 => before.extend([
                (s.clone(), Value::from("old")),
                (o.clone(), Value::from("old")),
            ]),
            _ => {}
        }
        set.push((s, Value::from(i)));
        set_once.push((o, Value::from(i)));
    }
    let object = |members: &[(String, Value)]| {
        Value::object(members.iter().map(|(k, v)| (k.as_str(), v.clone())))
    };
    let event = Event::new("e", "u")
        .with_property("$set", object(&set))
        .with_property("$set_once", object(&set_once));
    let before: Vec<(&str, Value)> = before
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();

    let (after, changed) = apply(&before, &event, true);

    assert!(changed);
    let mut expected: Vec<(String, Value)> = set.clone();
    for (i, (key, value)) in set_once.into_iter().enumerate() {
        // `$set_once` keeps what was there, present even as "old".
        expected.push((
            key,
            if i % 3 == 1 {
                Value::from("old")
            } else {
                value
            },
        ));
    }
    assert_eq!(after, object(&expected));
}
