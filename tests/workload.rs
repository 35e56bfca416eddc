//! The workload generator through its public API: determinism, the JSON Lines round trip,
//! the shapes, the documented mix, and that client journeys never join two users.
#![cfg(feature = "workload")]
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::cast_precision_loss,
    reason = "tests fail loudly and compute loose ratios"
)]

use std::collections::{HashMap, HashSet};
use std::io;

use idgraph::{
    Client, Engine, Event, EventKind, PersonProfiles, Project, Shape, Timestamp, Value,
    WarningKind, Workload, WorkloadConfig, is_unmergeable_id,
};

const SHAPES: [Shape; 5] = [
    Shape::Realistic,
    Shape::GiantPerson,
    Shape::AliasChains,
    Shape::Singletons,
    Shape::IllegalIds,
];

fn config(seed: u64, events: u64, shape: Shape) -> WorkloadConfig {
    WorkloadConfig {
        seed,
        events,
        shape,
        ..WorkloadConfig::default()
    }
}

fn json_lines(config: &WorkloadConfig) -> Vec<u8> {
    let mut bytes = Vec::new();
    let written = Workload::new(config.clone())
        .write_json_lines(&mut bytes)
        .unwrap();
    assert_eq!(written, config.events);
    bytes
}

fn events(config: &WorkloadConfig) -> Vec<Event> {
    Workload::new(config.clone()).collect()
}

fn engine_of(events: &[Event]) -> Engine {
    let mut engine = Engine::new();
    for event in events {
        engine.apply(event).unwrap();
    }
    engine
}

/// The ids of each person, largest person first.
fn person_sizes(engine: &Engine) -> Vec<usize> {
    let mut sizes: Vec<usize> = engine.persons().map(|p| p.distinct_ids().count()).collect();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    sizes
}

#[test]
fn same_seed_gives_identical_bytes() {
    for shape in SHAPES {
        let config = config(11, 3_000, shape);
        assert_eq!(json_lines(&config), json_lines(&config), "{shape:?}");
    }
}

#[test]
fn different_seeds_give_different_events() {
    for shape in SHAPES {
        assert_ne!(
            json_lines(&config(1, 500, shape)),
            json_lines(&config(2, 500, shape)),
            "{shape:?}"
        );
    }
}

#[test]
fn yields_exactly_the_requested_number_of_events() {
    for events in [0, 1, 2, 7, 1_000] {
        let workload = Workload::new(config(3, events, Shape::Realistic));
        assert_eq!(workload.len() as u64, events);
        assert_eq!(workload.count() as u64, events);
    }
}

#[test]
fn every_json_line_parses_back_into_the_same_event() {
    for shape in SHAPES {
        let config = config(5, 4_000, shape);
        let bytes = json_lines(&config);
        let text = std::str::from_utf8(&bytes).unwrap();
        let expected = events(&config);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), expected.len());
        for (line, event) in lines.iter().zip(&expected) {
            let parsed = Event::from_json(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            assert_eq!(&parsed, event, "{line}");
        }
    }
}

#[test]
fn lines_have_the_contract_shape_and_browser_extras() {
    let bytes = json_lines(&config(8, 2_000, Shape::Realistic));
    let mut with_device = 0;
    let mut with_groups = 0;
    for line in std::str::from_utf8(&bytes).unwrap().lines() {
        let json: serde_json::Value = serde_json::from_str(line).unwrap();
        for field in ["uuid", "event", "distinct_id", "properties", "timestamp"] {
            assert!(json.get(field).is_some(), "{field} missing in {line}");
        }
        assert!(json["timestamp"].as_str().unwrap().starts_with("2024-01-"));
        let properties = &json["properties"];
        with_device += usize::from(properties.get("$device_id").is_some());
        with_groups += usize::from(properties.get("$groups").is_some());
    }
    assert!(with_device > 1_500, "{with_device}");
    assert!(with_groups > 0);
}

#[test]
fn timestamps_strictly_increase_from_the_start() {
    let start = Timestamp::parse("2024-01-01T00:00:00Z").unwrap();
    let mut last = start;
    for event in Workload::new(config(4, 5_000, Shape::Realistic)) {
        let t = event.timestamp().unwrap();
        assert!(t > last, "{t} after {last}");
        assert!(t.unix_micros() - last.unix_micros() <= 6_000_000);
        last = t;
    }
}

#[test]
fn project_is_written_and_read_back() {
    let config = WorkloadConfig {
        project: Project::Team(7),
        ..config(1, 200, Shape::Realistic)
    };
    let bytes = json_lines(&config);
    for line in std::str::from_utf8(&bytes).unwrap().lines() {
        assert_eq!(Event::from_json(line).unwrap().project(), &Project::Team(7));
    }
}

/// A writer that fails once it has taken `limit` bytes.
struct FailAfter {
    limit: usize,
}

impl io::Write for FailAfter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.len() > self.limit {
            return Err(io::Error::other("disk full"));
        }
        self.limit -= buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn write_errors_are_returned() {
    let mut out = FailAfter { limit: 100_000 };
    let result = Workload::new(config(1, 10_000, Shape::Realistic)).write_json_lines(&mut out);
    assert!(matches!(result, Err(e) if e.to_string() == "disk full"));
}

#[test]
fn giant_person_holds_most_ids() {
    let engine = engine_of(&events(&config(6, 5_000, Shape::GiantPerson)));
    let sizes = person_sizes(&engine);
    let total = engine.stats().distinct_ids;
    assert!(sizes[0] * 10 > total * 8, "{} of {total}", sizes[0]);
    assert!(sizes[0] > 1_000, "{}", sizes[0]);
}

#[test]
fn alias_chains_become_one_person_per_chain() {
    let events = events(&config(6, 5_000, Shape::AliasChains));
    let links = events
        .iter()
        .filter(|e| e.kind() == EventKind::CreateAlias)
        .count();
    let engine = engine_of(&events);
    let sizes = person_sizes(&engine);
    // Each chain of 1,000 links holds 1,001 ids; the last one may be cut short.
    assert_eq!(sizes.len(), links.div_ceil(1_000));
    assert!(
        sizes[..sizes.len() - 1].iter().all(|&n| n == 1_001),
        "{sizes:?}"
    );
    assert_eq!(engine.counters().merges as usize, links);
}

#[test]
fn singletons_are_one_person_per_event() {
    let engine = engine_of(&events(&config(6, 3_000, Shape::Singletons)));
    let stats = engine.stats();
    assert_eq!(stats.persons, 3_000);
    assert_eq!(stats.distinct_ids, 3_000);
    assert_eq!(engine.counters().merges, 0);
}

/// Whether PostHog would try this merge and refuse it for an illegal id.
fn refused_for_an_illegal_id(event: &Event) -> bool {
    let source = match event.kind() {
        EventKind::Identify => event.property("$anon_distinct_id"),
        EventKind::CreateAlias => event.property("alias").filter(|a| a.is_truthy()),
        _ => None,
    };
    let Some(source) = source.and_then(Value::as_str) else {
        return false;
    };
    source != event.distinct_id()
        && (is_unmergeable_id(source) || is_unmergeable_id(event.distinct_id()))
}

#[test]
fn illegal_ids_are_warned_about_and_never_merged() {
    let events = events(&config(6, 5_000, Shape::IllegalIds));
    let refused = events
        .iter()
        .filter(|e| refused_for_an_illegal_id(e))
        .count();
    assert!(refused > 300, "{refused}");
    for id in ["null", "undefined", "  ", "[object Object]"] {
        assert!(
            events.iter().any(|e| e.distinct_id() == id
                || e.property("alias").and_then(Value::as_str) == Some(id)
                || e.property("$anon_distinct_id").and_then(Value::as_str) == Some(id)),
            "{id:?} never used"
        );
    }
    let engine = engine_of(&events);
    assert_eq!(
        engine
            .counters()
            .warnings_of(WarningKind::CannotMergeWithIllegalDistinctId),
        refused as u64
    );
    for person in engine.persons() {
        let ids = person.sorted_distinct_ids();
        assert!(
            ids.len() == 1 || !ids.iter().any(|id| is_unmergeable_id(id)),
            "{ids:?}"
        );
    }
}

/// Event-level figures of the realistic mix, from the JSON lines (which keep `$device_id`).
struct Mix {
    events: usize,
    personless: usize,
    server: usize,
    with_operations: usize,
    devices: usize,
    identified_devices: usize,
    kinds: HashMap<String, usize>,
    unset: usize,
}

fn mix(config: &WorkloadConfig) -> Mix {
    let bytes = json_lines(config);
    let mut mix = Mix {
        events: 0,
        personless: 0,
        server: 0,
        with_operations: 0,
        devices: 0,
        identified_devices: 0,
        kinds: HashMap::new(),
        unset: 0,
    };
    let mut devices = HashSet::new();
    let mut identified = HashSet::new();
    for line in std::str::from_utf8(&bytes).unwrap().lines() {
        let json: serde_json::Value = serde_json::from_str(line).unwrap();
        let properties = &json["properties"];
        mix.events += 1;
        *mix.kinds
            .entry(json["event"].as_str().unwrap().to_owned())
            .or_default() += 1;
        mix.personless += usize::from(properties["$process_person_profile"] == false);
        mix.with_operations +=
            usize::from(properties.get("$set").is_some() || properties.get("$set_once").is_some());
        mix.unset += usize::from(properties.get("$unset").is_some());
        match properties["$device_id"].as_str() {
            None => mix.server += 1,
            Some(device) => {
                devices.insert(device.to_owned());
                if json["event"] == "$identify" {
                    identified.insert(device.to_owned());
                }
            }
        }
    }
    mix.devices = devices.len();
    mix.identified_devices = identified.len();
    mix
}

#[track_caller]
fn check_ratio(what: &str, part: usize, whole: usize, low: f64, high: f64) {
    let ratio = part as f64 / whole as f64;
    assert!(
        (low..=high).contains(&ratio),
        "{what}: {part} / {whole} = {ratio:.3}, expected {low}..={high}"
    );
}

#[test]
fn realistic_mix_is_in_the_documented_proportions() {
    let config = config(21, 60_000, Shape::Realistic);
    let mix = mix(&config);
    let n = mix.events;
    // Four new devices in five never identify.
    check_ratio(
        "anonymous devices",
        mix.devices - mix.identified_devices,
        mix.devices,
        0.72,
        0.88,
    );
    check_ratio("personless events", mix.personless, n, 0.06, 0.14);
    check_ratio("server events", mix.server, n, 0.03, 0.08);
    check_ratio(
        "events with $set/$set_once",
        mix.with_operations,
        n,
        0.55,
        0.85,
    );
    let kind = |name: &str| mix.kinds.get(name).copied().unwrap_or(0);
    check_ratio("$identify", kind("$identify"), n, 0.02, 0.06);
    check_ratio("$create_alias", kind("$create_alias"), n, 0.002, 0.01);
    check_ratio("$groupidentify", kind("$groupidentify"), n, 0.003, 0.02);
    check_ratio("$set events", kind("$set"), n, 0.005, 0.03);
    assert!(mix.unset > 0);

    let engine = engine_of(&events(&config));
    let stats = engine.stats();
    check_ratio(
        "distinct ids per event",
        stats.distinct_ids + stats.personless_distinct_ids,
        n,
        0.14,
        0.22,
    );
    assert!(stats.groups > 10);
}

/// The user ids of a stream: the targets of its `$identify` events.
fn user_ids(events: &[Event]) -> HashSet<&str> {
    events
        .iter()
        .filter(|e| e.kind() == EventKind::Identify)
        .map(Event::distinct_id)
        .collect()
}

#[test]
fn realistic_persons_never_hold_two_users() {
    for seed in 0..3 {
        let events = events(&config(seed, 20_000, Shape::Realistic));
        let users = user_ids(&events);
        let engine = engine_of(&events);
        for person in engine.persons() {
            let held: Vec<&str> = person
                .distinct_ids()
                .filter(|id| users.contains(id))
                .collect();
            assert!(held.len() <= 1, "seed {seed}: one person holds {held:?}");
        }
        // Returning users on new devices do merge into their person.
        assert!(person_sizes(&engine)[0] > 3);
    }
}

fn at(seconds: u64) -> Timestamp {
    Timestamp::from_unix_micros(1_704_067_200_000_000 + i64::try_from(seconds).unwrap() * 1_000_000)
}

/// Random client journeys on shared devices: after `reset`, a different user's `identify`
/// must never join the previous user's person.
#[test]
fn reset_keeps_the_next_user_out_of_the_previous_users_person() {
    for seed in 0..40_u64 {
        let mut engine = Engine::new();
        let mut clock = 0;
        let mut apply = |event: Option<Event>| {
            if let Some(event) = event {
                engine.apply(&event).unwrap();
            }
        };
        let mut tick = || {
            clock += 1;
            at(clock)
        };
        let mode = if seed % 2 == 0 {
            PersonProfiles::Always
        } else {
            PersonProfiles::IdentifiedOnly
        };
        let mut client = Client::new(seed, mode, tick());
        let users: Vec<String> = (0..4).map(|u| format!("user_{seed}_{u}")).collect();
        for (turn, user) in users.iter().enumerate() {
            apply(Some(client.capture(tick(), "$pageview", None, None)));
            apply(client.identify(tick(), user, None, None));
            if turn % 2 == 1 {
                apply(client.alias(tick(), &format!("crm_{seed}_{turn}")));
                apply(client.group(tick(), "company", "acme", None));
            }
            apply(Some(client.capture(tick(), "$pageview", None, None)));
            client.reset(tick(), seed % 3 == 0);
        }
        let persons: HashSet<_> = users
            .iter()
            .map(|u| engine.resolve(&Project::Default, u).unwrap().uuid())
            .collect();
        assert_eq!(persons.len(), users.len(), "seed {seed}");
    }
}
