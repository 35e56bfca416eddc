//! End to end with the real SDKs: the built server on 127.0.0.1, the real posthog-js
//! 1.449.2 (in jsdom) and posthog-node 5.70.0 driven through their journeys by
//! `tools/sdk-e2e/e2e.mjs`, and the persons PostHog would make checked through
//! `GET /persons/...`.
//!
//! It needs `node` and `tools/sdk-e2e/node_modules` (`npm ci` there, which `.ci/run`
//! does). Without them it says it was skipped and passes, unless
//! `IDGRAPH_SDK_E2E_REQUIRED` is set, as `.ci/run` sets it, where it fails.

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests fail loudly")]

mod common;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Server;
use serde_json::{Value, json};

fn tool_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tools/sdk-e2e")
}

/// Why the test cannot run here, if it cannot.
fn missing() -> Option<String> {
    let node = Command::new("node").arg("--version").output();
    if !node.is_ok_and(|out| out.status.success()) {
        return Some("node is not installed".into());
    }
    for package in ["posthog-js", "posthog-node", "jsdom"] {
        if !tool_dir()
            .join("node_modules")
            .join(package)
            .join("package.json")
            .exists()
        {
            return Some(format!(
                "{package} is not installed in tools/sdk-e2e/node_modules (run `npm ci --ignore-scripts` there)"
            ));
        }
    }
    None
}

/// Runs the journeys against the server: what the script printed.
fn run_journeys(server: &Server) -> Value {
    let mut child = Command::new("node")
        .arg("e2e.mjs")
        .arg(server.url())
        .current_dir(tool_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node starts");
    let deadline = Instant::now() + Duration::from_mins(3);
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            assert!(status.success(), "e2e.mjs failed: {status}");
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("e2e.mjs did not finish within 180 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut stdout).unwrap();
    serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("e2e.mjs printed no JSON ({e}): {stdout}"))
}

/// One journey's project, and the persons in it.
struct Journey<'s> {
    server: &'s Server,
    name: String,
    token: String,
    ids: Value,
}

impl Journey<'_> {
    fn id(&self, key: &str) -> String {
        self.ids[key]
            .as_str()
            .unwrap_or_else(|| panic!("{}: no id {key}", self.name))
            .to_owned()
    }

    fn get(&self, token: &str, id: &str) -> (u16, Value) {
        let answer = self.server.get(&format!("/persons/{id}?token={token}"));
        (answer.status, answer.json())
    }

    /// The person of `id` has exactly `ids`, this identified flag, and these among its
    /// properties (posthog-js adds `$initial_*`, `$browser` and the like, not checked).
    #[track_caller]
    fn check_person(
        &self,
        token: &str,
        id: &str,
        ids: &[&str],
        identified: bool,
        props: &Value,
    ) -> Value {
        let (status, person) = self.get(token, id);
        assert_eq!(status, 200, "{}: {id} has no person: {person}", self.name);
        let mut expected: Vec<&str> = ids.to_vec();
        expected.sort_unstable();
        assert_eq!(
            person["distinct_ids"],
            json!(expected),
            "{}: {id}",
            self.name
        );
        assert_eq!(
            person["is_identified"], identified,
            "{}: {id}: {person}",
            self.name
        );
        for (key, value) in props.as_object().unwrap() {
            assert_eq!(
                &person["properties"][key], value,
                "{}: {id}.{key}: {person}",
                self.name
            );
        }
        person
    }

    #[track_caller]
    fn check_no_person(&self, id: &str) {
        let (status, answer) = self.get(&self.token, id);
        assert_eq!(
            status, 404,
            "{}: {id} should have no person: {answer}",
            self.name
        );
    }
}

#[test]
fn the_real_sdks_make_the_persons_posthog_makes() {
    if let Some(reason) = missing() {
        assert!(
            std::env::var_os("IDGRAPH_SDK_E2E_REQUIRED").is_none(),
            "IDGRAPH_SDK_E2E_REQUIRED is set, but {reason}"
        );
        // Straight to stderr: the test harness keeps what `eprintln!` prints from a test
        // that passes.
        let _ = writeln!(std::io::stderr(), "sdk_e2e skipped: {reason}");
        return;
    }
    let server = Server::start(&[]);
    let report = run_journeys(&server);
    assert_eq!(
        report["versions"],
        json!({"posthog-js": "1.449.2", "posthog-node": "5.70.0", "jsdom": "29.1.1"})
    );
    assert_eq!(
        report["failures"],
        json!([]),
        "requests the server did not answer with 200"
    );
    let journeys = report["journeys"].as_object().unwrap();
    assert_eq!(journeys.len(), 15);
    for (name, entry) in journeys {
        let journey = Journey {
            server: &server,
            name: name.clone(),
            token: entry["token"].as_str().unwrap().to_owned(),
            ids: entry["ids"].clone(),
        };
        if entry["sdk"] == "posthog-node" {
            check_node(&journey, entry["token_b"].as_str().unwrap());
        } else {
            let kind = name
                .trim_start_matches("posthog-js-")
                .trim_end_matches("-no-compression")
                .trim_end_matches("-identified-only")
                .trim_end_matches("-always");
            check_js(&journey, kind, entry["mode"] == "always");
        }
    }
    let (status, stderr) = server.terminate();
    assert!(status.success(), "{stderr}");
}

/// The persons of one posthog-js journey (`tools/sdk-e2e/e2e.mjs`, `JS_JOURNEYS`).
fn check_js(journey: &Journey<'_>, kind: &str, always: bool) {
    let token = journey.token.as_str();
    let none = json!({});
    match kind {
        "anonymous" => {
            let anon = journey.id("anon");
            if always {
                journey.check_person(token, &anon, &[&anon], false, &none);
            } else {
                // Personless: nothing turned person processing on.
                journey.check_no_person(&anon);
            }
        }
        "identify" => {
            // $set overwrote email, $set_once kept the first first_seen.
            let (anon, user) = (journey.id("anon"), journey.id("user"));
            let props = json!({"email": "user_1@new.example.com", "first_seen": "2026-01-01"});
            let person = journey.check_person(token, &anon, &[&anon, &user], true, &props);
            let same = journey.check_person(token, &user, &[&anon, &user], true, &props);
            assert_eq!(person["uuid"], same["uuid"]);
        }
        "alias" => {
            let (anon, alias) = (journey.id("anon"), journey.id("alias"));
            journey.check_person(token, &alias, &[&anon, &alias], true, &none);
        }
        "reset" => {
            let (anon1, user1) = (journey.id("anon1"), journey.id("user1"));
            let (anon2, user2) = (journey.id("anon2"), journey.id("user2"));
            assert_ne!(anon1, anon2, "reset() starts a new anonymous id");
            let one = json!({"email": "user_1@example.com"});
            let two = json!({"email": "user_2@example.com"});
            let first = journey.check_person(token, &anon1, &[&anon1, &user1], true, &one);
            let second = journey.check_person(token, &anon2, &[&anon2, &user2], true, &two);
            assert_ne!(
                first["uuid"], second["uuid"],
                "reset() keeps the users apart"
            );
        }
        "group" => {
            // $groupidentify turns person processing on; the person is not identified.
            let anon = journey.id("anon");
            journey.check_person(token, &anon, &[&anon], false, &none);
        }
        "set-person-properties" => {
            let anon = journey.id("anon");
            let props = json!({"plan": "team", "signup_source": "ads"});
            journey.check_person(token, &anon, &[&anon], false, &props);
        }
        other => panic!("no check for journey {other}"),
    }
}

/// The persons of a posthog-node journey (`runNodeJourney`): identify attaches
/// `node_user_1` to `node_anon_1`, alias merges `node_legacy_1` in, the later `$set_once`
/// changes nothing; groupIdentify's placeholder person; project B's own `node_user_1`.
fn check_node(journey: &Journey<'_>, token_b: &str) {
    let token = journey.token.as_str();
    let ids = ["node_anon_1", "node_legacy_1", "node_user_1"];
    let props = json!({"email": "node_user_1@example.com", "first_seen": "2026-01-01"});
    for id in ids {
        journey.check_person(token, id, &ids, true, &props);
    }
    journey.check_person(
        token,
        "$company_acme",
        &["$company_acme"],
        false,
        &json!({}),
    );
    let plan = json!({"plan": "free"});
    let b = journey.check_person(token_b, "node_user_1", &["node_user_1"], false, &plan);
    let (_, a) = journey.get(token, "node_user_1");
    assert_ne!(a["uuid"], b["uuid"], "projects never share persons");
}
