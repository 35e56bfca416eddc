//! The evidence behind every person: each link that joined two distinct ids, each merge that
//! was refused, and what the two sides of a merge held at that moment.
//!
//! Links are what make a person explainable and a bad merge undoable. The union-find in
//! `forest.rs` answers "same person?" fast; the links answer "why?" and "what if not?". The
//! invariant tying them: the ids joined by the links of a project are exactly the sets of its
//! union-find.

use petgraph::graph::{NodeIndex, UnGraph};
use uuid::Uuid;

use super::forest::Forest;
use super::id_table::IdTable;
use super::keys::{IdKey, SideKey, ValueId};
use super::link_list::{LinkEnds, LinkFacts, LinkList};
use super::sides::Sides;
use crate::event::{Event, Timestamp};

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

/// What both sides of a two-person merge held when it happened. The properties are sides
/// of the store's [`LinkStore::sides`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct MergeRecord {
    pub(crate) target_side: SideKey,
    pub(crate) source_side: SideKey,
    pub(crate) target_created_at: Timestamp,
    pub(crate) source_created_at: Timestamp,
}

/// One link between two ids, whole: the store keeps it as two columns (`link_list.rs`).
#[derive(Clone, Copy, Debug, PartialEq)]
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
    pub(crate) fn from_columns(ends: LinkEnds, facts: LinkFacts) -> Link {
        let LinkFacts {
            kind,
            effect,
            event,
            merge,
        } = facts;
        Link {
            target: ends.target,
            source: ends.source,
            kind,
            effect,
            event,
            merge,
        }
    }

    pub(crate) fn into_columns(self) -> (LinkEnds, LinkFacts) {
        let ends = LinkEnds {
            target: self.target,
            source: self.source,
        };
        let facts = LinkFacts {
            kind: self.kind,
            effect: self.effect,
            event: self.event,
            merge: self.merge,
        };
        (ends, facts)
    }
}

/// Lets go of the sides of a link's merge record, if it has one, as an edit removes it.
pub(crate) fn let_go_of_record(sides: &mut Sides, record: Option<MergeRecord>) {
    if let Some(record) = record {
        sides.release_removed(record.target_side, record.source_side);
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
    pub(crate) links: LinkList,
    pub(crate) refusals: Vec<Refusal>,
    /// The properties of the merge records' sides.
    pub(crate) sides: Sides,
}

impl LinkStore {
    /// Every value held by a merge record.
    pub(crate) fn values_in_use(&self, mark: &mut impl FnMut(ValueId)) {
        self.sides.values_in_use(mark);
    }

    /// Removes every link of the ids of `leaving` and joins, for each of them in turn, the
    /// ids it linked among `staying` with bridge links, so that `staying` stays one
    /// component. The same as bridging over each leaving id one after the other, in one
    /// pass over the links: a bridge joins two staying ids, so no later leaving id removes
    /// it, and the links of a later id are untouched by the earlier ones.
    pub(crate) fn bridge_over(&mut self, leaving: &[IdKey], staying: &[IdKey]) {
        // Each id's role: a leaving id's place in the order they leave (first listing
        // first), `STAYING`, `KEPT` (staying, already the one leaving id's neighbour) or
        // `NEITHER`. A listed leaving id does not stay.
        const KEPT: u32 = u32::MAX - 2;
        const STAYING: u32 = u32::MAX - 1;
        const NEITHER: u32 = u32::MAX;
        let mut role = IdTable::for_keys(leaving.iter().chain(staying).copied(), NEITHER);
        for &key in staying {
            role.set(key, STAYING);
        }
        let mut count = 0;
        for &key in leaving {
            if role.get(key) >= STAYING {
                role.set(key, count);
                count += 1;
            }
        }
        // With one leaving id (erase), a neighbour's role tells a repeat as the links are
        // walked; with several, repeats within each one's list go below.
        let one = count == 1;
        // The staying neighbours of the leaving ids, as (the leaving id's place, the
        // neighbour, the link's event), in link order: one vector, however many leave.
        let mut neighbours: Vec<(u32, IdKey, EventRef)> = Vec::new();
        let sides = &mut self.sides;
        self.links.retain(|l, facts| {
            let (target, source) = (role.get(l.target), role.get(l.source));
            let (leaves_target, leaves_source) = (target < count, source < count);
            if !(leaves_target || leaves_source) {
                return true;
            }
            let_go_of_record(sides, facts.merge);
            let (at, other, other_role) = match (leaves_target, leaves_source) {
                (true, false) => (target, l.source, source),
                (false, true) => (source, l.target, target),
                // Between two leaving ids: the first of them to leave takes it, and its
                // other end does not stay.
                _ => return false,
            };
            if other_role == STAYING {
                if one {
                    role.set(other, KEPT);
                }
                neighbours.push((at, other, facts.event));
            }
            false
        });
        if !one {
            // Each leaving id's neighbours together, first link first (the sort is stable).
            neighbours.sort_by_key(|&(at, _, _)| at);
            // The staying ids' roles are free once the links are walked: each takes the
            // last leaving id that kept it, which tells a repeat within that id's list.
            neighbours.retain(|&(at, other, _)| {
                let repeat = role.get(other) == at;
                role.set(other, at);
                !repeat
            });
        }
        // With one leaving id the vector is its one list.
        let lists = neighbours.chunk_by(|x, y| one || x.0 == y.0);
        for pair in lists.flat_map(|list| list.windows(2)) {
            let ((_, a, _), (_, b, event)) = (pair[0], pair[1]);
            self.links.push(Link {
                target: a,
                source: b,
                kind: LinkKind::Bridge,
                effect: LinkEffect::Merged,
                event,
                merge: None,
            });
        }
    }

    /// Removes the links whose target is one of `members`, the ids of one person (a link
    /// joins two ids of one person, so these are all its links).
    pub(crate) fn remove_links_of(&mut self, members: &[IdKey]) {
        let member = IdTable::marking(members);
        let sides = &mut self.sides;
        self.links.retain(|l, facts| {
            let leaves = member.get(l.target);
            if leaves {
                let_go_of_record(sides, facts.merge);
            }
            !leaves
        });
    }

    /// Whether each of `members` (the ids of one person) is joined to `start`, one of them,
    /// by the links: a [`Forest`] over the members' places (its keys here are places in
    /// `members`, not the project's keys), joined link by link, so that the memory it takes
    /// is a few bytes per member (`explain`'s [`LinkWalk`] builds a graph of every link).
    pub(crate) fn joined_to(&self, members: &[IdKey], start: IdKey) -> IdTable<bool> {
        const NOT_MEMBER: u32 = u32::MAX;
        let mut place = IdTable::for_keys(members.iter().copied(), NOT_MEMBER);
        for (at, &key) in (0u32..).zip(members) {
            place.set(key, at);
        }
        let mut sets = Forest::singletons(u32::try_from(members.len()).unwrap_or(u32::MAX));
        for link in self.links.ends() {
            let (a, b) = (place.get(link.target), place.get(link.source));
            if a != NOT_MEMBER && b != NOT_MEMBER {
                let (a, b) = (
                    sets.find_mut(IdKey::from_raw(a)),
                    sets.find_mut(IdKey::from_raw(b)),
                );
                if a != b {
                    sets.union_roots(a, b);
                }
            }
        }
        let mut joined = IdTable::for_keys(members.iter().copied(), false);
        if place.get(start) != NOT_MEMBER {
            let root = sets.find_mut(IdKey::from_raw(place.get(start)));
            for (at, &key) in (0u32..).zip(members) {
                if sets.find_mut(IdKey::from_raw(at)) == root {
                    joined.set(key, true);
                }
            }
        }
        joined
    }

    /// Removes the refusals that name `key`.
    pub(crate) fn forget_refusals_of(&mut self, key: IdKey) {
        self.refusals.retain(|r| r.target != key && r.source != key);
    }
}

/// The links among a set of ids, as a graph to walk: how `explain` finds the chain between
/// two ids. Links form a spanning forest of the union-find's sets, so a chain between two ids
/// is unique when it exists.
pub(crate) struct LinkWalk {
    /// The node of each id, [`NO_NODE`] for others.
    nodes: IdTable<u32>,
    /// Nodes are ids, edges the positions of links in the store.
    graph: UnGraph<IdKey, usize>,
}

/// Marks "no node" in `LinkWalk::nodes`: petgraph's own end marker.
const NO_NODE: u32 = u32::MAX;

impl LinkWalk {
    pub(crate) fn new(store: &LinkStore, members: &[IdKey]) -> LinkWalk {
        // The links of a person join it into one component: at least one per id but one.
        let mut graph: UnGraph<IdKey, usize> = UnGraph::with_capacity(members.len(), members.len());
        let mut nodes = IdTable::for_keys(members.iter().copied(), NO_NODE);
        for &member in members {
            // A node index is a u32, numbered like the members.
            nodes.set(member, graph.add_node(member).index() as u32);
        }
        for (index, link) in store.links.ends().iter().enumerate() {
            if let (Some(t), Some(s)) = (
                LinkWalk::node_in(&nodes, link.target),
                LinkWalk::node_in(&nodes, link.source),
            ) {
                graph.add_edge(t, s, index);
            }
        }
        LinkWalk { nodes, graph }
    }

    fn node_in(nodes: &IdTable<u32>, key: IdKey) -> Option<NodeIndex> {
        let node = nodes.get(key);
        (node != NO_NODE).then(|| NodeIndex::new(node as usize))
    }

    fn node(&self, key: IdKey) -> Option<NodeIndex> {
        LinkWalk::node_in(&self.nodes, key)
    }

    /// The links, by position in the store, of the chain from `a` to `b`; empty when they
    /// are the same id or not joined.
    pub(crate) fn chain(&self, a: IdKey, b: IdKey) -> Vec<usize> {
        let (Some(start), Some(goal)) = (self.node(a), self.node(b)) else {
            return Vec::new();
        };
        if start == goal {
            return Vec::new();
        }
        let found = petgraph::algo::astar(&self.graph, start, |n| n == goal, |_| 1u32, |_| 0);
        let Some((_, path)) = found else {
            return Vec::new();
        };
        path.windows(2)
            .filter_map(|step| self.graph.find_edge(step[0], step[1]))
            .map(|edge| self.graph[edge])
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(target: u32, source: u32, ordinal: u64) -> Link {
        Link {
            target: IdKey::from_raw(target),
            source: IdKey::from_raw(source),
            kind: LinkKind::Identify,
            effect: LinkEffect::Merged,
            event: EventRef {
                ordinal,
                timestamp: Timestamp::EPOCH,
                uuid: None,
            },
            merge: None,
        }
    }

    /// Bridging over several leaving ids at once gives the links, in the same order, that
    /// bridging over each in turn gives, with links between leaving ids and repeated
    /// neighbours.
    #[test]
    fn bridging_over_many_ids_at_once_is_bridging_over_each_in_turn() {
        let keys = |raw: &[u32]| raw.iter().copied().map(IdKey::from_raw).collect::<Vec<_>>();
        let mut store = LinkStore::default();
        let pairs = [
            (0, 1),
            (0, 2),
            (3, 0),
            (1, 4),
            (4, 5),
            (5, 1),
            (0, 6),
            (2, 6),
            (6, 7),
            (1, 0),
            (7, 8),
            (3, 8),
        ];
        for (i, &(t, s)) in pairs.iter().enumerate() {
            store.links.push(link(t, s, i as u64));
        }
        let (leaving, staying) = (keys(&[0, 6, 1, 0]), keys(&[2, 3, 4, 5, 7, 8]));
        let mut one_by_one = store.clone();
        for &key in &leaving {
            one_by_one.bridge_over(&[key], &staying);
        }
        store.bridge_over(&leaving, &staying);
        assert_eq!(store.links, one_by_one.links);
        assert!(store.links.iter().any(|l| l.kind == LinkKind::Bridge));
    }

    /// Retain keeps the same links, in the same order, as a vector of whole links does,
    /// with both columns in step.
    #[test]
    fn retain_keeps_the_links_a_vector_of_whole_links_keeps() {
        let all: Vec<Link> = (0..40).map(|i| link(i % 7, i, u64::from(i))).collect();
        for drop_target in 0..8 {
            let mut list: LinkList = all.iter().copied().collect();
            list.retain(|ends, facts| ends.target.raw() != drop_target || facts.event.ordinal == 7);
            let mut whole = all.clone();
            whole.retain(|l| l.target.raw() != drop_target || l.event.ordinal == 7);
            assert_eq!(list.iter().collect::<Vec<_>>(), whole);
            assert_eq!(list.len(), whole.len());
            assert_eq!(list.get(list.len()), None);
        }
    }
}
