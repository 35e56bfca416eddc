//! The competent baseline's parse: what an afternoon's serde code reads a line with. A
//! visitor over the line's bytes borrows the strings it only compares, builds values only
//! for the keys the rules read (and the lifted ones), and skips everything else with
//! `IgnoredAny`, so it never builds the tree `BaselineEvent::parse` builds. It must give
//! exactly the `BaselineEvent` of that parse (tests/baseline_agrees.rs), so that the two
//! baselines differ in their parse alone.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;

use super::{BaselineEvent, Kind, LIFTED_KEYS, parse_timestamp};

/// The keys of `properties` the rules read, besides the lifted ones.
#[derive(Default)]
struct Properties {
    set: Option<Value>,
    set_once: Option<Value>,
    unset: Option<Value>,
    anon_distinct_id: Option<Value>,
    alias: Option<Value>,
    group_type: Option<Value>,
    group_key: Option<Value>,
    group_set: Option<Value>,
    process_person_profile: Option<Value>,
    is_server: Option<Value>,
    /// By index into `LIFTED_KEYS`, the last of a repeated key winning.
    lifted: Vec<(usize, Value)>,
}

#[derive(Default)]
struct Line<'a> {
    event: Option<Cow<'a, str>>,
    distinct_id: Option<Value>,
    timestamp: Option<Value>,
    /// The last `properties` key's, when it was an object.
    properties: Option<Properties>,
    top_set: Option<Value>,
    top_set_once: Option<Value>,
}

impl BaselineEvent {
    /// Parses one JSON line as [`BaselineEvent::parse`] does, without building what the
    /// rules do not read; `None` for a line that is not an event.
    pub fn parse_typed(line: &[u8]) -> Option<BaselineEvent> {
        let mut de = serde_json::Deserializer::from_slice(line);
        let line = de.deserialize_map(LineVisitor).ok()?;
        de.end().ok()?;
        line.into_event()
    }
}

impl Line<'_> {
    fn into_event(self) -> Option<BaselineEvent> {
        let name = self.event?;
        let distinct_id = match self.distinct_id? {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            _ => return None,
        };
        if distinct_id.trim().is_empty() {
            return None;
        }
        let timestamp = match self.timestamp {
            Some(Value::String(text)) => parse_timestamp(&text)?,
            _ => 0,
        };
        let mut props = self.properties.unwrap_or_default();
        // PostHog's `sanitizeEvent`, as `BaselineEvent::parse` applies it.
        for (outer, inner) in [
            (self.top_set, &mut props.set),
            (self.top_set_once, &mut props.set_once),
        ] {
            if let Some(Value::Object(outer)) = outer {
                match inner {
                    Some(Value::Object(inner)) => inner.extend(outer),
                    _ => *inner = Some(Value::Object(outer)),
                }
            }
        }
        props.lifted.sort_by_key(|(index, _)| *index);
        let kind = Kind::of_name(&name);
        Some(BaselineEvent {
            kind,
            distinct_id,
            timestamp,
            set: props.set,
            set_once: props.set_once,
            unset: props.unset,
            anon_distinct_id: props.anon_distinct_id,
            alias: props.alias,
            group_type: props.group_type,
            group_key: props.group_key,
            group_set: props.group_set,
            process_person_profile: props.process_person_profile,
            is_server: props.is_server == Some(Value::Bool(true)),
            lifted: props.lifted,
        })
    }
}

struct LineVisitor;

impl<'de> Visitor<'de> for LineVisitor {
    type Value = Line<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an event object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Line<'de>, A::Error> {
        let mut line = Line::default();
        while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
            match key.as_ref() {
                // Not a string: the line is no event, here as in `parse`.
                "event" => line.event = Some(map.next_value::<Text<'de>>()?.0),
                "distinct_id" => line.distinct_id = Some(map.next_value()?),
                "timestamp" => line.timestamp = Some(map.next_value()?),
                "properties" => line.properties = map.next_value::<MaybeProperties>()?.0,
                "$set" => line.top_set = Some(map.next_value()?),
                "$set_once" => line.top_set_once = Some(map.next_value()?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(line)
    }
}

/// `properties` when it is an object; any other value counts as none, as in `parse`.
struct MaybeProperties(Option<Properties>);

impl<'de> de::Deserialize<'de> for MaybeProperties {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<MaybeProperties, D::Error> {
        d.deserialize_any(PropertiesVisitor)
    }
}

struct PropertiesVisitor;

impl<'de> Visitor<'de> for PropertiesVisitor {
    type Value = MaybeProperties;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<MaybeProperties, A::Error> {
        let mut props = Properties::default();
        while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
            let slot = match key.as_ref() {
                "$set" => &mut props.set,
                "$set_once" => &mut props.set_once,
                "$unset" => &mut props.unset,
                "$anon_distinct_id" => &mut props.anon_distinct_id,
                "alias" => &mut props.alias,
                "$group_type" => &mut props.group_type,
                "$group_key" => &mut props.group_key,
                "$group_set" => &mut props.group_set,
                "$process_person_profile" => &mut props.process_person_profile,
                "$is_server" => &mut props.is_server,
                other => {
                    match LIFTED_KEYS.iter().position(|(k, _)| *k == other) {
                        Some(index) => {
                            let value = map.next_value::<Value>()?;
                            props.lifted.retain(|(i, _)| *i != index);
                            props.lifted.push((index, value));
                        }
                        None => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                    continue;
                }
            };
            *slot = Some(map.next_value()?);
        }
        Ok(MaybeProperties(Some(props)))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<MaybeProperties, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(MaybeProperties(None))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<MaybeProperties, E> {
        Ok(MaybeProperties(None))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<MaybeProperties, E> {
        Ok(MaybeProperties(None))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<MaybeProperties, E> {
        Ok(MaybeProperties(None))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<MaybeProperties, E> {
        Ok(MaybeProperties(None))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<MaybeProperties, E> {
        Ok(MaybeProperties(None))
    }

    fn visit_unit<E: de::Error>(self) -> Result<MaybeProperties, E> {
        Ok(MaybeProperties(None))
    }
}

/// A string borrowed from the line when it has no escapes (serde's own `Cow<str>` always
/// copies).
struct Text<'a>(Cow<'a, str>);

impl<'de> de::Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Text<'de>, D::Error> {
        d.deserialize_str(TextVisitor)
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Text<'de>, E> {
        Ok(Text(Cow::Borrowed(s)))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Text<'de>, E> {
        Ok(Text(Cow::Owned(s.to_owned())))
    }
}
