//! The person properties size limit (docs/behaviour.md §13, decision 16), through the
//! engine, the change feed and `Replay`.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a test fails loudly when the engine refuses an event"
)]

use idgraph::{Change, Engine, Event, Outcome, Project, Replay, Value, WarningKind};

const LIMIT: usize = 655_360;
const TRIM_TARGET: usize = 524_288;

/// A string value whose `"key":"…"` entry takes `bytes` bytes of compact JSON.
fn sized(key: &str, bytes: usize) -> Value {
    Value::from("x".repeat(bytes - key.len() - 5))
}

fn set(id: &str, members: Vec<(&str, Value)>) -> Event {
    Event::new("$set", id).with_property("$set", Value::object(members))
}

fn properties(engine: &Engine, id: &str) -> Value {
    engine
        .dump()
        .persons
        .into_iter()
        .find(|p| p.distinct_ids.iter().any(|d| d == id))
        .expect("a person")
        .properties
}

fn keys(properties: &Value) -> Vec<&str> {
    properties
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, _)| &**k)
        .collect()
}

fn size(properties: &Value) -> usize {
    serde_json::to_string(properties).unwrap().len()
}

fn kinds(outcome: &Outcome) -> Vec<WarningKind> {
    outcome.warnings.iter().map(|w| w.kind).collect()
}

fn detail<'o>(outcome: &'o Outcome, name: &str) -> Option<&'o str> {
    outcome.warnings[0]
        .details
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| &**v)
}

/// Regression: idgraph put no size limit on a person's properties and never raised
/// `person_properties_size_violation` (docs/behaviour.md §13 and decision 16 said so), so a
/// person grew without bound where PostHog refuses the write.
#[test]
fn a_write_that_would_pass_the_size_limit_is_refused_whole_with_the_warning() {
    let mut engine = Engine::new();
    engine
        .apply(&set("u", vec![("a", sized("a", 300_000))]))
        .unwrap();
    let before = engine.resolve(&Project::Default, "u").unwrap().version();
    let outcome = engine
        .apply(&set(
            "u",
            vec![
                ("b", sized("b", 300_000)),
                ("c", sized("c", 60_000)),
                ("d", Value::from(1)),
            ],
        ))
        .unwrap();
    assert_eq!(
        kinds(&outcome),
        [WarningKind::PersonPropertiesSizeViolation]
    );
    assert!(
        !outcome.dropped,
        "the event is processed, only its changes are refused"
    );
    let would_be = 2 + 300_000 + 1 + 300_000 + 1 + 60_000 + 1 + "\"d\":1".len();
    assert_eq!(detail(&outcome, "cause"), Some("write"));
    assert_eq!(
        detail(&outcome, "size"),
        Some(would_be.to_string().as_str())
    );
    assert_eq!(detail(&outcome, "trimmed_to"), None);
    assert_eq!(
        keys(&properties(&engine, "u")),
        ["a"],
        "nothing of the event landed"
    );
    assert_eq!(
        engine.resolve(&Project::Default, "u").unwrap().version(),
        before
    );
    assert_eq!(
        engine
            .counters()
            .warnings_of(WarningKind::PersonPropertiesSizeViolation),
        1
    );
}

#[test]
fn below_the_size_limit_nothing_changes() {
    let mut engine = Engine::new();
    // `{"a":"…"}` of exactly the limit lands, as does a merge that stays at it.
    let outcome = engine
        .apply(&set("anon", vec![("a", sized("a", LIMIT - 2 - 10))]))
        .unwrap();
    assert!(outcome.warnings.is_empty());
    engine
        .apply(&set("user", vec![("bb", sized("bb", 9))]))
        .unwrap();
    let outcome = engine
        .apply(&Event::new("$identify", "user").with_property("$anon_distinct_id", "anon"))
        .unwrap();
    assert!(outcome.warnings.is_empty() && outcome.merged);
    assert_eq!(size(&properties(&engine, "user")), LIMIT);
    assert_eq!(keys(&properties(&engine, "user")), ["a", "bb"]);
}

#[test]
fn one_byte_past_the_size_limit_a_new_person_is_created_without_the_properties() {
    let mut engine = Engine::new();
    let outcome = engine
        .apply(&set("u", vec![("a", sized("a", LIMIT - 1))]))
        .unwrap();
    assert_eq!(
        kinds(&outcome),
        [WarningKind::PersonPropertiesSizeViolation]
    );
    assert_eq!(
        detail(&outcome, "size"),
        Some((LIMIT + 1).to_string().as_str())
    );
    assert!(outcome.person.is_some());
    assert_eq!(
        properties(&engine, "u"),
        Value::object(Vec::<(&str, Value)>::new())
    );
}

#[test]
fn a_merge_of_two_large_persons_trims_unprotected_keys_largest_first_and_keeps_protected_ones() {
    let mut engine = Engine::builder().record_changes(true).build();
    engine
        .apply(&set(
            "anon",
            vec![
                ("email", sized("email", 100_000)),
                ("big1", sized("big1", 200_000)),
                ("small", Value::from(1)),
            ],
        ))
        .unwrap();
    engine
        .apply(&set(
            "user",
            vec![
                ("name", sized("name", 10_000)),
                ("big2", sized("big2", 250_000)),
                ("mid", sized("mid", 50_000)),
                // Protected, and larger than any key the trim drops.
                ("$current_url", sized("$current_url", 260_000)),
            ],
        ))
        .unwrap();
    let outcome = engine
        .apply(
            &Event::new("$identify", "user")
                .with_property("$anon_distinct_id", "anon")
                .with_property("$set", Value::object([("plan", Value::from("pro"))])),
        )
        .unwrap();
    assert!(outcome.merged, "the merge itself happens");
    assert_eq!(
        kinds(&outcome),
        [WarningKind::PersonPropertiesSizeViolation]
    );
    assert_eq!(detail(&outcome, "cause"), Some("merge"));
    let merged = properties(&engine, "user");
    assert_eq!(
        keys(&merged),
        ["$current_url", "email", "mid", "name", "plan", "small"],
        "big2, then big1 went; the event's $set landed after the trim"
    );
    assert!(size(&merged) <= TRIM_TARGET);
    let trimmed_to: usize = detail(&outcome, "trimmed_to").unwrap().parse().unwrap();
    assert_eq!(trimmed_to + "\"plan\":\"pro\"".len() + 1, size(&merged));
    // The trim is a change of its own in the feed, before the event's.
    let unset: Vec<Vec<&str>> = outcome
        .changes
        .iter()
        .filter_map(|c| match c {
            Change::PropertiesChanged { changes, .. } => {
                Some(changes.unset.iter().map(|k| &**k).collect())
            }
            _ => None,
        })
        .collect();
    assert_eq!(unset, [vec!["big2", "big1"], vec![]]);
}

#[test]
fn equal_entries_are_trimmed_in_key_order() {
    let mut engine = Engine::new();
    engine
        .apply(&set(
            "anon",
            vec![("k2", sized("k2", 300_000)), ("k1", sized("k1", 300_000))],
        ))
        .unwrap();
    engine
        .apply(&set("user", vec![("k3", sized("k3", 300_000))]))
        .unwrap();
    engine
        .apply(&Event::new("$identify", "user").with_property("$anon_distinct_id", "anon"))
        .unwrap();
    assert_eq!(keys(&properties(&engine, "user")), ["k3"]);
}

#[test]
fn a_person_kept_past_the_limit_by_protected_keys_refuses_writes_until_it_shrinks() {
    let mut engine = Engine::new();
    engine
        .apply(&set("anon", vec![("email", sized("email", 400_000))]))
        .unwrap();
    engine
        .apply(&set("user", vec![("name", sized("name", 400_000))]))
        .unwrap();
    let outcome = engine
        .apply(&Event::new("$identify", "user").with_property("$anon_distinct_id", "anon"))
        .unwrap();
    assert_eq!(
        kinds(&outcome),
        [WarningKind::PersonPropertiesSizeViolation]
    );
    assert_eq!(
        detail(&outcome, "trimmed_to"),
        None,
        "nothing could be dropped"
    );
    assert_eq!(keys(&properties(&engine, "user")), ["email", "name"]);
    let outcome = engine
        .apply(&set("user", vec![("b", Value::from(2))]))
        .unwrap();
    assert_eq!(
        kinds(&outcome),
        [WarningKind::PersonPropertiesSizeViolation]
    );
    let outcome = engine
        .apply(
            &Event::new("$set", "user").with_property("$unset", Value::from(vec!["email".into()])),
        )
        .unwrap();
    assert!(outcome.warnings.is_empty());
    assert_eq!(keys(&properties(&engine, "user")), ["name"]);
}

#[test]
fn replay_reports_the_size_violation_with_its_line() {
    let big = "x".repeat(LIMIT);
    let lines = format!(
        "{{\"event\":\"$set\",\"distinct_id\":\"u\",\"properties\":{{\"$set\":{{\"a\":1}}}}}}\n\
         {{\"event\":\"$set\",\"distinct_id\":\"u\",\"properties\":{{\"$set\":{{\"big\":\"{big}\"}}}}}}\n"
    );
    // A line of about 640 KiB is within capture's 1 MB limit on one event.
    let mut replay = Replay::new(Engine::new());
    for line in lines.lines() {
        replay.line(line.as_bytes()).unwrap();
    }
    let dump = replay.finish();
    let warnings: Vec<(&str, Option<u64>)> =
        dump.warnings.iter().map(|w| (&*w.kind, w.line)).collect();
    assert_eq!(warnings, [("person_properties_size_violation", Some(2))]);
    assert_eq!(
        dump.persons[0].properties,
        Value::object([("a", Value::from(1))])
    );
}
