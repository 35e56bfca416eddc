//! Undoing and removing: `unlink` one bad link, PostHog's `split`, `delete_person`, and the
//! GDPR `erase` of one distinct id.
//!
//! Each edit touches one person's component only: its members are reset to singletons in
//! the union-find and joined again part by part, so the cost is O(ids of the person + links
//! of the project), however large the rest of the graph is.

use hashbrown::HashSet;
use thiserror::Error;
use uuid::Uuid;

use crate::engine::{Engine, NO_PERSON, Person, ProjectGraph};
use crate::event::{Project, Timestamp};
use crate::id::{IdKey, PersonKey};
use crate::links::{Link, LinkEffect, LinkKind, MergeRecord, RefusalReason};
use crate::prop_arena::PropRange;
use crate::props::{Prop, Props};

/// Why a graph edit could not be made. A failed edit changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EditError {
    /// The project has never been seen.
    #[error("unknown project {0}")]
    UnknownProject(String),
    /// The distinct id is not in the project.
    #[error("unknown distinct id {0:?}")]
    UnknownId(String),
    /// The distinct id has no person.
    #[error("{0:?} has no person")]
    NoPerson(String),
    /// No link joins the two ids directly.
    #[error("no link joins {a:?} and {b:?} directly")]
    NotLinked {
        /// One id.
        a: String,
        /// The other.
        b: String,
    },
}

/// What [`Engine::unlink`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unlinked {
    /// How many links between the two ids were removed.
    pub links_removed: usize,
    /// The person's uuid, kept by the part holding the id it was born on.
    pub kept: Uuid,
    /// The uuid of the part that became a person of its own; `None` when other links still
    /// join the two ids.
    pub split_off: Option<Uuid>,
}

impl Engine {
    fn graph_for_edit(&mut self, project: &Project) -> Result<&mut ProjectGraph, EditError> {
        let index = *self
            .project_index
            .get(project)
            .ok_or_else(|| EditError::UnknownProject(project.to_string()))?;
        Ok(&mut self.projects[index as usize])
    }

    /// Removes the link(s) made directly between `a` and `b` and recomputes that one person:
    /// when nothing else joins them, it splits in two.
    ///
    /// The part holding the id the person was born on keeps its uuid; the other part gets
    /// the UUIDv5 of its oldest id and version + 101. Properties: each part starts from what
    /// its side held when the link was made (for a link that merged two persons), then takes
    /// back every value written since by an event of one of its own ids. is_identified of
    /// each part follows from the links left inside it. See ARCHITECTURE.md for what is
    /// exact.
    ///
    /// # Errors
    ///
    /// [`EditError`] when the project or an id is unknown or no link joins the two ids.
    pub fn unlink(&mut self, project: &Project, a: &str, b: &str) -> Result<Unlinked, EditError> {
        let graph = self.graph_for_edit(project)?;
        let key = |id: &str| {
            graph
                .key_of(id)
                .ok_or_else(|| EditError::UnknownId(id.to_owned()))
        };
        let (ka, kb) = (key(a)?, key(b)?);
        let not_linked = || EditError::NotLinked {
            a: a.to_owned(),
            b: b.to_owned(),
        };
        let person = graph
            .person_of(ka)
            .filter(|p| graph.person_of(kb) == Some(*p))
            .ok_or_else(not_linked)?;
        if !graph.links.links.iter().any(|l| l.joins(ka, kb)) {
            return Err(not_linked());
        }
        let mut removed: Vec<Link> = Vec::new();
        graph.links.links.retain(|l| {
            let drop = l.joins(ka, kb);
            if drop {
                removed.push(l.clone());
            }
            !drop
        });
        let kept = graph.person(person).uuid;
        let members: Vec<IdKey> = graph.forest.members(ka).collect();
        let part_a = reachable(graph, &members, ka);
        if part_a.contains(&kb) {
            graph.links.compact_records();
            return Ok(Unlinked {
                links_removed: removed.len(),
                kept,
                split_off: None,
            });
        }
        let anchor = graph.person(person).anchor;
        let (staying, departing): (Vec<IdKey>, Vec<IdKey>) = members
            .iter()
            .partition(|k| part_a.contains(*k) == part_a.contains(&anchor));
        // The newest link with a merge record tells what each side held at that moment.
        let record = removed
            .iter()
            .rev()
            .find_map(|l| l.merge.map(|m| (l.target, m)));
        // Without a record, the leaving part is as old as the link that joined it.
        let joined_at = removed
            .iter()
            .map(|l| l.event.timestamp)
            .max()
            .unwrap_or(Timestamp::EPOCH);
        let split_off = split_component(graph, person, &staying, &departing, record, joined_at);
        graph.links.compact_records();
        Ok(Unlinked {
            links_removed: removed.len(),
            kept,
            split_off: Some(split_off),
        })
    }

    /// PostHog's split (SEMANTICS.md section 11): each listed id leaves its person for a new
    /// person of its own, with the UUIDv5 of that id, no properties, not identified,
    /// `created_at` now and version + 101. The original person keeps its properties and the
    /// remaining ids (at least one: if every id is listed, the first, in order, stays).
    /// Links to a moved id are removed.
    ///
    /// # Errors
    ///
    /// [`EditError`] when the project or an id is unknown or an id has no person; nothing
    /// changes then.
    pub fn split(&mut self, project: &Project, ids: &[&str]) -> Result<Vec<Uuid>, EditError> {
        let graph = self.graph_for_edit(project)?;
        let mut moving: Vec<(IdKey, PersonKey)> = Vec::with_capacity(ids.len());
        for id in ids {
            let key = graph
                .key_of(id)
                .ok_or_else(|| EditError::UnknownId((*id).to_owned()))?;
            let person = graph
                .person_of(key)
                .ok_or_else(|| EditError::NoPerson((*id).to_owned()))?;
            if !moving.iter().any(|(k, _)| *k == key) {
                moving.push((key, person));
            }
        }
        let now = Timestamp::now();
        let mut created = Vec::new();
        let mut persons: Vec<PersonKey> = moving.iter().map(|(_, p)| *p).collect();
        persons.sort_unstable();
        persons.dedup();
        for person in persons {
            let members: Vec<IdKey> = graph.forest.members(graph.person(person).anchor).collect();
            let mut leaving: Vec<IdKey> = moving
                .iter()
                .filter(|(_, p)| *p == person)
                .map(|(k, _)| *k)
                .collect();
            if leaving.len() == members.len() {
                leaving.remove(0);
            }
            let leaving_set: HashSet<IdKey> = leaving.iter().copied().collect();
            let staying: Vec<IdKey> = members
                .iter()
                .copied()
                .filter(|k| !leaving_set.contains(k))
                .collect();
            for &key in &leaving {
                bridge_over(graph, key, &staying);
            }
            let old = graph.person(person).clone();
            rebuild(graph, &members, &[(&staying, Some(person))]);
            let state = graph.person_mut(person);
            if !staying.contains(&state.anchor) {
                state.anchor = staying[0];
            }
            state.ids = u32::try_from(staying.len()).unwrap_or(u32::MAX);
            state.version = state.version.saturating_add(1);
            for key in leaving {
                let uuid = graph.person_uuid(graph.ids.get(key.raw()));
                let fresh = Person {
                    uuid,
                    created_at: now,
                    version: old.version.saturating_add(101),
                    is_identified: false,
                    props: PropRange::default(),
                    anchor: key,
                    ids: 1,
                };
                if graph.add_person(key, fresh).is_ok() {
                    created.push(uuid);
                }
            }
            graph.links.compact_records();
        }
        Ok(created)
    }

    /// Deletes the person of `distinct_id`: the person and the mapping of all its ids are
    /// gone, with the links between them; a later event on one of those ids creates a fresh
    /// person (with the same deterministic uuid, as in PostHog).
    ///
    /// # Errors
    ///
    /// [`EditError`] when the project or id is unknown or the id has no person.
    pub fn delete_person(
        &mut self,
        project: &Project,
        distinct_id: &str,
    ) -> Result<Uuid, EditError> {
        let graph = self.graph_for_edit(project)?;
        let key = graph
            .key_of(distinct_id)
            .ok_or_else(|| EditError::UnknownId(distinct_id.to_owned()))?;
        let person = graph
            .person_of(key)
            .ok_or_else(|| EditError::NoPerson(distinct_id.to_owned()))?;
        let members: Vec<IdKey> = graph.forest.members(key).collect();
        let member_set: HashSet<IdKey> = members.iter().copied().collect();
        graph
            .links
            .links
            .retain(|l| !member_set.contains(&l.target));
        rebuild(graph, &members, &[]);
        for key in &members {
            graph.personless[key.index()] = false;
        }
        let uuid = graph.person(person).uuid;
        graph.remove_person(person);
        graph.free_persons.push(person.raw());
        graph.links.compact_records();
        Ok(uuid)
    }

    /// Erases one distinct id for good (GDPR): the id, its links and refusals, and every
    /// property value its own events wrote (also in the merge records kept for `unlink`) are
    /// gone, and no dump, explanation or snapshot shows the id afterwards. The person it
    /// belonged to keeps its other ids together: links through the erased id are replaced by
    /// [`LinkKind::Bridge`] links between the ids it joined. A person left with no id is
    /// deleted.
    ///
    /// The person's uuid is kept even when it was derived from the erased id: it is a
    /// one-way hash, and downstream stores key on it.
    ///
    /// # Errors
    ///
    /// [`EditError`] when the project or the id is unknown.
    pub fn erase(&mut self, project: &Project, distinct_id: &str) -> Result<(), EditError> {
        let graph = self.graph_for_edit(project)?;
        let key = graph
            .key_of(distinct_id)
            .ok_or_else(|| EditError::UnknownId(distinct_id.to_owned()))?;
        if let Some(person) = graph.person_of(key) {
            let members: Vec<IdKey> = graph.forest.members(key).collect();
            let staying: Vec<IdKey> = members.iter().copied().filter(|k| *k != key).collect();
            bridge_over(graph, key, &staying);
            if staying.is_empty() {
                rebuild(graph, &members, &[]);
                graph.remove_person(person);
                graph.free_persons.push(person.raw());
            } else {
                rebuild(graph, &members, &[(&staying, Some(person))]);
                let state = graph.person_mut(person);
                if state.anchor == key {
                    state.anchor = staying.iter().copied().min().unwrap_or(staying[0]);
                }
                state.ids = u32::try_from(staying.len()).unwrap_or(u32::MAX);
                state.version = state.version.saturating_add(1);
            }
        }
        // What the id wrote may sit in other persons too: a split leaves the values its
        // events wrote with the person it left, and merge records keep copies.
        for person in graph.persons.iter_mut().flatten() {
            graph.props.retain(&mut person.props, |p| p.writer != key);
        }
        let links = &mut graph.links;
        for record in links.links.iter_mut().filter_map(|l| l.merge.as_mut()) {
            links
                .records
                .retain(&mut record.target_props, |p| p.writer != key);
            links
                .records
                .retain(&mut record.source_props, |p| p.writer != key);
        }
        links.compact_records();
        graph
            .links
            .refusals
            .retain(|r| r.target != key && r.source != key);
        graph.personless[key.index()] = false;
        graph.ids.erase(key.raw());
        Ok(())
    }
}

/// The ids of `members` reachable from `start` over the links inside `members`.
fn reachable(graph: &ProjectGraph, members: &[IdKey], start: IdKey) -> HashSet<IdKey> {
    let inside: HashSet<IdKey> = members.iter().copied().collect();
    let mut adjacent: hashbrown::HashMap<IdKey, Vec<IdKey>> = hashbrown::HashMap::new();
    for link in &graph.links.links {
        if inside.contains(&link.target) && inside.contains(&link.source) {
            adjacent.entry(link.target).or_default().push(link.source);
            adjacent.entry(link.source).or_default().push(link.target);
        }
    }
    let mut seen: HashSet<IdKey> = HashSet::from_iter([start]);
    let mut queue = vec![start];
    while let Some(at) = queue.pop() {
        for &next in adjacent.get(&at).map_or(&[][..], Vec::as_slice) {
            if seen.insert(next) {
                queue.push(next);
            }
        }
    }
    seen
}

/// Removes every link of `key` and joins the ids it linked among `staying` with bridge
/// links, so that `staying` stays one component.
fn bridge_over(graph: &mut ProjectGraph, key: IdKey, staying: &[IdKey]) {
    let staying: HashSet<IdKey> = staying.iter().copied().collect();
    let mut neighbours: Vec<(IdKey, crate::links::EventRef)> = Vec::new();
    graph.links.links.retain(|l| {
        let other = if l.target == key {
            l.source
        } else if l.source == key {
            l.target
        } else {
            return true;
        };
        if staying.contains(&other) && !neighbours.iter().any(|(n, _)| *n == other) {
            neighbours.push((other, l.event));
        }
        false
    });
    for pair in neighbours.windows(2) {
        let ((a, _), (b, event)) = (pair[0], pair[1]);
        graph.links.links.push(Link {
            target: a,
            source: b,
            kind: LinkKind::Bridge,
            effect: LinkEffect::Merged,
            event,
            merge: None,
        });
    }
}

/// Resets `members` to singletons without persons, then joins each part and gives its root
/// the part's person.
fn rebuild(graph: &mut ProjectGraph, members: &[IdKey], parts: &[(&[IdKey], Option<PersonKey>)]) {
    for &key in members {
        graph.forest.reset(key);
        graph.person_at[key.index()] = NO_PERSON;
    }
    for (part, person) in parts {
        let Some((&first, rest)) = part.split_first() else {
            continue;
        };
        let mut root = first;
        for &key in rest {
            root = graph.forest.union_roots(root, key);
        }
        graph.person_at[root.index()] = person.map_or(NO_PERSON, PersonKey::raw);
    }
}

/// Splits `person` into `staying` (keeps the person) and `departing` (a new person).
fn split_component(
    graph: &mut ProjectGraph,
    person: PersonKey,
    staying: &[IdKey],
    departing: &[IdKey],
    record: Option<(IdKey, MergeRecord)>,
    joined_at: Timestamp,
) -> Uuid {
    let departing_set: HashSet<IdKey> = departing.iter().copied().collect();
    // Which side of the merge record each part is: the record's target id tells.
    let (departing_snapshot, staying_snapshot) = match record {
        Some((target, m)) if departing_set.contains(&target) => (
            Some((m.target_props, m.target_created_at)),
            Some((m.source_props, m.source_created_at)),
        ),
        Some((_, m)) => (
            Some((m.source_props, m.source_created_at)),
            Some((m.target_props, m.target_created_at)),
        ),
        None => (None, None),
    };
    let old = graph.person(person).clone();
    let old_props: Vec<Prop> = graph.props_of(&old).to_vec();
    let recorded = |run| Props::from_sorted(graph.links.records.get(run).to_vec());

    let mut departing_props = departing_snapshot
        .and_then(|(p, _)| recorded(p))
        .unwrap_or_default();
    // The old properties written by ids of the departing part (`true`) or not (`false`).
    let written_by_departing = |departing: bool| -> Vec<Prop> {
        old_props
            .iter()
            .filter(|p| departing_set.contains(&p.writer) == departing)
            .copied()
            .collect()
    };
    departing_props = Props::overlay(
        departing_props.entries(),
        Props::from_sorted(written_by_departing(true))
            .unwrap_or_default()
            .entries(),
    );

    let restored: Vec<_> = staying_snapshot
        .map(|(snapshot, _)| {
            graph
                .links
                .records
                .get(snapshot)
                .iter()
                .filter(|p| {
                    old_props
                        .iter()
                        .any(|q| q.key == p.key && departing_set.contains(&q.writer))
                })
                .copied()
                .collect()
        })
        .unwrap_or_default();
    let staying_props = Props::overlay(
        &written_by_departing(false),
        Props::from_sorted(restored).unwrap_or_default().entries(),
    );

    let identified = |part: &HashSet<IdKey>| {
        graph
            .links
            .links
            .iter()
            .any(|l| part.contains(&l.target) && part.contains(&l.source))
            || graph.links.refusals.iter().any(|r| {
                part.contains(&r.target)
                    && matches!(
                        r.reason,
                        RefusalReason::AlreadyIdentified | RefusalReason::MoveLimitExceeded
                    )
            })
    };
    let staying_set: HashSet<IdKey> = staying.iter().copied().collect();
    let (staying_identified, departing_identified) =
        (identified(&staying_set), identified(&departing_set));

    let members: Vec<IdKey> = staying.iter().chain(departing).copied().collect();
    rebuild(
        graph,
        &members,
        &[(staying, Some(person)), (departing, None)],
    );
    let (state, arena) = graph.person_and_props(person);
    arena.set(&mut state.props, staying_props.entries());
    state.is_identified = staying_identified;
    state.ids = u32::try_from(staying.len()).unwrap_or(u32::MAX);
    state.version = state.version.saturating_add(1);
    if let Some((_, created_at)) = staying_snapshot {
        state.created_at = created_at;
    }

    let oldest = departing.iter().copied().min().unwrap_or(departing[0]);
    let uuid = graph.person_uuid(graph.ids.get(oldest.raw()));
    let mut props = PropRange::default();
    graph.props.set(&mut props, departing_props.entries());
    let fresh = Person {
        uuid,
        created_at: departing_snapshot.map_or(joined_at, |(_, t)| t),
        version: old.version.saturating_add(101),
        is_identified: departing_identified,
        props,
        anchor: oldest,
        ids: u32::try_from(departing.len()).unwrap_or(u32::MAX),
    };
    // A person slot can only run out past u32::MAX - 1 persons; the ids then stay personless.
    if graph.add_person(oldest, fresh).is_err() {
        graph.props.clear(&mut props);
    }
    uuid
}
