//! proptest strategies for events that stress identity processing.
//!
//! Ids come from a small pool so that merges collide often, and the pool holds ids that the
//! merge path refuses (`"null"`, `"  "`, `"\"Guest\""`, an id with U+0000) and one id longer
//! than 400 characters, which drops the event. Properties are often malformed on purpose
//! (`$set` as a string, `$anon_distinct_id` as a number, `$group_set` as an array), and
//! groups come in six types so that the five-type limit is reached.
//!
//! ```
//! use idgraph::testing::{Model, strategy};
//! use proptest::prelude::*;
//!
//! proptest!(ProptestConfig::with_cases(8), |(events in strategy::events(10))| {
//!     let mut model = Model::new();
//!     for event in &events {
//!         model.apply(event);
//!     }
//!     prop_assert!(model.dump().persons.len() <= events.len());
//! });
//! ```

use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;

use crate::{Event, Project, Timestamp, Value};

/// The time of the first event of [`events`]: 2024-01-01T00:00:00Z.
const START_MICROS: i64 = 1_704_067_200_000_000;

/// The gap between consecutive events of [`events`].
const STEP_MICROS: i64 = 30_000_000;

/// One character more than PostHog accepts in a distinct id or a group key.
fn too_long(prefix: &str) -> String {
    let mut text = prefix.to_owned();
    text.extend(std::iter::repeat_n('x', 401 - prefix.len()));
    text
}

/// An event name: every kind the engine distinguishes, merge events more often.
pub fn event_name() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        3 => Just("$pageview"),
        4 => Just("$identify"),
        2 => Just("$create_alias"),
        2 => Just("$merge_dangerously"),
        2 => Just("$set"),
        2 => Just("$groupidentify"),
        1 => Just("$exception"),
        1 => Just("$$heatmap"),
        1 => Just("signed up"),
    ]
}

/// A distinct id from a small pool: mostly legal ids, some ids the merge path refuses, and
/// rarely one that is too long (which drops the event).
pub fn distinct_id() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => select(&["anon_1", "anon_2", "user_1", "user_2", "Nan"][..]).prop_map(str::to_owned),
        4 => select(&["null", "undefined", "  ", "\u{feff}", "\"Guest\"", "NaN", "0", "nul\0id"][..])
            .prop_map(str::to_owned),
        1 => Just(too_long("long_")),
    ]
}

/// The project: usually the default one, sometimes team 2, rarely a token.
pub fn project() -> impl Strategy<Value = Project> {
    prop_oneof![
        6 => Just(Project::Default),
        2 => Just(Project::Team(2)),
        1 => Just(Project::Token("phc_token".into())),
    ]
}

/// A property value: mostly scalars, sometimes a small array or object. `1.0` is there
/// because JavaScript equality makes it the same value as `1`.
fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        2 => Just(Value::Null),
        2 => any::<bool>().prop_map(Value::from),
        4 => (0_i64..3).prop_map(Value::from),
        2 => Just(Value::from(1.0)),
        4 => select(&["x", "y"][..]).prop_map(Value::from),
        1 => Just(Value::from(vec![Value::from(1)])),
        1 => Just(Value::object([("n", Value::from(1))])),
    ]
}

/// A person property key: plain keys, churn-filtered keys, a lifted key and an `$initial_`
/// key that lifting also writes.
fn key() -> impl Strategy<Value = &'static str> {
    select(
        &[
            "a",
            "b",
            "plan",
            "$browser",
            "$current_url",
            "$geoip_time_zone",
            "$geoip_city_name",
            "$initial_browser",
            "utm_source",
        ][..],
    )
}

/// An object of person properties (up to three members).
fn property_object() -> impl Strategy<Value = Value> {
    btree_map(key(), scalar(), 0..4).prop_map(Value::object)
}

/// A value that is not an object where an object is expected.
fn not_an_object() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        Just(Value::from("a")),
        Just(Value::from(5)),
        Just(Value::from(vec![Value::from("a"), Value::from("b")])),
    ]
}

/// A `$set` or `$set_once` value: usually an object, sometimes malformed.
pub fn set_value() -> impl Strategy<Value = Value> {
    prop_oneof![6 => property_object(), 1 => not_an_object()]
}

/// An `$unset` value: a list of keys (with a stray number), an object, or malformed.
pub fn unset_value() -> impl Strategy<Value = Value> {
    let entry = prop_oneof![4 => key().prop_map(Value::from), 1 => Just(Value::from(3))];
    prop_oneof![
        4 => vec(entry, 0..3).prop_map(Value::from),
        2 => property_object(),
        1 => not_an_object(),
    ]
}

/// A `$anon_distinct_id` or `alias` value: an id from the pool, or null, empty, too long, or
/// not a string.
pub fn merge_id_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        12 => distinct_id().prop_map(Value::from),
        1 => Just(Value::Null),
        1 => Just(Value::from("")),
        1 => Just(Value::from(42)),
        1 => Just(Value::object([("id", Value::from("anon_1"))])),
    ]
}

/// A `$group_type`: six names (one more than a project may have), or an empty name.
pub fn group_type_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        10 => select(&["company", "team", "org", "project", "region", "city"][..])
            .prop_map(Value::from),
        1 => Just(Value::from("")),
    ]
}

/// A `$group_key`: strings, numbers (`0` is falsy), a key with U+0000 and one too long.
pub fn group_key_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        8 => select(&["acme", "beta"][..]).prop_map(Value::from),
        2 => Just(Value::from(7)),
        1 => Just(Value::from(0)),
        1 => Just(Value::from("")),
        1 => Just(Value::from("ac\0me")),
        1 => Just(Value::from(too_long("key_"))),
    ]
}

/// A `$group_set`: an object, or null, or malformed.
pub fn group_set_value() -> impl Strategy<Value = Value> {
    prop_oneof![6 => property_object(), 1 => not_an_object()]
}

/// A `$process_person_profile` value: `false` (personless), `true`, or the string `"false"`
/// or null (neither is a boolean, so a warning, and person processing stays on).
pub fn process_person_profile_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => Just(Value::from(false)),
        2 => Just(Value::from(true)),
        2 => Just(Value::from("false")),
        1 => Just(Value::Null),
    ]
}

/// An event property that ingestion lifts into person properties, with its value.
fn lifted_property() -> impl Strategy<Value = (&'static str, Value)> {
    let value = prop_oneof![
        4 => select(&["Chrome", "Safari", "google"][..]).prop_map(Value::from),
        1 => Just(Value::Null),
    ];
    (
        select(
            &[
                "$browser",
                "utm_source",
                "$os_name",
                "$os",
                "$current_url",
                "gclid",
            ][..],
        ),
        value,
    )
}

/// `Some((key, value))` with probability `p`, as a list of zero or one property.
fn maybe(
    key: &'static str,
    p: f64,
    value: impl Strategy<Value = Value> + 'static,
) -> BoxedStrategy<Vec<(&'static str, Value)>> {
    option::weighted(p, value)
        .prop_map(move |v| v.map(|v| (key, v)).into_iter().collect())
        .boxed()
}

/// The properties of an event named `name`: merge ids mostly on merge events, group fields
/// mostly on `$groupidentify`, everything else on any event.
fn properties(name: &'static str) -> impl Strategy<Value = Vec<(&'static str, Value)>> {
    let (anon, alias) = match name {
        "$identify" => (0.85, 0.1),
        "$create_alias" | "$merge_dangerously" => (0.1, 0.85),
        _ => (0.05, 0.05),
    };
    let group = if name == "$groupidentify" { 0.9 } else { 0.05 };
    let parts: Vec<BoxedStrategy<Vec<(&'static str, Value)>>> = vec![
        maybe("$anon_distinct_id", anon, merge_id_value()),
        maybe("alias", alias, merge_id_value()),
        maybe("$set", 0.5, set_value()),
        maybe("$set_once", 0.3, set_value()),
        maybe("$unset", 0.2, unset_value()),
        maybe("$group_type", group, group_type_value()),
        maybe("$group_key", group, group_key_value()),
        maybe("$group_set", group * 0.7, group_set_value()),
        maybe(
            "$process_person_profile",
            0.15,
            process_person_profile_value(),
        ),
        maybe("$is_server", 0.05, Just(Value::from(true))),
        vec(lifted_property(), 0..3).boxed(),
    ];
    parts.prop_map(|parts| parts.into_iter().flatten().collect())
}

/// One event of any kind, in the default project or team 2, at a time in the first days of
/// 2024.
pub fn event() -> impl Strategy<Value = Event> {
    event_name().prop_flat_map(event_named)
}

/// A `$groupidentify` event. Sequences of [`event`] rarely name six group types in one
/// project; mixing these in reaches the five-type limit often.
pub fn group_event() -> impl Strategy<Value = Event> {
    event_named("$groupidentify")
}

/// An event named `name`, with properties drawn as for [`event`].
pub fn event_named(name: &'static str) -> impl Strategy<Value = Event> {
    Just(name)
        .prop_flat_map(|name| {
            (
                Just(name),
                distinct_id(),
                project(),
                properties(name),
                0_i64..1_000_000,
            )
        })
        .prop_map(|(name, distinct_id, project, properties, seconds)| {
            let mut event = Event::new(name, distinct_id)
                .with_project(project)
                .with_timestamp(Timestamp::from_unix_micros(
                    START_MICROS + seconds * 1_000_000,
                ));
            for (key, value) in properties {
                event = event.with_property(key, value);
            }
            event
        })
}

/// Between 1 and `max_len` events of any kind, 30 seconds apart in order.
pub fn events(max_len: usize) -> impl Strategy<Value = Vec<Event>> {
    sequence(event(), max_len)
}

/// Between 1 and `max_len` events drawn from `event`, restamped 30 seconds apart in order.
pub fn sequence(
    event: impl Strategy<Value = Event>,
    max_len: usize,
) -> impl Strategy<Value = Vec<Event>> {
    vec(event, 1..=max_len.max(1)).prop_map(restamp)
}

/// An id that PostHog refuses to merge: one of its illegal ids (as written, in another case,
/// or quoted), a blank id, one holding U+0000, or one longer than 400 characters (which
/// drops the whole event).
pub fn illegal_id() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => select(
            &[
                "null", "undefined", "[object Object]", "NaN", "None", "none", "0", "anonymous",
                "Guest", "DISTINCT_ID", "id", "email", "true", "false", "not_authenticated",
                "'null'", "\"undefined\"", "\"Guest\"", "", "  ", "\t\n", "\u{feff}", "nul\0id",
            ][..],
        )
        .prop_map(str::to_owned),
        1 => Just(too_long("long_")),
    ]
}

/// A merge event of a random kind that joins `source` into `target`: `$identify` with
/// `$anon_distinct_id`, or `$create_alias` or `$merge_dangerously` with `alias`.
fn merge(kind: u8, target: &str, source: &str) -> Event {
    match kind % 3 {
        0 => Event::new("$identify", target).with_property("$anon_distinct_id", source),
        1 => Event::new("$create_alias", target).with_property("alias", source),
        _ => Event::new("$merge_dangerously", target).with_property("alias", source),
    }
}

/// One id aliased to everything: every event names `hub` on one side and a fresh or earlier
/// id on the other, in either direction, so one person (or one refused merge after
/// another) grows with each event.
fn hub_stream(max_len: usize) -> impl Strategy<Value = Vec<Event>> {
    vec((any::<u8>(), 0_u16..64, any::<bool>()), 1..=max_len).prop_map(|links| {
        links
            .into_iter()
            .map(|(kind, other, hub_is_target)| {
                let other = format!("spoke_{other}");
                if hub_is_target {
                    merge(kind, "hub", &other)
                } else {
                    merge(kind, &other, "hub")
                }
            })
            .collect()
    })
}

/// A long chain: link `i` joins `chain_i` and `chain_{i+1}`, forwards or backwards, each
/// link setting a property, so that every merge moves the whole chain built so far.
fn chain_stream(max_len: usize) -> impl Strategy<Value = Vec<Event>> {
    (any::<u8>(), any::<bool>(), 1..=max_len).prop_map(|(kind, forwards, len)| {
        (0..len)
            .map(|i| {
                let (a, b) = (format!("chain_{i}"), format!("chain_{}", i + 1));
                let (target, source) = if forwards { (b, a) } else { (a, b) };
                let i = i64::try_from(i).unwrap_or(i64::MAX);
                merge(kind, &target, &source)
                    .with_property("$set", Value::object([("link", Value::from(i))]))
                    .with_property("$set_once", Value::object([("first", Value::from(i))]))
            })
            .collect()
    })
}

/// Merges with an illegal id on either side, or as the event's `distinct_id`, among
/// ordinary merges of a few legal ids.
fn illegal_stream(max_len: usize) -> impl Strategy<Value = Vec<Event>> {
    let legal = select(&["anon_1", "anon_2", "user_1", "user_2"][..]).prop_map(str::to_owned);
    let side = prop_oneof![2 => legal.clone(), 1 => illegal_id()];
    vec((any::<u8>(), legal, side.clone(), side), 1..=max_len).prop_map(|links| {
        links
            .into_iter()
            .map(|(kind, legal, target, source)| match kind / 3 % 4 {
                0 => merge(kind, &legal, &source),
                1 => merge(kind, &target, &legal),
                2 => merge(kind, &target, &source),
                _ => Event::new("$pageview", target)
                    .with_property("$set", Value::object([("seen", Value::from(true))])),
            })
            .collect()
    })
}

/// Many users identifying with one anonymous id, as when a shared device never resets: the
/// first `$identify` claims `shared_anon`, and each later user's is refused (or attaches,
/// when the user is new).
fn shared_anon_stream(max_len: usize) -> impl Strategy<Value = Vec<Event>> {
    vec((0_u8..8, any::<bool>()), 1..=max_len).prop_map(|users| {
        users
            .into_iter()
            .map(|(user, visit)| {
                if visit {
                    Event::new("$pageview", "shared_anon")
                } else {
                    Event::new("$identify", format!("user_{user}"))
                        .with_property("$anon_distinct_id", "shared_anon")
                }
            })
            .collect()
    })
}

/// An adversarial stream of 1 to `max_len` events, 30 seconds apart: one id aliased to
/// everything, a long merge chain, merges with illegal ids, or many users identifying
/// with one anonymous id.
///
/// ```
/// use idgraph::Engine;
/// use idgraph::testing::{Model, strategy};
/// use proptest::prelude::*;
///
/// proptest!(ProptestConfig::with_cases(8), |(events in strategy::adversarial(50))| {
///     let (mut engine, mut model) = (Engine::new(), Model::new());
///     for event in &events {
///         prop_assert!(engine.apply(event).is_ok());
///         model.apply(event);
///     }
///     prop_assert_eq!(engine.dump(), model.dump());
/// });
/// ```
pub fn adversarial(max_len: usize) -> impl Strategy<Value = Vec<Event>> {
    let max_len = max_len.max(1);
    prop_oneof![
        hub_stream(max_len).boxed(),
        chain_stream(max_len).boxed(),
        illegal_stream(max_len).boxed(),
        shared_anon_stream(max_len).boxed(),
    ]
    .prop_map(restamp)
}

/// `events`, stamped 30 seconds apart in order from [`START_MICROS`].
fn restamp(events: Vec<Event>) -> Vec<Event> {
    (0_i64..)
        .zip(events)
        .map(|(i, event)| {
            event.with_timestamp(Timestamp::from_unix_micros(START_MICROS + i * STEP_MICROS))
        })
        .collect()
}
