//! The evidence behind every person: each link that joined two distinct ids, each merge that
//! was refused, and what the two sides of a merge held at that moment.
//!
//! Links are what make a person explainable and a bad merge undoable. The union-find in
//! `graph.rs` answers "same person?" fast; the links answer "why?" and "what if not?". The
//! invariant tying them: the ids joined by the links of a project are exactly the sets of its
//! union-find.

use uuid::Uuid;

use crate::event::{Event, Timestamp};
use crate::id::IdKey;
use crate::prop_arena::{PropRuns, RunAt};

/// The event that made a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LinkKind {
    /// `$identify` with `$anon_distinct_id`.
    Identify,
    /// `$create_alias`.
    Alias,
    /// `$merge_dangerously`.
    MergeDangerously,
    /// Stands for the links of an id that was erased or split off, between the neighbours
    /// it joined, so that removing an id never splits the person it leaves.
    Bridge,
}

impl LinkKind {
    /// A short name: `identify`, `alias`, `merge_dangerously`, `bridge`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            LinkKind::Identify => "identify",
            LinkKind::Alias => "alias",
            LinkKind::MergeDangerously => "merge_dangerously",
            LinkKind::Bridge => "bridge",
        }
    }
}

macro_rules! serialize_as_str {
    ($($t:ty),*) => {$(
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    )*};
}

serialize_as_str!(LinkKind, LinkEffect, RefusalReason);

/// What a link's merge did to persons.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LinkEffect {
    /// Neither id had a person: one was created holding both.
    Created,
    /// The source id had no person and joined the target's.
    AttachedSource,
    /// The target id had no person and joined the source's.
    AttachedTarget,
    /// Both ids had persons: the source's person was merged into the target's.
    Merged,
}

impl LinkEffect {
    /// A short name: `created`, `attached_source`, `attached_target`, `merged`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            LinkEffect::Created => "created",
            LinkEffect::AttachedSource => "attached_source",
            LinkEffect::AttachedTarget => "attached_target",
            LinkEffect::Merged => "merged",
        }
    }
}

/// Why a merge did not happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RefusalReason {
    /// One of the ids is illegal or unmergeable.
    IllegalId,
    /// The source person is already identified (and the event was not `$merge_dangerously`).
    AlreadyIdentified,
    /// The merged person would pass the configured limit of distinct ids.
    MoveLimitExceeded,
}

impl RefusalReason {
    /// The warning name PostHog gives the refusal.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            RefusalReason::IllegalId => "cannot_merge_with_illegal_distinct_id",
            RefusalReason::AlreadyIdentified => "cannot_merge_already_identified",
            RefusalReason::MoveLimitExceeded => "merge_move_limit_exceeded",
        }
    }
}

/// Where a link came from: the event's place in the engine's life, its time and its uuid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EventRef {
    /// 1-based count of events applied by the engine (and its snapshots) up to this one.
    pub ordinal: u64,
    /// The event's time.
    pub timestamp: Timestamp,
    /// The event's uuid, when it had one in UUID form.
    pub uuid: Option<Uuid>,
}

impl EventRef {
    pub(crate) fn of(event: &Event, ordinal: u64, timestamp: Timestamp) -> EventRef {
        let uuid = event.uuid().and_then(|u| Uuid::try_parse(u).ok());
        EventRef {
            ordinal,
            timestamp,
            uuid,
        }
    }
}

/// What both sides of a two-person merge held when it happened. The properties are runs
/// of the store's [`LinkStore::records`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct MergeRecord {
    pub(crate) target_props: RunAt,
    pub(crate) source_props: RunAt,
    pub(crate) target_created_at: Timestamp,
    pub(crate) source_created_at: Timestamp,
}

/// One link between two ids.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Link {
    /// The event's `distinct_id`.
    pub(crate) target: IdKey,
    /// The `$anon_distinct_id` or `alias`.
    pub(crate) source: IdKey,
    pub(crate) kind: LinkKind,
    pub(crate) effect: LinkEffect,
    pub(crate) event: EventRef,
    /// For [`LinkEffect::Merged`]: what the two persons held.
    pub(crate) merge: Option<MergeRecord>,
}

impl Link {
    pub(crate) fn joins(&self, a: IdKey, b: IdKey) -> bool {
        (self.target == a && self.source == b) || (self.target == b && self.source == a)
    }
}

/// One merge that was asked for and refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) target: IdKey,
    pub(crate) source: IdKey,
    pub(crate) kind: LinkKind,
    pub(crate) reason: RefusalReason,
    pub(crate) event: EventRef,
}

/// The links and refusals of one project, in the order they were made.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct LinkStore {
    pub(crate) links: Vec<Link>,
    pub(crate) refusals: Vec<Refusal>,
    /// The properties of the merge records.
    pub(crate) records: PropRuns,
}

impl LinkStore {
    /// Drops the record properties that no link refers to any more (left by removed links
    /// and by erasing), once they are most of the store.
    pub(crate) fn compact_records(&mut self) {
        let live: usize = self
            .links
            .iter()
            .filter_map(|l| l.merge.as_ref())
            .map(|m| m.target_props.len() + m.source_props.len())
            .sum();
        if self.records.len() > 2 * live + 4096 {
            self.records.compact(
                self.links
                    .iter_mut()
                    .filter_map(|l| l.merge.as_mut())
                    .flat_map(|m| [&mut m.target_props, &mut m.source_props]),
            );
        }
    }
}
