//! Property values: a compact JSON value that owns its strings.
//!
//! `serde_json::Value` spends 32 bytes a value and a `String` (24 bytes) a key; persons hold
//! millions of values, so this type keeps short strings inline ([`Text`]) and boxes the
//! others and slices (24 bytes a value), and keeps object members sorted by key, which also
//! makes equality and output order deterministic.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use super::text::Text;

/// A JSON number, kept in the form it was read so that nothing is lost on output.
#[derive(Clone, Copy, Debug)]
pub enum Number {
    /// A whole number that fits `i64`.
    Int(i64),
    /// A whole number above `i64::MAX`.
    UInt(u64),
    /// Any other number.
    Float(f64),
}

impl Number {
    /// The number as `f64`, the way JavaScript sees every number.
    #[must_use]
    #[allow(clippy::cast_precision_loss, reason = "JavaScript numbers are f64")]
    pub fn as_f64(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::UInt(u) => u as f64,
            Number::Float(f) => f,
        }
    }
}

/// Numbers compare as JavaScript's `===` does: by their `f64` value, so `1` equals `1.0`.
impl PartialEq for Number {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Number::Int(a), Number::Int(b)) => a == b,
            (Number::UInt(a), Number::UInt(b)) => a == b,
            _ => self.as_f64() == other.as_f64(),
        }
    }
}

impl fmt::Display for Number {
    /// Formats as JavaScript's `String(n)` does for the values ids are made of: whole numbers
    /// without a fraction.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Number::Int(i) => write!(f, "{i}"),
            Number::UInt(u) => write!(f, "{u}"),
            Number::Float(x) if x.is_finite() && x.fract() == 0.0 && x.abs() < 1e21 => {
                write!(f, "{x:.0}")
            }
            Number::Float(x) => write!(f, "{x}"),
        }
    }
}

/// A JSON value as stored in person and group properties.
///
/// Object members are sorted by key and unique (the last duplicate wins, as in JSON parsers).
#[derive(Clone, Debug, PartialEq, Default)]
pub enum Value {
    /// `null`.
    #[default]
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number.
    Number(Number),
    /// A string, inline when short ([`Text`]).
    String(Text),
    /// An array.
    Array(Box<[Value]>),
    /// An object, members sorted by key.
    Object(Box<[(Box<str>, Value)]>),
}

impl Value {
    /// Builds an object from members in any order; for a repeated key the last one wins.
    #[must_use]
    pub fn object<K: Into<Box<str>>>(members: impl IntoIterator<Item = (K, Value)>) -> Value {
        let mut members: Vec<(Box<str>, Value)> =
            members.into_iter().map(|(k, v)| (k.into(), v)).collect();
        // A stable sort keeps repeated keys in input order; moving each later duplicate into
        // the slot of the one kept makes "last wins", without a second vector.
        if !members.is_sorted_by(|a, b| a.0 < b.0) {
            members.sort_by(|a, b| a.0.cmp(&b.0));
            members.dedup_by(|later, kept| {
                let repeated = later.0 == kept.0;
                if repeated {
                    std::mem::swap(later, kept);
                }
                repeated
            });
        }
        Value::Object(members.into_boxed_slice())
    }

    /// The members of an object, or `None` for any other value.
    #[must_use]
    pub fn as_object(&self) -> Option<&[(Box<str>, Value)]> {
        match self {
            Value::Object(members) => Some(members),
            _ => None,
        }
    }

    /// The text of a string, or `None` for any other value.
    #[must_use]
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s.as_str()),
            _ => None,
        }
    }

    /// Whether JavaScript would treat the value as true in a condition.
    #[must_use]
    pub fn is_truthy(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Number(n) => {
                let x = n.as_f64();
                x != 0.0 && !x.is_nan()
            }
            Value::String(s) => !s.is_empty(),
            Value::Array(_) | Value::Object(_) => true,
        }
    }

    /// The value as JavaScript's `String(value)` renders it, for ids given as non-strings.
    #[must_use]
    pub fn to_js_string(&self) -> String {
        match self {
            Value::Null => "null".to_owned(),
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => n.to_string(),
            Value::String(s) => s.to_string(),
            Value::Array(items) => items
                .iter()
                .map(|v| match v {
                    Value::Null => String::new(),
                    other => other.to_js_string(),
                })
                .collect::<Vec<_>>()
                .join(","),
            Value::Object(_) => "[object Object]".to_owned(),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.into())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s.into())
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Number(Number::Int(i))
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::Number(Number::Float(f))
    }
}

impl From<Vec<Value>> for Value {
    fn from(items: Vec<Value>) -> Self {
        Value::Array(items.into_boxed_slice())
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => serializer.serialize_unit(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Number(Number::Int(i)) => serializer.serialize_i64(*i),
            Value::Number(Number::UInt(u)) => serializer.serialize_u64(*u),
            Value::Number(Number::Float(f)) => serializer.serialize_f64(*f),
            Value::String(s) => serializer.serialize_str(s),
            Value::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Value::Object(members) => {
                let mut map = serializer.serialize_map(Some(members.len()))?;
                for (k, v) in members {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, i: i64) -> Result<Value, E> {
        Ok(Value::Number(Number::Int(i)))
    }

    fn visit_u64<E>(self, u: u64) -> Result<Value, E> {
        Ok(Value::Number(
            i64::try_from(u).map_or(Number::UInt(u), Number::Int),
        ))
    }

    fn visit_f64<E>(self, f: f64) -> Result<Value, E> {
        Ok(Value::Number(Number::Float(f)))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.into()))
    }

    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s.into()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items.into_boxed_slice()))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut members = Members::default();
        while let Some(key) = map.next_key::<Box<str>>()? {
            members.push(key, map.next_value()?);
        }
        Ok(members.into_object())
    }
}

/// An object's members as they are read. The first eight gather on the stack, so that an
/// object of up to eight (a `$set` is a few) is one allocation of its exact size, where a
/// growing vector would be two or three and a shrink (JSON gives no length to reserve).
#[derive(Default)]
pub(super) struct Members {
    first: [(Box<str>, Value); 8],
    gathered: usize,
    rest: Vec<(Box<str>, Value)>,
}

impl Members {
    pub(super) fn push(&mut self, key: Box<str>, value: Value) {
        match self.first.get_mut(self.gathered) {
            Some(slot) => {
                *slot = (key, value);
                self.gathered += 1;
            }
            None => self.rest.push((key, value)),
        }
    }

    /// The object, sorted by key, the last of a repeated key kept ([`Value::object`]).
    pub(super) fn into_object(self) -> Value {
        let Members {
            first,
            gathered,
            rest,
        } = self;
        Value::object(first.into_iter().take(gathered).chain(rest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn round_trip(json: &str, expected: &str) {
        let value: Value = serde_json::from_str(json).expect("valid JSON");
        assert_eq!(serde_json::to_string(&value).expect("serializes"), expected);
    }

    #[test]
    fn objects_are_sorted_and_last_duplicate_wins() {
        round_trip(r#"{"b":1,"a":2,"b":3}"#, r#"{"a":2,"b":3}"#);
    }

    #[test]
    fn objects_past_the_members_gathered_on_the_stack_are_read_whole() {
        // Eleven members: eight gathered on the stack, three after; a repeat on each side.
        round_trip(
            r#"{"k":1,"j":2,"i":3,"h":4,"k":5,"g":6,"f":7,"e":8,"d":9,"c":10,"e":11}"#,
            r#"{"c":10,"d":9,"e":11,"f":7,"g":6,"h":4,"i":3,"j":2,"k":5}"#,
        );
    }

    #[test]
    fn numbers_keep_their_form() {
        round_trip(
            "[1,-2,18446744073709551615,1.5]",
            "[1,-2,18446744073709551615,1.5]",
        );
    }

    #[test]
    fn numbers_compare_like_javascript() {
        assert_eq!(Number::Int(1), Number::Float(1.0));
        assert_ne!(Number::Int(1), Number::Float(1.5));
    }

    #[test]
    fn js_string_matches_javascript() {
        assert_eq!(Value::Null.to_js_string(), "null");
        assert_eq!(Value::from(3.0).to_js_string(), "3");
        assert_eq!(
            Value::object([("a", Value::Null)]).to_js_string(),
            "[object Object]"
        );
        assert_eq!(
            Value::from(vec![Value::from(1), Value::Null, Value::from("x")]).to_js_string(),
            "1,,x"
        );
    }

    #[test]
    fn truthiness_matches_javascript() {
        assert!(!Value::from("").is_truthy());
        assert!(!Value::from(0).is_truthy());
        assert!(!Value::Null.is_truthy());
        assert!(Value::from(vec![]).is_truthy());
        assert!(Value::from("0").is_truthy());
    }
}
