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
use super::records::{Links, Persons, PropRows, SIDES_FROM};
use super::schedule;
use super::wire::{Col, Seq};

/// Every transfer object's fields, by the object they belong to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Field {
    Arena(ArenaField),
    Strs(StrsField),
    Values(ValuesField),
    Named(NamedField),
    SideCols(SideColsField),
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
    /// Counts by name: the warning counters of format 3, each kind by PostHog's name.
    #[derive(Default)]
    struct Named / NamedField {
        names: Strs<'a>,
        counts: Col<'a, u64>,
    }
}

/// The warning counters. Format 3 names each kind beside its count, so that a new kind
/// changes no file; format 2 held one count per kind in the order of `WarningKind::ALL`.
pub(super) enum Warnings<'a> {
    /// Format 3.
    Named(Named<'a>),
    /// Format 2.
    InKindOrder(Col<'a, u64>),
}

impl Encode for Warnings<'_> {
    fn encode<E: Encoder>(&self, encoder: &mut E) -> Result<(), EncodeError> {
        match self {
            Warnings::Named(named) => named.encode(encoder),
            Warnings::InKindOrder(counts) => counts.encode(encoder),
        }
    }
}

impl Decode<DecodeContext> for Warnings<'static> {
    fn decode<D: Decoder<Context = DecodeContext>>(decoder: &mut D) -> Result<Self, DecodeError> {
        if decoder.context().version == 2 {
            Ok(Warnings::InKindOrder(Decode::decode(decoder)?))
        } else {
            Ok(Warnings::Named(Decode::decode(decoder)?))
        }
    }
}

dto! {
    /// The sides of a project's merge records (format 4), in the order they were made: each
    /// side either full or a delta on an earlier side, its base (`graph/sides.rs`).
    #[derive(Default)]
    struct SideCols / SideColsField {
        /// Each side's base, `u32::MAX` for a full side.
        base: Col<'a, u32>,
        /// How many of the record property rows are each side's: its entries that set a key.
        sets: Col<'a, u32>,
        /// How many of `removed` are each side's.
        removals: Col<'a, u32>,
        /// The keys each delta removes from its base's list, side after side, each side's
        /// sorted.
        removed: Col<'a, u32>,
        /// Each person slot's latest side, the base of its next one; `u32::MAX` for none and
        /// for free slots.
        person_side: Col<'a, u32>,
    }
}

/// The merge record sides. Formats 2 and 3 have no such field: each record's two sides
/// are full, their rows counted in the link records.
pub(super) enum RecordSides<'a> {
    /// Format 4.
    Cols(SideCols<'a>),
    /// Formats 2 and 3.
    Legacy,
}

impl Encode for RecordSides<'_> {
    fn encode<E: Encoder>(&self, encoder: &mut E) -> Result<(), EncodeError> {
        match self {
            RecordSides::Cols(cols) => cols.encode(encoder),
            RecordSides::Legacy => Ok(()),
        }
    }
}

impl Decode<DecodeContext> for RecordSides<'static> {
    fn decode<D: Decoder<Context = DecodeContext>>(decoder: &mut D) -> Result<Self, DecodeError> {
        if decoder.context().version < SIDES_FROM {
            Ok(RecordSides::Legacy)
        } else {
            Ok(RecordSides::Cols(Decode::decode(decoder)?))
        }
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
        /// The entries of the merge record sides that set a key, in side order (formats 2
        /// and 3: each record's target's then source's properties, in link order).
        record_props: PropRows<'a>,
        sides: RecordSides<'a>,
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
    /// The whole body of a snapshot (versions 2 and 3 differ only in `warnings`, 3 and 4 in
    /// the merge record sides).
    struct Body / BodyField {
        position: Col<'a, u8>,
        lift_properties: bool,
        filter_churn: bool,
        record_changes: bool,
        /// `u64::MAX` for no limit.
        max_ids_per_person: u64,
        events: u64,
        merges: u64,
        warnings: Warnings<'a>,
        prop_keys: Arena<'a>,
        /// The value store's slots in order (free slots hold null), and its free list.
        values: Values<'a>,
        value_free: Col<'a, u32>,
        projects: Seq<ProjectBody<'a>>,
    }
}
