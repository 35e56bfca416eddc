//! idgraph: an embedded, in-process identity graph engine with PostHog's person semantics.
//!
//! Product analytics tags every event with a `distinct_id`. idgraph ingests those events,
//! merges ids into persons with union-find (`$identify`, `$create_alias`,
//! `$merge_dangerously`), applies `$set`, `$set_once` and `$unset`, keeps groups, honours
//! personless mode, and resolves any id to its person at any moment. Its default behaviour is
//! PostHog's, rule for rule (see `SEMANTICS.md` beside the repository).
//!
//! ```
//! use idgraph::{Engine, Event, Project, Value};
//!
//! let mut engine = Engine::new();
//! for line in [
//!     r#"{"event": "$pageview", "distinct_id": "anon_1", "properties": {"$set_once": {"first_page": "/pricing"}}}"#,
//!     r#"{"event": "$identify", "distinct_id": "user_1", "properties": {"$anon_distinct_id": "anon_1", "$set": {"plan": "pro"}}}"#,
//! ] {
//!     engine.apply(&Event::from_json(line)?)?;
//! }
//! let person = engine.resolve(&Project::Default, "anon_1").expect("a person");
//! assert_eq!(person.sorted_distinct_ids(), ["anon_1", "user_1"]);
//! assert_eq!(person.property("plan"), Some(&Value::from("pro")));
//! # Ok::<(), idgraph::Error>(())
//! ```
//!
//! Limits: a project holds at most `u32::MAX - 1` distinct ids and 4 GiB of id text; property
//! key names likewise. Ids longer than 400 characters are refused as PostHog refuses them.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(feature = "workload")]
mod client;
mod dump;
mod edit;
mod engine;
mod error;
mod event;
mod explain;
mod graph;
mod groups;
mod id;
mod ingest;
mod links;
mod outcome;
mod prop_arena;
mod props;
#[cfg(feature = "workload")]
mod rng;
mod rules;
mod snapshot;
#[cfg(feature = "testing")]
pub mod testing;
mod value;
mod values;
#[cfg(feature = "workload")]
mod workload;

#[cfg(feature = "workload")]
pub use client::{Client, PersonProfiles, UserState};
pub use dump::{
    Dump, GroupRecord, LineStatus, PersonRecord, PersonlessRecord, RejectedRecord, Replay,
    WarningRecord,
};
pub use edit::{EditError, Unlinked};
pub use engine::{Config, Counters, Engine, EngineBuilder, GroupRef, PersonRef, Stats};
pub use error::{EngineError, Error, EventError, Result, SnapshotError};
pub use event::{Event, EventKind, Project, Timestamp};
pub use explain::{Explanation, LinkStep, RefusedStep};
pub use groups::MAX_GROUP_TYPES;
pub use links::{EventRef, LinkEffect, LinkKind, RefusalReason};
pub use outcome::{Change, Outcome, Warning, WarningKind};
pub use props::PropertyChanges;
pub use rules::{
    LIFTED_KEYS as LIFTED_PROPERTIES, MAX_ID_CHARS, is_churn_filtered, is_illegal_id,
    is_rejected_by_capture, is_unmergeable_id,
};
pub use snapshot::Snapshot;
pub use uuid::Uuid;
pub use value::{Number, Value};
#[cfg(feature = "workload")]
pub use workload::{Shape, Workload, WorkloadConfig, write_event_json};

/// The README's Rust examples, compiled and run as doctests so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
