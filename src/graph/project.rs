//! The identity graph of one project: its ids, their union-find, the person at each root,
//! the persons' properties, its groups and the links that joined its ids.
//!
//! `ProjectGraph` is the only writer of the invariants that tie these together (listed in
//! ARCHITECTURE.md under "graph"). Its fields are private; callers change it through the
//! operations below, each of which leaves every invariant holding. PostHog's policy decides
//! which operation to call and with what; this file never decides.

use uuid::Uuid;

use super::forest::{Forest, Members};
use super::groups::Groups;
use super::interner::Interner;
use super::keys::{IdKey, PersonKey, SideKey, ValueId, reserve_gently, reserve_room};
use super::links::{Link, LinkStore, LinkWalk, MergeRecord, Refusal, let_go_of_record};
use super::prop_arena::{InArena, PropArena, PropRange};
use super::props::{Prop, Props};
use super::sides::{NO_SIDE, renumber};
use crate::error::EngineError;
use crate::event::{Project, Timestamp};

/// Marks "no person" in `ProjectGraph::person_at`.
pub(crate) const NO_PERSON: u32 = u32::MAX;

/// A person: what PostHog's rules decide about it (public to the crate), and where the graph
/// keeps it (private to the graph: its properties' block, the id it was born on and how many
/// ids it holds).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Person {
    pub(crate) uuid: Uuid,
    pub(crate) created_at: Timestamp,
    pub(crate) version: u64,
    pub(crate) is_identified: bool,
    /// The person's properties, in the project's arena.
    props: PropRange,
    /// The id the person was born on; listing the person's ids starts here, and undoing a
    /// link keeps the uuid with the part that holds it.
    anchor: IdKey,
    /// How many distinct ids the person holds.
    ids: u32,
    /// The longer side of the person's latest merge ([`NO_SIDE`] if none), which its next
    /// side is a delta on. A `u32` rather than an `Option`, so that it fits the
    /// padding of the struct.
    side: u32,
}

impl Person {
    /// A person as a snapshot stored it; the load checks it against its graph before the
    /// graph is built (`ProjectGraph::from_checked_parts`).
    pub(crate) fn stored(
        uuid: Uuid,
        created_at: Timestamp,
        version: u64,
        is_identified: bool,
        (props, anchor, ids): (PropRange, IdKey, u32),
    ) -> Person {
        Person {
            uuid,
            created_at,
            version,
            is_identified,
            props,
            anchor,
            ids,
            side: NO_SIDE,
        }
    }

    /// The person with the latest side a snapshot stored for it.
    pub(crate) fn with_stored_side(self, side: u32) -> Person {
        Person { side, ..self }
    }

    /// The longer side of the person's latest merge.
    pub(crate) fn side(&self) -> Option<SideKey> {
        (self.side != NO_SIDE).then_some(SideKey::from_raw(self.side))
    }

    /// The block of the project's arena holding the person's properties.
    pub(crate) fn props(&self) -> PropRange {
        self.props
    }

    /// The id the person was born on (or the one that took its place when it left).
    pub(crate) fn anchor(&self) -> IdKey {
        self.anchor
    }

    /// How many distinct ids the person holds.
    pub(crate) fn id_count(&self) -> u32 {
        self.ids
    }

    /// Where the graph keeps the person, for tests that damage a decoded snapshot.
    #[cfg(test)]
    pub(crate) fn stored_mut(&mut self) -> (&mut PropRange, &mut IdKey, &mut u32) {
        (&mut self.props, &mut self.anchor, &mut self.ids)
    }
}

/// What PostHog's rules decide about a new person.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NewPerson {
    pub(crate) uuid: Uuid,
    pub(crate) created_at: Timestamp,
    pub(crate) version: u64,
    pub(crate) is_identified: bool,
}

/// A project graph's parts, as a snapshot decoded and checked them.
pub(crate) struct ProjectParts {
    pub(crate) project: Project,
    pub(crate) ids: Interner,
    pub(crate) forest: Forest,
    pub(crate) person_at: Vec<u32>,
    pub(crate) personless: Vec<bool>,
    pub(crate) persons: Vec<Option<Person>>,
    pub(crate) free_persons: Vec<u32>,
    pub(crate) props: PropArena,
    pub(crate) groups: Groups,
    pub(crate) links: LinkStore,
}

/// One part of a component being rebuilt by an edit: its ids, and its person if it keeps
/// or gets one.
pub(crate) struct Part<'a> {
    pub(crate) ids: &'a [IdKey],
    pub(crate) person: Option<PersonKey>,
}

/// The identity graph of one project.
#[derive(Clone, Default)]
pub(crate) struct ProjectGraph {
    project: Project,
    ids: Interner,
    forest: Forest,
    /// The person of each root; [`NO_PERSON`] for non-roots and for sets without a person.
    person_at: Vec<u32>,
    /// Whether an id was seen in personless mode.
    personless: Vec<bool>,
    persons: Vec<Option<Person>>,
    free_persons: Vec<u32>,
    /// Every person's properties.
    props: PropArena,
    groups: Groups,
    links: LinkStore,
    /// Counts the writing calls outside the property arena, which counts its own (see
    /// [`ProjectGraph::revision`]); not part of snapshots.
    writes: u64,
}

impl ProjectGraph {
    pub(crate) fn new(project: Project) -> ProjectGraph {
        ProjectGraph {
            project,
            ..ProjectGraph::default()
        }
    }

    /// A graph from a snapshot's parts. The snapshot load checks every invariant of this
    /// file on the parts before it calls this (`snapshot/load.rs`), so that a loaded graph is
    /// one that these operations could have built.
    pub(crate) fn from_checked_parts(parts: ProjectParts) -> ProjectGraph {
        let ProjectParts {
            project,
            ids,
            forest,
            person_at,
            personless,
            persons,
            free_persons,
            props,
            groups,
            mut links,
        } = parts;
        let roots = side_roots(&links, &persons);
        links.sides.recount(&roots);
        ProjectGraph {
            project,
            ids,
            forest,
            person_at,
            personless,
            persons,
            free_persons,
            props,
            groups,
            links,
            writes: 0,
        }
    }

    // Reads.

    /// A count that changes whenever the graph does: every write below bumps it (some
    /// may write what was there). A shared engine's writer compares it around an event to
    /// tell one that changed nothing, which the other copy then need not apply again.
    pub(crate) fn revision(&self) -> u64 {
        self.writes.wrapping_add(self.props.writes())
    }

    pub(crate) fn project(&self) -> &Project {
        &self.project
    }

    pub(crate) fn ids(&self) -> &Interner {
        &self.ids
    }

    pub(crate) fn forest(&self) -> &Forest {
        &self.forest
    }

    pub(crate) fn person_at(&self) -> &[u32] {
        &self.person_at
    }

    pub(crate) fn personless(&self) -> &[bool] {
        &self.personless
    }

    /// Every person slot, free ones `None`.
    pub(crate) fn person_slots(&self) -> &[Option<Person>] {
        &self.persons
    }

    pub(crate) fn free_persons(&self) -> &[u32] {
        &self.free_persons
    }

    pub(crate) fn props(&self) -> &PropArena {
        &self.props
    }

    pub(crate) fn groups(&self) -> &Groups {
        &self.groups
    }

    pub(crate) fn links(&self) -> &LinkStore {
        &self.links
    }

    pub(crate) fn key_of(&self, distinct_id: &str) -> Option<IdKey> {
        self.ids.lookup(distinct_id).map(IdKey::from_raw)
    }

    /// The text of an id.
    pub(crate) fn id_text(&self, key: IdKey) -> &str {
        self.ids.get(key.raw())
    }

    /// The person holding `key`, if any.
    pub(crate) fn person_of(&self, key: IdKey) -> Option<PersonKey> {
        let at = self.person_at[self.forest.find(key).index()];
        (at != NO_PERSON).then(|| PersonKey::from_raw(at))
    }

    pub(crate) fn person_of_id(&self, distinct_id: &str) -> Option<PersonKey> {
        self.key_of(distinct_id).and_then(|k| self.person_of(k))
    }

    pub(crate) fn person(&self, key: PersonKey) -> &Person {
        match &self.persons[key.index()] {
            Some(person) => person,
            None => unreachable!("person keys in the graph always name live persons"),
        }
    }

    /// The live persons with their keys, in slot order.
    pub(crate) fn persons(&self) -> impl Iterator<Item = (PersonKey, &Person)> {
        self.persons.iter().enumerate().filter_map(|(i, p)| {
            // Slots are numbered by `PersonKey::new`, so every index fits a key.
            let key = PersonKey::from_raw(u32::try_from(i).unwrap_or(u32::MAX));
            p.as_ref().map(|p| (key, p))
        })
    }

    /// How many persons are live.
    pub(crate) fn person_count(&self) -> usize {
        self.persons.len() - self.free_persons.len()
    }

    /// The properties of `person`, sorted by key.
    pub(crate) fn props_of(&self, person: &Person) -> &[Prop] {
        self.props.get(person.props)
    }

    /// The ids of the set holding `key`, starting with `key`.
    pub(crate) fn members(&self, key: IdKey) -> Members<'_> {
        self.forest.members(key)
    }

    pub(crate) fn distinct_ids(&self, person: PersonKey) -> impl Iterator<Item = &str> {
        self.forest
            .members(self.person(person).anchor)
            .map(|k| self.ids.get(k.raw()))
    }

    /// The ids seen only in personless mode that still have no person.
    pub(crate) fn personless_ids(&self) -> impl Iterator<Item = &str> {
        self.personless
            .iter()
            .enumerate()
            .filter_map(move |(i, &seen)| {
                let key = IdKey::from_raw(u32::try_from(i).ok()?);
                (seen && self.person_of(key).is_none()).then(|| self.ids.get(key.raw()))
            })
    }

    /// Every value held by a person or a merge record of this project.
    pub(crate) fn values_in_use(&self, mut mark: impl FnMut(ValueId)) {
        for person in self.persons.iter().flatten() {
            self.props_of(person).iter().for_each(|p| mark(p.value));
        }
        self.links.values_in_use(&mut mark);
    }

    /// The walk over the links among `members` (the ids of one component, or part of one).
    pub(crate) fn walk(&self, members: &[IdKey]) -> LinkWalk {
        LinkWalk::new(&self.links, members)
    }

    // Writes. Each leaves every invariant of the graph holding, and bumps the revision.

    fn wrote(&mut self) {
        self.writes = self.writes.wrapping_add(1);
    }

    /// The key of `distinct_id`, adding it as a singleton without a person if new.
    pub(crate) fn intern(&mut self, distinct_id: &str) -> Result<IdKey, EngineError> {
        let raw = self.ids.intern(distinct_id, IdKey::WHAT)?;
        let key = IdKey::from_raw(raw);
        if key.index() == self.forest.len() {
            self.wrote();
            self.forest.push(key);
            reserve_gently(&mut self.person_at);
            reserve_gently(&mut self.personless);
            self.person_at.push(NO_PERSON);
            self.personless.push(false);
        }
        Ok(key)
    }

    /// Records `key` as seen in personless mode; whether it was not already.
    pub(crate) fn mark_personless(&mut self, key: IdKey) -> bool {
        let marked = !std::mem::replace(&mut self.personless[key.index()], true);
        if marked {
            self.wrote();
        }
        marked
    }

    /// Creates a person on the singleton `key`, with the properties `fill` writes. When
    /// `fill` or the slot fails, nothing is kept.
    pub(crate) fn create_person(
        &mut self,
        key: IdKey,
        new: NewPerson,
        fill: impl FnOnce(&mut InArena<'_>) -> Result<(), EngineError>,
    ) -> Result<PersonKey, EngineError> {
        self.wrote();
        let mut props = PropRange::default();
        let filled = fill(&mut InArena {
            arena: &mut self.props,
            at: &mut props,
        });
        let person = Person {
            uuid: new.uuid,
            created_at: new.created_at,
            version: new.version,
            is_identified: new.is_identified,
            props,
            anchor: key,
            ids: 1,
            side: NO_SIDE,
        };
        match filled.and_then(|()| self.add_person(key, person)) {
            Ok(slot) => Ok(slot),
            Err(error) => {
                self.props.clear(&mut props);
                Err(error)
            }
        }
    }

    /// Stores `person` on the root of `key`'s set, which has no person.
    fn add_person(&mut self, key: IdKey, person: Person) -> Result<PersonKey, EngineError> {
        let slot = match self.free_persons.pop() {
            Some(slot) => {
                self.persons[slot as usize] = Some(person);
                PersonKey::from_raw(slot)
            }
            None => {
                let slot = PersonKey::new(self.persons.len())?;
                reserve_gently(&mut self.persons);
                self.persons.push(Some(person));
                slot
            }
        };
        let root = self.forest.find_mut(key);
        debug_assert_eq!(self.person_at[root.index()], NO_PERSON);
        self.person_at[root.index()] = slot.raw();
        Ok(slot)
    }

    /// What PostHog's rules decide about a person, to change it.
    pub(crate) fn person_mut(&mut self, key: PersonKey) -> &mut Person {
        self.wrote();
        match &mut self.persons[key.index()] {
            Some(person) => person,
            None => unreachable!("person keys in the graph always name live persons"),
        }
    }

    /// Runs `f` on a person and its properties, written through the arena.
    pub(crate) fn with_person_props<R>(
        &mut self,
        key: PersonKey,
        f: impl FnOnce(&mut Person, &mut InArena<'_>) -> R,
    ) -> R {
        let Some(person) = &mut self.persons[key.index()] else {
            unreachable!("person keys in the graph always name live persons")
        };
        // The block is taken out of the person while `f` runs, so that `f` can change the
        // person's facts and its properties at once, but never the block itself.
        let mut props = std::mem::take(&mut person.props);
        let before = person.clone();
        let result = f(
            person,
            &mut InArena {
                arena: &mut self.props,
                at: &mut props,
            },
        );
        // The arena counts its own writes; the person's facts are compared.
        let facts_changed = *person != before;
        person.props = props;
        if facts_changed {
            self.wrote();
        }
        result
    }

    /// Replaces the properties of `person` with `props`.
    pub(crate) fn set_person_props(&mut self, key: PersonKey, props: &[Prop]) {
        self.with_person_props(key, |_, at| at.arena.set(at.at, props));
    }

    /// Joins the set of `key` (which has no person) into the set of `person`.
    pub(crate) fn attach(&mut self, key: IdKey, person: PersonKey) {
        self.wrote();
        let anchor = self.person(person).anchor;
        let (a, b) = (self.forest.find_mut(key), self.forest.find_mut(anchor));
        debug_assert_eq!(self.person_at[a.index()], NO_PERSON);
        let root = self.forest.union_roots(a, b);
        self.person_at[a.index()] = NO_PERSON;
        self.person_at[b.index()] = NO_PERSON;
        self.person_at[root.index()] = person.raw();
        let state = self.person_mut(person);
        state.ids = state.ids.saturating_add(1);
    }

    /// Merges `source` into `target`: every id of `source` joins `target`, whose properties
    /// become `source`'s overlaid by its own, and `source`'s slot is freed. Returns the
    /// person that left, and the record of what both sides held, for the link that made the
    /// merge (`add_link`); no record once the sides cannot be numbered any more (past
    /// `u32::MAX - 1` of them, so never in practice).
    pub(crate) fn merge_persons(
        &mut self,
        target: PersonKey,
        source: PersonKey,
    ) -> (Person, Option<MergeRecord>) {
        self.wrote();
        let (t_anchor, s_anchor) = (self.person(target).anchor, self.person(source).anchor);
        let (a, b) = (
            self.forest.find_mut(t_anchor),
            self.forest.find_mut(s_anchor),
        );
        let root = self.forest.union_roots(a, b);
        self.person_at[a.index()] = NO_PERSON;
        self.person_at[b.index()] = NO_PERSON;
        self.person_at[root.index()] = target.raw();
        self.free_persons.push(source.raw());
        let Some(mut merged) = self.persons[source.index()].take() else {
            unreachable!("merge sources are live persons")
        };
        let survivor = self.person(target);
        let (survivor_props, survivor_side) = (survivor.props, survivor.side());
        let sides = &mut self.links.sides;
        let target_side = sides.record(survivor_side, self.props.get(survivor_props));
        let source_side = sides.record(merged.side(), self.props.get(merged.props));
        let record = match (target_side, source_side) {
            (Some(target_side), Some(source_side)) => Some(MergeRecord {
                target_side,
                source_side,
                target_created_at: self.person(target).created_at,
                source_created_at: merged.created_at,
            }),
            _ => None,
        };
        // The survivor's next side is a delta on the longer of the two: the merged list
        // differs from it by at most the shorter one. Always taking the survivor's own would
        // cost a person absorbed again and again the whole of what it absorbed each time
        // (a list of k persons growing by one merge at a time, each merged into a new
        // one-property person, stored k²/2 entries).
        let longer = if merged.props.len() > survivor_props.len() {
            source_side.or(target_side)
        } else {
            target_side.or(source_side)
        };
        let props = Props::overlay(self.props.get(merged.props), self.props.get(survivor_props));
        self.props.clear(&mut merged.props);
        self.set_person_props(target, props.entries());
        // The new side is held before the old one is let go: it may be built on it.
        if let Some(side) = longer {
            self.links.sides.hold(side);
            if let Some(old) = survivor_side {
                self.links.sides.release(old);
            }
            self.person_mut(target).side = side.raw();
        }
        if let Some(old) = merged.side() {
            self.links.sides.release(old);
        }
        let survivor = self.person_mut(target);
        survivor.ids = survivor.ids.saturating_add(merged.ids);
        (merged, record)
    }

    /// Keeps a link that joined two ids of one person.
    pub(crate) fn add_link(&mut self, link: Link) {
        self.wrote();
        debug_assert_eq!(self.person_of(link.target), self.person_of(link.source));
        if let Some(record) = link.merge {
            self.links.sides.hold(record.target_side);
            self.links.sides.hold(record.source_side);
        }
        self.links.links.push(link);
    }

    /// Keeps a merge that was refused.
    pub(crate) fn add_refusal(&mut self, refusal: Refusal) {
        self.wrote();
        self.links.refusals.push(refusal);
    }

    /// The groups, to create or update one.
    pub(crate) fn groups_mut(&mut self) -> &mut Groups {
        self.wrote();
        &mut self.groups
    }

    /// Packs the property arena when it is mostly free blocks.
    pub(crate) fn compact_props_if_sparse(&mut self) {
        if self.props.is_sparse() {
            self.props
                .compact(self.persons.iter_mut().flatten().map(|p| &mut p.props));
        }
    }

    // Edits: each resets one component and joins it again part by part.

    /// Removes the links made directly between `a` and `b`, and returns them.
    pub(crate) fn remove_links_between(&mut self, a: IdKey, b: IdKey) -> Vec<Link> {
        self.wrote();
        let mut removed = Vec::new();
        self.links.links.retain(|ends, facts| {
            let drop = ends.joins(a, b);
            if drop {
                removed.push(Link::from_columns(ends, *facts));
            }
            !drop
        });
        for link in &removed {
            let_go_of_record(&mut self.links.sides, link.merge);
        }
        removed
    }

    /// Resets `members` (the ids of one set) to singletons without persons, then joins
    /// each part and gives its root the part's person, which then holds exactly the part's
    /// ids. A person's anchor left outside its part moves to the part's first id. The links
    /// must already join each part and nothing across parts. The records are not compacted
    /// here, since an edit may still read those of the links it removed.
    pub(crate) fn regroup(&mut self, members: &[IdKey], parts: &[Part<'_>]) {
        self.wrote();
        for &key in members {
            self.forest.reset(key);
            self.person_at[key.index()] = NO_PERSON;
        }
        for part in parts {
            let Some((&first, rest)) = part.ids.split_first() else {
                continue;
            };
            let mut root = first;
            for &key in rest {
                root = self.forest.union_roots(root, key);
            }
            self.person_at[root.index()] = part.person.map_or(NO_PERSON, PersonKey::raw);
            if let Some(person) = part.person {
                // The part's ids are joined and the later parts' are still singletons, so
                // the anchor is in this part exactly when it has this part's root; a search
                // of the part would cost its size once per part.
                let anchor_in_part = self.forest.find(self.person(person).anchor) == root;
                let state = self.person_mut(person);
                state.ids = u32::try_from(part.ids.len()).unwrap_or(u32::MAX);
                if !anchor_in_part {
                    state.anchor = first;
                }
            }
        }
    }

    /// Moves the anchor of `person` to `key`, an id of its set.
    pub(crate) fn move_anchor(&mut self, person: PersonKey, key: IdKey) {
        debug_assert_eq!(self.person_of(key), Some(person));
        self.person_mut(person).anchor = key;
    }

    /// Drops the sides that no merge record or person reaches any more once they are most
    /// of the table (see `Sides`), and packs their entries once those are most of the
    /// store. Edits call it last, once they have read the records they need. Dropping walks
    /// every link and person of the project; it waits until that many sides are stranded.
    pub(crate) fn compact_records(&mut self) {
        self.wrote();
        if self.links.sides.counts_are_stale() {
            let roots = side_roots(&self.links, &self.persons);
            self.links.sides.recount(&roots);
        }
        self.links.sides.end_edit();
        #[cfg(debug_assertions)]
        self.assert_side_holders();
        if self.links.sides.mostly_unreachable() {
            self.drop_unreachable_sides();
        }
        self.links.sides.compact_if_sparse();
    }

    /// Renumbers the reachable sides, and the records and persons that name them.
    fn drop_unreachable_sides(&mut self) {
        let Some(map) = self.links.sides.numbering_of_reachable() else {
            return;
        };
        self.links.sides.keep(&map);
        for record in self.links.links.records_mut() {
            renumber(&map, &mut record.target_side);
            renumber(&map, &mut record.source_side);
        }
        for person in self.persons.iter_mut().flatten() {
            if let Some(mut side) = person.side() {
                renumber(&map, &mut side);
                person.side = side.raw();
            }
        }
    }

    /// The holder counts of the sides tell the sides that a walk from the records and
    /// persons reaches.
    #[cfg(any(test, debug_assertions))]
    #[track_caller]
    pub(crate) fn assert_side_holders(&self) {
        let roots = side_roots(&self.links, &self.persons);
        assert_eq!(
            self.links.sides.renumbering(roots.into_iter()),
            self.links.sides.numbering_of_reachable(),
            "sides reachable by walk and by count"
        );
    }

    /// Makes room for `n` more persons at once, for an edit about to adopt that many: grown
    /// an eighth at a time as they come, the slots would be copied about eight times over.
    pub(crate) fn reserve_persons(&mut self, n: usize) {
        let more = n.saturating_sub(self.free_persons.len());
        reserve_room(&mut self.persons, more);
    }

    /// Gives the person of a set of ids without one: a new person on `anchor`, which must
    /// be in that set, holding the set's `ids` ids and `props`. `None` when no person slot
    /// is left; the ids then stay personless.
    pub(crate) fn adopt(
        &mut self,
        anchor: IdKey,
        ids: u32,
        new: NewPerson,
        props: &[Prop],
    ) -> Option<PersonKey> {
        self.wrote();
        debug_assert_eq!(
            self.forest.members(anchor).count(),
            ids as usize,
            "the set of a new person's anchor holds its ids"
        );
        let mut range = PropRange::default();
        self.props.set(&mut range, props);
        let person = Person {
            uuid: new.uuid,
            created_at: new.created_at,
            version: new.version,
            is_identified: new.is_identified,
            props: range,
            anchor,
            ids,
            side: NO_SIDE,
        };
        match self.add_person(anchor, person) {
            Ok(slot) => Some(slot),
            Err(_) => {
                self.props.clear(&mut range);
                None
            }
        }
    }

    /// Removes every link of the ids of `leaving` and joins, for each of them in turn, the
    /// ids it linked among `staying` with bridge links, so that `staying` stays one
    /// component.
    pub(crate) fn bridge_over(&mut self, leaving: &[IdKey], staying: &[IdKey]) {
        self.wrote();
        self.links.bridge_over(leaving, staying);
    }

    /// Deletes `person` and its links; its ids are singletons without a person again, and
    /// not personless.
    pub(crate) fn delete_person(&mut self, person: PersonKey) {
        self.wrote();
        let members: Vec<IdKey> = self.forest.members(self.person(person).anchor).collect();
        self.links.remove_links_of(&members);
        self.regroup(&members, &[]);
        for key in &members {
            self.personless[key.index()] = false;
        }
        self.free_person(person);
        self.compact_records();
    }

    /// Empties the slot of `person`, gives its properties' block back and frees the slot.
    /// Its ids must already have left it (`regroup`).
    pub(crate) fn free_person(&mut self, person: PersonKey) {
        self.wrote();
        if let Some(mut state) = self.persons[person.index()].take() {
            self.props.clear(&mut state.props);
            if let Some(side) = state.side() {
                self.links.sides.release(side);
            }
        }
        self.free_persons.push(person.raw());
    }

    /// Forgets the id `key` for good: its text, its refusals, whether it was personless, and
    /// every property value its events wrote, in persons and in merge records. The id must
    /// already have left every person and link (`bridge_over`, `regroup`).
    pub(crate) fn erase_id(&mut self, key: IdKey) {
        self.wrote();
        for person in self.persons.iter_mut().flatten() {
            self.props.retain(&mut person.props, |p| p.writer != key);
        }
        self.links.sides.forget_writer(key);
        self.links.forget_refusals_of(key);
        self.personless[key.index()] = false;
        self.ids.erase(key.raw());
        self.compact_records();
    }
}

/// The sides that merge records and persons name: the roots of the sides' holders.
fn side_roots(links: &LinkStore, persons: &[Option<Person>]) -> Vec<SideKey> {
    let record_sides = (links.links.records()).flat_map(|m| [m.target_side, m.source_side]);
    let person_sides = persons.iter().flatten().filter_map(Person::side);
    record_sides.chain(person_sides).collect()
}
