use std::io::Write;

use base64::Engine as _;
use flate2::write::GzEncoder;

use super::*;

const EVENT: &str = r#"{"event":"e","distinct_id":"a"}"#;

#[track_caller]
fn check(
    query: Option<&str>,
    content_type: Option<&str>,
    body: &[u8],
    expected: Result<&[u8], DecodeError>,
) {
    let request = Request {
        query,
        content_type,
        content_encoding: None,
    };
    assert_eq!(payload(&request, body).as_deref(), expected.as_deref());
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn form_of(value: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("data", value)
        .finish()
}

#[test]
fn a_plain_body_is_passed_on() {
    check(
        None,
        Some("application/json"),
        EVENT.as_bytes(),
        Ok(EVENT.as_bytes()),
    );
    let gz = gzip(EVENT.as_bytes());
    check(
        Some("compression=gzip-js"),
        Some("text/plain"),
        &gz,
        Ok(&gz),
    );
}

#[test]
fn a_form_body_gives_its_data_field_base64_decoded() {
    let form = form_of(&b64(EVENT.as_bytes()));
    let ty = Some("application/x-www-form-urlencoded");
    check(
        Some("compression=base64"),
        ty,
        form.as_bytes(),
        Ok(EVENT.as_bytes()),
    );
    // Without a hint, base64 through and through is decoded too.
    check(None, ty, form.as_bytes(), Ok(EVENT.as_bytes()));
    // The base64 of gzip gives the gzip bytes, which the library unpacks.
    let gz = gzip(EVENT.as_bytes());
    let form = form_of(&b64(&gz));
    check(Some("compression=gzip-js"), ty, form.as_bytes(), Ok(&gz));
    // Plain JSON in the field.
    check(None, ty, form_of(EVENT).as_bytes(), Ok(EVENT.as_bytes()));
}

#[test]
fn a_plus_turned_into_a_space_by_form_decoding_is_restored() {
    // `>>>` is `Pj4+` in base64: an unescaped `+` in the form reads back as a space.
    let body = "data=Pj4+";
    check(
        Some("compression=base64"),
        Some("application/x-www-form-urlencoded"),
        body.as_bytes(),
        Ok(b">>>"),
    );
}

#[test]
fn the_query_data_parameter_wins_over_the_body() {
    let query = format!("{}&ver=1.0", form_of(&b64(EVENT.as_bytes())));
    check(Some(&query), None, b"", Ok(EVENT.as_bytes()));
}

#[test]
fn json_sent_with_a_form_content_type_is_read_as_json() {
    check(
        None,
        Some("application/x-www-form-urlencoded"),
        EVENT.as_bytes(),
        Ok(EVENT.as_bytes()),
    );
}

#[test]
fn empty_bad_base64_and_lz64_are_refused() {
    check(None, None, b"", Err(DecodeError::Empty));
    check(
        Some("compression=base64"),
        None,
        b"{not base64",
        Err(DecodeError::Base64),
    );
    check(
        Some("compression=lz64"),
        None,
        b"abc",
        Err(DecodeError::Unsupported("lz64")),
    );
}

#[test]
fn engage_names_a_nameless_single_event_identify() {
    let named = engage(br#"{"distinct_id":"a","$set":{"x":1}}"#, 1 << 20).unwrap();
    let value: serde_json::Value = serde_json::from_slice(&named).unwrap();
    assert_eq!(value["event"], "$identify");
    assert_eq!(value["$set"]["x"], 1);
    let null_name = engage(br#"{"event":null,"distinct_id":"a"}"#, 1 << 20).unwrap();
    assert!(String::from_utf8(null_name).unwrap().contains("$identify"));
    let gz = gzip(br#"{"distinct_id":"a"}"#);
    assert!(engage(&gz, 1 << 20).is_some());
    assert!(
        engage(&gz, 4).is_none(),
        "larger than the limit once decompressed"
    );
    assert!(engage(EVENT.as_bytes(), 1 << 20).is_none(), "already named");
    assert!(
        engage(br#"[{"distinct_id":"a"}]"#, 1 << 20).is_none(),
        "not one object"
    );
}
