//! The person properties size limit (docs/behaviour.md §13, decision 16): how big a person's
//! properties are, and which of them a trim drops.
//!
//! PostHog's limit is Postgres's stored size of the properties column, which an in-process
//! engine cannot reproduce; the properties written as compact JSON stand in for it. The
//! size is never stored: it is measured when an event would change a person's properties,
//! through a cheap upper bound first, so that a person far below the limit is never
//! serialized.

use std::io;

use serde::Serialize;

use crate::event::Value;
use crate::graph::{Interner, Prop, PropKey, ValueStore};

/// Above this many bytes a person's properties are past the limit (640 KiB, PostHog's
/// `DEFAULT_PERSON_PROPERTIES_DB_CONSTRAINT_LIMIT_BYTES`).
pub(crate) const SIZE_LIMIT: usize = 655_360;

/// What a trim brings a person's properties down to, when protected keys allow (512 KiB,
/// PostHog's `DEFAULT_PERSON_PROPERTIES_TRIM_TARGET_BYTES`).
pub(crate) const TRIM_TARGET: usize = 524_288;

/// The keys a trim never drops: PostHog's `ALL_PROTECTED_PROPERTIES` (PPU `canTrimProperty`),
/// sorted for binary search.
const PROTECTED: [&str; 60] = [
    "$anon_distinct_id",
    "$app_build",
    "$app_name",
    "$app_namespace",
    "$app_version",
    "$browser",
    "$browser_version",
    "$current_url",
    "$device_id",
    "$device_type",
    "$host",
    "$initial_referrer",
    "$initial_referring_domain",
    "$initial_utm_campaign",
    "$initial_utm_content",
    "$initial_utm_medium",
    "$initial_utm_source",
    "$initial_utm_term",
    "$os",
    "$os_name",
    "$os_version",
    "$pageview_id",
    "$pathname",
    "$raw_user_agent",
    "$referrer",
    "$referring_domain",
    "$screen_height",
    "$screen_width",
    "$session_id",
    "$user_id",
    "$viewport_height",
    "$viewport_width",
    "$window_id",
    "_kx",
    "dclid",
    "email",
    "epik",
    "fbclid",
    "gad_source",
    "gbraid",
    "gclid",
    "gclsrc",
    "igshid",
    "irclid",
    "li_fat_id",
    "mc_cid",
    "msclkid",
    "name",
    "qclid",
    "rdt_cid",
    "sccid",
    "ttclid",
    "twclid",
    "utm_campaign",
    "utm_content",
    "utm_medium",
    "utm_name",
    "utm_source",
    "utm_term",
    "wbraid",
];

/// Whether a trim keeps `key` whatever its size.
pub(crate) fn is_protected(key: &str) -> bool {
    PROTECTED.binary_search(&key).is_ok()
}

/// Counts what serde_json writes.
struct Counter(usize);

impl io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The bytes of `value` in serde_json's compact encoding.
fn json_len(value: &(impl Serialize + ?Sized)) -> usize {
    let mut counter = Counter(0);
    // Neither a counter nor a string or a `Value` (string keys only) can fail to serialize.
    let _ = serde_json::to_writer(&mut counter, value);
    counter.0
}

/// The bytes of `"key":value`.
pub(crate) fn entry_len(key: &str, value: &Value) -> usize {
    json_len(key) + 1 + json_len(value)
}

/// The bytes of an object of `entries` members whose `"key":value` take `sum` bytes.
pub(crate) fn object_len(entries: usize, sum: usize) -> usize {
    2 + sum + entries.saturating_sub(1)
}

/// At least the bytes of a JSON string of `len` bytes, without reading it: serde_json
/// writes each byte as at most six (`\u001f`).
fn string_bound(len: usize) -> usize {
    6 * len + 2
}

/// At least [`json_len`] of `value`; reads no string.
fn value_bound(value: &Value) -> usize {
    match value {
        Value::Null => 4,
        Value::Bool(_) => 5,
        // `-9223372036854775808`, `18446744073709551615` or ryu's longest, `-2.2250738585072014e-308`.
        Value::Number(_) => 24,
        Value::String(s) => string_bound(s.len()),
        Value::Array(items) => 2 + items.iter().map(|v| value_bound(v) + 1).sum::<usize>(),
        Value::Object(members) => {
            2 + members
                .iter()
                .map(|(k, v)| string_bound(k.len()) + value_bound(v) + 2)
                .sum::<usize>()
        }
    }
}

/// At least [`entry_len`] of `key` and `value`, plus the comma after it.
pub(crate) fn entry_bound(key: &str, value: &Value) -> usize {
    string_bound(key.len()) + value_bound(value) + 2
}

/// At least the size of `props`, with the two braces.
pub(crate) fn props_bound(props: &[Prop], names: &Interner, values: &ValueStore) -> usize {
    2 + props
        .iter()
        .map(|p| entry_bound(names.get(p.key.raw()), values.get(p.value)))
        .sum::<usize>()
}

/// The exact size of `props`.
pub(crate) fn props_len(props: &[Prop], names: &Interner, values: &ValueStore) -> usize {
    let sum = props
        .iter()
        .map(|p| entry_len(names.get(p.key.raw()), values.get(p.value)))
        .sum();
    object_len(props.len(), sum)
}

/// The size of `props` when it passes [`SIZE_LIMIT`], measured only if the bound passes it.
pub(crate) fn over_limit(props: &[Prop], names: &Interner, values: &ValueStore) -> Option<usize> {
    if props_bound(props, names, values) <= SIZE_LIMIT {
        return None;
    }
    Some(props_len(props, names, values)).filter(|&size| size > SIZE_LIMIT)
}

/// What a trim drops from a person's properties, and the size they are left with.
pub(crate) struct Trim {
    pub(crate) dropped: Vec<PropKey>,
    pub(crate) size: usize,
}

/// Drops unprotected keys of `props` (of `size` bytes), largest `"key":value` first and
/// equal sizes by key, until the rest is at most [`TRIM_TARGET`] or only protected keys
/// are left.
pub(crate) fn trim(props: &[Prop], size: usize, names: &Interner, values: &ValueStore) -> Trim {
    let mut candidates: Vec<(usize, &str, PropKey)> = props
        .iter()
        .map(|p| (names.get(p.key.raw()), p))
        .filter(|(key, _)| !is_protected(key))
        .map(|(key, p)| (entry_len(key, values.get(p.value)), key, p.key))
        .collect();
    candidates.sort_unstable_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    let (mut size, mut left) = (size, props.len());
    let mut dropped = Vec::new();
    for (entry, _, key) in candidates {
        if size <= TRIM_TARGET {
            break;
        }
        // The entry goes, and so does the comma beside it unless it was the only one.
        size -= entry + usize::from(left > 1);
        left -= 1;
        dropped.push(key);
    }
    Trim { dropped, size }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_protected_keys_are_sorted_and_unique() {
        assert!(PROTECTED.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn sizes_are_serde_json_compact_bytes() {
        let value = Value::object([
            ("a", Value::from("é\"\n\u{1}")),
            ("b", Value::from(vec![Value::Null, Value::from(1.5)])),
        ]);
        let json = serde_json::to_string(&value).unwrap();
        assert_eq!(json_len(&value), json.len());
        let members = value.as_object().unwrap();
        let sum: usize = members.iter().map(|(k, v)| entry_len(k, v)).sum();
        assert_eq!(object_len(members.len(), sum), json.len());
        assert_eq!(object_len(0, 0), "{}".len());
    }

    #[test]
    fn bounds_are_never_below_the_size() {
        for value in [
            Value::Null,
            Value::from(true),
            Value::from(i64::MIN),
            Value::Number(crate::event::Number::UInt(u64::MAX)),
            Value::from(-2.225_073_858_507_201_4e-308),
            Value::from("\u{1}\u{1f}\"\\"),
            Value::from(vec![Value::from("x"), Value::Null]),
            Value::object([("\u{2}", Value::from(vec![]))]),
        ] {
            assert!(value_bound(&value) >= json_len(&value), "{value:?}");
            // The bound of an entry also counts the comma after it.
            assert!(entry_bound("\u{3}k", &value) > entry_len("\u{3}k", &value));
        }
    }
}
