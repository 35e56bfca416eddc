//! One error enum per boundary, and the umbrella [`Error`].

use thiserror::Error;

/// Why an input line is not an event (docs/contract.md §1). A rejected line changes
/// nothing.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EventError {
    /// The line is not one valid JSON object (the parser's message says where).
    #[error("not valid JSON: {0}")]
    Json(String),
    /// `properties` is a string, but not one holding valid JSON.
    #[error("properties: not valid JSON: {0}")]
    PropertiesJson(String),
    /// A required field is absent or `null`.
    #[error("missing {0}")]
    Missing(&'static str),
    /// A field has the wrong type.
    #[error("{field} must be {expected}")]
    WrongType {
        /// The field.
        field: &'static str,
        /// What it must be.
        expected: &'static str,
    },
    /// `timestamp` is not RFC 3339 (the first 64 characters are kept).
    #[error("invalid timestamp {0:?}")]
    InvalidTimestamp(String),
    /// `timestamp` is RFC 3339, but its offset takes it outside years 0000-9999 in UTC,
    /// where an RFC 3339 time in UTC cannot be written (the first 64 characters are kept).
    #[error("timestamp {0:?} is outside years 0000-9999 in UTC")]
    TimestampOutOfRange(String),
    /// `distinct_id` is empty or only white space.
    #[error("empty distinct_id")]
    EmptyDistinctId,
    /// `distinct_id` is one that PostHog's capture v1 endpoint refuses (only with capture
    /// validation on; see [`is_rejected_by_capture`](crate::is_rejected_by_capture)).
    #[error("distinct_id {0:?} is refused by capture")]
    RefusedByCapture(String),
    /// The line is longer than the maximum event size (see
    /// [`Replay::max_event_bytes`](crate::Replay::max_event_bytes)).
    #[error("larger than the maximum event size of {limit} bytes")]
    TooLarge {
        /// The maximum, in bytes.
        limit: usize,
    },
    /// `sent_at` (of the event or of its batch envelope) is not a time in either form
    /// `timestamp` accepts, or falls outside years 0000-9999 in UTC (the first 64
    /// characters are kept).
    #[error("invalid sent_at {0:?}")]
    InvalidSentAt(String),
    /// The time PostHog's rule gives the event (from `offset`, or `timestamp` moved by the
    /// clock skew of `sent_at`) falls outside years 0000-9999 in UTC.
    #[error("the event time from offset or sent_at is outside years 0000-9999 in UTC")]
    AdjustedTimeOutOfRange,
    /// The events of one request name different tokens; capture refuses such a request
    /// whole (docs/contract.md §1.1).
    #[error(
        "the events name different tokens ({first:?} and {second:?}), refused whole as capture refuses them"
    )]
    MixedTokens {
        /// The first token named.
        first: String,
        /// The first token that differs from it.
        second: String,
    },
}

/// Why a capture request body is refused whole (docs/contract.md §1.1). Problems of one
/// event of a batch are not this: they reject that event only.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The body starts with gzip's magic bytes but does not decompress.
    #[error("not valid gzip: {0}")]
    Gzip(String),
    /// The body decompresses to more than the limit (see
    /// [`CaptureReader::max_body_bytes`](crate::CaptureReader::max_body_bytes)).
    #[error("larger than the maximum request size of {limit} bytes once decompressed")]
    TooLarge {
        /// The maximum, in bytes.
        limit: usize,
    },
    /// The body as a whole is not one of capture's shapes: not JSON
    /// ([`EventError::Json`]), a batch envelope with a mistyped field, or events that name
    /// different tokens ([`EventError::MixedTokens`]). A line of JSON Lines refused so is a
    /// rejected line, for this reason.
    #[error(transparent)]
    Refused(EventError),
}

/// Why the engine could not apply an event. Bad events are not errors (they become warnings
/// in the [`Outcome`](crate::Outcome)); this is only for limits of the engine itself.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EngineError {
    /// A dense index space (distinct ids, persons, property keys) of one project is full.
    #[error("capacity exceeded: more than {limit} {what}")]
    CapacityExceeded {
        /// What ran out.
        what: &'static str,
        /// The most there can be.
        limit: u64,
    },
}

/// Why a graph edit (unlink, split, delete, erase) could not be made. A failed edit changes
/// nothing.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EditError {
    /// The project has never been seen.
    #[error("unknown project {0}")]
    UnknownProject(String),
    /// The distinct id is not in the project.
    #[error("unknown distinct id {0:?}")]
    UnknownId(String),
    /// The distinct id has no person.
    #[error("{0:?} has no person")]
    NoPerson(String),
    /// No link joins the two ids directly.
    #[error("no link joins {a:?} and {b:?} directly")]
    NotLinked {
        /// One id.
        a: String,
        /// The other.
        b: String,
    },
}

/// Why a snapshot could not be saved or loaded. Loading never panics and never returns a
/// different graph: every way a file can be wrong is one of these.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// The input does not start with the snapshot magic bytes.
    #[error("not an idgraph snapshot")]
    NotASnapshot,
    /// The input ends before the snapshot does.
    #[error("snapshot is truncated")]
    Truncated,
    /// The body does not match the checksum in the header: the file is corrupt.
    #[error("snapshot is corrupt: checksum {stored:#010x} stored, {computed:#010x} computed")]
    ChecksumMismatch {
        /// The checksum in the header.
        stored: u32,
        /// The checksum of the bytes read.
        computed: u32,
    },
    /// The snapshot was written in a format version this build does not read.
    #[error("unsupported snapshot format version {found} (this build reads version {expected})")]
    UnsupportedVersion {
        /// The version in the file.
        found: u32,
        /// The version this build reads and writes.
        expected: u32,
    },
    /// The snapshot is intact but its contents break an invariant of the graph, or the
    /// engine holds something the format cannot store.
    #[error("invalid snapshot contents: {kind}")]
    Invalid {
        /// What is wrong.
        kind: InvalidSnapshot,
        /// The codec's error, when decoding failed.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// Reading or writing failed.
    #[error("snapshot I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The input goes on after the snapshot ends: bytes were appended to the file, or it is
    /// not the file that was saved.
    #[error("snapshot is damaged: bytes follow its end")]
    TrailingBytes,
    /// The path to save to exists and is not a regular file (a directory, a device, a FIFO,
    /// a socket), which a save would replace.
    #[error("{} is not a regular file, and a snapshot replaces only a regular file", path.display())]
    NotAFile {
        /// The path, after following symbolic links.
        path: std::path::PathBuf,
    },
}

impl SnapshotError {
    pub(crate) fn invalid(kind: InvalidSnapshot) -> SnapshotError {
        SnapshotError::Invalid { kind, source: None }
    }
}

/// What is wrong with a snapshot whose contents are refused ([`SnapshotError::Invalid`]).
/// Each kind's text is what the error shows after "invalid snapshot contents: ".
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum InvalidSnapshot {
    // The body as a whole.
    /// The header's flags set a bit that no version defines.
    #[error("unknown flags")]
    UnknownFlags,
    /// The body passed its checksum but bincode cannot decode it.
    #[error("the body does not decode")]
    DoesNotDecode,
    /// The body's contents end before the body does.
    #[error("{0} bytes after the end of the body")]
    TrailingBytes(usize),
    /// A part of the body was never handed to the jobs that check it.
    #[error("a part of the body was not prepared")]
    NotPrepared,
    /// A format 2 body holds fewer warning counters than the format was released with, or
    /// more than this build knows kinds.
    #[error("warning counters of another number of kinds")]
    WarningCountersOfOtherKinds,
    /// A format 3 body holds warning names and counts of different lengths.
    #[error("warning names and counts of different lengths")]
    WarningColumnsDiffer,
    /// A format 3 body names a warning kind this build does not know.
    #[error("unknown warning kind {0:?}")]
    UnknownWarning(String),
    /// A format 3 body counts one warning kind twice.
    #[error("a warning kind counted twice")]
    WarningRepeated,
    /// The move limit does not fit `u32`.
    #[error("a move limit past u32")]
    MoveLimitPastU32,
    /// Two projects are the same project.
    #[error("a project appears twice")]
    ProjectTwice,

    // Strings and interners.
    /// A section's text is not UTF-8.
    #[error("{0}: text is not UTF-8")]
    TextNotUtf8(SnapshotSection),
    /// An interner's offsets or erased list are wrong.
    #[error("{0}: offsets out of order, a string repeated, or a bad erased list")]
    BadInterner(SnapshotSection),
    /// A section's strings are not all used.
    #[error("{0}: strings left over")]
    StringsLeftOver(SnapshotSection),
    /// Fewer strings than the values need.
    #[error("fewer strings than values need")]
    FewerStrings,
    /// A string's length passes the end of its text.
    #[error("string lengths pass the end of their text")]
    StringPastText,
    /// A string's end falls inside a UTF-8 character.
    #[error("a string splits a UTF-8 character")]
    StringSplitsCharacter,
    /// Saving: a string is longer than the format can say.
    #[error("a string longer than u32::MAX")]
    StringTooLong,

    // Property values.
    /// Saving: a property value nests deeper than the format allows.
    #[error("a property value nests deeper than {levels} levels")]
    SavedValueTooDeep {
        /// The deepest nesting allowed.
        levels: usize,
    },
    /// A stored value nests deeper than the format allows.
    #[error("a value nests deeper than {levels} levels")]
    ValueTooDeep {
        /// The deepest nesting allowed.
        levels: usize,
    },
    /// Fewer numbers than the values need.
    #[error("fewer numbers than values need")]
    FewerNumbers,
    /// An array or object claims more elements than values are left.
    #[error("a container longer than the values left")]
    ContainerTooLong,
    /// Fewer values than the properties need.
    #[error("fewer values than properties")]
    FewerValues,
    /// A value tag that no version defines.
    #[error("unknown value tag {0}")]
    UnknownValueTag(u8),
    /// An object with more keys than strings are left.
    #[error("an object with more keys than strings left")]
    ObjectKeysPastStrings,
    /// An object's keys are not strictly increasing.
    #[error("object keys out of order or repeated")]
    ObjectKeysOutOfOrder,
    /// Values are left after the last one used.
    #[error("property values left over")]
    ValuesLeftOver,
    /// The value store holds a value twice, or frees a slot in use.
    #[error("the value store repeats a value or frees a slot in use")]
    ValueStoreRepeats,
    /// A property names a value slot that holds no value.
    #[error("a property value slot that holds no value")]
    NoValueInSlot,

    // Property rows.
    /// A property names a key that is not interned.
    #[error("a property key out of range")]
    PropertyKeyOutOfRange,
    /// A property's writer is not a distinct id of its project.
    #[error("a property writer is not a distinct id")]
    PropertyWriterNotAnId,
    /// An owner's property keys are not strictly increasing.
    #[error("property keys out of order or repeated")]
    PropertyKeysOutOfOrder,
    /// The persons' property counts do not add up to the rows.
    #[error("the persons' property counts do not add up to their rows")]
    PersonPropertyCountsDiffer,
    /// The merge records' property counts do not add up to the rows.
    #[error("the merge records' property counts do not add up to their rows")]
    RecordPropertyCountsDiffer,

    // Projects, ids and the union-find.
    /// A project token is not UTF-8.
    #[error("a project token is not UTF-8")]
    ProjectTokenNotUtf8,
    /// A project's kind, team and token do not make a project.
    #[error("a project is neither default, a team nor a token")]
    UnknownProjectKind,
    /// A project's id columns differ in length.
    #[error("id columns of different lengths")]
    IdColumnsDiffer,
    /// The personless bitmap does not have one bit per id.
    #[error("the personless bitmap does not match the ids")]
    PersonlessBitmap,
    /// The union-find arrays are not a forest of their member lists.
    #[error("the union-find forest is not a forest of its member lists")]
    ForestNotAForest,

    // Persons.
    /// More person slots than person keys can number.
    #[error("more person slots than person keys")]
    TooManyPersonSlots,
    /// A person's anchor is not a distinct id.
    #[error("a person's anchor is not a distinct id")]
    PersonAnchorOutside,
    /// A person's anchor is in a set that holds another person.
    #[error("a person's anchor is in a set that holds another person")]
    PersonAnchorHoldsAnother,
    /// A person's id count differs from its set's size.
    #[error("a person's id count differs from its set")]
    PersonIdCountDiffers,
    /// The free list names a slot twice.
    #[error("a free person slot listed twice")]
    FreeSlotTwice,
    /// The free list names a slot out of range or in use.
    #[error("a free person slot out of range or in use")]
    FreeSlotInvalid,
    /// An empty person slot is not on the free list.
    #[error("an empty person slot missing from the free list")]
    FreeSlotMissing,
    /// A person is recorded at an id that is not the root of its set.
    #[error("a person is recorded at an id that is not a root")]
    PersonOffRoot,
    /// The sets name a person slot that is not live, or one person twice.
    #[error("sets name a person slot that is not live, or one person twice")]
    PersonNamedTwice,

    // Groups.
    /// More than five group types, or one repeated.
    #[error("more than five group types, or one repeated")]
    TooManyGroupTypes,
    /// A project's group columns differ in length.
    #[error("group columns of different lengths")]
    GroupColumnsDiffer,
    /// A group's type index names no group type.
    #[error("a group of an unknown group type")]
    UnknownGroupType,
    /// Groups are not sorted by type index and key, or one is repeated.
    #[error("groups out of order or repeated")]
    GroupsOutOfOrder,
    /// A group's properties are not an object.
    #[error("a group's properties are not an object")]
    GroupPropertiesNotObject,

    // Links and refusals.
    /// A link or refusal names an id out of range.
    #[error("a link names an id out of range")]
    LinkIdOutOfRange,
    /// A link joins ids that are not one person.
    #[error("a link joins ids that are not one person")]
    LinkAcrossPersons,
    /// A refusal's link kind code is unknown.
    #[error("unknown link kind code {0}")]
    UnknownLinkKindCode(u8),
    /// A refusal's reason code is unknown.
    #[error("unknown refusal reason code {0}")]
    UnknownRefusalReasonCode(u8),
    /// A project's refusal columns differ in length.
    #[error("refusal columns of different lengths")]
    RefusalColumnsDiffer,

    // Merge record sides (format 4).
    /// A project's side columns differ in length, or from its person slots.
    #[error("merge record side columns of different lengths")]
    SideColumnsDiffer,
    /// More sides than side keys can number.
    #[error("more merge record sides than side keys")]
    TooManySides,
    /// A side is a delta on a side that does not come before it.
    #[error("a merge record side built on a side that does not come before it")]
    SideBaseNotEarlier,
    /// A full side removes keys, which only a delta on a base can.
    #[error("a full merge record side removes keys")]
    RemovalInFullSide,
    /// A side removes a key that it also sets.
    #[error("a merge record side sets a key it removes")]
    SideSetsRemovedKey,
    /// A merge record or a person names a side that does not exist, or a free person slot
    /// names one.
    #[error("a merge record or person names a side that does not exist")]
    SideOutOfRange,
}

/// The part of a snapshot an [`InvalidSnapshot`] kind is about, where several parts can be
/// wrong the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SnapshotSection {
    /// The property key names.
    #[error("property keys")]
    PropertyKeys,
    /// A project's distinct ids.
    #[error("distinct ids")]
    DistinctIds,
    /// A project's group type names.
    #[error("group types")]
    GroupTypes,
    /// A project's group keys.
    #[error("group keys")]
    GroupKeys,
    /// The strings of property values.
    #[error("property values")]
    PropertyValues,
    /// The names of the warning counters.
    #[error("warning names")]
    WarningNames,
}

/// Any error of this crate.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// A line is not an event.
    #[error(transparent)]
    Event(#[from] EventError),
    /// A capture request body is refused whole.
    #[error(transparent)]
    Request(#[from] RequestError),
    /// The engine could not apply an event.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// A graph edit (unlink, split, delete, erase) could not be made.
    #[error(transparent)]
    Edit(#[from] EditError),
    /// An I/O error.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A snapshot could not be saved or loaded.
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
}

/// This crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
