//! The format's field list: the body of a snapshot and the transfer objects inside it, each
//! encoded as its fields in order. The records and columns they are made of are in
//! [`super::records`] and [`super::wire`]; what a load does with each field once it is
//! decoded is in [`super::schedule`].

use bincode::de::Decoder;
use bincode::enc::Encoder;
use bincode::error::{DecodeError, EncodeError};
use bincode::{Decode, Encode};

use super::context::DecodeContext;
use super::dto::dto;
use super::records::{Links, Persons, PropRows};
use super::schedule;
use super::wire::{Col, Seq};

/// How many warning counters a format 2 body holds at least: the kinds the format was
/// released with. Kinds added since go after them (`WarningKind::ALL`), and a body leaves
/// out the trailing ones never raised.
pub(super) const RELEASED_WARNING_KINDS: usize = 10;

/// Every transfer object's fields, by the object they belong to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Field {
    Arena(ArenaField),
    Strs(StrsField),
    Values(ValuesField),
    ProjectBody(ProjectField),
    Body(BodyField),
}

dto! {
    /// An interner: its text, and where each string ends in it.
    #[derive(Default)]
    struct Arena / ArenaField {
        text: Col<'a, u8>,
        ends: Col<'a, u32>,
    }
}

dto! {
    /// Strings that are not interned: their text, and each one's length.
    #[derive(Default)]
    struct Strs / StrsField {
        text: Col<'a, u8>,
        lens: Col<'a, u32>,
    }
}

dto! {
    /// Property values, flattened in pre-order: one tag per value; numbers, and the lengths
    /// of arrays and objects, in `nums`; strings and object keys in `strs`.
    #[derive(Default)]
    struct Values / ValuesField {
        tags: Col<'a, u8>,
        nums: Col<'a, u64>,
        strs: Strs<'a>,
    }
}

dto! {
    /// One project's graph. Persons are in slot order; groups are sorted by (type index,
    /// key).
    struct ProjectBody / ProjectField {
        /// 0 default, 1 team, 2 token.
        kind: u8,
        team: u64,
        token: Col<'a, u8>,
        ids: Arena<'a>,
        parent: Col<'a, u32>,
        rank: Col<'a, u8>,
        next: Col<'a, u32>,
        person_at: Col<'a, u32>,
        /// Bit `i % 8` of byte `i / 8` is whether id `i` was seen in personless mode.
        personless: Col<'a, u8>,
        /// The free slots, in the order they will be reused.
        free_persons: Col<'a, u32>,
        persons: Persons<'a>,
        /// Each live person's properties, in slot order.
        person_props: PropRows<'a>,
        /// Distinct ids whose text was erased (empty in `ids`), sorted.
        ids_erased: Col<'a, u32>,
        group_types: Strs<'a>,
        group_type_index: Col<'a, u8>,
        group_keys: Strs<'a>,
        group_created_at: Col<'a, i64>,
        group_versions: Col<'a, u64>,
        /// One object per group holding its properties.
        values: Values<'a>,
        links: Links<'a>,
        /// The properties of each merge record, target's then source's, in link order.
        record_props: PropRows<'a>,
        /// Refused merges, in the order they were refused.
        refusal_target: Col<'a, u32>,
        refusal_source: Col<'a, u32>,
        refusal_kind: Col<'a, u8>,
        refusal_reason: Col<'a, u8>,
        refusal_ordinal: Col<'a, u64>,
        refusal_time: Col<'a, i64>,
        refusal_uuids: Col<'a, u8>,
    }
}

dto! {
    /// The whole body of a version 2 snapshot.
    struct Body / BodyField {
        position: Col<'a, u8>,
        lift_properties: bool,
        filter_churn: bool,
        record_changes: bool,
        /// `u64::MAX` for no limit.
        max_ids_per_person: u64,
        events: u64,
        merges: u64,
        warnings: Col<'a, u64>,
        prop_keys: Arena<'a>,
        /// The value store's slots in order (free slots hold null), and its free list.
        values: Values<'a>,
        value_free: Col<'a, u32>,
        projects: Seq<ProjectBody<'a>>,
    }
}
