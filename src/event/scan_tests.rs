//! The direct reader against the serde visitor: whenever it reads a line, the visitor reads
//! that line without error, and to the same parts.

use std::fmt::Write as _;

use proptest::prelude::*;

use super::super::reader::{Keep, Parts, Scalar, read_object_by_serde};
use super::scan_object;

const KEEPS: [Keep; 4] = [
    Keep {
        capture: false,
        lifted: false,
    },
    Keep {
        capture: false,
        lifted: true,
    },
    Keep {
        capture: true,
        lifted: false,
    },
    Keep {
        capture: true,
        lifted: true,
    },
];

/// Every part, written out: what two readers agree on when they write the same.
fn summary(parts: &Parts<'_>) -> String {
    fn scalar(value: Option<&Scalar<'_>>) -> String {
        match value {
            None => "absent".into(),
            Some(Scalar::Null) => "null".into(),
            Some(Scalar::Text(text)) => format!("{text:?}"),
            Some(Scalar::Other) => "other".into(),
        }
    }
    let mut out = String::new();
    let _ = write!(
        out,
        "name {} id {:?} props {:?} timestamp {} uuid {} team {:?} token {:?} api_key {:?} \
         set {:?} set_once {:?} $distinct_id {:?} offset {:?} sent_at {} batch {:?} \
         capture {:?} {:?} {:?}",
        scalar(parts.name.as_ref()),
        parts.distinct_id,
        parts.props,
        scalar(parts.timestamp.as_ref()),
        scalar(parts.uuid.as_ref()),
        parts.team_id,
        parts.token,
        parts.api_key,
        parts.top_set,
        parts.top_set_once,
        parts.dollar_distinct_id,
        parts.offset,
        scalar(parts.sent_at.as_ref()),
        parts.batch.map(serde_json::value::RawValue::get),
        parts.capture_props.distinct_id,
        parts.capture_props.token,
        parts.capture_props.ignore_sent_at,
    );
    out
}

/// Whether the direct reader read `text` with `keep`, having checked that the serde visitor
/// then reads it too, to the same parts.
#[track_caller]
fn read_alike(text: &str, keep: Keep) -> bool {
    let mut direct = Parts::default();
    if scan_object(text, keep, &mut direct).is_none() {
        return false;
    }
    let mut by_serde = Parts::default();
    let verdict = read_object_by_serde(text, keep, &mut by_serde);
    assert!(
        matches!(verdict, Ok(Ok(()))),
        "the direct reader read {text:?} ({keep:?}), which serde refuses"
    );
    assert_eq!(summary(&direct), summary(&by_serde), "{text:?} ({keep:?})");
    true
}

fn read_alike_in_every_keep(text: &str) -> bool {
    KEEPS.iter().filter(|keep| read_alike(text, **keep)).count() > 0
}

/// Numbers as JSON writes them, and some serde_json reads differently by type or refuses
/// where a skipped one is only checked by the grammar.
const NUMBERS: [&str; 14] = [
    "0",
    "-0",
    "7",
    "-12",
    "1.5",
    "0.0000001",
    "1E+2",
    "2e-3",
    "1e400",
    "-1e400",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551616",
    "-9223372036854775809",
];

/// Not numbers by JSON's grammar, though some read as one elsewhere.
const NOT_NUMBERS: [&str; 14] = [
    "01",
    "-01",
    "00",
    "1.",
    ".5",
    "-",
    "+1",
    "1e",
    "1e+",
    "--1",
    "0x1",
    "1.e3",
    "-Infinity",
    "NaN",
];

const TOP_KEYS: [&str; 16] = [
    "event",
    "distinct_id",
    "properties",
    "timestamp",
    "uuid",
    "team_id",
    "token",
    "api_key",
    "$set",
    "$set_once",
    "$distinct_id",
    "offset",
    "sent_at",
    "batch",
    "other",
    "",
];

const PROPERTY_KEYS: [&str; 18] = [
    "$set",
    "$set_once",
    "$unset",
    "$anon_distinct_id",
    "alias",
    "$group_type",
    "$group_key",
    "$group_set",
    "$process_person_profile",
    "$is_server",
    "$browser",
    "$os",
    "utm_source",
    "$current_url",
    "distinct_id",
    "token",
    "$ignore_sent_at",
    "unread",
];

/// A string's JSON text; `plain` leaves out escapes and control characters, which the
/// direct reader leaves to serde, so that most plain lines are read by both.
fn string_text(plain: bool) -> impl Strategy<Value = String> {
    let odd = u32::from(!plain);
    let piece = prop_oneof![
        8 => "[a-z0-9 :/.-]{0,12}",
        1 => Just("é😀".to_owned()),
        odd => Just("\\\"".to_owned()),
        odd => Just("\\\\".to_owned()),
        odd => Just("\\n".to_owned()),
        odd => Just("\\u00e9".to_owned()),
        odd => Just("\t".to_owned()),
    ];
    prop::collection::vec(piece, 0..3).prop_map(|pieces| format!("\"{}\"", pieces.concat()))
}

/// Whitespace JSON allows between tokens; `plain` leaves out the control characters.
fn gap(plain: bool) -> impl Strategy<Value = &'static str> {
    let odd = u32::from(!plain);
    prop_oneof![
        6 => Just(""),
        1 => Just(" "),
        odd => Just("\n"),
        odd => Just("\t"),
        odd => Just("\r"),
    ]
}

/// JSON text of any value, nested up to three deep.
fn json_value(plain: bool) -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        3 => Just("null".to_owned()),
        3 => Just("true".to_owned()),
        3 => Just("false".to_owned()),
        3 => prop::sample::select(&NUMBERS[..]).prop_map(str::to_owned),
        1 => prop::sample::select(&NOT_NUMBERS[..]).prop_map(str::to_owned),
        6 => string_text(plain),
    ];
    leaf.prop_recursive(3, 24, 4, move |inner| {
        prop_oneof![
            prop::collection::vec((inner.clone(), gap(plain)), 0..4).prop_map(|items| {
                let items: Vec<String> =
                    items.into_iter().map(|(v, g)| format!("{g}{v}")).collect();
                format!("[{}]", items.join(","))
            }),
            prop::collection::vec(
                (prop::sample::select(&PROPERTY_KEYS[..]), inner, gap(plain)),
                0..4
            )
            .prop_map(|members| object(&members)),
        ]
    })
}

fn object(members: &[(&str, String, &str)]) -> String {
    let members: Vec<String> = members
        .iter()
        .map(|(key, value, gap)| format!("{gap}\"{key}\"{gap}:{gap}{value}{gap}"))
        .collect();
    format!("{{{}}}", members.join(","))
}

/// An event-shaped object: the keys both readers know, with values of every type; half of
/// them plain.
fn event_text() -> impl Strategy<Value = String> {
    any::<bool>().prop_flat_map(|plain| {
        let properties = prop::collection::vec(
            (
                prop::sample::select(&PROPERTY_KEYS[..]),
                json_value(plain),
                gap(plain),
            ),
            0..8,
        )
        .prop_map(|members| object(&members));
        let top_value = prop_oneof![3 => properties, 2 => json_value(plain)];
        prop::collection::vec(
            (prop::sample::select(&TOP_KEYS[..]), top_value, gap(plain)),
            0..8,
        )
        .prop_map(|members| object(&members))
    })
}

/// `text` with one edit at `at` (a fraction of its length): a character removed, added or
/// replaced, or the rest cut off.
fn mutated(text: &str, at: f64, edit: u8, with: char) -> String {
    let chars: Vec<char> = text.chars().collect();
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "a place in a short line, from a fraction in 0..1"
    )]
    let at = ((chars.len() as f64) * at) as usize;
    let at = at.min(chars.len());
    let mut out: Vec<char> = chars.clone();
    match edit % 4 {
        0 if at < out.len() => {
            out.remove(at);
        }
        1 => out.insert(at, with),
        2 if at < out.len() => out[at] = with,
        _ => out.truncate(at),
    }
    out.into_iter().collect()
}

fn edit_char() -> impl Strategy<Value = char> {
    prop::sample::select(
        &[
            '{', '}', '[', ']', '"', ',', ':', '\\', ' ', '\t', '\u{1}', '0', '1', '-', '.', 'e',
            '+', 'n', 't', 'f', 'a', 'é',
        ][..],
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn generated_objects_are_read_alike_or_left_to_serde(text in event_text()) {
        read_alike_in_every_keep(&text);
    }

    #[test]
    fn mutated_objects_are_read_alike_or_left_to_serde(
        text in event_text(),
        at in 0.0..1.0f64,
        edit in any::<u8>(),
        with in edit_char(),
    ) {
        read_alike_in_every_keep(&mutated(&text, at, edit, with));
    }
}

/// Events as the writer writes them, from the testing feature's strategies.
#[cfg(feature = "testing")]
mod written {
    use proptest::prelude::*;

    use super::{edit_char, mutated, read_alike_in_every_keep};
    use crate::event::write_event_json;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn written_events_are_read_directly_and_alike(event in crate::testing::strategy::event()) {
            let mut line = Vec::new();
            write_event_json(&event, &mut line).expect("writes to memory");
            let text = String::from_utf8(line).expect("the writer writes UTF-8");
            let text = text.trim_end();
            let plain = !text.bytes().any(|b| b == b'\\' || b < 0x20);
            prop_assert_eq!(read_alike_in_every_keep(text), plain, "{}", text);
        }

        #[test]
        fn mutated_written_events_are_read_alike_or_left_to_serde(
            event in crate::testing::strategy::event(),
            at in 0.0..1.0f64,
            edit in any::<u8>(),
            with in edit_char(),
        ) {
            let mut line = Vec::new();
            write_event_json(&event, &mut line).expect("writes to memory");
            let text = String::from_utf8(line).expect("the writer writes UTF-8");
            read_alike_in_every_keep(&mutated(text.trim_end(), at, edit, with));
        }
    }
}

#[test]
fn a_realistic_line_is_read_directly() {
    let line = r#"{"uuid":"018cc252-00fc-77de-b8f8-eac87143b304","event":"$identify","distinct_id":"usr_1","properties":{"$process_person_profile":false,"$browser":"Safari","$anon_distinct_id":"anon","$set":{"plan":"free","n":3},"$current_url":"https://example.com/features","$device_id":"018cc251"},"timestamp":"2024-01-01T00:00:03.324Z"}"#;
    for keep in KEEPS {
        assert!(read_alike(line, keep), "{keep:?}");
    }
}

#[test]
fn numbers_are_read_by_the_grammar_of_json() {
    for number in NUMBERS {
        for place in [
            format!(r#"{{"other":{number}}}"#),
            format!(r#"{{"properties":{{"unread":[{number}]}}}}"#),
            format!(r#"{{"properties":{{"$set":{{"n":{number}}}}}}}"#),
        ] {
            let read = KEEPS
                .iter()
                .filter(|keep| read_alike(&place, **keep))
                .count();
            // serde_json refuses a kept number out of `f64`'s range, and so does the direct
            // reader, which hands kept numbers to it.
            let kept_and_out_of_range = number.contains("e400") && place.contains("$set");
            assert_eq!(read, if kept_and_out_of_range { 0 } else { 4 }, "{place}");
        }
    }
    for not_number in NOT_NUMBERS {
        let text = format!(r#"{{"other":{not_number}}}"#);
        assert!(
            scan_object(&text, KEEPS[3], &mut Parts::default()).is_none(),
            "{text}"
        );
    }
}

#[test]
fn what_the_direct_reader_leaves_to_serde() {
    for text in [
        // An escape, anywhere.
        r#"{"event":"a\"b","distinct_id":"x"}"#,
        // A control character between tokens.
        "{\"event\":\"e\",\t\"distinct_id\":\"x\"}",
        // Text after the object.
        r#"{"event":"e","distinct_id":"x"} x"#,
        // `properties` as a string holding an object (ClickHouse exports).
        r#"{"event":"e","distinct_id":"x","properties":"{}"}"#,
        // A number where a string field is read, which serde reads as a number.
        r#"{"event":1e400,"distinct_id":"x"}"#,
        // Not an object.
        r#"["e"]"#,
        // Nesting deeper than an event line has.
        &format!(r#"{{"other":{}0{}}}"#, "[".repeat(40), "]".repeat(40)),
    ] {
        let mut parts = Parts::default();
        assert!(
            scan_object(text, KEEPS[3], &mut parts).is_none(),
            "{text:?}"
        );
    }
    // A batch envelope, only when capture's fields are read.
    let envelope = r#"{"api_key":"k","batch":[{"event":"e","distinct_id":"x"}]}"#;
    assert!(scan_object(envelope, KEEPS[3], &mut Parts::default()).is_none());
    assert!(read_alike(envelope, KEEPS[1]));
}
