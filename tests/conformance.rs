//! The conformance cases of `../shared/conformance/cases.jsonl` (copied to
//! `tests/data/conformance.jsonl`), run through the library exactly as `check.sh` runs them
//! through the CLI: events one at a time, then persons, warnings, groups and personless ids
//! compared with each case's expectation.

#![allow(clippy::expect_used, reason = "a test fails loudly on malformed cases")]

use std::collections::BTreeSet;

use idgraph::{Dump, Engine, Replay};
use serde_json::Value as Json;

const CASES: &str = include_str!("data/conformance.jsonl");

type PersonKey = (BTreeSet<String>, bool, String);

fn canonical(value: &Json) -> String {
    // serde_json's map is sorted, so re-serializing gives one text per value.
    serde_json::to_string(value).expect("serializes")
}

fn persons_of(persons: &[Json]) -> Vec<PersonKey> {
    let mut keys: Vec<PersonKey> = persons
        .iter()
        .map(|p| {
            let ids = p["distinct_ids"].as_array().expect("distinct_ids").iter();
            let ids = ids
                .map(|id| id.as_str().expect("string id").to_owned())
                .collect();
            (
                ids,
                p["is_identified"].as_bool().expect("bool"),
                canonical(&p["properties"]),
            )
        })
        .collect();
    keys.sort();
    keys
}

fn groups_of(groups: &[Json]) -> Vec<(String, String, String)> {
    let mut keys: Vec<_> = groups
        .iter()
        .map(|g| {
            let key = match &g["group_key"] {
                Json::String(s) => s.clone(),
                other => other.to_string(),
            };
            (
                g["group_type"].as_str().expect("type").to_owned(),
                key,
                canonical(&g["properties"]),
            )
        })
        .collect();
    keys.sort();
    keys
}

fn replay(events: &[Json]) -> Dump {
    let mut replay = Replay::new(Engine::new());
    for event in events {
        let line = serde_json::to_vec(event).expect("serializes");
        replay.line(&line).expect("engine has room");
    }
    replay.finish()
}

/// Returns the problems of one case, empty when it passes.
fn check_case(case: &Json) -> Vec<String> {
    let dump =
        serde_json::to_value(replay(case["events"].as_array().expect("events"))).expect("dump");
    let expect = &case["expect"];
    let mut problems = Vec::new();
    let got = persons_of(dump["persons"].as_array().expect("persons"));
    let want = persons_of(expect["persons"].as_array().expect("persons"));
    if got != want {
        problems.push(format!("persons: got {got:?} want {want:?}"));
    }
    let got_w: Vec<&str> = dump["warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .map(|w| w["type"].as_str().expect("type"))
        .collect();
    let want_w: Vec<&str> = expect
        .get("warnings")
        .and_then(Json::as_array)
        .map_or(Vec::new(), |w| {
            w.iter().map(|t| t.as_str().expect("type")).collect()
        });
    if got_w != want_w {
        problems.push(format!("warnings: got {got_w:?} want {want_w:?}"));
    }
    if let Some(groups) = expect.get("groups").and_then(Json::as_array) {
        let (got, want) = (
            groups_of(dump["groups"].as_array().expect("groups")),
            groups_of(groups),
        );
        if got != want {
            problems.push(format!("groups: got {got:?} want {want:?}"));
        }
    }
    if let Some(personless) = expect
        .get("personless_distinct_ids")
        .and_then(Json::as_array)
    {
        let got: BTreeSet<&str> = dump["personless_distinct_ids"]
            .as_array()
            .expect("personless")
            .iter()
            .map(|p| p["distinct_id"].as_str().expect("id"))
            .collect();
        let want: BTreeSet<&str> = personless.iter().map(|p| p.as_str().expect("id")).collect();
        if got != want {
            problems.push(format!("personless: got {got:?} want {want:?}"));
        }
    }
    problems
}

#[test]
fn every_conformance_case_passes_through_the_library() {
    let mut failures = Vec::new();
    let mut count = 0;
    for line in CASES.lines().filter(|l| !l.trim().is_empty()) {
        let case: Json = serde_json::from_str(line).expect("case is JSON");
        count += 1;
        let problems = check_case(&case);
        if !problems.is_empty() {
            failures.push(format!("{}: {}", case["name"], problems.join("; ")));
        }
    }
    assert_eq!(count, 31, "the conformance file holds 31 cases");
    assert!(
        failures.is_empty(),
        "{} of {count} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
