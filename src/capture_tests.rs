use std::io::Write;

use proptest::prelude::*;
use serde_json::{Value as Json, json};

use super::*;
use crate::event::{Project, Timestamp};

/// What a body reads as, with the reader's defaults and no arrival time.
#[track_caller]
fn read(body: &[u8]) -> CaptureRequest {
    match CaptureRequest::parse(body, Arrival::Saved) {
        Ok(request) => request,
        Err(e) => panic!("{}: {e}", String::from_utf8_lossy(body)),
    }
}

#[track_caller]
fn events(body: &str) -> Vec<Event> {
    let request = read(body.as_bytes());
    let all = request.len();
    let events: Vec<Event> = request.events().cloned().collect();
    assert_eq!(events.len(), all, "{body}: {request:?}");
    events
}

#[track_caller]
fn only_event(body: &str) -> Event {
    let mut events = events(body);
    assert_eq!(events.len(), 1, "{body}");
    events.remove(0)
}

fn refused(body: &[u8]) -> RequestError {
    match CaptureRequest::parse(body, Arrival::Saved) {
        Ok(request) => panic!("{} read as {request:?}", String::from_utf8_lossy(body)),
        Err(e) => e,
    }
}

fn ids(events: &[Event]) -> Vec<&str> {
    events.iter().map(Event::distinct_id).collect()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn time(text: &str) -> Timestamp {
    Timestamp::parse(text).unwrap()
}

#[test]
fn one_event_object_is_read_as_a_flat_line() {
    let event = only_event(r#"{"event": "$pageview", "distinct_id": "a"}"#);
    assert_eq!(event, Event::new("$pageview", "a"));
    assert!(!read(br#"{"event": "e", "distinct_id": "a"}"#).is_batch());
}

#[test]
fn an_array_is_its_events_in_order() {
    let body = r#"[{"event": "e", "distinct_id": "a"}, {"event": "e", "distinct_id": "b"}]"#;
    assert_eq!(ids(&events(body)), ["a", "b"]);
    assert!(read(body.as_bytes()).is_batch());
    assert!(read(b"[]").is_empty());
}

#[test]
fn a_batch_envelope_gives_its_token_to_every_event() {
    for key in ["api_key", "token"] {
        let body = format!(
            r#"{{"{key}": "phc_x", "historical_migration": false, "batch": [
                {{"event": "e", "distinct_id": "a", "token": "other"}},
                {{"event": "e", "distinct_id": "b", "team_id": 3}}]}}"#
        );
        let events = events(&body);
        assert_eq!(ids(&events), ["a", "b"]);
        for event in &events {
            assert_eq!(event.project(), &Project::Token("phc_x".into()), "{key}");
        }
    }
    let without_token = events(r#"{"batch": [{"event": "e", "distinct_id": "a", "team_id": 3}]}"#);
    assert_eq!(without_token[0].project(), &Project::Team(3));
}

#[test]
fn a_mistyped_envelope_is_refused_whole() {
    assert!(matches!(
        refused(br#"{"batch": {"event": "e"}}"#),
        RequestError::Refused(EventError::WrongType { field: "batch", .. })
    ));
    assert!(matches!(
        refused(br#"{"batch": [], "api_key": 5}"#),
        RequestError::Refused(EventError::WrongType {
            field: "api_key",
            ..
        })
    ));
    assert!(matches!(
        refused(br#"{"batch": [], "sent_at": "soon"}"#),
        RequestError::Refused(EventError::InvalidSentAt(_))
    ));
}

#[test]
fn one_bad_event_of_a_batch_rejects_only_itself() {
    let request = read(
        br#"[{"event": "e", "distinct_id": "a"}, {"event": "e"}, 7, {"event": "e", "distinct_id": "c"}]"#,
    );
    let outcomes: Vec<&Captured> = request.iter().collect();
    assert!(matches!(outcomes[0], Captured::Event(e) if e.distinct_id() == "a"));
    assert!(matches!(
        outcomes[1],
        Captured::Rejected(EventError::Missing("distinct_id"))
    ));
    assert!(
        matches!(outcomes[2], Captured::Rejected(EventError::Json(m)) if m.contains("invalid type"))
    );
    assert!(matches!(outcomes[3], Captured::Event(e) if e.distinct_id() == "c"));
}

#[test]
fn a_gzip_body_is_decompressed_by_its_magic_bytes() {
    let body = br#"{"api_key": "k", "batch": [{"event": "e", "distinct_id": "a"}]}"#;
    assert_eq!(read(&gzip(body)), read(body));
    let mut two_members = gzip(br#"[{"event": "e", "#);
    two_members.extend(gzip(br#""distinct_id": "a"}]"#));
    assert_eq!(
        ids(&read(&two_members).events().cloned().collect::<Vec<_>>()),
        ["a"]
    );
}

#[test]
fn bad_or_oversized_gzip_is_refused_whole() {
    let mut truncated = gzip(br#"{"event": "e", "distinct_id": "a"}"#);
    truncated.truncate(truncated.len() - 4);
    assert!(matches!(refused(&truncated), RequestError::Gzip(_)));
    assert!(matches!(
        refused(&[0x1f, 0x8b, 0, 0]),
        RequestError::Gzip(_)
    ));
    let big = gzip(&vec![b' '; 1000]);
    let mut reader = CaptureReader::new();
    reader.max_body_bytes(999);
    assert!(matches!(
        reader.read(&big, Arrival::Saved),
        Err(RequestError::TooLarge { limit: 999 })
    ));
    reader.max_body_bytes(1000);
    assert!(matches!(
        reader.read(&big, Arrival::Saved),
        Err(RequestError::Refused(EventError::Json(_)))
    ));
}

#[test]
fn a_body_that_is_not_json_is_refused_whole() {
    assert!(matches!(
        refused(b"not json"),
        RequestError::Refused(EventError::Json(_))
    ));
    assert!(matches!(
        refused(b"[{\"event\": \"e\"}"),
        RequestError::Refused(EventError::Json(_))
    ));
    assert!(matches!(
        refused(b"\xff"),
        RequestError::Refused(EventError::Json(m)) if m.starts_with("invalid UTF-8")
    ));
}

#[test]
fn the_distinct_id_falls_back_to_dollar_distinct_id_then_properties() {
    let body = r#"[
        {"event": "e", "distinct_id": "top", "$distinct_id": "dollar", "properties": {"distinct_id": "props"}},
        {"event": "e", "$distinct_id": "dollar", "properties": {"distinct_id": "props"}},
        {"event": "e", "properties": {"distinct_id": "props"}},
        {"event": "e", "distinct_id": null, "$distinct_id": null, "properties": {"distinct_id": "props"}},
        {"event": "e", "properties": "{\"distinct_id\": \"in a string\"}"}
    ]"#;
    assert_eq!(
        ids(&events(body)),
        ["top", "dollar", "props", "props", "in a string"]
    );
    let request =
        read(br#"{"event": "e", "distinct_id": null, "properties": {"distinct_id": null}}"#);
    assert!(matches!(
        request.iter().next(),
        Some(Captured::Rejected(EventError::Missing("distinct_id")))
    ));
}

#[test]
fn a_distinct_id_that_is_not_a_string_is_its_json_text() {
    let body = r#"[
        {"event": "e", "distinct_id": 42},
        {"event": "e", "distinct_id": [1, "a"]},
        {"event": "e", "distinct_id": {"b": 1, "a": true}},
        {"event": "e", "properties": {"distinct_id": false}}
    ]"#;
    assert_eq!(
        ids(&events(body)),
        ["42", r#"[1,"a"]"#, r#"{"a":true,"b":1}"#, "false"]
    );
}

#[test]
fn the_project_is_the_token_then_api_key_then_properties_token_then_team_id() {
    let project = |body: &str| only_event(body).project().clone();
    let token = |t: &str| Project::Token(t.into());
    assert_eq!(
        project(
            r#"{"event": "e", "distinct_id": "u", "token": "t", "api_key": "k", "team_id": 2}"#
        ),
        token("t")
    );
    assert_eq!(
        project(
            r#"{"event": "e", "distinct_id": "u", "api_key": "k", "properties": {"token": "p"}}"#
        ),
        token("k")
    );
    assert_eq!(
        project(
            r#"{"event": "e", "distinct_id": "u", "team_id": 2, "properties": {"token": "p"}}"#
        ),
        token("p")
    );
    assert_eq!(
        project(r#"{"event": "e", "distinct_id": "u", "team_id": 2, "properties": {"token": 5}}"#),
        Project::Team(2)
    );
    assert_eq!(
        project(r#"{"event": "e", "distinct_id": "u"}"#),
        Project::Default
    );
}

#[test]
fn events_that_name_different_tokens_are_refused_whole() {
    let mixed = br#"[{"event": "e", "distinct_id": "a", "token": "t1"},
        {"event": "e", "distinct_id": "b", "properties": {"token": "t2"}}]"#;
    assert!(matches!(
        refused(mixed),
        RequestError::Refused(EventError::MixedTokens { first, second }) if first == "t1" && second == "t2"
    ));
    // One token named twice, and events naming none, are one request.
    let agreeing = r#"[{"event": "e", "distinct_id": "a", "token": "t1"},
        {"event": "e", "distinct_id": "b", "api_key": "t1"},
        {"event": "e", "distinct_id": "c", "team_id": 4}]"#;
    assert_eq!(events(agreeing).len(), 3);
    // An envelope's token beats the events' own, so they are not compared.
    let enveloped = r#"{"token": "t0", "batch": [{"event": "e", "distinct_id": "a", "token": "t1"},
        {"event": "e", "distinct_id": "b", "token": "t2"}]}"#;
    assert_eq!(events(enveloped).len(), 2);
}

#[test]
fn performance_events_are_dropped_not_rejected() {
    let request = read(
        br#"[{"event": "$performance_event", "distinct_id": "a"}, {"event": "e", "distinct_id": "b"}]"#,
    );
    let outcomes: Vec<&Captured> = request.iter().collect();
    assert!(matches!(outcomes[0], Captured::Dropped));
    assert!(matches!(outcomes[1], Captured::Event(_)));
    let single = read(br#"{"event": "$performance_event", "distinct_id": "a"}"#);
    assert!(matches!(single.iter().next(), Some(Captured::Dropped)));
}

#[test]
fn the_event_time_follows_posthogs_rule_with_offset_and_sent_at() {
    let now = Arrival::At(time("2024-01-01T12:00:00Z"));
    let body = br#"{"sent_at": "2024-01-01T11:00:00Z", "batch": [
        {"event": "e", "distinct_id": "offset", "offset": 1500, "timestamp": "2020-01-01T00:00:00Z"},
        {"event": "e", "distinct_id": "skew", "timestamp": "2024-01-01T10:00:00Z"},
        {"event": "e", "distinct_id": "ignored", "timestamp": "2024-01-01T10:00:00Z", "properties": {"$ignore_sent_at": true}},
        {"event": "e", "distinct_id": "own_sent_at", "timestamp": "2024-01-01T10:00:00Z", "sent_at": "2024-01-01T11:30:00Z"},
        {"event": "e", "distinct_id": "now"}
    ]}"#;
    let times = |arrival| -> Vec<Option<String>> {
        CaptureRequest::parse(body, arrival)
            .unwrap()
            .events()
            .map(|e| e.timestamp().map(|t| t.to_string()))
            .collect()
    };
    let some = |t: &str| Some(t.to_owned());
    assert_eq!(
        times(now),
        [
            some("2024-01-01T11:59:58.5Z"),
            some("2024-01-01T11:00:00Z"),
            some("2024-01-01T10:00:00Z"),
            some("2024-01-01T10:30:00Z"),
            some("2024-01-01T12:00:00Z"),
        ]
    );
    // Saved: `now` is `sent_at`, so there is no skew, and an event without a time has
    // `sent_at`'s.
    assert_eq!(
        times(Arrival::Saved),
        [
            some("2024-01-01T10:59:58.5Z"),
            some("2024-01-01T10:00:00Z"),
            some("2024-01-01T10:00:00Z"),
            some("2024-01-01T10:00:00Z"),
            some("2024-01-01T11:00:00Z"),
        ]
    );
    // With no arrival time and no `sent_at`, an event without a timestamp keeps none.
    let flat =
        CaptureRequest::parse(br#"{"event": "e", "distinct_id": "a"}"#, Arrival::Saved).unwrap();
    assert_eq!(flat.events().next().and_then(Event::timestamp), None);
}

#[test]
fn mistyped_offset_and_sent_at_reject_their_event() {
    let request = read(
        br#"[{"event": "e", "distinct_id": "a", "offset": "soon"},
            {"event": "e", "distinct_id": "b", "sent_at": "yesterday"},
            {"event": "e", "distinct_id": "c", "sent_at": 5}]"#,
    );
    let outcomes: Vec<&Captured> = request.iter().collect();
    assert!(matches!(
        outcomes[0],
        Captured::Rejected(EventError::WrongType {
            field: "offset",
            ..
        })
    ));
    assert!(
        matches!(outcomes[1], Captured::Rejected(EventError::InvalidSentAt(t)) if t == "yesterday")
    );
    assert!(matches!(
        outcomes[2],
        Captured::Rejected(EventError::WrongType {
            field: "sent_at",
            ..
        })
    ));
}

#[test]
fn capture_validation_replaces_nul_cuts_to_200_and_refuses_its_list() {
    let long = "x".repeat(250);
    let body = json!([
        {"event": "e", "distinct_id": "a\u{0}b"},
        {"event": "e", "distinct_id": long},
        {"event": "e", "distinct_id": " Anonymous "},
    ])
    .to_string();
    // Off by default: stored events have passed capture already.
    assert_eq!(
        ids(&events(&body)),
        ["a\u{0}b", long.as_str(), " Anonymous "]
    );
    let mut reader = CaptureReader::new();
    reader.capture_validation(true);
    let request = reader.read(body.as_bytes(), Arrival::Saved).unwrap();
    let outcomes: Vec<&Captured> = request.iter().collect();
    assert!(matches!(outcomes[0], Captured::Event(e) if e.distinct_id() == "a\u{FFFD}b"));
    assert!(matches!(outcomes[1], Captured::Event(e) if e.distinct_id() == "x".repeat(200)));
    assert!(matches!(
        outcomes[2],
        Captured::Rejected(EventError::RefusedByCapture(id)) if id == " Anonymous "
    ));
}

/// One flat line's fields, each present, absent or of a wrong type, from section 1's
/// fields only: the §1.1 fallbacks and capture's own fields are left out, since there the
/// two readings are meant to differ.
fn flat_line() -> impl Strategy<Value = String> {
    let field = |values: Vec<Option<Json>>| proptest::sample::select(values);
    (
        field(vec![
            Some(json!("$pageview")),
            Some(json!("$identify")),
            Some(json!("$set")),
            Some(json!(5)),
            Some(Json::Null),
            None,
        ]),
        field(vec![
            Some(json!("u1")),
            Some(json!(42)),
            Some(json!(4.5)),
            Some(json!("")),
            Some(json!(" ")),
            Some(Json::Null),
            None,
        ]),
        field(vec![
            Some(json!({"team_id": 7})),
            Some(json!({"team_id": -1})),
            Some(json!({"team_id": "7"})),
            Some(json!({"token": "t"})),
            Some(json!({"token": 5})),
            Some(json!({"api_key": "k"})),
            None,
        ]),
        field(vec![
            Some(json!("2024-01-01T00:00:00Z")),
            Some(json!("2024-01-01 00:00:00.5")),
            Some(json!("yesterday")),
            Some(json!(3)),
            Some(Json::Null),
            None,
        ]),
        field(vec![
            Some(json!({"$anon_distinct_id": "a", "$set": {"k": 1}, "$browser": "Firefox"})),
            Some(json!("{\"$set_once\": {\"k\": 2}}")),
            Some(json!("{")),
            Some(json!(7)),
            Some(Json::Null),
            None,
        ]),
        field(vec![Some(json!({"k": 3})), Some(json!([1])), None]),
        field(vec![Some(json!("e1")), Some(json!(1)), None]),
        proptest::sample::select(vec!["", " ", " trailing", "}"]),
    )
        .prop_map(
            |(name, id, project, timestamp, properties, set, uuid, tail)| {
                let mut line = serde_json::Map::new();
                for (key, value) in [
                    ("event", name),
                    ("distinct_id", id),
                    ("timestamp", timestamp),
                    ("properties", properties),
                    ("$set", set),
                    ("uuid", uuid),
                ] {
                    if let Some(value) = value {
                        line.insert(key.to_owned(), value);
                    }
                }
                if let Some(Json::Object(project)) = project {
                    line.extend(project);
                }
                format!("{}{tail}", Json::Object(line))
            },
        )
}

proptest! {
    /// For a flat line of section 1, the capture reading and `Event::from_json` agree: the
    /// same event, or the same reason.
    #[test]
    fn a_flat_line_reads_alike_either_way(line in flat_line()) {
        let flat = Event::from_json(&line).map_err(|e| e.to_string());
        let read = CaptureReader::new().read_document(line.as_bytes(), Arrival::Saved);
        let captured = match read {
            Err(e) | Ok(Document::Single(Captured::Rejected(e))) => Err(e.to_string()),
            // One event, not a batch: a flat line is a single document.
            Ok(Document::Batch(request)) => {
                return Err(TestCaseError::fail(format!("a batch of {}", request.len())));
            }
            Ok(Document::Single(Captured::Event(event))) => Ok(event),
            Ok(Document::Single(other)) => return Err(TestCaseError::fail(format!("{other:?}"))),
        };
        prop_assert_eq!(flat, captured, "{}", line);
    }
}

#[test]
fn a_reader_that_leaves_lifted_properties_out_reads_the_rest_of_the_event_alike() {
    let body = br#"[{"event": "$identify", "distinct_id": "u", "properties": {"$browser": "Firefox", "utm_source": "x", "$anon_distinct_id": "a", "$set": {"plan": "pro"}}}, {"event": "e", "distinct_id": "v", "properties": {"$os": {"not": "lifted here"}, "$current_url": [1, 2]}}, {"event": "e", "properties": {"$browser": "Safari"}}]"#;
    let kept = read(body);
    let left = CaptureReader::new()
        .lifted_properties(false)
        .read(body, Arrival::Saved)
        .unwrap();
    assert_eq!(kept.len(), left.len());
    for (kept, left) in kept.iter().zip(left.iter()) {
        match (kept, left) {
            (Captured::Event(kept), Captured::Event(left)) => {
                assert!(kept.lifted_properties().count() > 0);
                assert_eq!(left.lifted_properties().count(), 0);
                assert_eq!(kept.name(), left.name());
                assert_eq!(kept.distinct_id(), left.distinct_id());
                assert_eq!(kept.project(), left.project());
                assert_eq!(kept.timestamp(), left.timestamp());
                for key in ["$anon_distinct_id", "$set", "$set_once", "alias"] {
                    assert_eq!(kept.property(key), left.property(key));
                }
            }
            (Captured::Rejected(kept), Captured::Rejected(left)) => assert_eq!(kept, left),
            (kept, left) => panic!("{kept:?} read as {left:?}"),
        }
    }
}
