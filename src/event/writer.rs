//! Writing events as JSON lines (docs/contract.md §1), the counterpart of `reader.rs`: every
//! line written reads back into an equal event.

use std::io;

use serde::ser::{Serialize, SerializeMap, Serializer};

use super::model::{Event, IDENTITY_KEYS, Project, Timestamp};
use super::value::Value;

/// Writes one event as a JSON line (docs/contract.md §1): `uuid`, `event`, `distinct_id`,
/// `properties` (the properties the event keeps), `timestamp` in RFC 3339 and the project.
/// [`Event::from_json`] reads the line back into an equal event.
///
/// ```
/// use idgraph::{Event, Timestamp, write_event_json};
///
/// let event = Event::new("$identify", "user_1")
///     .with_property("$anon_distinct_id", "anon_1")
///     .with_timestamp(Timestamp::from_unix_micros(1_704_067_200_000_000));
/// let mut line = Vec::new();
/// write_event_json(&event, &mut line)?;
/// assert_eq!(
///     String::from_utf8(line.clone())?,
///     "{\"event\":\"$identify\",\"distinct_id\":\"user_1\",\"properties\":{\"$anon_distinct_id\":\"anon_1\"},\"timestamp\":\"2024-01-01T00:00:00Z\"}\n"
/// );
/// assert_eq!(Event::from_json(std::str::from_utf8(&line)?.trim_end())?, event);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// The error of `out`.
pub fn write_event_json<W: io::Write + ?Sized>(event: &Event, out: &mut W) -> io::Result<()> {
    let mut buffer = Vec::with_capacity(256);
    write_line(
        &mut buffer,
        &Line {
            event,
            device_id: None,
            groups: None,
        },
    )?;
    out.write_all(&buffer)
}

pub(crate) fn write_line(buffer: &mut Vec<u8>, line: &Line<'_>) -> io::Result<()> {
    serde_json::to_writer(&mut *buffer, line).map_err(io::Error::other)?;
    buffer.push(b'\n');
    Ok(())
}

/// One event's line, with what a client sends beside the [`Event`] (its `$device_id` and
/// `$groups`, which identity processing does not keep).
pub(crate) struct Line<'a> {
    pub(crate) event: &'a Event,
    pub(crate) device_id: Option<&'a str>,
    pub(crate) groups: Option<&'a Value>,
}

impl Serialize for Line<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let event = self.event;
        let mut map = serializer.serialize_map(None)?;
        if let Some(uuid) = event.uuid() {
            map.serialize_entry("uuid", uuid)?;
        }
        map.serialize_entry("event", event.name())?;
        map.serialize_entry("distinct_id", event.distinct_id())?;
        map.serialize_entry("properties", &Properties(self))?;
        if let Some(timestamp) = event.timestamp() {
            map.serialize_entry("timestamp", &Rfc3339(timestamp))?;
        }
        match event.project() {
            Project::Default => {}
            Project::Team(id) => map.serialize_entry("team_id", id)?,
            Project::Token(token) => map.serialize_entry("token", token)?,
        }
        map.end()
    }
}

struct Properties<'a>(&'a Line<'a>);

impl Serialize for Properties<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Line {
            event,
            device_id,
            groups,
        } = self.0;
        let mut map = serializer.serialize_map(None)?;
        for key in IDENTITY_KEYS {
            if let Some(value) = event.property(key) {
                map.serialize_entry(key, value)?;
            }
        }
        for (key, value) in event.lifted_properties() {
            map.serialize_entry(key, value)?;
        }
        if let Some(device_id) = device_id {
            map.serialize_entry("$device_id", device_id)?;
        }
        if let Some(groups) = groups {
            map.serialize_entry("$groups", groups)?;
        }
        map.end()
    }
}

struct Rfc3339(Timestamp);

impl Serialize for Rfc3339 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}
