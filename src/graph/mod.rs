//! The graph's machinery: dense keys, the interner, the union-find forest, the property
//! arena, the value store, links, groups, and `ProjectGraph`, which owns their invariants.
//! Nothing here knows PostHog's rules, events' JSON or the snapshot format.

mod forest;
mod groups;
mod id_table;
mod interner;
mod keys;
mod link_list;
mod links;
mod project;
mod projects;
mod prop_arena;
mod props;
mod sides;
mod value_store;

pub(crate) use forest::{Forest, Sets};
pub use groups::MAX_GROUP_TYPES;
pub(crate) use groups::{Group, Groups};
pub(crate) use id_table::IdTable;
pub(crate) use interner::{Interner, Unfinished};
pub(crate) use keys::{IdKey, PersonKey, PropKey, SideKey, ValueId, reserve_gently, reserve_room};
pub(crate) use link_list::{LinkEnds, LinkList};
pub use links::{EventRef, LinkEffect, LinkKind, RefusalReason};
pub(crate) use links::{Link, LinkStore, MergeRecord, Refusal};
pub(crate) use project::{NO_PERSON, NewPerson, Part, Person, ProjectGraph, ProjectParts};
pub(crate) use projects::Projects;
pub(crate) use prop_arena::{PropArena, PropRange, PropRuns, RunAt};
pub(crate) use props::{Prop, PropStore, Props};
pub(crate) use sides::{NO_SIDE, Side, Sides, is_removal, removal};
pub(crate) use value_store::{Interned, Rebuild, ValueStore};
