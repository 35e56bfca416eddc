//! The capture endpoint as a program: the built server on an ephemeral port, requests in
//! every form capture takes, the persons read back through `GET /persons/...`.

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests fail loudly")]

mod common;

use std::io::Write;
use std::time::Duration;

use base64::Engine as _;
use common::{Answer, Server, request, run_to_exit, temp_path, wait_for_file};
use serde_json::{Value, json};

const TOKEN: &str = "phc_endpoint";

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn form(data: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("data", data)
        .finish()
}

/// An identify of `user` from `anon`, as a batch envelope of project `TOKEN`.
fn identify_batch(anon: &str, user: &str) -> String {
    json!({"api_key": TOKEN, "sent_at": "2026-01-01T00:00:00Z", "batch": [
        {"event": "$pageview", "properties": {"distinct_id": anon}, "timestamp": "2026-01-01T00:00:00Z"},
        {"event": "$identify", "distinct_id": user, "timestamp": "2026-01-01T00:00:00Z",
         "properties": {"$anon_distinct_id": anon, "$set": {"email": format!("{user}@example.com")}}}
    ]})
    .to_string()
}

/// The capture answer: 200 `{"status": 1}`.
#[track_caller]
fn check_accepted(answer: &Answer) {
    assert_eq!(
        answer.status,
        200,
        "{:?}",
        String::from_utf8_lossy(&answer.body)
    );
    assert_eq!(answer.json(), json!({"status": 1}));
}

/// A refusal: this status, and a JSON reason whose detail contains `detail`.
#[track_caller]
fn check_refused(answer: &Answer, status: u16, detail: &str) {
    assert_eq!(
        answer.status,
        status,
        "{:?}",
        String::from_utf8_lossy(&answer.body)
    );
    let reason = answer.json();
    let text = reason["detail"].as_str().expect("a detail");
    assert!(
        text.contains(detail),
        "{text:?} does not contain {detail:?}"
    );
}

/// `id`'s person in project `TOKEN` has exactly these ids.
#[track_caller]
fn check_person(server: &Server, id: &str, ids: &[&str]) -> Value {
    let answer = server.get(&format!("/persons/{id}?token={TOKEN}"));
    assert_eq!(
        answer.status,
        200,
        "{id}: {:?}",
        String::from_utf8_lossy(&answer.body)
    );
    let person = answer.json();
    assert_eq!(person["distinct_ids"], json!(ids), "{person}");
    assert!(person["uuid"].as_str().is_some_and(|uuid| uuid.len() == 36));
    person
}

#[track_caller]
fn check_no_person(server: &Server, id: &str) {
    let answer = server.get(&format!("/persons/{id}?token={TOKEN}"));
    assert_eq!(
        answer.status,
        404,
        "{id}: {:?}",
        String::from_utf8_lossy(&answer.body)
    );
    assert!(answer.json()["detail"].is_string());
}

#[test]
fn every_capture_path_takes_a_batch_with_and_without_the_slash() {
    let server = Server::start(&[]);
    let paths = ["/e", "/i/v0/e", "/batch", "/capture", "/track", "/engage"];
    for (n, path) in paths.iter().enumerate() {
        for slash in ["", "/"] {
            let tag = if slash.is_empty() { "bare" } else { "slash" };
            let anon = format!("anon_{n}_{tag}");
            let user = format!("user_{n}_{tag}");
            check_accepted(
                &server.post_json(&format!("{path}{slash}"), &identify_batch(&anon, &user)),
            );
            let person = check_person(&server, &user, &[&anon, &user]);
            assert_eq!(person["is_identified"], true);
            assert_eq!(person["properties"]["email"], format!("{user}@example.com"));
        }
    }
}

#[test]
fn get_takes_the_payload_in_the_data_parameter() {
    let server = Server::start(&[]);
    let body = identify_batch("anon_get", "user_get");
    let query = form(&b64(body.as_bytes()));
    check_accepted(&server.get(&format!("/e/?{query}&compression=base64&ver=1.449.2")));
    check_person(&server, "user_get", &["anon_get", "user_get"]);
    // A GET with nothing in it is capture's empty payload.
    check_refused(&server.get("/e/"), 400, "empty payload");
}

#[test]
fn gzip_is_read_by_its_magic_bytes_by_the_query_hint_and_by_content_encoding() {
    let server = Server::start(&[]);
    // posthog-js: text/plain, no header, no query.
    let body = gzip(identify_batch("anon_gz1", "user_gz1").as_bytes());
    check_accepted(&server.post("/e/", "text/plain", &body));
    check_person(&server, "user_gz1", &["anon_gz1", "user_gz1"]);
    // Older posthog-js: ?compression=gzip-js.
    let body = gzip(identify_batch("anon_gz2", "user_gz2").as_bytes());
    check_accepted(&server.post("/e/?compression=gzip-js&ver=1.0", "text/plain", &body));
    check_person(&server, "user_gz2", &["anon_gz2", "user_gz2"]);
    // posthog-node: Content-Encoding: gzip.
    let body = gzip(identify_batch("anon_gz3", "user_gz3").as_bytes());
    let answer = request(
        server.addr,
        "POST",
        "/batch/",
        &[
            ("Content-Type", "application/json"),
            ("Content-Encoding", "gzip"),
        ],
        &body,
    );
    check_accepted(&answer);
    check_person(&server, "user_gz3", &["anon_gz3", "user_gz3"]);
    // Bytes that claim gzip and are not.
    let mut broken = body.clone();
    broken.truncate(12);
    check_refused(&server.post("/e/", "text/plain", &broken), 400, "gzip");
}

#[test]
fn the_base64_form_is_read_plain_and_of_gzip() {
    let server = Server::start(&[]);
    let ty = "application/x-www-form-urlencoded";
    let body = form(&b64(identify_batch("anon_f1", "user_f1").as_bytes()));
    check_accepted(&server.post("/e/?compression=base64", ty, body.as_bytes()));
    check_person(&server, "user_f1", &["anon_f1", "user_f1"]);
    let body = form(&b64(&gzip(identify_batch("anon_f2", "user_f2").as_bytes())));
    check_accepted(&server.post("/e/?compression=gzip-js", ty, body.as_bytes()));
    check_person(&server, "user_f2", &["anon_f2", "user_f2"]);
    // `compression` in the form itself.
    let body = format!(
        "{}&compression=base64",
        form(&b64(identify_batch("anon_f3", "user_f3").as_bytes()))
    );
    check_accepted(&server.post("/e/", ty, body.as_bytes()));
    check_person(&server, "user_f3", &["anon_f3", "user_f3"]);
    check_refused(
        &server.post("/e/?compression=base64", ty, b"data=%7Bnot"),
        400,
        "base64",
    );
}

#[test]
fn every_shape_of_the_contract_is_read() {
    let server = Server::start(&[]);
    // One event object, with the token in it.
    let one = json!({"event": "$identify", "distinct_id": "user_s1", "token": TOKEN,
        "properties": {"$anon_distinct_id": "anon_s1"}});
    check_accepted(&server.post_json("/capture/", &one.to_string()));
    check_person(&server, "anon_s1", &["anon_s1", "user_s1"]);
    // An array (older posthog-js), token in properties.
    let array = json!([{"event": "$create_alias", "distinct_id": "user_s1",
        "properties": {"alias": "alias_s1", "token": TOKEN}}]);
    check_accepted(&server.post_json("/e/", &array.to_string()));
    check_person(&server, "alias_s1", &["alias_s1", "anon_s1", "user_s1"]);
    // Top-level $set and $set_once (engage's shape), $set_once filling only once.
    let set = json!({"event": "$set", "distinct_id": "user_s1", "token": TOKEN,
        "$set": {"plan": "pro"}, "$set_once": {"first": "a"}});
    check_accepted(&server.post_json("/e/", &set.to_string()));
    let again = json!({"event": "$set", "distinct_id": "user_s1", "token": TOKEN,
        "$set": {"plan": "team"}, "$set_once": {"first": "b"}});
    check_accepted(&server.post_json("/e/", &again.to_string()));
    let person = check_person(&server, "user_s1", &["alias_s1", "anon_s1", "user_s1"]);
    assert_eq!(person["properties"], json!({"plan": "team", "first": "a"}));
}

#[test]
fn engage_names_a_nameless_event_identify() {
    let server = Server::start(&[]);
    let body =
        json!({"token": TOKEN, "distinct_id": "user_e", "$set": {"plan": "pro"}}).to_string();
    // Anywhere else a nameless event refuses the request.
    check_refused(&server.post_json("/e/", &body), 400, "missing event");
    check_no_person(&server, "user_e");
    check_accepted(&server.post_json("/engage/", &body));
    let person = check_person(&server, "user_e", &["user_e"]);
    assert_eq!(person["properties"], json!({"plan": "pro"}));
    // Gzip on /engage too.
    let body =
        json!({"token": TOKEN, "distinct_id": "user_e", "$set_once": {"first": "x"}}).to_string();
    check_accepted(&server.post("/engage", "text/plain", &gzip(body.as_bytes())));
    let person = check_person(&server, "user_e", &["user_e"]);
    assert_eq!(person["properties"], json!({"plan": "pro", "first": "x"}));
}

#[test]
fn bad_bodies_are_refused_whole_with_a_json_reason() {
    let server = Server::start(&[]);
    check_refused(&server.post_json("/e/", "{not json"), 400, "not valid JSON");
    check_refused(&server.post_json("/e/", ""), 400, "empty payload");
    check_refused(
        &server.post_json("/batch/", r#"{"api_key": "t", "batch": []}"#),
        400,
        "no event",
    );
    check_refused(&server.post_json("/e/", "[]"), 400, "no event");
    // One bad event refuses the request, as capture refuses it: nothing is applied.
    let batch = json!({"api_key": TOKEN, "batch": [
        {"event": "$pageview", "distinct_id": "applied_not"},
        {"event": "$pageview"}
    ]});
    check_refused(
        &server.post_json("/batch/", &batch.to_string()),
        400,
        "event 1: missing distinct_id",
    );
    check_no_person(&server, "applied_not");
    // Events of two tokens in one request.
    let mixed = json!([{"event": "a", "distinct_id": "x", "token": "t1"},
                       {"event": "a", "distinct_id": "x", "token": "t2"}]);
    check_refused(&server.post_json("/e/", &mixed.to_string()), 400, "token");
    check_refused(
        &server.post("/e/?compression=lz64", "text/plain", b"abc"),
        400,
        "lz64",
    );
    // Only events capture drops: accepted, nothing to do.
    let dropped =
        json!({"api_key": TOKEN, "batch": [{"event": "$performance_event", "distinct_id": "p"}]});
    check_accepted(&server.post_json("/batch/", &dropped.to_string()));
    check_no_person(&server, "p");
}

#[test]
fn persons_are_looked_up_by_token_team_id_or_the_default_project() {
    let server = Server::start(&[]);
    check_accepted(&server.post_json(
        "/e/",
        r#"{"event": "e", "distinct_id": "same", "token": "tok_a"}"#,
    ));
    check_accepted(&server.post_json(
        "/e/",
        r#"{"event": "e", "distinct_id": "same", "team_id": 7}"#,
    ));
    check_accepted(&server.post_json("/e/", r#"{"event": "e", "distinct_id": "same"}"#));
    let uuids: Vec<Value> = [
        "/persons/same?token=tok_a",
        "/persons/same?team_id=7",
        "/persons/same",
    ]
    .iter()
    .map(|path| {
        let answer = server.get(path);
        assert_eq!(answer.status, 200, "{path}");
        answer.json()["uuid"].clone()
    })
    .collect();
    assert_ne!(uuids[0], uuids[1]);
    assert_ne!(uuids[1], uuids[2]);
    assert_eq!(server.get("/persons/same?token=tok_b").status, 404);
    assert_eq!(server.get("/persons/same?team_id=8").status, 404);
    check_refused(&server.get("/persons/same?team_id=x"), 400, "team_id");
    // An id that needs escaping in a path.
    check_accepted(&server.post_json(
        "/e/",
        r#"{"event": "e", "distinct_id": "a b/c", "token": "tok_a"}"#,
    ));
    assert_eq!(server.get("/persons/a%20b%2Fc?token=tok_a").status, 200);
}

#[test]
fn health_answers_and_counts_the_published_events() {
    let server = Server::start(&[]);
    let health = server.get("/health");
    assert_eq!(health.status, 200);
    assert_eq!(health.json(), json!({"status": "ok", "events": 0}));
    check_accepted(&server.post_json("/batch/", &identify_batch("a", "u")));
    assert_eq!(server.get("/health").json()["events"], 2);
}

#[test]
fn a_read_right_after_the_answer_sees_the_write() {
    let server = Server::start(&[]);
    for n in 0..100 {
        let (anon, user) = (format!("ryw_anon_{n}"), format!("ryw_user_{n}"));
        check_accepted(&server.post_json("/e/", &identify_batch(&anon, &user)));
        check_person(&server, &anon, &[&anon, &user]);
    }
}

#[test]
fn concurrent_requests_are_all_applied_before_their_answers() {
    let server = Server::start(&[]);
    let addr = server.addr;
    let threads: Vec<_> = (0..8)
        .map(|t| {
            std::thread::spawn(move || {
                for n in 0..20 {
                    let (anon, user) = (format!("c_anon_{t}_{n}"), format!("c_user_{t}_{n}"));
                    let body = identify_batch(&anon, &user);
                    let answer = request(
                        addr,
                        "POST",
                        "/e/",
                        &[("Content-Type", "application/json")],
                        body.as_bytes(),
                    );
                    assert_eq!(answer.status, 200);
                    let answer = request(
                        addr,
                        "GET",
                        &format!("/persons/{anon}?token={TOKEN}"),
                        &[],
                        b"",
                    );
                    assert_eq!(answer.json()["distinct_ids"], json!([anon, user]));
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(server.get("/health").json()["events"], 8 * 20 * 2);
}

#[test]
fn cors_preflights_are_answered_for_the_page_origin() {
    let server = Server::start(&[]);
    let answer = request(
        server.addr,
        "OPTIONS",
        "/e/",
        &[
            ("Origin", "https://shop.example.com"),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "content-type"),
        ],
        b"",
    );
    assert!(answer.status == 200 || answer.status == 204, "{answer:?}");
    assert_eq!(
        answer.header("access-control-allow-origin"),
        Some("https://shop.example.com")
    );
    assert_eq!(
        answer.header("access-control-allow-credentials"),
        Some("true")
    );
}

#[test]
fn sigterm_saves_the_snapshot_and_a_restart_restores_it() {
    let path = temp_path("restart.idg");
    let path_arg = path.to_str().unwrap();
    let server = Server::start(&["--snapshot", path_arg, "--snapshot-every", "0"]);
    check_accepted(&server.post_json("/batch/", &identify_batch("anon_r", "user_r")));
    assert!(!path.exists(), "no timer: nothing saved before the stop");
    let (status, stderr) = server.terminate();
    assert!(status.success(), "{status}: {stderr}");
    assert!(stderr.contains("saved"), "{stderr}");
    assert!(path.exists());

    let server = Server::start(&["--snapshot", path_arg]);
    let person = check_person(&server, "anon_r", &["anon_r", "user_r"]);
    assert_eq!(person["is_identified"], true);
    assert_eq!(
        server.get("/health").json()["events"],
        2,
        "the position is restored too"
    );
    // The restored graph goes on from where it was.
    check_accepted(&server.post_json("/batch/", &identify_batch("anon_r2", "user_r")));
    check_person(&server, "user_r", &["anon_r", "anon_r2", "user_r"]);
    let (status, _) = server.terminate();
    assert!(status.success());
    let server = Server::start(&["--snapshot", path_arg]);
    check_person(&server, "user_r", &["anon_r", "anon_r2", "user_r"]);
}

/// A server that saves to `path` every second.
fn saving_every_second(path: &std::path::Path) -> Server {
    Server::start(&[
        "--snapshot",
        path.to_str().unwrap(),
        "--snapshot-every",
        "1",
    ])
}

#[test]
fn the_timer_saves_while_the_server_runs() {
    let path = temp_path("timer.idg");
    let server = saving_every_second(&path);
    check_accepted(&server.post_json("/batch/", &identify_batch("anon_t", "user_t")));
    assert!(
        wait_for_file(&path, Duration::from_secs(10)),
        "no save within 10 s"
    );
    let snapshot = idgraph::Engine::load_from_path(&path).unwrap();
    assert_eq!(snapshot.position, 2u64.to_le_bytes());
    let project = idgraph::Project::Token(TOKEN.into());
    assert!(snapshot.engine.resolve(&project, "anon_t").is_some());
}

#[test]
fn a_snapshot_that_does_not_load_stops_the_start_and_is_left_alone() {
    let path = temp_path("corrupt.idg");
    std::fs::write(&path, b"not a snapshot at all").unwrap();
    let (status, stderr) = run_to_exit(&["--snapshot", path.to_str().unwrap()]);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot restore"), "{stderr}");
    assert_eq!(std::fs::read(&path).unwrap(), b"not a snapshot at all");
}

#[test]
fn posthog_js_gets_its_remote_config_and_empty_flags() {
    let server = Server::start(&[]);
    let config = server.get(&format!("/array/{TOKEN}/config"));
    assert_eq!(config.status, 200);
    assert_eq!(
        config.json()["supportedCompression"],
        json!(["gzip", "gzip-js"])
    );
    let flags = server.post_json("/flags/?v=2", "{}");
    assert_eq!(flags.status, 200);
    assert_eq!(flags.json()["featureFlags"], json!({}));
    assert!(!server.url().is_empty());
}

#[test]
fn reads_see_their_writes_while_the_timer_saves() {
    let path = temp_path("busy.idg");
    let server = saving_every_second(&path);
    let start = std::time::Instant::now();
    let mut n: u64 = 0;
    // A save holds the published state and defers publishing; answers wait for it.
    while start.elapsed() < Duration::from_millis(2500) {
        let (anon, user) = (format!("busy_anon_{n}"), format!("busy_user_{n}"));
        check_accepted(&server.post_json("/e/", &identify_batch(&anon, &user)));
        check_person(&server, &anon, &[&anon, &user]);
        n += 1;
    }
    assert!(path.exists());
    let (status, _) = server.terminate();
    assert!(status.success());
    let snapshot = idgraph::Engine::load_from_path(&path).unwrap();
    assert_eq!(
        snapshot.position,
        (2 * n).to_le_bytes(),
        "the stop saved everything"
    );
}

#[test]
fn a_request_left_open_does_not_keep_the_server_from_stopping() {
    let path = temp_path("grace.idg");
    let server = Server::start(&[
        "--snapshot",
        path.to_str().unwrap(),
        "--shutdown-grace",
        "1",
    ]);
    check_accepted(&server.post_json("/batch/", &identify_batch("anon_g", "user_g")));
    // Headers promise a body that never comes.
    let mut open = std::net::TcpStream::connect(server.addr).unwrap();
    open.write_all(b"POST /e/ HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let started = std::time::Instant::now();
    let (status, stderr) = server.terminate();
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("still open"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(10));
    let snapshot = idgraph::Engine::load_from_path(&path).unwrap();
    assert_eq!(snapshot.position, 2u64.to_le_bytes());
}

/// PostHog's timestamp rule with the server's clock as `now`: `offset` is counted back from
/// the arrival, and a client clock that is off (`sent_at`) moves `timestamp` by as much.
#[test]
fn event_times_are_measured_from_the_servers_clock() {
    let path = temp_path("clock.idg");
    let server = Server::start(&["--snapshot", path.to_str().unwrap()]);
    let before = idgraph::Timestamp::now().unix_micros();
    let hour = 3_600_000_000_i64;
    let offset = json!({"event": "$pageview", "distinct_id": "by_offset", "token": TOKEN, "offset": 3_600_000});
    check_accepted(&server.post_json("/e/", &offset.to_string()));
    // The client's clock is 26 years behind; its event happened an hour before it sent.
    let skewed = json!({"api_key": TOKEN, "sent_at": "2000-01-01T01:00:00Z", "batch": [
        {"event": "$pageview", "distinct_id": "by_sent_at", "timestamp": "2000-01-01T00:00:00Z"}
    ]});
    check_accepted(&server.post_json("/batch/", &skewed.to_string()));
    let after = idgraph::Timestamp::now().unix_micros();
    let (status, _) = server.terminate();
    assert!(status.success());
    let engine = idgraph::Engine::load_from_path(&path).unwrap().engine;
    let project = idgraph::Project::Token(TOKEN.into());
    for id in ["by_offset", "by_sent_at"] {
        let created = engine
            .resolve(&project, id)
            .unwrap()
            .created_at()
            .unix_micros();
        assert!(
            (before - hour..=after - hour).contains(&created),
            "{id}: created at {created}, not an hour before the request ({before}..{after})"
        );
    }
}
