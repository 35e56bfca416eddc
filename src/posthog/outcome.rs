//! What applying one event did: the person it landed on, warnings, and the change feed.

use std::fmt;

use uuid::Uuid;

use super::ops::PropertyChanges;

/// The ingestion warnings of docs/behaviour.md §14 that an in-process engine can raise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum WarningKind {
    /// A merge named an illegal or unmergeable id; the merge did not happen.
    CannotMergeWithIllegalDistinctId,
    /// A merge's source person is already identified; the merge did not happen.
    CannotMergeAlreadyIdentified,
    /// A merge would pass the configured limit of distinct ids per person.
    MergeMoveLimitExceeded,
    /// An identity or group event with `$process_person_profile: false`; dropped.
    InvalidEventWhenProcessPersonProfileIsFalse,
    /// `$process_person_profile` is not a boolean; person processing stays on.
    InvalidProcessPersonProfile,
    /// The event's distinct id is longer than 400 characters; dropped.
    SkippingEventInvalidDistinctId,
    /// `$anon_distinct_id` is neither a string nor null; dropped.
    InvalidAnonDistinctId,
    /// `alias` is neither a string nor null; dropped.
    InvalidAlias,
    /// `$group_key` is longer than 400 characters; dropped.
    GroupKeyTooLong,
    /// `$group_set` is not an object; dropped.
    InvalidGroupSet,
    /// An event's property changes would take a person's properties past the size limit
    /// and were refused, or a merged person past it was trimmed; the event is processed.
    PersonPropertiesSizeViolation,
}

impl WarningKind {
    /// Every kind, in declaration order. New kinds go last: snapshot format 2 stores the
    /// counters in this order.
    pub const ALL: [WarningKind; 11] = [
        WarningKind::CannotMergeWithIllegalDistinctId,
        WarningKind::CannotMergeAlreadyIdentified,
        WarningKind::MergeMoveLimitExceeded,
        WarningKind::InvalidEventWhenProcessPersonProfileIsFalse,
        WarningKind::InvalidProcessPersonProfile,
        WarningKind::SkippingEventInvalidDistinctId,
        WarningKind::InvalidAnonDistinctId,
        WarningKind::InvalidAlias,
        WarningKind::GroupKeyTooLong,
        WarningKind::InvalidGroupSet,
        WarningKind::PersonPropertiesSizeViolation,
    ];

    /// PostHog's name of the warning.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            WarningKind::CannotMergeWithIllegalDistinctId => {
                "cannot_merge_with_illegal_distinct_id"
            }
            WarningKind::CannotMergeAlreadyIdentified => "cannot_merge_already_identified",
            WarningKind::MergeMoveLimitExceeded => "merge_move_limit_exceeded",
            WarningKind::InvalidEventWhenProcessPersonProfileIsFalse => {
                "invalid_event_when_process_person_profile_is_false"
            }
            WarningKind::InvalidProcessPersonProfile => "invalid_process_person_profile",
            WarningKind::SkippingEventInvalidDistinctId => "skipping_event_invalid_distinct_id",
            WarningKind::InvalidAnonDistinctId => "invalid_anon_distinct_id",
            WarningKind::InvalidAlias => "invalid_alias",
            WarningKind::GroupKeyTooLong => "group_key_too_long",
            WarningKind::InvalidGroupSet => "invalid_group_set",
            WarningKind::PersonPropertiesSizeViolation => "person_properties_size_violation",
        }
    }

    /// Whether the event was dropped whole when this warning was raised.
    #[must_use]
    pub fn drops_event(self) -> bool {
        !matches!(
            self,
            WarningKind::CannotMergeWithIllegalDistinctId
                | WarningKind::CannotMergeAlreadyIdentified
                | WarningKind::MergeMoveLimitExceeded
                | WarningKind::InvalidProcessPersonProfile
                | WarningKind::PersonPropertiesSizeViolation
        )
    }
}

impl fmt::Display for WarningKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One warning raised by an event.
#[derive(Clone, Debug, PartialEq)]
pub struct Warning {
    /// What went wrong.
    pub kind: WarningKind,
    /// The event's distinct id (cut to 400 characters when it was too long).
    pub distinct_id: Box<str>,
    /// The event's uuid, if it had one.
    pub event_uuid: Option<Box<str>>,
    /// Named facts, e.g. `("source", "shared_anon")` or `("illegal_id", "null")`.
    pub details: Vec<(&'static str, Box<str>)>,
}

/// One change to the graph, in the order it was made, for a downstream store to follow.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Change {
    /// A person was created on a distinct id.
    PersonCreated {
        /// The new person.
        person: Uuid,
        /// The id it was created on.
        distinct_id: Box<str>,
    },
    /// A distinct id was attached to an existing or just created person.
    DistinctIdAttached {
        /// The person.
        person: Uuid,
        /// The attached id.
        distinct_id: Box<str>,
    },
    /// `merged` was merged into `survivor` and no longer exists.
    PersonsMerged {
        /// The person that remains.
        survivor: Uuid,
        /// The person that is gone; its ids now belong to `survivor`.
        merged: Uuid,
    },
    /// A person became identified.
    Identified {
        /// The person.
        person: Uuid,
    },
    /// A person's properties changed.
    PropertiesChanged {
        /// The person.
        person: Uuid,
        /// What was written.
        changes: PropertyChanges,
    },
    /// A distinct id was recorded as seen only in personless mode.
    PersonlessRecorded {
        /// The id.
        distinct_id: Box<str>,
    },
    /// A group was created or its properties changed.
    GroupUpdated {
        /// The group type name.
        group_type: Box<str>,
        /// The group key.
        group_key: Box<str>,
    },
}

/// What applying one event did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    /// The uuid of the person the event landed on; `None` when the event was dropped or
    /// personless with no person behind its id.
    pub person: Option<Uuid>,
    /// Whether two persons were merged, or an id was attached to a person by a merge event.
    pub merged: bool,
    /// Whether the event was dropped whole (see the warnings for why).
    pub dropped: bool,
    /// Warnings, in the order they were raised.
    pub warnings: Vec<Warning>,
    /// Changes, in the order they were made; empty unless change recording is on.
    pub changes: Vec<Change>,
}

impl Outcome {
    /// Resets to the state of a new outcome, keeping allocations for reuse.
    pub fn clear(&mut self) {
        self.person = None;
        self.merged = false;
        self.dropped = false;
        self.warnings.clear();
        self.changes.clear();
    }
}
