//! The format's codes: value tags, project kinds, and the codes of link kinds, link
//! effects and refusal reasons.

use crate::graph::{LinkEffect, LinkKind, RefusalReason};

/// How deep values may nest. JSON input is limited to 128 levels by the parser; values
/// built through the API are refused on save past this, so that every saved file loads.
pub(super) const MAX_DEPTH: usize = 512;

pub(super) const TAG_NULL: u8 = 0;
pub(super) const TAG_FALSE: u8 = 1;
pub(super) const TAG_TRUE: u8 = 2;
pub(super) const TAG_INT: u8 = 3;
pub(super) const TAG_UINT: u8 = 4;
pub(super) const TAG_FLOAT: u8 = 5;
pub(super) const TAG_STRING: u8 = 6;
pub(super) const TAG_ARRAY: u8 = 7;
pub(super) const TAG_OBJECT: u8 = 8;

pub(super) const PROJECT_DEFAULT: u8 = 0;
pub(super) const PROJECT_TEAM: u8 = 1;
pub(super) const PROJECT_TOKEN: u8 = 2;

/// Link kinds by their code in the format.
pub(super) const LINK_KINDS: [LinkKind; 4] = [
    LinkKind::Identify,
    LinkKind::Alias,
    LinkKind::MergeDangerously,
    LinkKind::Bridge,
];
/// Link effects by their code in the format.
pub(super) const EFFECTS: [LinkEffect; 4] = [
    LinkEffect::Created,
    LinkEffect::AttachedSource,
    LinkEffect::AttachedTarget,
    LinkEffect::Merged,
];
/// Refusal reasons by their code in the format.
pub(super) const REASONS: [RefusalReason; 3] = [
    RefusalReason::IllegalId,
    RefusalReason::AlreadyIdentified,
    RefusalReason::MoveLimitExceeded,
];

pub(super) fn code_of<T: PartialEq>(table: &[T], item: &T) -> u8 {
    table
        .iter()
        .position(|t| t == item)
        .and_then(|i| u8::try_from(i).ok())
        .unwrap_or(u8::MAX)
}

/// The entry of `table` with code `code`.
pub(super) fn code_in<T: Copy>(table: &[T], code: u8) -> Option<T> {
    table.get(usize::from(code)).copied()
}

pub(super) fn link_kind_code(kind: LinkKind) -> u8 {
    code_of(&LINK_KINDS, &kind)
}

pub(super) fn reason_code(reason: RefusalReason) -> u8 {
    code_of(&REASONS, &reason)
}
