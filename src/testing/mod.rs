//! Test support for this crate and for other crates' test suites (feature `testing`).
//!
//! - [`Model`]: a small, obviously-correct reference implementation of SEMANTICS.md to
//!   compare the engine (or a pipeline built on it) with, event by event.
//! - [`strategy`]: proptest strategies for events and event sequences that make ids collide,
//!   hit every guard and warning, and exercise malformed properties.

mod model;
pub mod strategy;

pub use model::Model;
