use super::*;

#[track_caller]
fn parse(line: &str) -> Event {
    match Event::from_json(line) {
        Ok(event) => event,
        Err(e) => panic!("{line}: {e}"),
    }
}

#[track_caller]
fn reject(line: &str) -> String {
    match Event::from_json(line) {
        Ok(event) => panic!("{line} parsed as {event:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn numeric_distinct_ids_become_decimal_strings() {
    assert_eq!(
        parse(r#"{"event":"e","distinct_id":42}"#).distinct_id(),
        "42"
    );
    assert_eq!(
        parse(r#"{"event":"e","distinct_id":4.0}"#).distinct_id(),
        "4"
    );
}

#[test]
fn properties_may_be_a_json_string() {
    let event = parse(
        r#"{"event":"$identify","distinct_id":"u","properties":"{\"$anon_distinct_id\":\"a\"}"}"#,
    );
    assert_eq!(event.property("$anon_distinct_id"), Some(&Value::from("a")));
}

#[test]
fn top_level_set_merges_into_properties_and_wins() {
    let event = parse(
        r#"{"event":"e","distinct_id":"u","$set":{"a":1},"properties":{"$set":{"a":0,"b":2}}}"#,
    );
    let expected = Value::object([("a", Value::from(1)), ("b", Value::from(2))]);
    assert_eq!(event.property("$set"), Some(&expected));
}

#[test]
fn unread_properties_are_skipped() {
    let event = parse(
        r#"{"event":"e","distinct_id":"u","properties":{"big":[1,2,{"x":3}],"$browser":"Firefox"}}"#,
    );
    assert_eq!(event.property("big"), None);
    assert_eq!(
        event.lifted_properties().collect::<Vec<_>>(),
        [("$browser", &Value::from("Firefox"))]
    );
}

#[test]
fn projects_come_from_team_id_then_token_then_api_key() {
    assert_eq!(
        parse(r#"{"event":"e","distinct_id":"u","team_id":2,"token":"t"}"#).project(),
        &Project::Team(2)
    );
    assert_eq!(
        parse(r#"{"event":"e","distinct_id":"u","api_key":"k"}"#).project(),
        &Project::Token("k".into())
    );
    assert_eq!(
        parse(r#"{"event":"e","distinct_id":"u"}"#).project(),
        &Project::Default
    );
}

#[test]
fn timestamps_accept_rfc3339_and_clickhouse_form() {
    let a = parse(r#"{"event":"e","distinct_id":"u","timestamp":"2024-01-01T00:00:00Z"}"#);
    let b = parse(r#"{"event":"e","distinct_id":"u","timestamp":"2024-01-01 00:00:00"}"#);
    let c = parse(r#"{"event":"e","distinct_id":"u","timestamp":"2024-01-01T01:00:00.5+01:00"}"#);
    assert_eq!(a.timestamp(), b.timestamp());
    assert_eq!(
        c.timestamp().map(Timestamp::unix_micros),
        Some(1_704_067_200_500_000)
    );
    assert_eq!(
        c.timestamp().map(|t| t.to_string()).as_deref(),
        Some("2024-01-01T00:00:00.5Z")
    );
}

#[test]
fn bad_lines_are_rejected_with_the_field_named() {
    assert_eq!(reject(r#"{"event":"e"}"#), "missing distinct_id");
    assert_eq!(reject(r#"{"distinct_id":"u"}"#), "missing event");
    assert_eq!(
        reject(r#"{"event":"e","distinct_id":null}"#),
        "missing distinct_id"
    );
    assert_eq!(
        reject(r#"{"event":"e","distinct_id":true}"#),
        "distinct_id must be a string or a number"
    );
    assert_eq!(
        reject(r#"{"event":5,"distinct_id":"u"}"#),
        "event must be a string"
    );
    assert_eq!(
        reject(r#"{"event":"e","distinct_id":" "}"#),
        "empty distinct_id"
    );
    assert!(
        reject(r#"{"event":"e","distinct_id":"u","timestamp":"yesterday"}"#)
            .starts_with("invalid timestamp")
    );
    assert!(
        reject(r#"{"event":"e","distinct_id":"u","properties":7}"#)
            .starts_with("properties must be")
    );
    assert!(
        reject(r#"{"event":"e","distinct_id":"u","properties":"{"}"#)
            .starts_with("properties: not valid JSON")
    );
    assert!(reject(r#"{"event":"e","distinct_id":"u","$set":[1]}"#).starts_with("$set must be"));
    assert!(
        reject(r#"{"event":"e","distinct_id":"u","team_id":-1}"#).starts_with("team_id must be")
    );
    assert!(reject("[1]").starts_with("not valid JSON"));
    assert!(reject(r#"{"event":"e","distinct_id":"u"} trailing"#).starts_with("not valid JSON"));
}

#[test]
fn invalid_utf8_and_deep_nesting_are_errors_not_panics() {
    assert!(Event::from_json_slice(b"{\"event\":\"e\",\"distinct_id\":\"\xff\"}").is_err());
    let deep = format!(
        r#"{{"event":"e","distinct_id":"u","properties":{{"$set":{}{}}}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    assert!(Event::from_json(&deep).is_err());
}

#[test]
fn builder_and_parser_agree() {
    let built = Event::new("$identify", "u")
        .with_property("$anon_distinct_id", "a")
        .with_property("ignored", 1)
        .with_timestamp(Timestamp::EPOCH)
        .with_uuid("e1");
    let parsed = parse(
        r#"{"event":"$identify","distinct_id":"u","uuid":"e1","timestamp":"1970-01-01T00:00:00Z","properties":{"$anon_distinct_id":"a","ignored":1}}"#,
    );
    assert_eq!(built, parsed);
}

#[test]
fn uuids_read_back_as_given_in_the_uuid_form_or_any_other() {
    let canonical = "018cc252-00fc-77de-b8f8-eac87143b304";
    for (line, expected) in [
        (
            format!(r#"{{"event":"e","distinct_id":"a","uuid":"{canonical}"}}"#),
            Some(canonical),
        ),
        // An escape makes the reader copy the text; it is still 36 bytes once read.
        (
            r#"{"event":"e","distinct_id":"a","uuid":"018cc252-00fc-77de-b8f8-eac87143b30\u0034"}"#
                .to_owned(),
            Some(canonical),
        ),
        (
            r#"{"event":"e","distinct_id":"a","uuid":"not a uuid"}"#.to_owned(),
            Some("not a uuid"),
        ),
        (
            r#"{"event":"e","distinct_id":"a","uuid":null}"#.to_owned(),
            None,
        ),
    ] {
        assert_eq!(parse(&line).uuid(), expected, "{line}");
    }
    assert_eq!(
        reject(r#"{"event":"e","distinct_id":"a","uuid":[1]}"#),
        reject(r#"{"event":"e","distinct_id":"a","uuid":7}"#)
    );
    for uuid in [canonical, "x", ""] {
        let event = Event::new("e", "a").with_uuid(uuid);
        assert_eq!(event.uuid(), Some(uuid));
        assert_eq!(
            format!("{event:?}").matches(&format!("{uuid:?}")).count(),
            1
        );
    }
}

#[test]
fn no_property_name_is_both_lifted_and_read_by_identity() {
    for key in model::IDENTITY_KEYS {
        assert_eq!(lifted_key_index(key), None, "{key}");
    }
}
