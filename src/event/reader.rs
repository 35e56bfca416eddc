//! Reading events from PostHog's JSON shape: the flat line of docs/contract.md §1, and the
//! fields capture's shapes add (§1.1: the `distinct_id` and token fallbacks, `offset`,
//! `sent_at`, a batch envelope's members).
//!
//! The parser is a serde visitor that keeps only what identity processing reads and skips
//! every other property without building it, which is most of the cost of a JSON line. One
//! visitor reads both; [`Reading`] says which rules turn what it read into an [`Event`].
//! Plain lines (no escape, no control character) are first read by `super::scan` into the
//! same [`Parts`], faster; the visitor reads whatever that reader leaves.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::clock::{Arrival, Clock};
use super::model::{Event, EventKind, IdentityProperties, Project, Timestamp, UuidText, name_of};
use super::text::Text;
use super::value::Value;
use crate::error::EventError;

impl Event {
    /// Parses one flat JSON event object (docs/contract.md §1), and nothing of what
    /// capture's shapes add: for arrays, batch envelopes, gzip and the `distinct_id` and
    /// token fallbacks, read the body with [`CaptureRequest`](crate::CaptureRequest).
    ///
    /// # Errors
    ///
    /// An [`EventError`] naming what is wrong: not JSON, not an object, a missing or mistyped
    /// field, an invalid timestamp.
    pub fn from_json(line: &str) -> Result<Event, EventError> {
        Event::parse(line)
    }

    /// Parses one JSON line given as bytes; invalid UTF-8 is an error.
    ///
    /// # Errors
    ///
    /// As [`Event::from_json`].
    pub fn from_json_slice(line: &[u8]) -> Result<Event, EventError> {
        // One UTF-8 check of the whole line is several times faster than serde_json's check
        // of each string in turn, and a `&str` input lets it skip those.
        let text = std::str::from_utf8(line)
            .map_err(|e| EventError::Json(format!("invalid UTF-8: {e}")))?;
        Event::from_json(text)
    }

    fn parse(line: &str) -> Result<Event, EventError> {
        let mut parts = Parts::default();
        let keep = Keep {
            capture: false,
            lifted: true,
        };
        let end = read_object(line, keep, &mut parts).map_err(ReadFailure::into_event_error)?;
        let event = assemble(&mut parts, &Reading::Flat)?;
        end.map_err(EventError::Json)?;
        Ok(event)
    }
}

/// Why an object could not be read at all.
pub(crate) enum ReadFailure {
    /// A field's problem (`properties` of the wrong type): the object is an event, rejected.
    Problem(EventError),
    /// The parser's message: not JSON, or not an object.
    Json(String),
}

impl ReadFailure {
    pub(crate) fn into_event_error(self) -> EventError {
        match self {
            ReadFailure::Problem(problem) => problem,
            ReadFailure::Json(message) => EventError::Json(message),
        }
    }
}

/// Reads one JSON object into `parts` (default ones), the fields of §1.1 too when
/// `capture` is set. `Ok` holds the parser's verdict on what follows the object, kept apart
/// so that a field's problem is reported before trailing text, whichever the caller checks
/// first.
///
/// The parts are filled where the caller keeps them rather than returned: they are several
/// hundred bytes, and returning them through serde's layers copies them several times
/// a line.
///
/// The plain line is read by `super::scan`, directly; whatever it leaves (escapes, errors,
/// odd shapes) by the serde visitor, which alone decides what is rejected and why.
pub(crate) fn read_object<'de>(
    text: &'de str,
    keep: Keep,
    parts: &mut Parts<'de>,
) -> Result<Result<(), String>, ReadFailure> {
    if super::scan::scan_object(text, keep, parts).is_some() {
        return Ok(Ok(()));
    }
    *parts = Parts::default();
    read_object_by_serde(text, keep, parts)
}

/// [`read_object`] by the serde visitor alone.
pub(super) fn read_object_by_serde<'de>(
    text: &'de str,
    keep: Keep,
    parts: &mut Parts<'de>,
) -> Result<Result<(), String>, ReadFailure> {
    let mut problem = None;
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed = de.deserialize_any(EventVisitor {
        problem: &mut problem,
        keep,
        parts,
    });
    match (parsed, problem) {
        (_, Some(problem)) => Err(ReadFailure::Problem(problem)),
        (Ok(()), None) => Ok(de.end().map_err(|e| e.to_string())),
        (Err(e), None) => Err(ReadFailure::Json(e.to_string())),
    }
}

/// What [`read_object`] builds beyond the fields every reading needs. What it does not
/// keep is still checked as JSON and then skipped, so keeping less never changes which
/// objects are rejected.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Keep {
    /// The fields only §1.1 reads (`$distinct_id`, `offset`, `sent_at`, `batch`, and the
    /// `distinct_id` and `token` properties).
    pub(crate) capture: bool,
    /// The lifted event properties ([`LIFTED_KEYS`](super::LIFTED_KEYS)): an engine that
    /// does not lift never reads them, and their values are a large part of what a
    /// realistic event allocates.
    pub(crate) lifted: bool,
}

/// Top-level keys of an event line.
#[derive(Deserialize)]
#[serde(field_identifier)]
enum TopKey {
    #[serde(rename = "event")]
    Event,
    #[serde(rename = "distinct_id")]
    DistinctId,
    #[serde(rename = "properties")]
    Properties,
    #[serde(rename = "timestamp")]
    Timestamp,
    #[serde(rename = "uuid")]
    Uuid,
    #[serde(rename = "team_id")]
    TeamId,
    #[serde(rename = "token")]
    Token,
    #[serde(rename = "api_key")]
    ApiKey,
    #[serde(rename = "$set")]
    Set,
    #[serde(rename = "$set_once")]
    SetOnce,
    #[serde(rename = "$distinct_id")]
    DollarDistinctId,
    #[serde(rename = "offset")]
    Offset,
    #[serde(rename = "sent_at")]
    SentAt,
    #[serde(rename = "batch")]
    Batch,
    #[serde(other)]
    Other,
}

/// Reads the parts of an event from a JSON object. A typed problem is left in `problem`
/// and the deserializer is stopped with a bare error, so that the caller reports the typed
/// one. What `keep` leaves out is skipped unbuilt, as any unknown field is.
struct EventVisitor<'p, 'de> {
    problem: &'p mut Option<EventError>,
    keep: Keep,
    parts: &'p mut Parts<'de>,
}

impl EventVisitor<'_, '_> {
    fn fail<E: de::Error>(&mut self, problem: EventError) -> E {
        let message = problem.to_string();
        *self.problem = Some(problem);
        E::custom(message)
    }
}

impl<'de> Visitor<'de> for EventVisitor<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        let parts = &mut *self.parts;
        while let Some(key) = map.next_key::<TopKey>()? {
            match key {
                TopKey::Event => parts.name = Some(map.next_value()?),
                TopKey::DistinctId => parts.distinct_id = Some(map.next_value()?),
                TopKey::Properties => {
                    parts.props = IdentityProperties::default();
                    parts.capture_props = CaptureProperties::default();
                    let problem = map.next_value_seed(PropertiesSeed {
                        props: &mut parts.props,
                        capture: self.keep.capture.then_some(&mut parts.capture_props),
                        lifted: self.keep.lifted,
                    })?;
                    if let Some(problem) = problem {
                        return Err(self.fail(problem));
                    }
                }
                TopKey::Timestamp => parts.timestamp = Some(map.next_value()?),
                TopKey::Uuid => parts.uuid = Some(map.next_value()?),
                TopKey::TeamId => parts.team_id = Some(map.next_value()?),
                TopKey::Token => parts.token = Some(map.next_value()?),
                TopKey::ApiKey => parts.api_key = Some(map.next_value()?),
                TopKey::Set => parts.top_set = Some(map.next_value()?),
                TopKey::SetOnce => parts.top_set_once = Some(map.next_value()?),
                TopKey::DollarDistinctId if self.keep.capture => {
                    parts.dollar_distinct_id = Some(map.next_value()?);
                }
                TopKey::Offset if self.keep.capture => parts.offset = Some(map.next_value()?),
                TopKey::SentAt if self.keep.capture => parts.sent_at = Some(map.next_value()?),
                TopKey::Batch if self.keep.capture => parts.batch = Some(map.next_value()?),
                TopKey::DollarDistinctId
                | TopKey::Offset
                | TopKey::SentAt
                | TopKey::Batch
                | TopKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// The fields of one JSON object, as read, before [`assemble`] judges them.
#[derive(Default)]
pub(crate) struct Parts<'de> {
    pub(super) name: Option<Scalar<'de>>,
    pub(super) distinct_id: Option<Value>,
    pub(super) props: IdentityProperties,
    pub(super) timestamp: Option<Scalar<'de>>,
    pub(super) uuid: Option<Scalar<'de>>,
    pub(super) team_id: Option<Value>,
    pub(super) token: Option<Value>,
    pub(super) api_key: Option<Value>,
    pub(super) top_set: Option<Value>,
    pub(super) top_set_once: Option<Value>,
    pub(super) dollar_distinct_id: Option<Value>,
    pub(super) offset: Option<Value>,
    pub(super) sent_at: Option<Scalar<'de>>,
    /// Kept as its text: the members of a batch are read one by one, so that one bad event
    /// rejects only itself.
    pub(super) batch: Option<&'de RawValue>,
    pub(super) capture_props: CaptureProperties,
}

/// The properties that §1.1 reads and identity does not keep.
#[derive(Default)]
pub(super) struct CaptureProperties {
    pub(super) distinct_id: Option<Value>,
    pub(super) token: Option<Value>,
    pub(super) ignore_sent_at: Option<Value>,
}

impl CaptureProperties {
    pub(super) fn slot(&mut self, key: &str) -> Option<&mut Option<Value>> {
        match key {
            "distinct_id" => Some(&mut self.distinct_id),
            "token" => Some(&mut self.token),
            "$ignore_sent_at" => Some(&mut self.ignore_sent_at),
            _ => None,
        }
    }
}

/// The members of a batch envelope, `{"batch": [...], "api_key" or "token": ..., "sent_at":
/// ...}`.
pub(crate) struct Envelope<'de> {
    pub(crate) batch: Vec<&'de RawValue>,
    /// `token`, else `api_key`.
    pub(crate) token: Option<Box<str>>,
    pub(crate) sent_at: Option<Timestamp>,
}

impl<'de> Parts<'de> {
    /// The envelope these parts make, when they have a `batch` that is not `null`; `None`
    /// for an event. A `batch` that is not an array, or a mistyped `token`, `api_key` or
    /// `sent_at`, is an error.
    pub(crate) fn envelope(&mut self) -> Option<Result<Envelope<'de>, EventError>> {
        let batch = self.batch.take().filter(|raw| raw.get() != "null")?;
        let batch: Result<Vec<&'de RawValue>, _> = serde_json::from_str(batch.get());
        let read = || {
            let batch = batch.map_err(|_| EventError::WrongType {
                field: "batch",
                expected: "an array",
            })?;
            let token = match string_field(self.token.take(), "token")? {
                Some(token) => Some(token),
                None => string_field(self.api_key.take(), "api_key")?,
            };
            Ok(Envelope {
                batch,
                token,
                sent_at: sent_at_field(self.sent_at.take())?,
            })
        };
        Some(read())
    }

    /// The token the event names: its `token`, else `api_key`, else `properties.token` (a
    /// string; capture ignores any other).
    pub(crate) fn named_token(&self) -> Option<&str> {
        fn text(value: Option<&Value>) -> Option<&str> {
            match value {
                Some(Value::String(s)) => Some(s.as_str()),
                _ => None,
            }
        }
        text(self.token.as_ref())
            .or_else(|| text(self.api_key.as_ref()))
            .or_else(|| text(self.capture_props.token.as_ref()))
    }
}

/// What a request gives each of its events under capture's rules.
pub(crate) struct Request<'a> {
    /// The batch envelope's token, which beats the event's own.
    pub(crate) token: Option<&'a str>,
    /// The batch envelope's `sent_at`, for events that have none of their own.
    pub(crate) sent_at: Option<Timestamp>,
    pub(crate) arrival: Arrival,
}

/// Which rules make an event of its parts.
pub(crate) enum Reading<'a> {
    /// The flat line of docs/contract.md §1.
    Flat,
    /// Capture's shapes, docs/contract.md §1.1.
    Capture(&'a Request<'a>),
}

/// `null` counts as absent for every optional field.
fn present(value: Option<Value>) -> Option<Value> {
    value.filter(|v| !matches!(v, Value::Null))
}

fn string_field(value: Option<Value>, field: &'static str) -> Result<Option<Box<str>>, EventError> {
    match present(value) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.into())),
        Some(_) => Err(EventError::WrongType {
            field,
            expected: "a string",
        }),
    }
}

fn text_field<'de>(
    value: Option<Scalar<'de>>,
    field: &'static str,
) -> Result<Option<Cow<'de, str>>, EventError> {
    match value {
        None | Some(Scalar::Null) => Ok(None),
        Some(Scalar::Text(text)) => Ok(Some(text)),
        Some(Scalar::Other) => Err(EventError::WrongType {
            field,
            expected: "a string",
        }),
    }
}

/// `sent_at`: a string in either form `timestamp` accepts, or absent.
fn sent_at_field(value: Option<Scalar<'_>>) -> Result<Option<Timestamp>, EventError> {
    text_field(value, "sent_at")?
        .map(|text| {
            Timestamp::parse(&text)
                .map_err(|_| EventError::InvalidSentAt(text.chars().take(64).collect()))
        })
        .transpose()
}

/// Section 1: `distinct_id`, a string or a number.
fn flat_distinct_id(value: Option<Value>) -> Result<Text, EventError> {
    match present(value) {
        None => Err(EventError::Missing("distinct_id")),
        Some(Value::String(s)) => Ok(s),
        Some(Value::Number(n)) => Ok(n.to_string().into()),
        Some(_) => Err(EventError::WrongType {
            field: "distinct_id",
            expected: "a string or a number",
        }),
    }
}

/// Capture's `extract_distinct_id`: `distinct_id`, else `$distinct_id`, else
/// `properties.distinct_id`, `null` counting as absent; any value that is not a string is
/// taken as its JSON text (a number as section 1 writes it).
fn captured_distinct_id(parts: &mut Parts<'_>) -> Result<Text, EventError> {
    let value = present(parts.distinct_id.take())
        .or_else(|| present(parts.dollar_distinct_id.take()))
        .or_else(|| present(parts.capture_props.distinct_id.take()));
    match value {
        None => Err(EventError::Missing("distinct_id")),
        Some(Value::String(s)) => Ok(s),
        Some(Value::Number(n)) => Ok(n.to_string().into()),
        Some(other) => serde_json::to_string(&other)
            .map(Text::from)
            .map_err(|e| EventError::Json(e.to_string())),
    }
}

/// `offset`: whole milliseconds.
fn offset_field(value: Option<Value>) -> Result<Option<i64>, EventError> {
    let wrong = EventError::WrongType {
        field: "offset",
        expected: "a whole number",
    };
    match present(value) {
        None => Ok(None),
        Some(Value::Number(crate::event::Number::Int(ms))) => Ok(Some(ms)),
        Some(Value::Number(crate::event::Number::UInt(ms))) => {
            i64::try_from(ms).map(Some).map_err(|_| wrong)
        }
        Some(_) => Err(wrong),
    }
}

fn team_field(value: Option<Value>) -> Result<Option<Project>, EventError> {
    match present(value) {
        Some(Value::Number(crate::event::Number::Int(id))) if id >= 0 => {
            Ok(Some(Project::Team(id.unsigned_abs())))
        }
        Some(Value::Number(crate::event::Number::UInt(id))) => Ok(Some(Project::Team(id))),
        Some(_) => Err(EventError::WrongType {
            field: "team_id",
            expected: "a whole number",
        }),
        None => Ok(None),
    }
}

/// Section 1: `team_id`, else `token`, else `api_key`, else the default project.
fn flat_project(parts: &mut Parts<'_>) -> Result<Project, EventError> {
    if let Some(team) = team_field(parts.team_id.take())? {
        return Ok(team);
    }
    Ok(match string_field(parts.token.take(), "token")? {
        Some(token) => Project::Token(token),
        None => {
            string_field(parts.api_key.take(), "api_key")?.map_or(Project::Default, Project::Token)
        }
    })
}

/// Capture's `extract_token`, then `team_id`: the envelope's token, else the event's
/// `token`, else `api_key`, else `properties.token`, else `team_id`, else the default.
fn captured_project(parts: &mut Parts<'_>, request: &Request<'_>) -> Result<Project, EventError> {
    if let Some(token) = request.token {
        return Ok(Project::Token(token.into()));
    }
    if let Some(token) = string_field(parts.token.take(), "token")? {
        return Ok(Project::Token(token));
    }
    if let Some(token) = string_field(parts.api_key.take(), "api_key")? {
        return Ok(Project::Token(token));
    }
    if let Some(Value::String(token)) = parts.capture_props.token.take() {
        return Ok(Project::Token(token.into()));
    }
    Ok(team_field(parts.team_id.take())?.unwrap_or_default())
}

/// Makes an event of its parts by the rules of `reading`. Fields are judged in a fixed
/// order, so that a line with several problems always names the same one.
pub(crate) fn assemble(parts: &mut Parts<'_>, reading: &Reading<'_>) -> Result<Event, EventError> {
    let name = text_field(parts.name.take(), "event")?.ok_or(EventError::Missing("event"))?;
    let distinct_id = match reading {
        Reading::Flat => flat_distinct_id(parts.distinct_id.take())?,
        Reading::Capture(_) => captured_distinct_id(parts)?,
    };
    if distinct_id.trim().is_empty() {
        return Err(EventError::EmptyDistinctId);
    }
    let timestamp = text_field(parts.timestamp.take(), "timestamp")?
        .map(|text| Timestamp::parse(&text))
        .transpose()?;
    let timestamp = match reading {
        Reading::Flat => timestamp,
        Reading::Capture(request) => {
            let clock = Clock {
                timestamp,
                offset_ms: offset_field(parts.offset.take())?,
                sent_at: sent_at_field(parts.sent_at.take())?.or(request.sent_at),
                ignore_sent_at: parts.capture_props.ignore_sent_at == Some(Value::Bool(true)),
            };
            clock.event_time(request.arrival)?
        }
    };
    let uuid = text_field(parts.uuid.take(), "uuid")?.map(|text| UuidText::new(&text));
    let project = match reading {
        Reading::Flat => flat_project(parts)?,
        Reading::Capture(request) => captured_project(parts, request)?,
    };
    let mut props = std::mem::take(&mut parts.props);
    for (key, top) in [
        ("$set", parts.top_set.take()),
        ("$set_once", parts.top_set_once.take()),
    ] {
        match present(top) {
            None => {}
            Some(top @ Value::Object(_)) => props.merge_top_level(key, top),
            Some(_) => {
                return Err(EventError::WrongType {
                    field: if key == "$set" { "$set" } else { "$set_once" },
                    expected: "an object",
                });
            }
        }
    }
    Ok(Event {
        kind: EventKind::from_name(&name),
        name: name_of(&name),
        distinct_id,
        project,
        timestamp,
        uuid,
        props,
    })
}

/// Reads `properties`: an object, a string holding an object (ClickHouse exports), or null.
/// Yields a typed problem instead of an error for a wrong type, so the caller can name it.
struct PropertiesSeed<'a> {
    props: &'a mut IdentityProperties,
    /// Where the properties only §1.1 reads go; `None` skips them.
    capture: Option<&'a mut CaptureProperties>,
    /// Whether the lifted properties are kept ([`Keep::lifted`]).
    lifted: bool,
}

impl<'de> DeserializeSeed<'de> for PropertiesSeed<'_> {
    type Value = Option<EventError>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

const PROPERTIES_TYPE: EventError = EventError::WrongType {
    field: "properties",
    expected: "an object or a string holding one",
};

impl<'de> Visitor<'de> for PropertiesSeed<'_> {
    type Value = Option<EventError>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object or a string holding one")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Self::Value, A::Error> {
        while let Some(key) = map.next_key::<KeyText<'de>>()? {
            if let Some(entry) = self.props.entry(&key.0, self.lifted) {
                entry.set(map.next_value()?);
            } else if let Some(slot) = self.capture.as_deref_mut().and_then(|c| c.slot(&key.0)) {
                *slot = Some(map.next_value()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(None)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        let mut de = serde_json::Deserializer::from_str(text);
        let inner = de.deserialize_map(PropertiesSeed {
            props: self.props,
            capture: self.capture,
            lifted: self.lifted,
        });
        Ok(match inner.and_then(|problem| de.end().map(|()| problem)) {
            Ok(problem) => problem,
            Err(e) if e.is_data() => Some(PROPERTIES_TYPE),
            Err(e) => Some(EventError::PropertiesJson(e.to_string())),
        })
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Some(PROPERTIES_TYPE))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Some(PROPERTIES_TYPE))
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Some(PROPERTIES_TYPE))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Some(PROPERTIES_TYPE))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Some(PROPERTIES_TYPE))
    }
}

/// A string field's value, borrowed from the input when it has no escapes; only its type
/// is kept otherwise.
pub(super) enum Scalar<'de> {
    Null,
    Text(Cow<'de, str>),
    Other,
}

impl<'de> Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl<'de> Visitor<'de> for ScalarVisitor {
            type Value = Scalar<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(Scalar::Text(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
                Ok(Scalar::Text(Cow::Owned(s.to_owned())))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Scalar::Null)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Scalar::Other)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Scalar::Other)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Scalar::Other)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Scalar::Other)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Scalar::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Scalar::Other)
            }
        }
        deserializer.deserialize_any(ScalarVisitor)
    }
}

/// A map key, borrowed from the input when it has no escapes.
struct KeyText<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for KeyText<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = KeyText<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(KeyText(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
                Ok(KeyText(Cow::Owned(s.to_owned())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}
