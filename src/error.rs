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
    #[error("invalid snapshot contents: {reason}")]
    Invalid {
        /// What is wrong.
        reason: String,
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
    pub(crate) fn invalid(reason: impl Into<String>) -> SnapshotError {
        SnapshotError::Invalid {
            reason: reason.into(),
            source: None,
        }
    }
}

/// Any error of this crate.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// A line is not an event.
    #[error(transparent)]
    Event(#[from] EventError),
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
