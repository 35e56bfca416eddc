//! One error enum per boundary, and the umbrella [`Error`].

use thiserror::Error;

/// Why an input line is not an event (CONTRACT.md section 1). A rejected line changes
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
    /// `distinct_id` is empty or only white space.
    #[error("empty distinct_id")]
    EmptyDistinctId,
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
    Edit(#[from] crate::edit::EditError),
    /// An I/O error.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// This crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
