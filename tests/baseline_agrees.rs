//! The benches' baseline (`benches/baseline/mod.rs`) ends with the same persons as idgraph
//! on a realistic workload: the same partition of distinct ids, the same properties, uuids
//! and identified flags. Without this the speed and memory ratios in BENCHMARKS.md would
//! compare different work.
#![cfg(feature = "workload")]
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a test fails loudly"
)]

#[path = "../benches/baseline/mod.rs"]
mod baseline;

use baseline::{Baseline, BaselineEvent};
use idgraph::{Engine, Event, Outcome, Project, Shape, Workload, WorkloadConfig};

/// Each person as (sorted ids, properties as serde_json, uuid, identified), sorted by ids.
type Persons = Vec<(
    Vec<String>,
    serde_json::Map<String, serde_json::Value>,
    String,
    bool,
)>;

fn engine_persons(engine: &Engine) -> Persons {
    let mut persons: Persons = engine
        .persons()
        .map(|p| {
            let ids = p
                .sorted_distinct_ids()
                .into_iter()
                .map(str::to_owned)
                .collect();
            let props = p
                .properties()
                .map(|(k, v)| (k.to_owned(), serde_json::to_value(v).unwrap()))
                .collect();
            (ids, props, p.uuid().to_string(), p.is_identified())
        })
        .collect();
    persons.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    persons
}

fn baseline_persons(baseline: &Baseline) -> Persons {
    baseline
        .partition()
        .into_iter()
        .map(|(ids, props)| {
            let person = baseline.resolve(&ids[0]).unwrap();
            (ids, props, person.uuid.to_string(), person.is_identified)
        })
        .collect()
}

fn check(shape: Shape, events: u64, min_persons: usize) {
    let mut lines = Vec::new();
    Workload::new(WorkloadConfig {
        seed: 1,
        events,
        shape,
        ..WorkloadConfig::default()
    })
    .write_json_lines(&mut lines)
    .unwrap();

    let mut engine = Engine::builder().record_changes(false).build();
    let mut outcome = Outcome::default();
    let mut baseline = Baseline::new();
    for line in lines.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let event = Event::from_json_slice(line).unwrap();
        engine.apply_into(&event, &mut outcome).unwrap();
        let parsed = BaselineEvent::parse(line).unwrap();
        assert_eq!(
            BaselineEvent::parse_typed(line).as_ref(),
            Some(&parsed),
            "{shape:?}: the typed parse reads {}",
            String::from_utf8_lossy(line)
        );
        baseline.apply(&parsed);
    }

    let (ours, theirs) = (engine_persons(&engine), baseline_persons(&baseline));
    assert!(
        ours.len() >= min_persons,
        "{shape:?}: too few persons to mean anything"
    );
    assert_eq!(ours.len(), theirs.len(), "{shape:?}: person count");
    for (a, b) in ours.iter().zip(&theirs) {
        assert_eq!(a, b, "{shape:?}: persons differ");
    }
    let stats = engine.stats();
    assert_eq!(stats.personless_distinct_ids, baseline.personless_ids());
    let some_id = &ours[0].0[0];
    assert_eq!(
        engine.resolve(&Project::Default, some_id).unwrap().uuid(),
        baseline.resolve(some_id).unwrap().uuid
    );
}

#[test]
fn baseline_agrees_on_a_realistic_workload() {
    check(Shape::Realistic, 20_000, 1_000);
}

#[test]
fn baseline_agrees_on_the_adversarial_shapes() {
    // Alias chains hold 1,000 ids a person, so 5,000 events make only a few persons.
    for (shape, min_persons) in [
        (Shape::GiantPerson, 10),
        (Shape::AliasChains, 2),
        (Shape::Singletons, 1_000),
        (Shape::IllegalIds, 100),
    ] {
        check(shape, 5_000, min_persons);
    }
}
