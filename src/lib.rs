//! idgraph: an embedded, in-process identity graph engine with PostHog's person semantics.
//!
//! Product analytics tags every event with a `distinct_id`. idgraph ingests those events,
//! merges ids into persons with union-find (`$identify`, `$create_alias`,
//! `$merge_dangerously`), applies `$set`, `$set_once` and `$unset`, keeps groups, honours
//! personless mode, and resolves any id to its person at any moment. Its default behaviour is
//! PostHog's, rule for rule (see `docs/behaviour.md` in the repository).
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

mod capture;
mod dump;
mod engine;
mod error;
mod event;
mod explain;
mod graph;
mod posthog;
mod shared;
mod snapshot;
#[cfg(feature = "testing")]
pub mod testing;
#[cfg(feature = "workload")]
mod workload;

pub use capture::{CaptureReader, CaptureRequest, Captured};
pub use dump::{
    Dump, FeedSummary, FeedWatch, GroupRecord, LineStatus, PersonRecord, PersonlessRecord,
    RejectedRecord, Replay, ReplayBuilder, WarningRecord,
};
pub use engine::{Counters, Engine, EngineBuilder, GroupRef, PersonRef, Stats};
pub use error::{
    EditError, EngineError, Error, EventError, InvalidSnapshot, RequestError, Result,
    SnapshotError, SnapshotSection,
};
pub use event::{
    Arrival, Event, EventKind, Input, LIFTED_KEYS as LIFTED_PROPERTIES, Number, Project, Text,
    Timestamp, Value, write_event_json,
};
pub use explain::{Explanation, LinkStep, RefusedStep};
pub use graph::{EventRef, LinkEffect, LinkKind, MAX_GROUP_TYPES, RefusalReason};
pub use posthog::{
    Change, Config, MAX_ID_CHARS, Outcome, PropertyChanges, Unlinked, Warning, WarningKind,
    is_churn_filtered, is_illegal_id, is_rejected_by_capture, is_unmergeable_id,
};
pub use shared::{EngineReader, EngineWriter, HeldView, ReadView};
pub use snapshot::Snapshot;
pub use uuid::Uuid;
#[cfg(feature = "workload")]
pub use workload::{Client, PersonProfiles, Shape, UserState, Workload, WorkloadConfig};

/// The README's Rust examples, compiled and run as doctests so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
