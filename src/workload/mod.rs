//! The posthog-js client simulator and the seeded workload generator (feature `workload`):
//! for benches, demos and property tests, never for the engine itself.

mod client;
mod generator;
mod rng;
mod sessions;
mod world;

pub use client::{Client, PersonProfiles, UserState};
pub use generator::{Shape, Workload, WorkloadConfig};
pub(crate) use rng::Rng;
