//! Undoing and removing: `unlink` one bad link, PostHog's `split`, `delete_person`, and the
//! GDPR `erase` of one distinct id.
//!
//! Each edit touches one person's component only: its members are reset to singletons in
//! the union-find and joined again part by part, so the cost is O(ids of the person + links
//! of the project), however large the rest of the graph is.

use uuid::Uuid;

use super::person_uuid::person_uuid;
use crate::error::EditError;
use crate::event::Timestamp;
use crate::graph::{
    IdKey, IdTable, LinkEnds, MergeRecord, NewPerson, Part, PersonKey, ProjectGraph, Prop, Props,
    Refusal, RefusalReason,
};

/// What [`Engine::unlink`](crate::Engine::unlink) did.
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

/// `Engine::unlink`: removes the links made directly between `a` and `b`, and splits their
/// person in two when nothing else joins them.
pub(crate) fn unlink(graph: &mut ProjectGraph, a: &str, b: &str) -> Result<Unlinked, EditError> {
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
    // Removing none changes nothing, so the one walk over the links also tells whether
    // any joins the two.
    let removed = graph.remove_links_between(ka, kb);
    if removed.is_empty() {
        return Err(not_linked());
    }
    let kept = graph.person(person).uuid;
    let members: Vec<IdKey> = graph.members(ka).collect();
    let part_a = graph.links().joined_to(&members, ka);
    if part_a.get(kb) {
        graph.compact_records();
        return Ok(Unlinked {
            links_removed: removed.len(),
            kept,
            split_off: None,
        });
    }
    let anchor = graph.person(person).anchor();
    let (staying, departing): (Vec<IdKey>, Vec<IdKey>) = members
        .iter()
        .partition(|&&k| part_a.get(k) == part_a.get(anchor));
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
    let parts = (staying.as_slice(), departing.as_slice());
    let split_off = split_component(graph, person, parts, record, joined_at);
    graph.compact_records();
    Ok(Unlinked {
        links_removed: removed.len(),
        kept,
        split_off: Some(split_off),
    })
}

/// `Engine::split`, PostHog's split (docs/behaviour.md §11): each listed id leaves for a
/// person of its own.
/// `now` is the new persons' `created_at`.
pub(crate) fn split(
    graph: &mut ProjectGraph,
    ids: &[&str],
    now: Timestamp,
) -> Result<Vec<Uuid>, EditError> {
    // Each listed id with its person, in the order they were listed.
    let mut listed: Vec<(PersonKey, IdKey)> = Vec::with_capacity(ids.len());
    for id in ids {
        let key = graph
            .key_of(id)
            .ok_or_else(|| EditError::UnknownId((*id).to_owned()))?;
        let person = graph
            .person_of(key)
            .ok_or_else(|| EditError::NoPerson((*id).to_owned()))?;
        listed.push((person, key));
    }
    // An id listed twice leaves once, at its first listing.
    let mut seen = IdTable::for_keys(listed.iter().map(|&(_, key)| key), false);
    listed.retain(|&(_, key)| {
        let first = !seen.get(key);
        seen.set(key, true);
        first
    });
    // Each person's leaving ids together, persons in key order, ids as they were listed
    // (the sort is stable).
    listed.sort_by_key(|&(person, _)| person);
    graph.reserve_persons(listed.len());
    let mut created = Vec::with_capacity(listed.len());
    for moving in listed.chunk_by(|a, b| a.0 == b.0) {
        let person = moving[0].0;
        let mut leaving: Vec<IdKey> = moving.iter().map(|&(_, key)| key).collect();
        let members: Vec<IdKey> = graph.members(graph.person(person).anchor()).collect();
        if leaving.len() == members.len() {
            leaving.remove(0);
        }
        let leaves = IdTable::marking(&leaving);
        let staying: Vec<IdKey> = members
            .iter()
            .copied()
            .filter(|&k| !leaves.get(k))
            .collect();
        graph.bridge_over(&leaving, &staying);
        let old_version = graph.person(person).version;
        let part = Part {
            ids: &staying,
            person: Some(person),
        };
        graph.regroup(&members, &[part]);
        let state = graph.person_mut(person);
        state.version = state.version.saturating_add(1);
        for key in leaving {
            let uuid = person_uuid(graph.project(), graph.id_text(key));
            let fresh = NewPerson {
                uuid,
                created_at: now,
                version: old_version.saturating_add(101),
                is_identified: false,
            };
            if graph.adopt(key, 1, fresh, &[]).is_some() {
                created.push(uuid);
            }
        }
    }
    // Once for all the persons: each compaction walks every link of the project.
    graph.compact_records();
    Ok(created)
}

/// `Engine::delete_person`: the person of `distinct_id` and the mapping of its ids are gone.
pub(crate) fn delete_person(
    graph: &mut ProjectGraph,
    distinct_id: &str,
) -> Result<Uuid, EditError> {
    let key = graph
        .key_of(distinct_id)
        .ok_or_else(|| EditError::UnknownId(distinct_id.to_owned()))?;
    let person = graph
        .person_of(key)
        .ok_or_else(|| EditError::NoPerson(distinct_id.to_owned()))?;
    let uuid = graph.person(person).uuid;
    graph.delete_person(person);
    Ok(uuid)
}

/// `Engine::erase`: one distinct id gone for good (GDPR), its person kept whole.
pub(crate) fn erase(graph: &mut ProjectGraph, distinct_id: &str) -> Result<(), EditError> {
    let key = graph
        .key_of(distinct_id)
        .ok_or_else(|| EditError::UnknownId(distinct_id.to_owned()))?;
    if let Some(person) = graph.person_of(key) {
        let members: Vec<IdKey> = graph.members(key).collect();
        let staying: Vec<IdKey> = members.iter().copied().filter(|k| *k != key).collect();
        graph.bridge_over(&[key], &staying);
        if staying.is_empty() {
            graph.regroup(&members, &[]);
            graph.free_person(person);
        } else {
            if graph.person(person).anchor() == key {
                // The oldest id (smallest key) that stays takes the erased one's place.
                let oldest = staying.iter().copied().min().unwrap_or(staying[0]);
                graph.move_anchor(person, oldest);
            }
            graph.regroup(
                &members,
                &[Part {
                    ids: &staying,
                    person: Some(person),
                }],
            );
            let state = graph.person_mut(person);
            state.version = state.version.saturating_add(1);
        }
    }
    // What the id wrote may sit in other persons too: a split leaves the values its events
    // wrote with the person it left, and merge records keep copies.
    graph.erase_id(key);
    Ok(())
}

/// Which part of a person being split an id is in.
#[derive(Clone, Copy, PartialEq)]
enum PartOf {
    Neither,
    Staying,
    Departing,
}

/// Whether the staying and the departing part are identified: a link joins two of its ids,
/// or one of its ids was refused a merge for being identified already (or a merge too big).
/// `links` are the project's: those that join two ids of a part are among them.
fn identified(links: &[LinkEnds], refusals: &[Refusal], part: &IdTable<PartOf>) -> (bool, bool) {
    let (mut staying, mut departing) = (false, false);
    let inside = links
        .iter()
        .map(|l| (part.get(l.target), part.get(l.source)))
        .filter_map(|(a, b)| (a == b).then_some(a));
    let refused = refusals
        .iter()
        .filter(|r| {
            matches!(
                r.reason,
                RefusalReason::AlreadyIdentified | RefusalReason::MoveLimitExceeded
            )
        })
        .map(|r| part.get(r.target));
    for of in inside.chain(refused) {
        match of {
            PartOf::Staying => staying = true,
            PartOf::Departing => departing = true,
            PartOf::Neither => {}
        }
        if staying && departing {
            break;
        }
    }
    (staying, departing)
}

/// Splits `person` into `staying` (keeps the person) and `departing` (a new person); no
/// link joins the two.
fn split_component(
    graph: &mut ProjectGraph,
    person: PersonKey,
    (staying, departing): (&[IdKey], &[IdKey]),
    record: Option<(IdKey, MergeRecord)>,
    joined_at: Timestamp,
) -> Uuid {
    let mut part = IdTable::for_keys(staying.iter().chain(departing).copied(), PartOf::Neither);
    for &key in staying {
        part.set(key, PartOf::Staying);
    }
    for &key in departing {
        part.set(key, PartOf::Departing);
    }
    let departs = |key: IdKey| part.get(key) == PartOf::Departing;
    // Which side of the merge record each part is: the record's target id tells.
    let (departing_snapshot, staying_snapshot) = match record {
        Some((target, m)) if departs(target) => (
            Some((m.target_side, m.target_created_at)),
            Some((m.source_side, m.source_created_at)),
        ),
        Some((_, m)) => (
            Some((m.source_side, m.source_created_at)),
            Some((m.target_side, m.target_created_at)),
        ),
        None => (None, None),
    };
    let old_version = graph.person(person).version;
    let old_props: Vec<Prop> = graph.props_of(graph.person(person)).to_vec();
    let sides = &graph.links().sides;
    let mut departing_props = departing_snapshot
        .and_then(|(side, _)| Props::from_sorted(sides.materialise(side)))
        .unwrap_or_default();
    // The old properties written by ids of the departing part (`true`) or not (`false`).
    let written_by_departing = |departing: bool| -> Vec<Prop> {
        old_props
            .iter()
            .filter(|p| departs(p.writer) == departing)
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
        .map(|(side, _)| {
            sides
                .materialise(side)
                .into_iter()
                .filter(|p| {
                    // The properties are sorted by key, each key once.
                    old_props
                        .binary_search_by_key(&p.key, |q| q.key)
                        .is_ok_and(|i| departs(old_props[i].writer))
                })
                .collect()
        })
        .unwrap_or_default();
    let staying_props = Props::overlay(
        &written_by_departing(false),
        Props::from_sorted(restored).unwrap_or_default().entries(),
    );

    let (staying_identified, departing_identified) =
        identified(graph.links().links.ends(), &graph.links().refusals, &part);

    let members: Vec<IdKey> = staying.iter().chain(departing).copied().collect();
    let parts = [
        Part {
            ids: staying,
            person: Some(person),
        },
        Part {
            ids: departing,
            person: None,
        },
    ];
    graph.regroup(&members, &parts);
    graph.set_person_props(person, staying_props.entries());
    let state = graph.person_mut(person);
    state.is_identified = staying_identified;
    state.version = state.version.saturating_add(1);
    if let Some((_, created_at)) = staying_snapshot {
        state.created_at = created_at;
    }

    let oldest = departing.iter().copied().min().unwrap_or(departing[0]);
    let uuid = person_uuid(graph.project(), graph.id_text(oldest));
    let fresh = NewPerson {
        uuid,
        created_at: departing_snapshot.map_or(joined_at, |(_, t)| t),
        version: old_version.saturating_add(101),
        is_identified: departing_identified,
    };
    // A person slot can only run out past u32::MAX - 1 persons; the ids then stay personless.
    let ids = u32::try_from(departing.len()).unwrap_or(u32::MAX);
    let _ = graph.adopt(oldest, ids, fresh, departing_props.entries());
    uuid
}
