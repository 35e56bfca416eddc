//! The JSON dump of docs/contract.md §2.2, and replaying JSON Lines into it.

use std::io::{self, BufRead};

use serde::{Deserialize, Serialize};

use crate::capture::{CaptureReader, CaptureRequest, Captured, Document};
use crate::engine::{Engine, EngineBuilder, PersonRef};
use crate::error::{EngineError, Error, EventError};
use crate::event::{Arrival, Event, Value};
use crate::posthog::{Outcome, Warning};

#[path = "feed.rs"]
mod feed;

pub use feed::{FeedSummary, FeedWatch};

/// The whole state of an engine in docs/contract.md's JSON shape, plus the warnings and rejected
/// lines of a replay. Every list is in a deterministic order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Dump {
    /// Every person, sorted by project, then smallest distinct id.
    pub persons: Vec<PersonRecord>,
    /// Ids seen only in personless mode that still have no person, sorted.
    pub personless_distinct_ids: Vec<PersonlessRecord>,
    /// Every group, sorted by project, type index, key.
    pub groups: Vec<GroupRecord>,
    /// Warnings, in the order they were raised.
    pub warnings: Vec<WarningRecord>,
    /// Lines refused as input.
    pub rejected: Vec<RejectedRecord>,
}

/// A person in the dump.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PersonRecord {
    /// The project.
    pub team: String,
    /// The person's uuid.
    pub uuid: String,
    /// Its distinct ids, sorted.
    pub distinct_ids: Vec<String>,
    /// Whether it is identified.
    pub is_identified: bool,
    /// Its properties (an object).
    pub properties: Value,
    /// RFC 3339.
    pub created_at: String,
    /// PostHog's row version.
    pub version: u64,
}

impl PersonRecord {
    /// The record of one person, as the dump and the services' person answers show it.
    #[must_use]
    pub fn of(person: PersonRef<'_>) -> PersonRecord {
        PersonRecord {
            team: person.project().to_string(),
            uuid: person.uuid().hyphenated().to_string(),
            distinct_ids: person
                .sorted_distinct_ids()
                .into_iter()
                .map(str::to_owned)
                .collect(),
            is_identified: person.is_identified(),
            properties: Value::object(person.properties().map(|(k, v)| (k, v.clone()))),
            created_at: person.created_at().to_string(),
            version: person.version(),
        }
    }
}

/// A personless id in the dump.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PersonlessRecord {
    /// The project.
    pub team: String,
    /// The id.
    pub distinct_id: String,
}

/// A group in the dump.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupRecord {
    /// The project.
    pub team: String,
    /// The group type name.
    pub group_type: String,
    /// The group type index, 0 to 4.
    pub group_type_index: u8,
    /// The group key.
    pub group_key: String,
    /// Its properties (an object).
    pub properties: Value,
    /// RFC 3339.
    pub created_at: String,
}

/// A warning in the dump.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WarningRecord {
    /// PostHog's warning name.
    #[serde(rename = "type")]
    pub kind: String,
    /// The 1-based input line of the event, when replaying lines.
    pub line: Option<u64>,
    /// The event's uuid.
    pub event_uuid: Option<String>,
    /// The event's distinct id.
    pub distinct_id: String,
    /// Named facts (an object).
    pub details: Value,
}

impl WarningRecord {
    /// The record of a warning raised by the event on `line`.
    #[must_use]
    pub fn new(warning: &Warning, line: Option<u64>) -> WarningRecord {
        WarningRecord {
            kind: warning.kind.as_str().to_owned(),
            line,
            event_uuid: warning.event_uuid.as_deref().map(str::to_owned),
            distinct_id: warning.distinct_id.to_string(),
            details: Value::object(warning.details.iter().map(|(k, v)| (*k, Value::from(&**v)))),
        }
    }
}

/// A rejected input line, or a rejected event of an array or batch on a line, in the dump.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RejectedRecord {
    /// The 1-based line number.
    pub line: u64,
    /// The event's 0-based index in the array or batch on the line; absent when the line
    /// held one event, or was refused whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u64>,
    /// Why it was rejected.
    pub reason: String,
}

impl Dump {
    /// What [`Engine::dump`] returns.
    pub(crate) fn of_engine(engine: &Engine) -> Dump {
        let persons: Vec<PersonRecord> = engine.persons().map(PersonRecord::of).collect();
        let personless: Vec<PersonlessRecord> = engine
            .personless_distinct_ids()
            .map(|(project, id)| PersonlessRecord {
                team: project.to_string(),
                distinct_id: id.to_owned(),
            })
            .collect();
        let groups: Vec<GroupRecord> = engine
            .groups()
            .map(|g| GroupRecord {
                team: g.project().to_string(),
                group_type: g.group_type().to_owned(),
                group_type_index: g.group_type_index(),
                group_key: g.group_key().to_owned(),
                properties: Value::object(g.properties().map(|(k, v)| (k, v.clone()))),
                created_at: g.created_at().to_string(),
            })
            .collect();
        Dump::new(persons, personless, groups)
    }

    /// A dump of these records in docs/contract.md's order: persons by project, then smallest
    /// distinct id; personless ids by project and id; groups by project, type index, key.
    /// `warnings` and `rejected` start empty. The one place that order is decided, so that
    /// every producer of a dump (the engine, the reference model) agrees on it.
    #[must_use]
    pub fn new(
        mut persons: Vec<PersonRecord>,
        mut personless: Vec<PersonlessRecord>,
        mut groups: Vec<GroupRecord>,
    ) -> Dump {
        persons.sort_by(|a, b| {
            (&a.team, a.distinct_ids.first()).cmp(&(&b.team, b.distinct_ids.first()))
        });
        personless.sort_by(|a, b| (&a.team, &a.distinct_id).cmp(&(&b.team, &b.distinct_id)));
        groups.sort_by(|a, b| {
            (&a.team, a.group_type_index, &a.group_key).cmp(&(
                &b.team,
                b.group_type_index,
                &b.group_key,
            ))
        });
        Dump {
            persons,
            personless_distinct_ids: personless,
            groups,
            warnings: Vec::new(),
            rejected: Vec::new(),
        }
    }
}

/// Replays JSON Lines into an engine, keeping the warnings and rejected lines that the dump
/// reports. The CLI's `replay` is this, and so is the library path that tests compare it to.
/// Each line is read as capture reads a request body ([`CaptureReader`], docs/contract.md
/// §1.1): one event, an array of events or a batch envelope, saved, so that `sent_at`
/// stands in for the arrival time.
///
/// ```
/// let mut replay = idgraph::Replay::new(idgraph::Engine::new());
/// replay.line(br#"{"event": "$pageview", "distinct_id": "a"}"#)?;
/// replay.line(b"not json")?;
/// replay.line(br#"[{"event": "$pageview", "distinct_id": "b"}, {"event": "$pageview"}]"#)?;
/// let dump = replay.finish();
/// assert_eq!(dump.persons.len(), 2);
/// assert_eq!(dump.rejected[0].line, 2);
/// assert_eq!((dump.rejected[1].line, dump.rejected[1].index), (3, Some(1)));
/// # Ok::<(), idgraph::Error>(())
/// ```
pub struct Replay {
    engine: Engine,
    warnings: Vec<WarningRecord>,
    rejected: Vec<RejectedRecord>,
    line: u64,
    outcome: Outcome,
    reader: CaptureReader,
    max_event_bytes: usize,
    applied: u64,
    dropped: u64,
    /// The line [`Replay::read_line`] reads into, kept for the next.
    buffer: Vec<u8>,
    /// [`Replay::parse_threads`]; `None` for the default.
    parse_threads: Option<usize>,
    chunk_bytes: usize,
    /// Chunks the calling thread parsed itself while a worker was busy (`feed_parallel`).
    chunks_parsed_here: u64,
}

/// What [`Replay::line`] did with one line.
#[derive(Clone, Debug, PartialEq)]
pub enum LineStatus {
    /// A blank line, skipped.
    Blank,
    /// The event was applied.
    Applied,
    /// The event was one capture drops (`$performance_event`): counted, not applied.
    Dropped,
    /// The line was rejected, for this reason.
    Rejected(crate::EventError),
    /// The line held an array or a batch envelope: what became of its events. The rejected
    /// ones are in [`Replay::rejected`] with their index.
    Batch {
        /// Events in it.
        events: usize,
        /// Of them, applied.
        applied: usize,
        /// Dropped, as capture drops them.
        dropped: usize,
        /// Rejected.
        rejected: usize,
    },
}

/// The options of a [`Replay`] and of the engine it fills, set in one place: the CLI's
/// `replay`, `ingest` and `demo` all build theirs here.
///
/// ```
/// let replay = idgraph::Replay::builder()
///     .lift_properties(false)
///     .capture_validation(true)
///     .build();
/// assert_eq!(replay.engine().persons().count(), 0);
/// ```
#[derive(Clone, Debug)]
pub struct ReplayBuilder {
    engine: EngineBuilder,
    reader: CaptureReader,
    max_event_bytes: usize,
    parse_threads: Option<usize>,
    chunk_bytes: usize,
}

impl ReplayBuilder {
    /// As [`EngineBuilder::lift_properties`]. Default: on.
    pub fn lift_properties(&mut self, on: bool) -> &mut Self {
        self.engine.lift_properties(on);
        self
    }

    /// As [`EngineBuilder::filter_churn`]. Default: on.
    pub fn filter_churn(&mut self, on: bool) -> &mut Self {
        self.engine.filter_churn(on);
        self
    }

    /// As [`EngineBuilder::record_changes`]. Default: on.
    pub fn record_changes(&mut self, on: bool) -> &mut Self {
        self.engine.record_changes(on);
        self
    }

    /// As [`Replay::capture_validation`]. Default: off.
    pub fn capture_validation(&mut self, on: bool) -> &mut Self {
        self.reader.capture_validation(on);
        self
    }

    /// As [`Replay::max_event_bytes`]. Default: [`Replay::DEFAULT_MAX_EVENT_BYTES`].
    pub fn max_event_bytes(&mut self, limit: usize) -> &mut Self {
        self.max_event_bytes = limit;
        self
    }

    /// As [`Replay::parse_threads`]. Default: one fewer than the available cores.
    pub fn parse_threads(&mut self, workers: usize) -> &mut Self {
        self.parse_threads = Some(workers);
        self
    }

    /// As [`Replay::chunk_bytes`]. Default: [`Replay::DEFAULT_CHUNK_BYTES`].
    pub fn chunk_bytes(&mut self, bytes: usize) -> &mut Self {
        self.chunk_bytes = bytes;
        self
    }

    /// A replay into a new engine with these options.
    #[must_use]
    pub fn build(&self) -> Replay {
        self.build_on(self.engine.build())
    }

    /// A replay into `engine`, which keeps its own options (a snapshot's): only the
    /// replay's options (capture validation, the maximum event size) are taken from here.
    #[must_use]
    pub fn build_on(&self, engine: Engine) -> Replay {
        let mut replay = Replay::new(engine)
            .max_event_bytes(self.max_event_bytes)
            .chunk_bytes(self.chunk_bytes);
        replay.reader = reader_for(&replay.engine, self.reader);
        replay.parse_threads = self.parse_threads;
        replay
    }
}

impl Replay {
    /// A replay into `engine`.
    #[must_use]
    pub fn new(engine: Engine) -> Replay {
        let reader = reader_for(&engine, CaptureReader::new());
        Replay {
            engine,
            warnings: Vec::new(),
            rejected: Vec::new(),
            line: 0,
            outcome: Outcome::default(),
            reader,
            max_event_bytes: Replay::DEFAULT_MAX_EVENT_BYTES,
            applied: 0,
            dropped: 0,
            buffer: Vec::new(),
            parse_threads: None,
            chunk_bytes: Replay::DEFAULT_CHUNK_BYTES,
            chunks_parsed_here: 0,
        }
    }

    /// The options of a replay and its engine, in one place.
    #[must_use]
    pub fn builder() -> ReplayBuilder {
        ReplayBuilder {
            engine: Engine::builder(),
            reader: CaptureReader::new(),
            max_event_bytes: Replay::DEFAULT_MAX_EVENT_BYTES,
            parse_threads: None,
            chunk_bytes: Replay::DEFAULT_CHUNK_BYTES,
        }
    }

    /// The default of [`Replay::max_event_bytes`]: PostHog capture's limit on one event,
    /// 1,000,000 bytes. Capture hands each event to Kafka as one message, with librdkafka's
    /// `message.max.bytes` set from `kafka_producer_message_max_bytes`, default `1000000`
    /// (PostHog/posthog `rust/capture/src/config.rs`, `KafkaConfig`; set in
    /// `rust/capture/src/sinks/kafka.rs`), and answers a larger one with
    /// `CaptureError::EventTooBig` ("maximum event size exceeded").
    pub const DEFAULT_MAX_EVENT_BYTES: usize = 1_000_000;

    /// Rejects a line longer than `limit` bytes (without its line break) with
    /// [`EventError::TooLarge`], as PostHog's capture refuses an event that large. The limit
    /// is on the line, so a line holding a whole batch is held to it too.
    /// [`Replay::read_line`] skips such a line without holding it in memory. Default:
    /// [`Replay::DEFAULT_MAX_EVENT_BYTES`].
    #[must_use]
    pub fn max_event_bytes(mut self, limit: usize) -> Replay {
        self.max_event_bytes = limit;
        self
    }

    /// The default of [`Replay::chunk_bytes`], 256 KiB: large enough that handing a chunk
    /// to a worker costs nothing beside parsing it, small enough that the few in flight per
    /// worker are a small part of an engine's memory (on a 1M-event ingest it did as well
    /// as 1 MiB with a smaller peak; 64 KiB was slower).
    pub const DEFAULT_CHUNK_BYTES: usize = 1 << 18;

    /// Parses the lines of [`Replay::feed`] on `workers` threads besides the calling one,
    /// which applies them; 0 parses them on the calling thread. The result does not depend
    /// on it. Default: one fewer than [`std::thread::available_parallelism`].
    #[must_use]
    pub fn parse_threads(mut self, workers: usize) -> Replay {
        self.parse_threads = Some(workers);
        self
    }

    /// The size of the chunks of whole lines [`Replay::feed`] hands to its workers: each
    /// chunk ends at the first line break at or past this many bytes. The result does not
    /// depend on it; small values are for tests that want many chunks. Default:
    /// [`Replay::DEFAULT_CHUNK_BYTES`].
    #[must_use]
    pub fn chunk_bytes(mut self, bytes: usize) -> Replay {
        self.chunk_bytes = bytes;
        self
    }

    /// The parse workers [`Replay::feed`] will use.
    fn parse_threads_in_use(&self) -> usize {
        self.parse_threads
            .unwrap_or_else(feed::default_parse_threads)
    }

    /// Applies capture's own validation, as capture would before ingestion sees the
    /// events ([`CaptureReader::capture_validation`]): NUL in a `distinct_id` becomes
    /// U+FFFD, ids are cut to 200 characters, and events whose `distinct_id` capture's v1
    /// endpoint refuses ([`is_rejected_by_capture`](crate::is_rejected_by_capture)) are
    /// rejected. Default: off, as ingestion does not apply them (docs/behaviour.md §16,
    /// decision 10).
    #[must_use]
    pub fn capture_validation(mut self, on: bool) -> Replay {
        self.reader.capture_validation(on);
        self
    }

    /// Restarts line numbering, for the next input file.
    pub fn start_file(&mut self) {
        self.line = 0;
    }

    /// Parses and applies the next line (without its line break). A line longer than
    /// [`Replay::max_event_bytes`] is rejected unread.
    ///
    /// # Errors
    ///
    /// [`EngineError`] when the engine is full; that event changed nothing (the events
    /// before it on the same line stay applied).
    pub fn line(&mut self, bytes: &[u8]) -> Result<LineStatus, EngineError> {
        let parsed = parse_line(&self.reader, self.max_event_bytes, bytes);
        self.apply_parsed(&parsed)
    }

    /// The second half of [`Replay::line`]: numbers the line and applies, counts or
    /// rejects what [`parse_line`] made of it. By reference, so that the thread that parsed
    /// it can free it: memory freed on the thread that allocated it costs no lock.
    pub(crate) fn apply_parsed(&mut self, parsed: &Parsed) -> Result<LineStatus, EngineError> {
        self.line = self.line.saturating_add(1);
        let request = match parsed {
            Parsed::Blank => return Ok(LineStatus::Blank),
            Parsed::Refused(error) => return Ok(self.reject(None, error)),
            Parsed::Single(captured) => return self.take(captured, None),
            Parsed::Batch(request) => request,
        };
        let (mut applied, mut dropped, mut rejected) = (0, 0, 0);
        let events = request.len();
        for (index, captured) in request.iter().enumerate() {
            match self.take(captured, Some(index as u64))? {
                LineStatus::Applied => applied += 1,
                LineStatus::Dropped => dropped += 1,
                _ => rejected += 1,
            }
        }
        Ok(LineStatus::Batch {
            events,
            applied,
            dropped,
            rejected,
        })
    }

    /// Applies, counts or rejects one event of the current line.
    fn take(&mut self, captured: &Captured, index: Option<u64>) -> Result<LineStatus, EngineError> {
        match captured {
            Captured::Event(event) => {
                self.apply(event)?;
                Ok(LineStatus::Applied)
            }
            Captured::Dropped => {
                self.dropped = self.dropped.saturating_add(1);
                Ok(LineStatus::Dropped)
            }
            Captured::Rejected(error) => Ok(self.reject(index, error)),
        }
    }

    fn apply(&mut self, event: &Event) -> Result<(), EngineError> {
        self.engine.apply_into(event, &mut self.outcome)?;
        self.applied = self.applied.saturating_add(1);
        let line = Some(self.line);
        self.warnings.extend(
            self.outcome
                .warnings
                .iter()
                .map(|w| WarningRecord::new(w, line)),
        );
        Ok(())
    }

    /// Records the rejection of the current line, or of the event at `index` on it.
    fn reject(&mut self, index: Option<u64>, error: &EventError) -> LineStatus {
        self.rejected.push(RejectedRecord {
            line: self.line,
            index,
            reason: error.to_string(),
        });
        LineStatus::Rejected(error.clone())
    }

    /// Reads the next line of `reader` (up to `\n`, and without a `\r` before it) and gives
    /// it to [`Replay::line`]; `None` at the end of the input. A line longer than
    /// [`Replay::max_event_bytes`] is rejected without being held: at most that many bytes of
    /// it are read into memory, and the rest is skipped to the next line break.
    ///
    /// ```
    /// let input = format!("{{\"event\": \"e\", \"distinct_id\": \"{}\"}}\n\n", "x".repeat(100));
    /// let mut replay = idgraph::Replay::new(idgraph::Engine::new()).max_event_bytes(64);
    /// let mut reader = input.as_bytes();
    /// assert!(matches!(
    ///     replay.read_line(&mut reader)?,
    ///     Some(idgraph::LineStatus::Rejected(idgraph::EventError::TooLarge { limit: 64 }))
    /// ));
    /// assert_eq!(replay.read_line(&mut reader)?, Some(idgraph::LineStatus::Blank));
    /// assert_eq!(replay.read_line(&mut reader)?, None);
    /// # Ok::<(), idgraph::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the reader fails; [`Error::Engine`] as for [`Replay::line`].
    pub fn read_line<R: BufRead + ?Sized>(
        &mut self,
        reader: &mut R,
    ) -> Result<Option<LineStatus>, Error> {
        let mut buffer = std::mem::take(&mut self.buffer);
        buffer.clear();
        let read = self.read_into(reader, &mut buffer);
        self.buffer = buffer;
        read
    }

    fn read_into<R: BufRead + ?Sized>(
        &mut self,
        reader: &mut R,
        buffer: &mut Vec<u8>,
    ) -> Result<Option<LineStatus>, Error> {
        // Room for the longest line allowed and its "\r\n": a line that fills it without
        // ending is longer than allowed.
        let room = u64::try_from(self.max_event_bytes.saturating_add(2)).unwrap_or(u64::MAX);
        let read = read_until_line_break(reader, buffer, room)?;
        if read == 0 {
            return Ok(None);
        }
        if buffer.last() != Some(&b'\n') && read as u64 == room {
            skip_line(reader, buffer)?;
            let too_large = Parsed::too_large(self.max_event_bytes);
            return Ok(Some(self.apply_parsed(&too_large)?));
        }
        Ok(Some(self.line(strip_line_break(buffer))?))
    }

    /// The number of the last line given.
    #[must_use]
    pub fn line_number(&self) -> u64 {
        self.line
    }

    /// The engine so far.
    #[must_use]
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Warnings so far.
    #[must_use]
    pub fn warnings(&self) -> &[WarningRecord] {
        &self.warnings
    }

    /// Rejected lines and events so far.
    #[must_use]
    pub fn rejected(&self) -> &[RejectedRecord] {
        &self.rejected
    }

    /// Events applied so far by this replay (an engine loaded from a snapshot may have
    /// applied others before).
    #[must_use]
    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// Events dropped so far as capture drops them (`$performance_event`). The dump does
    /// not list them; the CLI counts them on stderr and in its summary.
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The engine, giving up the warnings and rejected lines.
    #[must_use]
    pub fn into_engine(self) -> Engine {
        self.engine
    }

    /// The dump of the engine with this replay's warnings and rejected lines.
    #[must_use]
    pub fn finish(self) -> Dump {
        let mut dump = self.engine.dump();
        dump.warnings = self.warnings;
        dump.rejected = self.rejected;
        dump
    }
}

/// One line as [`Replay::line`] reads it, before anything is applied. Nothing in it
/// depends on the engine (an event without a time keeps none, and takes the engine's clock
/// when applied), so lines can be parsed on other threads than the one that applies them.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "nearly every line is one event; boxing would cost each one an allocation"
)]
pub(crate) enum Parsed {
    /// Blank, or an object that made no event.
    Blank,
    /// Refused whole, for this reason.
    Refused(EventError),
    /// One event object.
    Single(Captured),
    /// An array or a batch envelope.
    Batch(CaptureRequest),
}

impl Parsed {
    /// A line longer than `limit`, rejected unread.
    pub(crate) fn too_large(limit: usize) -> Parsed {
        Parsed::Refused(EventError::TooLarge { limit })
    }
}

/// The first half of [`Replay::line`]: what `reader` makes of one line (without its line
/// break), a line longer than `max_event_bytes` refused unread.
pub(crate) fn parse_line(reader: &CaptureReader, max_event_bytes: usize, bytes: &[u8]) -> Parsed {
    if bytes.len() > max_event_bytes {
        return Parsed::too_large(max_event_bytes);
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Parsed::Blank;
    }
    match reader.read_document(bytes, Arrival::Saved) {
        Err(error) => Parsed::Refused(error),
        Ok(Document::Batch(request)) => Parsed::Batch(request),
        Ok(Document::Single(captured)) => Parsed::Single(captured),
    }
}

/// `reader`, told to leave out what `engine` never reads. An engine's options are fixed
/// once it is built, so this holds for the replay's whole life.
fn reader_for(engine: &Engine, mut reader: CaptureReader) -> CaptureReader {
    reader.lifted_properties(engine.config.lift_properties);
    reader
}

/// A line read up to and with its `\n`, without the `\n` and a `\r` before it.
pub(crate) fn strip_line_break(line: &[u8]) -> &[u8] {
    let text = line.strip_suffix(b"\n").unwrap_or(line);
    text.strip_suffix(b"\r").unwrap_or(text)
}

/// What `reader.take(room).read_until(b'\n', buffer)` does, with the line break found by
/// `memchr`'s vector search rather than the standard library's word-at-a-time one: every
/// byte of the input passes here, on the thread that also applies the events.
pub(crate) fn read_until_line_break<R: BufRead + ?Sized>(
    reader: &mut R,
    buffer: &mut Vec<u8>,
    room: u64,
) -> io::Result<usize> {
    let mut read = 0;
    loop {
        let left = usize::try_from(room - read as u64).unwrap_or(usize::MAX);
        if left == 0 {
            return Ok(read);
        }
        let available = match reader.fill_buf() {
            Ok(available) => available,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        let window = &available[..available.len().min(left)];
        let (used, at_break) = match memchr::memchr(b'\n', window) {
            Some(at) => (at + 1, true),
            None => (window.len(), false),
        };
        buffer.extend_from_slice(&window[..used]);
        reader.consume(used);
        read += used;
        if at_break || used == 0 {
            return Ok(read);
        }
    }
}

/// Reads past the next line break (or to the end of the input) a chunk at a time through
/// `scratch`, so that a line of any length costs no more memory than one chunk.
pub(crate) fn skip_line<R: BufRead + ?Sized>(
    reader: &mut R,
    scratch: &mut Vec<u8>,
) -> io::Result<()> {
    loop {
        scratch.clear();
        let read = read_until_line_break(reader, scratch, 1 << 16)?;
        if read == 0 || scratch.last() == Some(&b'\n') {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Read};

    use proptest::prelude::*;

    use super::{Engine, Replay, read_until_line_break};

    proptest! {
        #[test]
        fn reading_to_a_line_break_reads_what_the_standard_library_reads(
            input in proptest::collection::vec(prop_oneof![Just(b'\n'), any::<u8>()], 0..300),
            capacity in 1_usize..40,
            room in 0_u64..80,
            start in proptest::collection::vec(any::<u8>(), 0..3),
        ) {
            let (mut ours, mut theirs) =
                (BufReader::with_capacity(capacity, &input[..]), &input[..]);
            loop {
                let (mut got, mut expected) = (start.clone(), start.clone());
                let read = read_until_line_break(&mut ours, &mut got, room).unwrap();
                let read_std = (&mut theirs).take(room).read_until(b'\n', &mut expected).unwrap();
                prop_assert_eq!(read, read_std);
                prop_assert_eq!(&got, &expected);
                if read == 0 {
                    break;
                }
            }
            prop_assert!(ours.fill_buf().unwrap().is_empty() || room == 0);
        }
    }

    #[test]
    fn the_calling_thread_parses_chunks_itself_while_its_worker_is_busy_to_the_same_end() {
        let mut input = String::new();
        for i in 0..3000 {
            input.push_str(&format!(
                concat!(
                    r#"{{"event":"$identify","distinct_id":"u{}","properties":{{"#,
                    r#""$anon_distinct_id":"a{}","$set":{{"plan":"p{}"}},"$browser":"b"}},"#,
                    r#""timestamp":"2024-01-01T00:00:00Z"}}"#,
                    "\n"
                ),
                i % 700,
                i,
                i % 3
            ));
            if i % 500 == 0 {
                input.push_str("not json\n");
            }
        }
        let mut serial = Replay::builder().parse_threads(0).build();
        serial.feed(input.as_bytes(), &mut ()).unwrap();
        // A chunk a line: the worker wakes for each, so it is often not ready when its
        // result is wanted, and over 3,006 chunks the calling thread parses some itself.
        let mut parallel = Replay::builder().parse_threads(1).chunk_bytes(1).build();
        parallel.feed(input.as_bytes(), &mut ()).unwrap();
        assert!(parallel.chunks_parsed_here > 0);
        assert_eq!(parallel.rejected(), serial.rejected());
        assert_eq!(parallel.applied(), serial.applied());
        let snapshot = |replay: &Replay| replay.engine().save_to_vec(b"").unwrap();
        assert!(
            snapshot(&parallel) == snapshot(&serial),
            "the snapshots differ"
        );
    }

    #[test]
    fn a_replay_reads_lifted_properties_only_for_an_engine_that_lifts() {
        for lift in [true, false] {
            let engine = || Engine::builder().lift_properties(lift).build();
            let mut unlifting = Replay::builder();
            unlifting.lift_properties(false);
            let replays = [
                Replay::builder().lift_properties(lift).build(),
                Replay::new(engine()),
                // The engine's options win over the builder's, as for a restored snapshot.
                unlifting.build_on(engine()),
            ];
            for replay in replays {
                assert_eq!(replay.reader.keep().lifted, lift);
            }
        }
    }
}
