//! Typed events and their parsing from PostHog's JSON shape (CONTRACT.md section 1).
//!
//! An [`Event`] keeps only what identity processing reads: the name, the distinct id, the
//! project, the time, the uuid and the few properties the rules look at. Every other property
//! is skipped while parsing, without being built, which is most of the cost of a JSON line.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use crate::error::EventError;
use crate::rules::{LIFTED_KEYS, lifted_key_index};
use crate::value::Value;

/// What an event means to identity processing, derived from its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// `$identify`: may merge `$anon_distinct_id` into `distinct_id`.
    Identify,
    /// `$create_alias`: may merge `alias` into `distinct_id`.
    CreateAlias,
    /// `$merge_dangerously`: like `$create_alias`, without the already-identified guard.
    MergeDangerously,
    /// `$set`: an ordinary update that churn filtering never suppresses.
    Set,
    /// `$groupidentify`: updates a group; never changes person properties.
    GroupIdentify,
    /// `$exception` or `$$heatmap`: never writes person properties.
    NoPersonUpdate,
    /// Any other event (`$pageview`, custom names).
    Other,
}

impl EventKind {
    /// The kind of an event name.
    #[must_use]
    pub fn from_name(name: &str) -> EventKind {
        match name {
            "$identify" => EventKind::Identify,
            "$create_alias" => EventKind::CreateAlias,
            "$merge_dangerously" => EventKind::MergeDangerously,
            "$set" => EventKind::Set,
            "$groupidentify" => EventKind::GroupIdentify,
            "$exception" | "$$heatmap" => EventKind::NoPersonUpdate,
            _ => EventKind::Other,
        }
    }

    /// The events PostHog calls "person events": their updates are always written.
    #[must_use]
    pub fn is_person_event(self) -> bool {
        matches!(
            self,
            EventKind::Identify
                | EventKind::CreateAlias
                | EventKind::MergeDangerously
                | EventKind::Set
        )
    }
}

/// The project an event belongs to. Persons of different projects never meet.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Project {
    /// Events that name no project.
    #[default]
    Default,
    /// A numeric `team_id`.
    Team(u64),
    /// A `token` or `api_key`.
    Token(Box<str>),
}

impl fmt::Display for Project {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Project::Default => f.write_str("default"),
            Project::Team(id) => write!(f, "{id}"),
            Project::Token(token) => f.write_str(token),
        }
    }
}

/// A point in time, in microseconds since the Unix epoch (UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The Unix epoch.
    pub const EPOCH: Timestamp = Timestamp(0);

    /// A timestamp from microseconds since the Unix epoch.
    #[must_use]
    pub const fn from_unix_micros(micros: i64) -> Timestamp {
        Timestamp(micros)
    }

    /// Microseconds since the Unix epoch.
    #[must_use]
    pub const fn unix_micros(self) -> i64 {
        self.0
    }

    /// The current time of the system clock.
    #[must_use]
    pub fn now() -> Timestamp {
        let now = time::OffsetDateTime::now_utc();
        Timestamp(micros_of(now))
    }

    /// Parses an RFC 3339 timestamp. ClickHouse's `2024-01-01 00:00:00.123` form (a space for
    /// the `T`, no offset, meaning UTC) is accepted too, since PostHog exports use it.
    ///
    /// # Errors
    ///
    /// [`EventError::InvalidTimestamp`] when the text is neither form;
    /// [`EventError::TimestampOutOfRange`] when its time in UTC falls outside years
    /// 0000-9999 (`9999-12-31T23:00:00-05:00`).
    pub fn parse(text: &str) -> Result<Timestamp, EventError> {
        use time::format_description::well_known::Rfc3339;
        let invalid = || EventError::InvalidTimestamp(text.chars().take(64).collect());
        if let Ok(t) = time::OffsetDateTime::parse(text, &Rfc3339) {
            return in_utc_range(t, text);
        }
        if text.len() >= 19 && text.as_bytes().get(10) == Some(&b' ') && text.is_ascii() {
            let mut fixed = String::with_capacity(text.len() + 1);
            fixed.push_str(&text[..10]);
            fixed.push('T');
            fixed.push_str(&text[11..]);
            if !text[11..].contains(['Z', 'z', '+', '-']) {
                fixed.push('Z');
            }
            if let Ok(t) = time::OffsetDateTime::parse(&fixed, &Rfc3339) {
                return in_utc_range(t, text);
            }
        }
        Err(invalid())
    }
}

/// `t`, parsed from `text`, when it falls in years 0000-9999 in UTC. Times are written in
/// UTC (the dump's `created_at`), and RFC 3339 has four digits for the year, so a time that
/// an offset takes past either end could be read but never written back.
fn in_utc_range(t: time::OffsetDateTime, text: &str) -> Result<Timestamp, EventError> {
    match t.checked_to_offset(time::UtcOffset::UTC) {
        Some(utc) if (0..=9999).contains(&utc.year()) => Ok(Timestamp(micros_of(t))),
        _ => Err(EventError::TimestampOutOfRange(
            text.chars().take(64).collect(),
        )),
    }
}

fn micros_of(t: time::OffsetDateTime) -> i64 {
    // time's range (years -9999..=9999) is well inside i64 microseconds.
    i64::try_from(t.unix_timestamp_nanos() / 1000).unwrap_or(i64::MAX)
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC, with a fraction only when there is one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use time::format_description::well_known::Rfc3339;
        let formatted = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1000)
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok());
        match formatted {
            Some(text) => f.write_str(&text),
            None => write!(f, "@{}us", self.0),
        }
    }
}

/// The properties identity processing reads. Everything else is dropped at parse time.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct IdentityProperties {
    pub(crate) set: Option<Value>,
    pub(crate) set_once: Option<Value>,
    pub(crate) unset: Option<Value>,
    pub(crate) anon_distinct_id: Option<Value>,
    pub(crate) alias: Option<Value>,
    pub(crate) group_type: Option<Value>,
    pub(crate) group_key: Option<Value>,
    pub(crate) group_set: Option<Value>,
    pub(crate) process_person_profile: Option<Value>,
    pub(crate) is_server: Option<Value>,
    /// Event properties that are lifted into person properties, by index into
    /// [`LIFTED_KEYS`], in the order they were given.
    pub(crate) lifted: Vec<(u8, Value)>,
}

impl IdentityProperties {
    fn slot(&mut self, key: &str) -> Option<&mut Option<Value>> {
        Some(match key {
            "$set" => &mut self.set,
            "$set_once" => &mut self.set_once,
            "$unset" => &mut self.unset,
            "$anon_distinct_id" => &mut self.anon_distinct_id,
            "alias" => &mut self.alias,
            "$group_type" => &mut self.group_type,
            "$group_key" => &mut self.group_key,
            "$group_set" => &mut self.group_set,
            "$process_person_profile" => &mut self.process_person_profile,
            "$is_server" => &mut self.is_server,
            _ => return None,
        })
    }

    fn get(&self, key: &str) -> Option<&Value> {
        match key {
            "$set" => self.set.as_ref(),
            "$set_once" => self.set_once.as_ref(),
            "$unset" => self.unset.as_ref(),
            "$anon_distinct_id" => self.anon_distinct_id.as_ref(),
            "alias" => self.alias.as_ref(),
            "$group_type" => self.group_type.as_ref(),
            "$group_key" => self.group_key.as_ref(),
            "$group_set" => self.group_set.as_ref(),
            "$process_person_profile" => self.process_person_profile.as_ref(),
            "$is_server" => self.is_server.as_ref(),
            _ => {
                let index = lifted_key_index(key)?;
                self.lifted
                    .iter()
                    .find(|(i, _)| *i == index)
                    .map(|(_, v)| v)
            }
        }
    }

    /// Whether `insert` would keep a property of this name.
    fn retains(key: &str) -> bool {
        matches!(
            key,
            "$set"
                | "$set_once"
                | "$unset"
                | "$anon_distinct_id"
                | "alias"
                | "$group_type"
                | "$group_key"
                | "$group_set"
                | "$process_person_profile"
                | "$is_server"
        ) || lifted_key_index(key).is_some()
    }

    fn insert(&mut self, key: &str, value: Value) {
        if let Some(slot) = self.slot(key) {
            *slot = Some(value);
        } else if let Some(index) = lifted_key_index(key) {
            // A repeated key replaces the earlier value, as JSON parsers do.
            match self.lifted.iter_mut().find(|(i, _)| *i == index) {
                Some(entry) => entry.1 = value,
                None => self.lifted.push((index, value)),
            }
        }
    }

    /// Merges a top-level `$set`/`$set_once` object into the property of the same name, the
    /// top-level keys winning (PostHog's `sanitizeEvent`).
    fn merge_top_level(&mut self, key: &str, top: Value) {
        let Some(slot) = self.slot(key) else { return };
        let merged = match (slot.take(), top) {
            (Some(Value::Object(inner)), Value::Object(outer)) => {
                Value::object(inner.into_vec().into_iter().chain(outer.into_vec()))
            }
            (_, top) => top,
        };
        *slot = Some(merged);
    }
}

/// Event names common enough to share one static copy.
const KNOWN_NAMES: [&str; 16] = [
    "$pageview",
    "$pageleave",
    "$autocapture",
    "$rageclick",
    "$screen",
    "$identify",
    "$create_alias",
    "$merge_dangerously",
    "$set",
    "$groupidentify",
    "$exception",
    "$$heatmap",
    "$web_vitals",
    "$feature_flag_called",
    "$opt_in",
    "$snapshot",
];

fn name_of(name: &str) -> Cow<'static, str> {
    KNOWN_NAMES
        .iter()
        .find(|known| **known == name)
        .map_or_else(
            || Cow::Owned(name.to_owned()),
            |known| Cow::Borrowed(*known),
        )
}

/// One analytics event, as identity processing sees it.
///
/// ```
/// use idgraph::{Event, EventKind, Value};
///
/// let event = Event::new("$identify", "user_1")
///     .with_property("$anon_distinct_id", "anon_1")
///     .with_property("$set", Value::object([("plan", Value::from("pro"))]));
/// assert_eq!(event.kind(), EventKind::Identify);
/// assert_eq!(event.property("$anon_distinct_id"), Some(&Value::from("anon_1")));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    kind: EventKind,
    /// Borrowed from [`KNOWN_NAMES`] for the common names, so most events allocate no name.
    name: Cow<'static, str>,
    distinct_id: Box<str>,
    project: Project,
    timestamp: Option<Timestamp>,
    uuid: Option<Box<str>>,
    pub(crate) props: IdentityProperties,
}

impl Event {
    /// An event with no properties, in the default project, without a timestamp (the engine
    /// then uses the time it applies the event).
    #[must_use]
    pub fn new(name: impl Into<Box<str>>, distinct_id: impl Into<Box<str>>) -> Event {
        let name: Box<str> = name.into();
        Event {
            kind: EventKind::from_name(&name),
            name: name_of(&name),
            distinct_id: distinct_id.into(),
            project: Project::Default,
            timestamp: None,
            uuid: None,
            props: IdentityProperties::default(),
        }
    }

    /// Sets a property. Properties that identity processing never reads are dropped.
    #[must_use]
    pub fn with_property(mut self, key: &str, value: impl Into<Value>) -> Event {
        self.props.insert(key, value.into());
        self
    }

    /// Sets the event time.
    #[must_use]
    pub fn with_timestamp(mut self, timestamp: Timestamp) -> Event {
        self.timestamp = Some(timestamp);
        self
    }

    /// Sets the project.
    #[must_use]
    pub fn with_project(mut self, project: Project) -> Event {
        self.project = project;
        self
    }

    /// Sets the event uuid, echoed in warnings.
    #[must_use]
    pub fn with_uuid(mut self, uuid: impl Into<Box<str>>) -> Event {
        self.uuid = Some(uuid.into());
        self
    }

    /// What the event means to identity processing.
    #[must_use]
    pub fn kind(&self) -> EventKind {
        self.kind
    }

    /// The event name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The distinct id of whoever did it.
    #[must_use]
    pub fn distinct_id(&self) -> &str {
        &self.distinct_id
    }

    /// The project.
    #[must_use]
    pub fn project(&self) -> &Project {
        &self.project
    }

    /// The event time, if the event had one.
    #[must_use]
    pub fn timestamp(&self) -> Option<Timestamp> {
        self.timestamp
    }

    /// The event uuid, if the event had one.
    #[must_use]
    pub fn uuid(&self) -> Option<&str> {
        self.uuid.as_deref()
    }

    /// A property that identity processing reads (`$set`, `$anon_distinct_id`, `$browser`, ...);
    /// `None` when absent or not one of those.
    #[must_use]
    pub fn property(&self, key: &str) -> Option<&Value> {
        self.props.get(key)
    }

    /// The lifted event properties (`$browser`, `utm_source`, ...) present on the event.
    pub fn lifted_properties(&self) -> impl Iterator<Item = (&'static str, &Value)> {
        self.props
            .lifted
            .iter()
            .map(|(i, v)| (LIFTED_KEYS[usize::from(*i)].0, v))
    }

    /// Parses one JSON line (CONTRACT.md section 1).
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
        let mut problem = None;
        let mut de = serde_json::Deserializer::from_str(line);
        let parsed = de
            .deserialize_any(EventVisitor {
                problem: &mut problem,
            })
            .and_then(|event| de.end().map(|()| event));
        match (parsed, problem) {
            (_, Some(problem)) => Err(problem),
            (Ok(event), None) => Ok(event),
            (Err(e), None) => Err(EventError::Json(e.to_string())),
        }
    }
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
    #[serde(other)]
    Other,
}

/// Builds an [`Event`] from a JSON object. A typed problem is left in `problem` and the
/// deserializer is stopped with a bare error, so that the caller reports the typed one.
struct EventVisitor<'p> {
    problem: &'p mut Option<EventError>,
}

impl EventVisitor<'_> {
    fn fail<E: de::Error>(&mut self, problem: EventError) -> E {
        let message = problem.to_string();
        *self.problem = Some(problem);
        E::custom(message)
    }
}

impl<'de> Visitor<'de> for EventVisitor<'_> {
    type Value = Event;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Event, A::Error> {
        let mut name: Option<Scalar<'de>> = None;
        let mut distinct_id: Option<Value> = None;
        let mut props = IdentityProperties::default();
        let mut timestamp: Option<Scalar<'de>> = None;
        let mut uuid: Option<Value> = None;
        let mut team_id: Option<Value> = None;
        let mut token: Option<Value> = None;
        let mut api_key: Option<Value> = None;
        let mut top_set: Option<Value> = None;
        let mut top_set_once: Option<Value> = None;
        while let Some(key) = map.next_key::<TopKey>()? {
            match key {
                TopKey::Event => name = Some(map.next_value()?),
                TopKey::DistinctId => distinct_id = Some(map.next_value()?),
                TopKey::Properties => {
                    props = IdentityProperties::default();
                    let problem = map.next_value_seed(PropertiesSeed { props: &mut props })?;
                    if let Some(problem) = problem {
                        return Err(self.fail(problem));
                    }
                }
                TopKey::Timestamp => timestamp = Some(map.next_value()?),

                TopKey::Uuid => uuid = Some(map.next_value()?),
                TopKey::TeamId => team_id = Some(map.next_value()?),
                TopKey::Token => token = Some(map.next_value()?),
                TopKey::ApiKey => api_key = Some(map.next_value()?),
                TopKey::Set => top_set = Some(map.next_value()?),
                TopKey::SetOnce => top_set_once = Some(map.next_value()?),
                TopKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let event = assemble(Parts {
            name,
            distinct_id,
            props,
            timestamp,
            uuid,
            team_id,
            token,
            api_key,
            top_set,
            top_set_once,
        });
        event.map_err(|problem| self.fail(problem))
    }
}

struct Parts<'de> {
    name: Option<Scalar<'de>>,
    distinct_id: Option<Value>,
    props: IdentityProperties,
    timestamp: Option<Scalar<'de>>,
    uuid: Option<Value>,
    team_id: Option<Value>,
    token: Option<Value>,
    api_key: Option<Value>,
    top_set: Option<Value>,
    top_set_once: Option<Value>,
}

/// `null` counts as absent for every optional field.
fn present(value: Option<Value>) -> Option<Value> {
    value.filter(|v| *v != Value::Null)
}

fn string_field(value: Option<Value>, field: &'static str) -> Result<Option<Box<str>>, EventError> {
    match present(value) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
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

fn assemble(parts: Parts<'_>) -> Result<Event, EventError> {
    let name = text_field(parts.name, "event")?.ok_or(EventError::Missing("event"))?;
    let distinct_id = match present(parts.distinct_id) {
        None => return Err(EventError::Missing("distinct_id")),
        Some(Value::String(s)) => s,
        Some(Value::Number(n)) => n.to_string().into_boxed_str(),
        Some(_) => {
            return Err(EventError::WrongType {
                field: "distinct_id",
                expected: "a string or a number",
            });
        }
    };
    if distinct_id.trim().is_empty() {
        return Err(EventError::EmptyDistinctId);
    }
    let timestamp = text_field(parts.timestamp, "timestamp")?
        .map(|text| Timestamp::parse(&text))
        .transpose()?;
    let uuid = string_field(parts.uuid, "uuid")?;
    let project = match present(parts.team_id) {
        Some(Value::Number(crate::value::Number::Int(id))) if id >= 0 => {
            Project::Team(id.unsigned_abs())
        }
        Some(Value::Number(crate::value::Number::UInt(id))) => Project::Team(id),
        Some(_) => {
            return Err(EventError::WrongType {
                field: "team_id",
                expected: "a whole number",
            });
        }
        None => match string_field(parts.token, "token")? {
            Some(token) => Project::Token(token),
            None => {
                string_field(parts.api_key, "api_key")?.map_or(Project::Default, Project::Token)
            }
        },
    };
    let mut props = parts.props;
    for (key, top) in [("$set", parts.top_set), ("$set_once", parts.top_set_once)] {
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

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while let Some(key) = map.next_key::<KeyText<'de>>()? {
            if IdentityProperties::retains(&key.0) {
                let value: Value = map.next_value()?;
                self.props.insert(&key.0, value);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(None)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        let mut de = serde_json::Deserializer::from_str(text);
        let inner = de.deserialize_map(PropertiesSeed { props: self.props });
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
enum Scalar<'de> {
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

#[cfg(test)]
mod tests;
