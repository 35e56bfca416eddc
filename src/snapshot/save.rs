//! Engine to transfer objects: saving borrows the engine's big arrays as they are and
//! flattens the rest into columns, in dense-index order, so that the same graph always
//! gives the same bytes.

use super::codes::{
    MAX_DEPTH, PROJECT_DEFAULT, PROJECT_TEAM, PROJECT_TOKEN, TAG_ARRAY, TAG_FALSE, TAG_FLOAT,
    TAG_INT, TAG_NULL, TAG_OBJECT, TAG_STRING, TAG_TRUE, TAG_UINT, link_kind_code, reason_code,
};
use super::records::{Links, Persons, PropRows, uuid_bytes};
use super::schema::{
    Arena, Body, Named, ProjectBody, RecordSides, SideCols, Strs, Values, Warnings,
};
use super::wire::{Col, Seq};
use crate::engine::Engine;
use crate::error::{InvalidSnapshot as Kind, SnapshotError};
use crate::event::{Number, Project, Value};
use crate::graph::{EventRef, Group, Interner, NO_SIDE, Person, ProjectGraph, SideKey, is_removal};

fn invalid(kind: Kind) -> SnapshotError {
    SnapshotError::invalid(kind)
}

fn len_u32(len: usize) -> Result<u32, SnapshotError> {
    u32::try_from(len).map_err(|_| invalid(Kind::StringTooLong))
}

/// Values flattened for [`Values`].
#[derive(Default)]
struct ValuesOut {
    tags: Vec<u8>,
    nums: Vec<u64>,
    text: Vec<u8>,
    lens: Vec<u32>,
}

impl ValuesOut {
    fn string(&mut self, s: &str) -> Result<(), SnapshotError> {
        self.lens.push(len_u32(s.len())?);
        self.text.extend_from_slice(s.as_bytes());
        Ok(())
    }

    fn value(&mut self, value: &Value, depth: usize) -> Result<(), SnapshotError> {
        if depth > MAX_DEPTH {
            return Err(invalid(Kind::SavedValueTooDeep { levels: MAX_DEPTH }));
        }
        match value {
            Value::Null => self.tags.push(TAG_NULL),
            Value::Bool(false) => self.tags.push(TAG_FALSE),
            Value::Bool(true) => self.tags.push(TAG_TRUE),
            Value::Number(Number::Int(i)) => {
                self.tags.push(TAG_INT);
                self.nums.push(i.cast_unsigned());
            }
            Value::Number(Number::UInt(u)) => {
                self.tags.push(TAG_UINT);
                self.nums.push(*u);
            }
            Value::Number(Number::Float(f)) => {
                self.tags.push(TAG_FLOAT);
                self.nums.push(f.to_bits());
            }
            Value::String(s) => {
                self.tags.push(TAG_STRING);
                self.string(s)?;
            }
            Value::Array(items) => {
                self.tags.push(TAG_ARRAY);
                self.nums.push(items.len() as u64);
                for item in items {
                    self.value(item, depth + 1)?;
                }
            }
            Value::Object(members) => self.object(members, depth)?,
        }
        Ok(())
    }

    fn object(&mut self, members: &[(Box<str>, Value)], depth: usize) -> Result<(), SnapshotError> {
        self.tags.push(TAG_OBJECT);
        self.nums.push(members.len() as u64);
        for (key, value) in members {
            self.string(key)?;
            self.value(value, depth + 1)?;
        }
        Ok(())
    }

    fn into_dto(self) -> Values<'static> {
        Values {
            tags: Col::owned(self.tags),
            nums: Col::owned(self.nums),
            strs: Strs {
                text: Col::owned(self.text),
                lens: Col::owned(self.lens),
            },
        }
    }
}

pub(super) fn strs<'s>(
    items: impl Iterator<Item = &'s str>,
) -> Result<Strs<'static>, SnapshotError> {
    let (mut text, mut lens) = (Vec::new(), Vec::new());
    for s in items {
        lens.push(len_u32(s.len())?);
        text.extend_from_slice(s.as_bytes());
    }
    Ok(Strs {
        text: Col::owned(text),
        lens: Col::owned(lens),
    })
}

fn arena(interner: &Interner) -> Arena<'_> {
    let (text, ends) = interner.parts();
    Arena {
        text: Col::borrowed(text.as_bytes()),
        ends: Col::borrowed(ends),
    }
}

#[allow(
    clippy::too_many_lines,
    reason = "one line per column of the format, in its order"
)]
fn project_out(graph: &ProjectGraph) -> Result<ProjectBody<'_>, SnapshotError> {
    let (kind, team, token) = match graph.project() {
        Project::Default => (PROJECT_DEFAULT, 0, &[][..]),
        Project::Team(team) => (PROJECT_TEAM, *team, &[][..]),
        Project::Token(token) => (PROJECT_TOKEN, 0, token.as_bytes()),
    };
    let (parent, rank, next) = graph.forest().parts();

    let mut personless = vec![0u8; graph.personless().len().div_ceil(8)];
    for (i, _) in graph
        .personless()
        .iter()
        .enumerate()
        .filter(|(_, seen)| **seen)
    {
        personless[i / 8] |= 1 << (i % 8);
    }

    let mut values = ValuesOut::default();
    let refusals = &graph.links().refusals;
    let mut refusal_events = EventCols::default();
    for refusal in refusals {
        refusal_events.push(&refusal.event);
    }

    // The group table's order is random per process; sorting makes the bytes a function
    // of the graph alone.
    let mut groups: Vec<((u8, &str), &Group)> = graph
        .groups()
        .iter()
        .map(|(_, i, k, g)| ((i, k), g))
        .collect();
    groups.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut group_type_index = Vec::with_capacity(groups.len());
    let mut group_created_at = Vec::with_capacity(groups.len());
    let mut group_versions = Vec::with_capacity(groups.len());
    for ((index, _), group) in &groups {
        group_type_index.push(*index);
        group_created_at.push(group.created_at.unix_micros());
        group_versions.push(group.version);
        values.object(&group.props, 0)?;
    }

    Ok(ProjectBody {
        kind,
        team,
        token: Col::borrowed(token),
        ids: arena(graph.ids()),
        parent: Col::borrowed(parent),
        rank: Col::borrowed(rank),
        next: Col::borrowed(next),
        person_at: Col::borrowed(graph.person_at()),
        personless: Col::owned(personless),
        free_persons: Col::borrowed(graph.free_persons()),
        persons: Persons::Out(graph.person_slots()),
        person_props: PropRows::Persons(graph.props(), graph.person_slots()),
        ids_erased: Col::borrowed(graph.ids().erased()),
        group_types: strs(graph.groups().types().iter().map(|t| &**t))?,
        group_type_index: Col::owned(group_type_index),
        group_keys: strs(groups.iter().map(|((_, key), _)| &**key))?,
        group_created_at: Col::owned(group_created_at),
        group_versions: Col::owned(group_versions),
        values: values.into_dto(),
        links: Links::Out(&graph.links().links),
        record_props: PropRows::Sides(&graph.links().sides),
        sides: RecordSides::Cols(sides_out(graph)),
        refusal_target: Col::owned(refusals.iter().map(|r| r.target.raw()).collect()),
        refusal_source: Col::owned(refusals.iter().map(|r| r.source.raw()).collect()),
        refusal_kind: Col::owned(refusals.iter().map(|r| link_kind_code(r.kind)).collect()),
        refusal_reason: Col::owned(refusals.iter().map(|r| reason_code(r.reason)).collect()),
        refusal_ordinal: Col::owned(refusal_events.ordinals),
        refusal_time: Col::owned(refusal_events.times),
        refusal_uuids: Col::owned(refusal_events.uuids),
    })
}

/// The side table of a project's merge records as columns; the entries that set a key go
/// to the record property rows.
fn sides_out(graph: &ProjectGraph) -> SideCols<'static> {
    let sides = &graph.links().sides;
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    let (mut base, mut sets, mut removals) = (
        Vec::with_capacity(sides.len()),
        Vec::with_capacity(sides.len()),
        Vec::with_capacity(sides.len()),
    );
    let mut removed = Vec::new();
    for (side, run) in sides.iter() {
        base.push(side.base().map_or(NO_SIDE, SideKey::raw));
        let before = removed.len();
        removed.extend(run.iter().filter(|p| is_removal(p)).map(|p| p.key.raw()));
        let gone = removed.len() - before;
        sets.push(count(run.len() - gone));
        removals.push(count(gone));
    }
    let person_side = graph
        .person_slots()
        .iter()
        .map(|slot| {
            slot.as_ref()
                .and_then(Person::side)
                .map_or(NO_SIDE, SideKey::raw)
        })
        .collect();
    SideCols {
        base: Col::owned(base),
        sets: Col::owned(sets),
        removals: Col::owned(removals),
        removed: Col::owned(removed),
        person_side: Col::owned(person_side),
    }
}

/// Event references flattened into columns.
#[derive(Default)]
struct EventCols {
    ordinals: Vec<u64>,
    times: Vec<i64>,
    uuids: Vec<u8>,
}

impl EventCols {
    fn push(&mut self, event: &EventRef) {
        self.ordinals.push(event.ordinal);
        self.times.push(event.timestamp.unix_micros());
        self.uuids.extend_from_slice(&uuid_bytes(event.uuid));
    }
}

/// The body of `engine`'s snapshot, borrowing its arrays.
pub(super) fn body<'e>(engine: &'e Engine, position: &'e [u8]) -> Result<Body<'e>, SnapshotError> {
    Ok(Body {
        position: Col::borrowed(position),
        lift_properties: engine.config.lift_properties,
        filter_churn: engine.config.filter_churn,
        record_changes: engine.config.record_changes,
        max_ids_per_person: engine.config.max_ids_per_person.map_or(u64::MAX, u64::from),
        events: engine.counters.events,
        merges: engine.counters.merges,
        warnings: {
            let (names, counts): (Vec<_>, Vec<_>) = engine
                .counters
                .warnings()
                .map(|(kind, n)| (kind.as_str(), n))
                .unzip();
            Warnings::Named(Named {
                names: strs(names.into_iter())?,
                counts: Col::owned(counts),
            })
        },
        prop_keys: arena(&engine.prop_keys),
        values: {
            let mut out = ValuesOut::default();
            for value in engine.values.parts().0 {
                out.value(value, 0)?;
            }
            out.into_dto()
        },
        value_free: Col::borrowed(engine.values.parts().1),
        projects: Seq(engine
            .projects
            .iter()
            .map(project_out)
            .collect::<Result<_, _>>()?),
    })
}
