//! Typed events: what identity processing reads of one analytics event.
//!
//! An [`Event`] keeps only the name, the distinct id, the project, the time, the uuid and the
//! few properties the rules look at; `reader.rs` builds them from JSON and `writer.rs` writes
//! them back.

use std::borrow::Cow;
use std::fmt;

use super::lifted::{LIFTED_KEYS, lifted_key_index};
use super::text::Text;
use super::value::Value;
use crate::error::EventError;

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
        if let Some(micros) = super::plain_time::plain_utc_micros(text) {
            return Ok(Timestamp(micros));
        }
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

impl Timestamp {
    /// The first and the last microsecond RFC 3339 can write in UTC: years 0000-9999.
    const RANGE: std::ops::RangeInclusive<i64> = -62_167_219_200_000_000..=253_402_300_799_999_999;

    /// This time moved by `micros`, when the result stays in years 0000-9999 in UTC, the
    /// range every parsed timestamp is held to.
    pub(crate) fn checked_add_micros(self, micros: i64) -> Option<Timestamp> {
        self.0
            .checked_add(micros)
            .filter(|t| Timestamp::RANGE.contains(t))
            .map(Timestamp)
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

/// The properties identity processing reads by name, each with its field: the one list of
/// them, from which lookups by name and the writer's order are made.
macro_rules! identity_keys {
    ($($name:literal => $field:ident),* $(,)?) => {
        /// The names of the properties identity processing reads (apart from the lifted
        /// ones), in the order the writer writes them.
        pub(crate) const IDENTITY_KEYS: [&str; 10] = [$($name),*];

        impl IdentityProperties {
            fn slot(&mut self, key: &str) -> Option<&mut Option<Value>> {
                match key {
                    $($name => Some(&mut self.$field),)*
                    _ => None,
                }
            }

            /// `Some` with the property's value when `key` is one of [`IDENTITY_KEYS`].
            fn named(&self, key: &str) -> Option<Option<&Value>> {
                match key {
                    $($name => Some(self.$field.as_ref()),)*
                    _ => None,
                }
            }
        }
    };
}

identity_keys! {
    "$set" => set,
    "$set_once" => set_once,
    "$unset" => unset,
    "$anon_distinct_id" => anon_distinct_id,
    "alias" => alias,
    "$group_type" => group_type,
    "$group_key" => group_key,
    "$group_set" => group_set,
    "$process_person_profile" => process_person_profile,
    "$is_server" => is_server,
}

impl IdentityProperties {
    fn get(&self, key: &str) -> Option<&Value> {
        match self.named(key) {
            Some(value) => value,
            None => {
                let index = lifted_key_index(key)?;
                self.lifted
                    .iter()
                    .find(|(i, _)| *i == index)
                    .map(|(_, v)| v)
            }
        }
    }

    /// Where a property of this name is kept, or `None` for one identity processing never
    /// reads (and for a lifted one unless `lifted`). Found once for each property, before its
    /// value is read, so that a property not kept is skipped unbuilt.
    pub(super) fn entry(&mut self, key: &str, lifted: bool) -> Option<Entry<'_>> {
        // Lifted keys first: an event carries more of them than of the identity keys, and
        // no name is both.
        match lifted_key_index(key) {
            Some(index) => lifted.then_some(Entry::Lifted(&mut self.lifted, index)),
            None => self.slot(key).map(Entry::Named),
        }
    }

    pub(super) fn insert(&mut self, key: &str, value: Value) {
        if let Some(entry) = self.entry(key, true) {
            entry.set(value);
        }
    }

    /// Merges a top-level `$set`/`$set_once` object into the property of the same name, the
    /// top-level keys winning (PostHog's `sanitizeEvent`).
    pub(super) fn merge_top_level(&mut self, key: &str, top: Value) {
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

/// An event's uuid as given. The text form of a UUID, 36 bytes (what the SDKs send), is
/// kept inline, so that reading an event allocates nothing for it; other text is boxed.
#[derive(Clone, PartialEq)]
pub(super) enum UuidText {
    /// Always exactly 36 bytes, a copy of a whole `str`.
    Inline([u8; 36]),
    /// Never 36 bytes, so each text has one form.
    Other(Box<str>),
}

impl UuidText {
    pub(super) fn new(text: &str) -> UuidText {
        match <[u8; 36]>::try_from(text.as_bytes()) {
            Ok(bytes) => UuidText::Inline(bytes),
            Err(_) => UuidText::Other(text.into()),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            // A copy of a whole `str`, so never fails; read only for warnings, links and output.
            UuidText::Inline(bytes) => std::str::from_utf8(bytes).unwrap_or_default(),
            UuidText::Other(text) => text,
        }
    }
}

impl From<Box<str>> for UuidText {
    fn from(text: Box<str>) -> UuidText {
        if text.len() == 36 {
            UuidText::new(&text)
        } else {
            UuidText::Other(text)
        }
    }
}

impl fmt::Debug for UuidText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// Where [`IdentityProperties::entry`] keeps a property.
pub(super) enum Entry<'a> {
    /// One of [`IDENTITY_KEYS`].
    Named(&'a mut Option<Value>),
    /// The lifted list, for the lifted key at this index of [`LIFTED_KEYS`].
    Lifted(&'a mut Vec<(u8, Value)>, u8),
}

impl Entry<'_> {
    pub(super) fn set(self, value: Value) {
        match self {
            Entry::Named(slot) => *slot = Some(value),
            // A repeated key replaces the earlier value, as JSON parsers do.
            Entry::Lifted(list, index) => match list.iter_mut().find(|(i, _)| *i == index) {
                Some(entry) => entry.1 = value,
                None => {
                    // Room for sixteen at once, where pushing would grow the list from four:
                    // posthog-js's events carry thirteen (tests/fixtures/sdk), generated
                    // browser events four to six.
                    if list.capacity() == 0 {
                        list.reserve_exact(16);
                    }
                    list.push((index, value));
                }
            },
        }
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

pub(super) fn name_of(name: &str) -> Cow<'static, str> {
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
    pub(super) kind: EventKind,
    /// Borrowed from [`KNOWN_NAMES`] for the common names, so most events allocate no name.
    pub(super) name: Cow<'static, str>,
    /// Inline when short, as most known users' ids are ([`Text`]).
    pub(super) distinct_id: Text,
    pub(super) project: Project,
    pub(super) timestamp: Option<Timestamp>,
    pub(super) uuid: Option<UuidText>,
    pub(crate) props: IdentityProperties,
}

impl Event {
    /// An event with no properties, in the default project, without a timestamp (the engine
    /// then uses the time it applies the event).
    #[must_use]
    pub fn new(name: impl Into<Box<str>>, distinct_id: impl Into<Text>) -> Event {
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
        self.uuid = Some(UuidText::from(uuid.into()));
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
        self.distinct_id.as_str()
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
        self.uuid.as_ref().map(UuidText::as_str)
    }

    /// A property that identity processing reads (`$set`, `$anon_distinct_id`, `$browser`, ...);
    /// `None` when absent or not one of those.
    #[must_use]
    pub fn property(&self, key: &str) -> Option<&Value> {
        self.props.get(key)
    }

    /// Capture's own changes to the distinct id: NUL becomes U+FFFD (a NUL cannot be
    /// stored in Postgres text), and the id is cut to `max_chars` characters.
    pub(crate) fn normalise_for_capture(&mut self, max_chars: usize) {
        if self.distinct_id.contains('\0') || self.distinct_id.chars().nth(max_chars).is_some() {
            let id: String = self
                .distinct_id
                .chars()
                .take(max_chars)
                .map(|c| if c == '\0' { '\u{FFFD}' } else { c })
                .collect();
            self.distinct_id = id.into();
        }
    }

    /// The lifted event properties (`$browser`, `utm_source`, ...) present on the event.
    pub fn lifted_properties(&self) -> impl Iterator<Item = (&'static str, &Value)> {
        self.props
            .lifted
            .iter()
            .map(|(i, v)| (LIFTED_KEYS[usize::from(*i)].0, v))
    }
}
