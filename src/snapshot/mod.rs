//! Snapshots: an engine's whole state in one versioned, checksummed file, saved atomically
//! and loaded with every invariant checked. This module is the only one that knows bincode.

mod codec;
mod concurrent;
mod convert;
mod file;
mod rows;

pub use file::Snapshot;
