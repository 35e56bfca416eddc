//! Arbitrary operation sequences through the engine and the reference model: after every
//! event both must raise the same warnings and dump the same state.
//!
//! Each field of an operation is a small integer that picks from a short list (event kinds,
//! a pool of ids with illegal ones among them, property keys and values, group fields,
//! projects), so that ids collide and guards fire far more often than with free text.
#![no_main]

use arbitrary::Arbitrary;
use idgraph::testing::Model;
use idgraph::{Engine, Event, Project, Timestamp, Value, WarningKind};
use libfuzzer_sys::fuzz_target;

/// 2024-01-01T00:00:00Z, the base of every timestamp.
const START_MICROS: i64 = 1_704_067_200_000_000;

const NAMES: [&str; 9] = [
    "$pageview",
    "$identify",
    "$create_alias",
    "$merge_dangerously",
    "$set",
    "$groupidentify",
    "$exception",
    "$$heatmap",
    "signed up",
];

/// Legal ids (`Nan` is legal; `NaN` is not), ids the merge path refuses, and an id with
/// U+0085, which JavaScript's `trim()` keeps.
const IDS: [&str; 10] = [
    "anon_1",
    "anon_2",
    "user_1",
    "user_2",
    "Nan",
    "null",
    "  ",
    "\"Guest\"",
    "nul\0id",
    "\u{85}",
];

const KEYS: [&str; 9] = [
    "a",
    "b",
    "plan",
    "$browser",
    "$current_url",
    "$geoip_time_zone",
    "$initial_browser",
    "utm_source",
    "$os_name",
];

const GROUP_TYPES: [&str; 7] = ["company", "team", "org", "project", "region", "city", ""];

/// One event, every field an index into a short list.
#[derive(Arbitrary, Debug)]
struct Op {
    name: u8,
    distinct_id: u8,
    /// `$anon_distinct_id`: an id of the pool, or a value that is not a legal merge id.
    anon: Option<u8>,
    /// `alias`, as `anon`.
    alias: Option<u8>,
    set: Option<Props>,
    set_once: Option<Props>,
    unset: Option<Unset>,
    /// `$process_person_profile`: false, true, "false" or null.
    personless: Option<u8>,
    group: Option<Group>,
    /// An event property that ingestion lifts, with its value.
    lifted: Option<(u8, u8)>,
    project: u8,
    /// Seconds after the start; not in order, so late events happen too.
    seconds: u16,
    is_server: bool,
}

/// A `$set`/`$set_once` value: an object of up to three members, or a non-object.
#[derive(Arbitrary, Debug)]
enum Props {
    Object(Vec<(u8, u8)>),
    NotAnObject(u8),
}

/// An `$unset` value: a list of keys, an object, or a non-object.
#[derive(Arbitrary, Debug)]
enum Unset {
    Keys(Vec<u8>),
    Object(Vec<(u8, u8)>),
    NotAKeyList(u8),
}

#[derive(Arbitrary, Debug)]
struct Group {
    group_type: u8,
    key: u8,
    set: Option<Props>,
}

/// The whole input: the options both sides run with, then the operations.
#[derive(Arbitrary, Debug)]
struct Input {
    lift_properties: bool,
    filter_churn: bool,
    ops: Vec<Op>,
}

fn pick<T: Copy>(list: &[T], index: u8) -> T {
    list[usize::from(index) % list.len()]
}

fn value(index: u8) -> Value {
    match index % 10 {
        0 => Value::Null,
        1 => Value::from(true),
        2 => Value::from(false),
        3 => Value::from(0),
        4 => Value::from(1),
        5 => Value::from(1.0),
        6 => Value::from("x"),
        7 => Value::from("y"),
        8 => Value::from(vec![Value::from(1)]),
        _ => Value::object([("n", Value::from(1))]),
    }
}

fn object(members: &[(u8, u8)]) -> Value {
    Value::object(
        members
            .iter()
            .take(3)
            .map(|&(key, v)| (pick(&KEYS, key), value(v))),
    )
}

fn not_an_object(index: u8) -> Value {
    match index % 4 {
        0 => Value::Null,
        1 => Value::from("a"),
        2 => Value::from(5),
        _ => Value::from(vec![Value::from("a")]),
    }
}

fn props(props: &Props) -> Value {
    match props {
        Props::Object(members) => object(members),
        Props::NotAnObject(index) => not_an_object(*index),
    }
}

/// A merge id: mostly from the pool, sometimes null, empty, too long or not a string.
fn merge_id(index: u8) -> Value {
    match index {
        0..200 => Value::from(pick(&IDS, index)),
        200..210 => Value::Null,
        210..220 => Value::from(""),
        220..230 => Value::from("x".repeat(401)),
        230..240 => Value::from(42),
        _ => Value::object([("id", Value::from("anon_1"))]),
    }
}

fn group_key(index: u8) -> Value {
    match index % 8 {
        0 | 1 => Value::from("acme"),
        2 => Value::from("beta"),
        3 => Value::from(7),
        4 => Value::from(0),
        5 => Value::from(""),
        6 => Value::from("ac\0me"),
        _ => Value::from("k".repeat(401)),
    }
}

fn event(op: &Op) -> Event {
    let project = match op.project % 8 {
        0..5 => Project::Default,
        5 | 6 => Project::Team(2),
        _ => Project::Token("phc_token".into()),
    };
    // One distinct id in 64 is too long, which drops the event.
    let distinct_id = if op.distinct_id >= 252 {
        "long_".repeat(81)
    } else {
        pick(&IDS, op.distinct_id).to_owned()
    };
    let micros = START_MICROS + i64::from(op.seconds) * 1_000_000;
    let mut event = Event::new(pick(&NAMES, op.name), distinct_id)
        .with_project(project)
        .with_timestamp(Timestamp::from_unix_micros(micros));
    if let Some(anon) = op.anon {
        event = event.with_property("$anon_distinct_id", merge_id(anon));
    }
    if let Some(alias) = op.alias {
        event = event.with_property("alias", merge_id(alias));
    }
    if let Some(set) = &op.set {
        event = event.with_property("$set", props(set));
    }
    if let Some(set_once) = &op.set_once {
        event = event.with_property("$set_once", props(set_once));
    }
    if let Some(unset) = &op.unset {
        let unset = match unset {
            Unset::Keys(keys) => Value::from(
                keys.iter()
                    .take(3)
                    .map(|&k| {
                        if k == u8::MAX {
                            Value::from(3)
                        } else {
                            Value::from(pick(&KEYS, k))
                        }
                    })
                    .collect::<Vec<_>>(),
            ),
            Unset::Object(members) => object(members),
            Unset::NotAKeyList(index) => not_an_object(*index),
        };
        event = event.with_property("$unset", unset);
    }
    if let Some(personless) = op.personless {
        let flag = match personless % 4 {
            0 | 1 => Value::from(false),
            2 => Value::from(true),
            _ => Value::from("false"),
        };
        event = event.with_property("$process_person_profile", flag);
    }
    if let Some(group) = &op.group {
        event = event
            .with_property("$group_type", pick(&GROUP_TYPES, group.group_type))
            .with_property("$group_key", group_key(group.key));
        if let Some(set) = &group.set {
            event = event.with_property("$group_set", props(set));
        }
    }
    if let Some((key, v)) = op.lifted {
        let key = pick(
            &[
                "$browser",
                "utm_source",
                "$os_name",
                "$os",
                "$current_url",
                "gclid",
            ],
            key,
        );
        let v = match v % 3 {
            0 => Value::Null,
            1 => Value::from("Chrome"),
            _ => Value::from("google"),
        };
        event = event.with_property(key, v);
    }
    if op.is_server {
        event = event.with_property("$is_server", true);
    }
    event
}

fuzz_target!(|input: Input| {
    let mut engine = Engine::builder()
        .lift_properties(input.lift_properties)
        .filter_churn(input.filter_churn)
        .build();
    let mut model = Model::new()
        .lift_properties(input.lift_properties)
        .filter_churn(input.filter_churn);
    for (index, op) in input.ops.iter().enumerate() {
        let event = event(op);
        let Ok(outcome) = engine.apply(&event) else {
            panic!("the engine refused event {index}: {event:?}");
        };
        let got: Vec<WarningKind> = outcome.warnings.iter().map(|w| w.kind).collect();
        let want = model.apply(&event);
        assert_eq!(got, want, "warnings of event {index}: {event:?}");
        assert_eq!(
            engine.dump(),
            model.dump(),
            "state after event {index}: {event:?}"
        );
    }
});
