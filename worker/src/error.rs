//! The crate's one error type.

use std::fmt::Display;

/// What can go wrong between a worker, its NATS cluster and its inputs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting or an argument is not usable.
    #[error("{0}")]
    Config(String),
    /// A call to NATS failed; `context` says which.
    #[error("{context}: {source}")]
    Nats {
        /// What was being done.
        context: String,
        /// The client's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A partition's snapshot could not be saved or loaded.
    #[error("snapshot of partition {partition}: {source}")]
    Snapshot {
        /// The partition.
        partition: u32,
        /// The library's error.
        #[source]
        source: idgraph::SnapshotError,
    },
    /// The lease of a partition was lost (taken by another worker, or not renewed in time):
    /// its engine stopped before applying or saving anything more.
    #[error("lease of partition {0} lost")]
    LeaseLost(u32),
    /// A partition made no progress for too long (its consumer, or its snapshot, did not
    /// answer): its task ended, so that it starts afresh from its latest snapshot.
    #[error("partition {partition} stalled: {reason}")]
    Stalled {
        /// The partition.
        partition: u32,
        /// What did not answer.
        reason: String,
    },
    /// An input file could not be read.
    #[error("{path}: {source}")]
    Input {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A reply that is not what the protocol says.
    #[error("bad reply from {subject}: {reason}")]
    Protocol {
        /// The subject asked.
        subject: String,
        /// What was wrong.
        reason: String,
    },
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Wraps a client error with what was being done, for `map_err`.
pub(crate) fn nats<E>(context: impl Display) -> impl FnOnce(E) -> Error
where
    E: std::error::Error + Send + Sync + 'static,
{
    move |source| Error::Nats {
        context: context.to_string(),
        source: Box::new(source),
    }
}
