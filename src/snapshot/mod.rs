//! Snapshots: an engine's whole state in one versioned, checksummed file, saved atomically
//! and loaded with every invariant checked. This module is the only one that knows bincode.

mod body;
mod codes;
mod concurrent;
mod context;
mod dto;
mod file;
mod load;
mod load_sides;
mod load_values;
mod prepare;
mod records;
mod rows;
mod save;
mod schedule;
mod schema;
mod wire;

pub use file::Snapshot;
pub(crate) use file::{
    load_from, load_from_bytes, load_from_path, save_to, save_to_path, save_to_vec,
};
