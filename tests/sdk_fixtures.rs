//! What the real posthog-js and posthog-node SDKs sent (recorded by `tools/sdk-fixtures/`,
//! described in its README), replayed through `idgraph replay` as it arrived: gzip and
//! plain request bodies, batch envelopes, the id only in `properties.distinct_id`, projects
//! by token. Each recorded set must give the persons PostHog would give
//! (`tests/fixtures/sdk/expected.json`). No node is needed: the bodies are committed.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a test fails loudly"
)]

use std::path::Path;
use std::process::Command;

use serde_json::Value;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sdk");

/// The dump of `idgraph replay` over `files`, in order.
fn replay(files: &[&str]) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_idgraph"))
        .arg("replay")
        .args(files.iter().map(|f| Path::new(FIXTURES).join(f)))
        .output()
        .expect("the binary runs");
    assert!(
        output.status.success(),
        "replay {files:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let dump: Value = serde_json::from_slice(&output.stdout).expect("a dump");
    assert_eq!(
        dump["rejected"].as_array().map(Vec::len),
        Some(0),
        "replay {files:?} rejected: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    dump
}

fn sorted(ids: &Value) -> Vec<String> {
    let mut ids: Vec<String> = ids
        .as_array()
        .expect("a list of ids")
        .iter()
        .map(|id| id.as_str().expect("an id").to_owned())
        .collect();
    ids.sort();
    ids
}

/// The persons, personless ids and groups of one recorded set, against what PostHog
/// would make of it.
#[track_caller]
fn check_set(name: &str, set: &Value) {
    let files: Vec<&str> = set["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f.as_str().expect("a file name"))
        .collect();
    let dump = replay(&files);
    let persons = dump["persons"].as_array().expect("persons");
    let expected = set["persons"].as_array().expect("expected persons");
    assert_eq!(
        persons.len(),
        expected.len(),
        "{name}: persons {persons:#?}"
    );
    for want in expected {
        let ids = sorted(&want["distinct_ids"]);
        let Some(got) = persons
            .iter()
            .find(|p| p["team"] == want["team"] && sorted(&p["distinct_ids"]) == ids)
        else {
            panic!("{name}: no person {want:#?} in {persons:#?}");
        };
        assert_eq!(
            got["is_identified"], want["is_identified"],
            "{name}: {ids:?}"
        );
        for (key, value) in want["properties_subset"].as_object().expect("properties") {
            assert_eq!(
                &got["properties"][key], value,
                "{name}: {ids:?} property {key}"
            );
        }
    }
    let personless: Vec<(String, String)> = dump["personless_distinct_ids"]
        .as_array()
        .expect("personless ids")
        .iter()
        .map(|p| (p["team"].to_string(), p["distinct_id"].to_string()))
        .collect();
    let mut want_personless: Vec<(String, String)> = set["personless_distinct_ids"]
        .as_array()
        .expect("expected personless ids")
        .iter()
        .map(|p| (p["team"].to_string(), p["distinct_id"].to_string()))
        .collect();
    want_personless.sort();
    let mut personless = personless;
    personless.sort();
    assert_eq!(personless, want_personless, "{name}: personless ids");
    let groups = dump["groups"].as_array().expect("groups");
    let want_groups = set["groups"].as_array().expect("expected groups");
    assert_eq!(
        groups.len(),
        want_groups.len(),
        "{name}: groups {groups:#?}"
    );
    for want in want_groups {
        assert!(
            groups.iter().any(|g| g["team"] == want["team"]
                && g["group_type"] == want["group_type"]
                && g["group_key"] == want["group_key"]
                && g["properties"] == want["properties"]),
            "{name}: no group {want:#?} in {groups:#?}"
        );
    }
}

/// The sets whose bodies a file replay can read as they arrived. The base64 form bodies
/// and posthog-node's capture v1 (whose project is only in an HTTP header) need what a
/// server receives beside the body; the capture endpoint reads those.
fn replayable(name: &str) -> bool {
    !name.ends_with("-base64") && !name.ends_with("-capture-v1")
}

#[test]
fn every_recorded_sdk_journey_replays_to_the_persons_posthog_would_make() {
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(FIXTURES).join("expected.json")).expect("reads"),
    )
    .expect("expected.json is JSON");
    let sets = expected["sets"].as_object().expect("sets");
    let mut checked = 0;
    for (name, set) in sets.iter().filter(|(name, _)| replayable(name)) {
        check_set(name, set);
        checked += 1;
    }
    assert!(checked >= 14, "{checked} sets checked");
}
