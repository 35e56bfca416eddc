//! Test support for this crate and for other crates' test suites (feature `testing`).
//!
//! - [`Model`]: a small, obviously-correct reference implementation of docs/behaviour.md to
//!   compare the engine (or a pipeline built on it) with, event by event.
//! - [`strategy`]: proptest strategies for events and event sequences that make ids collide,
//!   hit every guard and warning, and exercise malformed properties, and for adversarial
//!   streams (hubs, long chains, illegal ids).
//! - [`fuzz`]: the checks the fuzz targets in `fuzz/` run, shared with the regression tests
//!   that replay their crashers.
//! - [`journey`]: proptest strategies for realistic client journeys played through
//!   [`Client`](crate::Client), with the bookkeeping to tell which user sent what.

pub mod fuzz;
pub mod journey;
mod model;
pub mod strategy;

pub use journey::{AliasTarget, Journey, Session, Step};
pub use model::Model;
