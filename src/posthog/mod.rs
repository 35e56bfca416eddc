//! PostHog's policy: what an event does (guards, the four merge cases, personless mode),
//! the property rules, the edits, the outcomes and warnings, and the person uuid. It decides
//! and calls the graph's operations; it never names `Engine` and never writes the graph's
//! fields.

mod apply;
mod config;
mod decisions;
mod edit;
mod ops;
mod outcome;
mod person_uuid;
mod rules;
mod size;

pub(crate) use apply::{Applier, check_capacity};
pub use config::Config;
pub(crate) use decisions::{Decisions, Kept};
pub use edit::Unlinked;
pub(crate) use edit::{delete_person, erase, split, unlink};

pub use ops::PropertyChanges;
pub use outcome::{Change, Outcome, Warning, WarningKind};

pub use rules::{
    MAX_ID_CHARS, is_churn_filtered, is_illegal_id, is_rejected_by_capture, is_unmergeable_id,
};
