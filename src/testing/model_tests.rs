use super::*;

/// An event at second `second` of 2024-01-01.
fn at(second: i64, event: Event) -> Event {
    event.with_timestamp(Timestamp::from_unix_micros(
        1_704_067_200_000_000 + second * 1_000_000,
    ))
}

fn object(members: &[(&str, Value)]) -> Value {
    Value::object(members.iter().map(|(k, v)| (*k, v.clone())))
}

fn int(i: i64) -> Value {
    Value::from(i)
}

/// Applies `events` in order and returns the model with every warning raised.
#[track_caller]
fn run(events: Vec<Event>) -> (Model, Vec<WarningKind>) {
    let mut model = Model::new();
    let mut warnings = Vec::new();
    for (second, event) in (0_i64..).zip(events) {
        warnings.extend(model.apply(&at(second, event)));
    }
    (model, warnings)
}

#[test]
fn merge_overlays_source_with_target_then_applies_the_event_once() {
    // docs/behaviour.md §6, worked example.
    let (model, warnings) = run(vec![
        Event::new("$set", "anon").with_property("$set", object(&[("a", int(1)), ("b", int(2))])),
        Event::new("$set", "user").with_property(
            "$set",
            object(&[("b", int(3)), ("c", int(4)), ("d", int(5))]),
        ),
        Event::new("$identify", "user")
            .with_property("$anon_distinct_id", "anon")
            .with_property("$set", object(&[("d", int(6)), ("e", int(7))]))
            .with_property("$set_once", object(&[("a", int(8)), ("f", int(9))])),
    ]);
    assert!(warnings.is_empty());
    let dump = model.dump();
    assert_eq!(dump.persons.len(), 1);
    let person = &dump.persons[0];
    assert_eq!(person.distinct_ids, ["anon", "user"]);
    assert!(person.is_identified);
    let expected = [1, 3, 4, 6, 7, 9];
    let expected = ["a", "b", "c", "d", "e", "f"]
        .into_iter()
        .zip(expected)
        .map(|(k, v)| (k, int(v)));
    assert_eq!(person.properties, Value::object(expected));
    // The survivor is the target; merge is max(0, 0) + 1 and the event's ops add nothing.
    assert_eq!(person.uuid, person_uuid(&Project::Default, "user"));
    assert_eq!(person.version, 1);
    assert_eq!(person.created_at, "2024-01-01T00:00:00Z");
}

#[test]
fn events_apply_in_order_each_seeing_the_previous_result() {
    // docs/behaviour.md §7.2 ("ingestion in order"): a key `sXoY` is `$set` by events X and
    // `$set_once` by events Y; its value names the event and a letter per key.
    let keys = [
        ("s0123o0123", "a", "0123", "0123"),
        ("s02o13", "b", "02", "13"),
        ("s1", "c", "1", ""),
        ("o1", "d", "", "1"),
        ("s013", "e", "013", ""),
        ("o023", "f", "", "023"),
        ("s13o02", "g", "13", "02"),
    ];
    let events = (0..4)
        .map(|i: u8| {
            let n = char::from(b'0' + i);
            let ops = |set: bool| {
                let prefix = if set { 's' } else { 'o' };
                let named = keys
                    .iter()
                    .filter(|k| if set { k.2 } else { k.3 }.contains(n));
                Value::object(named.map(|k| (k.0, Value::from(format!("{prefix}{n}{}", k.1)))))
            };
            Event::new("$pageview", "person")
                .with_property("$set", ops(true))
                .with_property("$set_once", ops(false))
        })
        .collect();
    let (model, warnings) = run(events);
    assert!(warnings.is_empty());
    let dump = model.dump();
    let expected = [
        ("s0123o0123", "s3a"),
        ("s02o13", "s2b"),
        ("s1", "s1c"),
        ("o1", "o1d"),
        ("s013", "s3e"),
        ("o023", "o0f"),
        ("s13o02", "s3g"),
    ];
    assert_eq!(
        dump.persons[0].properties,
        Value::object(expected.map(|(k, v)| (k, Value::from(v))))
    );
    // PostHog's test counts 4 with a backend whose creation already writes once (section 9:
    // versions depend on the backend and batching). Here creation is 0 and each of the three
    // later events changes something.
    assert_eq!(dump.persons[0].version, 3);
}

#[test]
fn refused_merge_still_updates_and_identifies_the_target() {
    let (model, warnings) = run(vec![
        Event::new("$identify", "user_a").with_property("$anon_distinct_id", "anon_a"),
        Event::new("$pageview", "user_b"),
        Event::new("$identify", "user_b")
            .with_property("$anon_distinct_id", "user_a")
            .with_property("$set", object(&[("plan", Value::from("pro"))])),
    ]);
    assert_eq!(warnings, [WarningKind::CannotMergeAlreadyIdentified]);
    let dump = model.dump();
    assert_eq!(dump.persons.len(), 2);
    let b = &dump.persons[1];
    assert_eq!(b.distinct_ids, ["user_b"]);
    assert!(b.is_identified);
    assert_eq!(b.properties, object(&[("plan", Value::from("pro"))]));
    assert_eq!(b.version, 1);
}

#[test]
fn merge_dangerously_merges_an_identified_source() {
    let (model, warnings) = run(vec![
        Event::new("$identify", "user_a").with_property("$anon_distinct_id", "anon_a"),
        Event::new("$pageview", "user_b"),
        Event::new("$merge_dangerously", "user_b").with_property("alias", "user_a"),
    ]);
    assert!(warnings.is_empty());
    let dump = model.dump();
    assert_eq!(dump.persons.len(), 1);
    assert_eq!(dump.persons[0].distinct_ids, ["anon_a", "user_a", "user_b"]);
    assert_eq!(
        dump.persons[0].uuid,
        person_uuid(&Project::Default, "user_b")
    );
}

#[test]
fn same_event_set_and_unset_removes_present_keys_and_lands_absent_ones() {
    let both = || {
        Event::new("$pageview", "p")
            .with_property("$set", object(&[("k", int(2)), ("new", int(3))]))
            .with_property(
                "$unset",
                Value::from(vec![Value::from("k"), Value::from("new")]),
            )
    };
    let (model, _) = run(vec![
        Event::new("$pageview", "p").with_property("$set", object(&[("k", int(1))])),
        both(),
    ]);
    assert_eq!(
        model.dump().persons[0].properties,
        object(&[("new", int(3))])
    );
}

#[test]
fn churn_keys_of_existing_values_are_written_only_by_person_events() {
    let browser = |b: &str| object(&[("$browser", Value::from(b))]);
    let (model, _) = run(vec![
        Event::new("$pageview", "p").with_property("$set", browser("Chrome")),
        Event::new("$pageview", "p").with_property("$set", browser("Safari")),
    ]);
    let dump = model.dump();
    assert_eq!(dump.persons[0].properties, browser("Chrome"));
    assert_eq!(dump.persons[0].version, 0);
    let (model, _) = run(vec![
        Event::new("$pageview", "p").with_property("$set", browser("Chrome")),
        Event::new("$set", "p").with_property("$set", browser("Safari")),
    ]);
    assert_eq!(model.dump().persons[0].properties, browser("Safari"));
}

#[test]
fn lifting_copies_event_properties_and_explicit_keys_win() {
    let (model, _) = run(vec![
        Event::new("$pageview", "p")
            .with_property("$browser", "Chrome")
            .with_property("utm_source", Value::Null)
            .with_property("$os_name", "iOS")
            .with_property("$set", object(&[("$browser", Value::from("Mine"))])),
    ]);
    let expected = object(&[
        ("$browser", Value::from("Mine")),
        ("$initial_browser", Value::from("Chrome")),
        ("utm_source", Value::Null),
        ("$os_name", Value::from("iOS")),
        ("$initial_os_name", Value::from("iOS")),
        ("$initial_os", Value::from("iOS")),
    ]);
    assert_eq!(model.dump().persons[0].properties, expected);
    let (model, _) = run(vec![
        Event::new("$pageview", "p").with_property("$browser", "Chrome"),
    ]);
    let mut model_without = Model::new().lift_properties(false);
    model_without.apply(&at(
        0,
        Event::new("$pageview", "p").with_property("$browser", "x"),
    ));
    assert_eq!(model_without.dump().persons[0].properties, object(&[]));
    assert_eq!(
        model.dump().persons[0]
            .properties
            .as_object()
            .map(<[_]>::len),
        Some(2)
    );
}

#[test]
fn events_keep_every_lifted_key_the_model_reads() {
    // The model reads lifted keys through `Event::property`, so an event type that dropped
    // one of docs/behaviour.md's keys would hide it from both implementations alike.
    for key in LIFTED_KEYS {
        let event = Event::new("$pageview", "p").with_property(key, "v");
        assert_eq!(event.property(key), Some(&Value::from("v")), "{key}");
    }
}

#[test]
fn illegal_ids_follow_the_lists_of_section_4_1() {
    for id in [
        "NaN",
        "null",
        "none",
        "None",
        "UNDEFINED",
        "TRUE",
        "Guest",
        "'guest'",
        "\"undefined\"",
        "  ",
        "",
        "\t",
        // JavaScript's trim() removes U+FEFF, and any Zs space or line terminator.
        "\u{feff}",
        "\u{a0}\u{2028}",
        "0",
        "[object Object]",
        "\"[object Object]\"",
        "distinctId",
    ] {
        assert!(is_illegal(id), "{id:?} is illegal");
    }
    for id in [
        "Nan", "nan", "NULL", "Null", "NONE", " null", "user_1", "00",
        // U+0085 is White_Space for Rust but not whitespace for JavaScript's trim().
        "\u{85}",
    ] {
        assert!(!is_illegal(id), "{id:?} is legal");
    }
    assert!(is_unmergeable("a\0b"));
    assert!(is_unmergeable(&"x".repeat(401)));
    assert!(!is_unmergeable(&"x".repeat(400)));
}

#[test]
fn illegal_merge_ids_warn_and_the_event_person_is_still_created() {
    let (model, warnings) = run(vec![
        Event::new("$identify", "user").with_property("$anon_distinct_id", Value::Null),
        Event::new("$create_alias", "null").with_property("alias", "null"),
        Event::new("$create_alias", "user").with_property("alias", ""),
    ]);
    assert_eq!(warnings, [WarningKind::CannotMergeWithIllegalDistinctId]);
    let dump = model.dump();
    let ids: Vec<_> = dump
        .persons
        .iter()
        .map(|p| p.distinct_ids.clone())
        .collect();
    assert_eq!(ids, [vec!["null".to_owned()], vec!["user".to_owned()]]);
    assert!(dump.persons.iter().all(|p| !p.is_identified));
}

#[test]
fn personless_ids_are_claimed_by_a_later_merge() {
    let (model, warnings) = run(vec![
        Event::new("$pageview", "anon").with_property("$process_person_profile", false),
        Event::new("$pageview", "other").with_property("$process_person_profile", false),
        Event::new("$identify", "user")
            .with_property("$anon_distinct_id", "anon")
            .with_property("$process_person_profile", false),
        Event::new("$identify", "user").with_property("$anon_distinct_id", "anon"),
        Event::new("$pageview", "user").with_property("$process_person_profile", "false"),
    ]);
    assert_eq!(
        warnings,
        [
            WarningKind::InvalidEventWhenProcessPersonProfileIsFalse,
            WarningKind::InvalidProcessPersonProfile
        ]
    );
    let dump = model.dump();
    assert_eq!(dump.persons.len(), 1);
    assert_eq!(dump.persons[0].distinct_ids, ["anon", "user"]);
    assert!(dump.persons[0].is_identified);
    let personless: Vec<_> = dump
        .personless_distinct_ids
        .iter()
        .map(|p| &*p.distinct_id)
        .collect();
    assert_eq!(personless, ["other"]);
}

#[test]
fn group_types_stop_at_five_per_project_and_group_set_merges_shallowly() {
    let group = |t: &str, key: Value, set: Value| {
        Event::new("$groupidentify", "g")
            .with_property("$group_type", t)
            .with_property("$group_key", key)
            .with_property("$group_set", set)
    };
    let mut events: Vec<Event> = ["a", "b", "c", "d", "e", "f"]
        .into_iter()
        .map(|t| group(t, Value::from(1), object(&[])))
        .collect();
    events.push(group(
        "a",
        Value::from(1),
        object(&[("x", int(1)), ("y", int(2))]),
    ));
    events.push(group("a", Value::from(1), object(&[("x", int(3))])));
    events.push(group("a", Value::from(vec![]), object(&[])));
    let (model, warnings) = run(events);
    assert!(warnings.is_empty());
    let dump = model.dump();
    let types: Vec<_> = dump.groups.iter().map(|g| &*g.group_type).collect();
    assert_eq!(
        types,
        ["a", "a", "b", "c", "d", "e"],
        "no sixth type; `[]` is truthy"
    );
    assert_eq!(dump.groups[1].group_key, "1");
    assert_eq!(
        dump.groups[1].properties,
        object(&[("x", int(3)), ("y", int(2))])
    );
    assert_eq!(dump.groups[0].group_key, "");
    assert_eq!(dump.persons.len(), 1, "the placeholder person of `g`");
    assert_eq!(dump.persons[0].properties, object(&[]));
}

#[test]
fn validation_drops_come_in_posthog_order() {
    let long = "x".repeat(401);
    let (model, warnings) = run(vec![
        Event::new("$identify", long.as_str()).with_property("$anon_distinct_id", 5),
        Event::new("$identify", "u")
            .with_property("$anon_distinct_id", 5)
            .with_property("alias", 5),
        Event::new("$pageview", "u")
            .with_property("alias", 5)
            .with_property("$process_person_profile", "no"),
        Event::new("$create_alias", "u").with_property("alias", vec![Value::from("a")]),
        Event::new("$groupidentify", "u")
            .with_property("$group_key", long.as_str())
            .with_property("$group_set", "bad"),
        Event::new("$groupidentify", "u").with_property("$group_set", "bad"),
    ]);
    assert_eq!(
        warnings,
        [
            WarningKind::SkippingEventInvalidDistinctId,
            WarningKind::InvalidAnonDistinctId,
            WarningKind::InvalidProcessPersonProfile,
            WarningKind::InvalidAlias,
            WarningKind::GroupKeyTooLong,
            WarningKind::InvalidGroupSet,
        ]
    );
    assert_eq!(model.dump().persons.len(), 1, "only the $pageview landed");
}

/// A string value whose `"key":"…"` entry takes `bytes` bytes of compact JSON.
fn sized(key: &str, bytes: usize) -> Value {
    Value::from("x".repeat(bytes - key.len() - 5))
}

fn set(id: &str, members: &[(&str, Value)]) -> Event {
    Event::new("$set", id).with_property("$set", object(members))
}

fn properties_of(model: &Model, id: &str) -> BTreeMap<String, Value> {
    let owner = model.owners[&(Project::Default, id.to_owned())];
    model.persons[&owner].properties.clone()
}

#[test]
fn size_is_the_compact_json_of_the_properties() {
    let properties: BTreeMap<String, Value> =
        [("a".to_owned(), sized("a", 100)), ("b".to_owned(), int(1))].into();
    assert_eq!(size(&properties), 2 + 100 + 1 + "\"b\":1".len());
    assert_eq!(size(&BTreeMap::new()), 2);
}

#[test]
fn a_write_that_would_pass_the_size_limit_is_refused_whole() {
    let (model, warnings) = run(vec![
        set("u", &[("a", sized("a", 300_000))]),
        set(
            "u",
            &[
                ("b", sized("b", 300_000)),
                ("c", sized("c", 60_000)),
                ("d", int(1)),
            ],
        ),
    ]);
    assert_eq!(warnings, [WarningKind::PersonPropertiesSizeViolation]);
    let properties = properties_of(&model, "u");
    assert_eq!(properties.keys().collect::<Vec<_>>(), ["a"]);
    assert_eq!(
        model.dump().persons[0].version,
        0,
        "a refused write is no change"
    );
}

#[test]
fn a_write_up_to_the_size_limit_lands_and_one_byte_more_is_refused() {
    // `{"a":"…"}`: the braces and an entry of `SIZE_LIMIT - 2` bytes make exactly the limit.
    let (model, warnings) = run(vec![set("u", &[("a", sized("a", SIZE_LIMIT - 2))])]);
    assert!(warnings.is_empty());
    assert_eq!(size(&properties_of(&model, "u")), SIZE_LIMIT);

    let (model, warnings) = run(vec![set("u", &[("a", sized("a", SIZE_LIMIT - 1))])]);
    assert_eq!(warnings, [WarningKind::PersonPropertiesSizeViolation]);
    assert!(
        properties_of(&model, "u").is_empty(),
        "the person is created without the event's properties"
    );
}

#[test]
fn a_merge_past_the_size_limit_trims_unprotected_keys_largest_first() {
    let (model, warnings) = run(vec![
        set(
            "anon",
            &[
                ("email", sized("email", 100_000)),
                ("big1", sized("big1", 200_000)),
                ("small", int(1)),
            ],
        ),
        set(
            "user",
            &[
                ("name", sized("name", 50_000)),
                ("big2", sized("big2", 250_000)),
                ("mid", sized("mid", 150_000)),
            ],
        ),
        Event::new("$identify", "user")
            .with_property("$anon_distinct_id", "anon")
            .with_property("$set", object(&[("plan", Value::from("pro"))])),
    ]);
    assert_eq!(warnings, [WarningKind::PersonPropertiesSizeViolation]);
    let dump = model.dump();
    assert_eq!(dump.persons.len(), 1, "the merge itself happens");
    let properties = properties_of(&model, "user");
    assert_eq!(
        properties.keys().collect::<Vec<_>>(),
        ["big1", "email", "mid", "name", "plan", "small"],
        "only the largest unprotected key went, and the event's $set landed after"
    );
    assert!(size(&properties) <= TRIM_TARGET);
}

#[test]
fn a_trim_keeps_protected_keys_even_past_the_size_limit() {
    let (model, warnings) = run(vec![
        set("anon", &[("email", sized("email", 400_000)), ("a", int(1))]),
        set("user", &[("name", sized("name", 400_000))]),
        Event::new("$identify", "user").with_property("$anon_distinct_id", "anon"),
        set("user", &[("b", int(2))]),
        Event::new("$set", "user").with_property("$unset", Value::from(vec!["email".into()])),
    ]);
    assert_eq!(
        warnings,
        [
            WarningKind::PersonPropertiesSizeViolation,
            WarningKind::PersonPropertiesSizeViolation,
        ],
        "the merge, then the write that would keep the person past the limit"
    );
    assert_eq!(
        properties_of(&model, "user").keys().collect::<Vec<_>>(),
        ["name"],
        "`a` was trimmed, `b` refused, and the unset brought the person below the limit"
    );
}

#[test]
fn equal_entries_are_trimmed_in_key_order() {
    let mut properties: BTreeMap<String, Value> = ["k2", "k1", "k3"]
        .into_iter()
        .map(|k| (k.to_owned(), sized(k, 300_000)))
        .collect();
    assert!(trim(&mut properties));
    assert_eq!(properties.keys().collect::<Vec<_>>(), ["k3"]);
}
