//! Reading events from PostHog's JSON shape (docs/contract.md §1).
//!
//! The parser is a serde visitor that keeps only what identity processing reads and skips
//! every other property without building it, which is most of the cost of a JSON line.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use super::model::{Event, EventKind, IdentityProperties, Project, Timestamp, name_of};
use super::value::Value;
use crate::error::EventError;

impl Event {
    /// Parses one JSON line (docs/contract.md §1).
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
    value.filter(|v| !matches!(v, Value::Null))
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
        Some(Value::Number(crate::event::Number::Int(id))) if id >= 0 => {
            Project::Team(id.unsigned_abs())
        }
        Some(Value::Number(crate::event::Number::UInt(id))) => Project::Team(id),
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
