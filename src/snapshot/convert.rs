//! Engine state to transfer objects and back. Saving borrows the engine's big arrays as
//! they are; loading checks every invariant the engine relies on before it builds one, so
//! a loaded engine is one that `apply` could have built.

use std::sync::mpsc::Receiver;

use hashbrown::HashMap;

use super::codec::{
    Arena, BodyV2, CheckedRows, Col, Job, LINK_KINDS, Links, Persons, ProjectV2, PropRows, REASONS,
    Seq, Strs, Values, code_in, link_kind_code, reason_code, take_col, uuid_bytes, uuid_of,
};
use super::rows::{FallsAtStarts, RowVerdict};
use crate::engine::{Counters, Engine};
use crate::error::SnapshotError;
use crate::event::{Number, Value};
use crate::event::{Project, Timestamp};
use crate::graph::{EventRef, Link, LinkStore, Refusal};
use crate::graph::{Forest, Sets};
use crate::graph::{Group, Groups, MAX_GROUP_TYPES};
use crate::graph::{IdKey, Interner, Unfinished};
use crate::graph::{NO_PERSON, Person, ProjectGraph, ProjectParts, Projects};
use crate::graph::{PropArena, PropRuns};
use crate::graph::{Rebuild, ValueStore};
use crate::posthog::Config;
use crate::posthog::WarningKind;

/// How deep values may nest. JSON input is limited to 128 levels by the parser; values
/// built through the API are refused on save past this, so that every saved file loads.
pub(super) const MAX_DEPTH: usize = 512;

const TAG_NULL: u8 = 0;
const TAG_FALSE: u8 = 1;
const TAG_TRUE: u8 = 2;
const TAG_INT: u8 = 3;
const TAG_UINT: u8 = 4;
const TAG_FLOAT: u8 = 5;
const TAG_STRING: u8 = 6;
const TAG_ARRAY: u8 = 7;
const TAG_OBJECT: u8 = 8;

const PROJECT_DEFAULT: u8 = 0;
const PROJECT_TEAM: u8 = 1;
const PROJECT_TOKEN: u8 = 2;

fn invalid(reason: impl Into<String>) -> SnapshotError {
    SnapshotError::invalid(reason)
}

fn len_u32(len: usize, what: &str) -> Result<u32, SnapshotError> {
    u32::try_from(len).map_err(|_| invalid(format!("{what} longer than u32::MAX")))
}

// ---------------------------------------------------------------------------------------
// Saving

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
        self.lens.push(len_u32(s.len(), "a string")?);
        self.text.extend_from_slice(s.as_bytes());
        Ok(())
    }

    fn value(&mut self, value: &Value, depth: usize) -> Result<(), SnapshotError> {
        if depth > MAX_DEPTH {
            return Err(invalid(format!(
                "a property value nests deeper than {MAX_DEPTH} levels"
            )));
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

fn strs<'s>(items: impl Iterator<Item = &'s str>) -> Result<Strs<'static>, SnapshotError> {
    let (mut text, mut lens) = (Vec::new(), Vec::new());
    for s in items {
        lens.push(len_u32(s.len(), "a string")?);
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
fn project_out(graph: &ProjectGraph) -> Result<ProjectV2<'_>, SnapshotError> {
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

    Ok(ProjectV2 {
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
        record_props: PropRows::Records(&graph.links().records, &graph.links().links),
        refusal_target: Col::owned(refusals.iter().map(|r| r.target.raw()).collect()),
        refusal_source: Col::owned(refusals.iter().map(|r| r.source.raw()).collect()),
        refusal_kind: Col::owned(refusals.iter().map(|r| link_kind_code(r.kind)).collect()),
        refusal_reason: Col::owned(refusals.iter().map(|r| reason_code(r.reason)).collect()),
        refusal_ordinal: Col::owned(refusal_events.ordinals),
        refusal_time: Col::owned(refusal_events.times),
        refusal_uuids: Col::owned(refusal_events.uuids),
    })
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
pub(super) fn body<'e>(
    engine: &'e Engine,
    position: &'e [u8],
) -> Result<BodyV2<'e>, SnapshotError> {
    Ok(BodyV2 {
        position: Col::borrowed(position),
        lift_properties: engine.config.lift_properties,
        filter_churn: engine.config.filter_churn,
        record_changes: engine.config.record_changes,
        max_ids_per_person: engine.config.max_ids_per_person.map_or(u64::MAX, u64::from),
        events: engine.counters.events,
        merges: engine.counters.merges,
        warnings: Col::owned(engine.counters.in_kind_order().to_vec()),
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

// ---------------------------------------------------------------------------------------
// Loading

fn interner(
    arena: Arena<'static>,
    erased: Vec<u32>,
    what: &str,
) -> Result<Interner, SnapshotError> {
    finish_interner(unfinished_interner(arena, what), erased, what)
}

/// The first step of [`interner`], for an arena whose erased list comes later.
fn unfinished_interner(arena: Arena<'static>, what: &str) -> Result<Unfinished, SnapshotError> {
    let text = String::from_utf8(arena.text.into_vec())
        .map_err(|_| invalid(format!("{what}: text is not UTF-8")))?;
    Interner::rebuild(text, arena.ends.into_vec()).ok_or_else(|| bad_interner(what))
}

fn finish_interner(
    unfinished: Result<Unfinished, SnapshotError>,
    erased: Vec<u32>,
    what: &str,
) -> Result<Interner, SnapshotError> {
    unfinished?.finish(erased).ok_or_else(|| bad_interner(what))
}

fn bad_interner(what: &str) -> SnapshotError {
    invalid(format!(
        "{what}: offsets out of order, a string repeated, or a bad erased list"
    ))
}

/// A project whose jobs were not done, which a load never leaves.
fn unprepared() -> SnapshotError {
    invalid("a part of the body was not prepared")
}

/// What the decoder's [`Job`]s make, in the order they came (on the second thread, or here
/// after decoding a small body): the value store, and per project its id table (less the erased list,
/// decoded later), its checked forest and its checked persons.
#[derive(Default)]
pub(super) struct Prepared {
    values: Option<Result<ValueStore, SnapshotError>>,
    ids: Vec<PreparedIds>,
    forests: Vec<PreparedForest>,
    persons: Vec<PreparedPersons>,
}

/// A project's id table, with the number of ids its arena holds.
struct PreparedIds {
    len: usize,
    table: Result<Unfinished, SnapshotError>,
}

/// A project's forest and its sets, with the number of ids its arrays hold; `None` when
/// the arrays are not a forest of their member lists.
struct PreparedForest {
    len: usize,
    checked: Option<(Forest, Sets)>,
}

/// A project's person slots and where the sets hold them, with their check: the
/// properties in an arena and the highest value slot they name. `None` when the forest or
/// the lengths of the columns left nothing to check against, which [`graph_in`] reports
/// first.
struct PreparedPersons {
    cols: PersonCols,
    checked: Option<Result<(PropArena, Option<u32>), SnapshotError>>,
}

/// A project's person slots and the columns that place them in the sets.
struct PersonCols {
    persons: Vec<Option<Person>>,
    person_at: Vec<u32>,
    free_persons: Vec<u32>,
}

/// Works through the jobs as the decoder sends them, until it is done.
pub(super) fn prepare(jobs: &Receiver<Job>) -> Prepared {
    let mut prepared = Prepared::default();
    for job in jobs {
        prepared.take(job);
    }
    prepared
}

impl Prepared {
    /// Does one job.
    fn take(&mut self, job: Job) {
        match job {
            Job::Values(values, free) => self.values = Some(values_in(&values, free)),
            Job::Ids(arena) => self.ids.push(PreparedIds {
                len: arena.ends.len(),
                table: unfinished_interner(arena, "distinct ids"),
            }),
            Job::Forest(parent, rank, next) => self.forests.push(PreparedForest {
                len: parent.len(),
                checked: Forest::from_parts(parent, rank, next),
            }),
            Job::Persons {
                persons,
                rows,
                person_at,
                free_persons,
            } => {
                let cols = PersonCols {
                    persons,
                    person_at,
                    free_persons,
                };
                let checked = match self.forests.last() {
                    Some(PreparedForest {
                        len,
                        checked: Some((_, sets)),
                    }) if cols.person_at.len() == *len => Some(persons_in(&cols, rows, sets)),
                    _ => None,
                };
                self.persons.push(PreparedPersons { cols, checked });
            }
        }
    }
}

/// Settles what the decoder's check of property rows left to their owners (see
/// [`super::rows`]), given the falls at the starts of the owners' runs. Returns the highest
/// value slot the rows name, which [`engine`] checks against the value store once it is
/// built.
fn rows_fit_owners(
    verdict: RowVerdict,
    falls_at_starts: usize,
) -> Result<Option<u32>, SnapshotError> {
    if verdict.bad_key {
        return Err(invalid("a property key out of range"));
    }
    if verdict.bad_writer {
        return Err(invalid("a property writer is not a distinct id"));
    }
    if verdict.free_value {
        return Err(no_value());
    }
    if falls_at_starts != verdict.falls {
        return Err(invalid("property keys out of order or repeated"));
    }
    Ok(verdict.max_value)
}

fn no_value() -> SnapshotError {
    invalid("a property value slot that holds no value")
}

fn counts_differ(owners: &str) -> SnapshotError {
    invalid(format!(
        "the {owners}' property counts do not add up to their rows"
    ))
}

/// Reads strings back from [`Strs`].
struct StrsIn<'s> {
    text: &'s str,
    lens: &'s [u32],
    at: usize,
    offset: usize,
}

impl<'s> StrsIn<'s> {
    fn new(strs: &'s Strs<'static>, what: &str) -> Result<StrsIn<'s>, SnapshotError> {
        let text = std::str::from_utf8(&strs.text)
            .map_err(|_| invalid(format!("{what}: text is not UTF-8")))?;
        Ok(StrsIn {
            text,
            lens: &strs.lens,
            at: 0,
            offset: 0,
        })
    }

    fn remaining(&self) -> usize {
        self.lens.len() - self.at
    }

    fn next(&mut self) -> Result<&'s str, SnapshotError> {
        let len = *self
            .lens
            .get(self.at)
            .ok_or_else(|| invalid("fewer strings than values need"))? as usize;
        let end = self
            .offset
            .checked_add(len)
            .filter(|&end| end <= self.text.len())
            .ok_or_else(|| invalid("string lengths pass the end of their text"))?;
        let s = self
            .text
            .get(self.offset..end)
            .ok_or_else(|| invalid("a string splits a UTF-8 character"))?;
        self.at += 1;
        self.offset = end;
        Ok(s)
    }

    fn finish(&self, what: &str) -> Result<(), SnapshotError> {
        if self.at == self.lens.len() && self.offset == self.text.len() {
            Ok(())
        } else {
            Err(invalid(format!("{what}: strings left over")))
        }
    }
}

/// Reads values back from [`Values`].
struct ValuesIn<'v> {
    tags: &'v [u8],
    nums: &'v [u64],
    strs: StrsIn<'v>,
    tag: usize,
    num: usize,
}

impl<'v> ValuesIn<'v> {
    fn new(values: &'v Values<'static>) -> Result<ValuesIn<'v>, SnapshotError> {
        Ok(ValuesIn {
            tags: &values.tags,
            nums: &values.nums,
            strs: StrsIn::new(&values.strs, "property values")?,
            tag: 0,
            num: 0,
        })
    }

    fn num(&mut self) -> Result<u64, SnapshotError> {
        let n = *self
            .nums
            .get(self.num)
            .ok_or_else(|| invalid("fewer numbers than values need"))?;
        self.num += 1;
        Ok(n)
    }

    /// A container length, which cannot exceed the values left: each element has a tag.
    fn count(&mut self) -> Result<usize, SnapshotError> {
        let n = self.num()?;
        usize::try_from(n)
            .ok()
            .filter(|&n| n <= self.tags.len() - self.tag)
            .ok_or_else(|| invalid("a container longer than the values left"))
    }

    fn value(&mut self, depth: usize) -> Result<Value, SnapshotError> {
        if depth > MAX_DEPTH {
            return Err(invalid(format!(
                "a value nests deeper than {MAX_DEPTH} levels"
            )));
        }
        let tag = *self
            .tags
            .get(self.tag)
            .ok_or_else(|| invalid("fewer values than properties"))?;
        self.tag += 1;
        Ok(match tag {
            TAG_NULL => Value::Null,
            TAG_FALSE => Value::Bool(false),
            TAG_TRUE => Value::Bool(true),
            TAG_INT => Value::Number(Number::Int(self.num()?.cast_signed())),
            TAG_UINT => Value::Number(Number::UInt(self.num()?)),
            TAG_FLOAT => Value::Number(Number::Float(f64::from_bits(self.num()?))),
            TAG_STRING => Value::String(self.strs.next()?.into()),
            TAG_ARRAY => {
                let len = self.count()?;
                let mut items = Vec::with_capacity(len);
                for _ in 0..len {
                    items.push(self.value(depth + 1)?);
                }
                Value::Array(items.into_boxed_slice())
            }
            TAG_OBJECT => Value::Object(self.members(depth)?.into_boxed_slice()),
            other => return Err(invalid(format!("unknown value tag {other}"))),
        })
    }

    /// The members of an object whose tag was just read: keys strictly increasing, as
    /// [`Value::Object`] promises.
    fn members(&mut self, depth: usize) -> Result<Vec<(Box<str>, Value)>, SnapshotError> {
        let len = self.count()?;
        if len > self.strs.remaining() {
            return Err(invalid("an object with more keys than strings left"));
        }
        let mut members: Vec<(Box<str>, Value)> = Vec::with_capacity(len);
        for _ in 0..len {
            let key = self.strs.next()?;
            if members.last().is_some_and(|(last, _)| **last >= *key) {
                return Err(invalid("object keys out of order or repeated"));
            }
            let value = self.value(depth + 1)?;
            members.push((key.into(), value));
        }
        Ok(members)
    }

    /// An object's members, for a group's properties.
    fn object(&mut self) -> Result<Vec<(Box<str>, Value)>, SnapshotError> {
        match self.tags.get(self.tag) {
            Some(&TAG_OBJECT) => {
                self.tag += 1;
                self.members(0)
            }
            _ => Err(invalid("a group's properties are not an object")),
        }
    }

    fn finish(&self) -> Result<(), SnapshotError> {
        if self.tag != self.tags.len() || self.num != self.nums.len() {
            return Err(invalid("property values left over"));
        }
        self.strs.finish("property values")
    }
}

fn project_in(dto: &ProjectV2<'static>) -> Result<Project, SnapshotError> {
    let team_or_token_set = dto.team != 0 || !dto.token.is_empty();
    match dto.kind {
        PROJECT_DEFAULT if !team_or_token_set => Ok(Project::Default),
        PROJECT_TEAM if dto.token.is_empty() => Ok(Project::Team(dto.team)),
        PROJECT_TOKEN if dto.team == 0 => std::str::from_utf8(&dto.token)
            .map(|token| Project::Token(token.into()))
            .map_err(|_| invalid("a project token is not UTF-8")),
        _ => Err(invalid("a project is neither default, a team nor a token")),
    }
}

/// The persons of a project and their properties, checked against its forest and
/// `person_at`.
fn persons_in(
    cols: &PersonCols,
    props: CheckedRows,
    sets: &Sets,
) -> Result<(PropArena, Option<u32>), SnapshotError> {
    let PersonCols {
        persons,
        person_at,
        free_persons,
    } = cols;
    if persons.len() >= u32::MAX as usize {
        return Err(invalid("more person slots than person keys"));
    }
    let arena = PropArena::from_packed(props.rows, persons.iter().flatten().map(Person::props))
        .ok_or_else(|| counts_differ("persons"))?;
    // One walk over the live persons: their runs of rows, and the set of each one's anchor,
    // which must hold it and count its ids.
    let (mut starts, mut live) = (FallsAtStarts::default(), 0usize);
    for (slot, person) in persons.iter().enumerate() {
        let Some(person) = person else { continue };
        live += 1;
        starts.see(arena.get(person.props()));
        let Some(&root) = sets.root.get(person.anchor().index()) else {
            return Err(invalid("a person's anchor is not a distinct id"));
        };
        if person_at[root as usize] as usize != slot {
            return Err(invalid(
                "a person's anchor is in a set that holds another person",
            ));
        }
        if person.id_count() != sets.size[root as usize] {
            return Err(invalid("a person's id count differs from its set"));
        }
    }
    let max_value = rows_fit_owners(props.verdict, starts.falls)?;
    // The free list names empty slots, each once; as many as there are, so all of them.
    let mut listed = vec![false; persons.len()];
    for &slot in free_persons {
        match (listed.get_mut(slot as usize), persons.get(slot as usize)) {
            (Some(seen @ false), Some(None)) => *seen = true,
            (Some(true), _) => return Err(invalid("a free person slot listed twice")),
            _ => return Err(invalid("a free person slot out of range or in use")),
        }
    }
    if free_persons.len() != persons.len() - live {
        return Err(invalid("an empty person slot missing from the free list"));
    }
    check_person_at(sets, cols)?;
    Ok((arena, max_value))
}

/// Checks that `person_at` names persons only at roots, and no more of them than there are
/// live persons. [`persons_in`] showed that every live person is named at the root of its
/// anchor's set, each at its own root, and that the free list holds exactly the other
/// slots; so when the count matches, those are all the names: none is of a free slot, and
/// no person is held by two sets.
fn check_person_at(sets: &Sets, cols: &PersonCols) -> Result<(), SnapshotError> {
    let (mut named, mut off_root) = (0usize, false);
    for (i, (&at, &root)) in cols.person_at.iter().zip(&sets.root).enumerate() {
        let holds = at != NO_PERSON;
        named += usize::from(holds);
        off_root |= holds && root as usize != i;
    }
    if off_root {
        return Err(invalid("a person is recorded at an id that is not a root"));
    }
    if Some(named) != cols.persons.len().checked_sub(cols.free_persons.len()) {
        return Err(invalid(
            "sets name a person slot that is not live, or one person twice",
        ));
    }
    Ok(())
}

fn groups_in(dto: &ProjectV2<'static>, values: &mut ValuesIn<'_>) -> Result<Groups, SnapshotError> {
    let mut types: Vec<Box<str>> = Vec::new();
    let mut type_names = StrsIn::new(&dto.group_types, "group types")?;
    while type_names.remaining() > 0 {
        let name = type_names.next()?;
        if types.len() == MAX_GROUP_TYPES || types.iter().any(|t| **t == *name) {
            return Err(invalid("more than five group types, or one repeated"));
        }
        types.push(name.into());
    }
    type_names.finish("group types")?;

    let count = dto.group_type_index.len();
    if dto.group_created_at.len() != count || dto.group_versions.len() != count {
        return Err(invalid("group columns of different lengths"));
    }
    let mut keys = StrsIn::new(&dto.group_keys, "group keys")?;
    let mut groups = HashMap::with_capacity(count.min(keys.remaining()));
    let mut last: Option<(u8, &str)> = None;
    for i in 0..count {
        let index = dto.group_type_index[i];
        if usize::from(index) >= types.len() {
            return Err(invalid("a group of an unknown group type"));
        }
        let key = keys.next()?;
        if last.is_some_and(|last| last >= (index, key)) {
            return Err(invalid("groups out of order or repeated"));
        }
        last = Some((index, key));
        let group = Group {
            props: values.object()?,
            created_at: Timestamp::from_unix_micros(dto.group_created_at[i]),
            version: dto.group_versions[i],
        };
        groups.insert((index, key.into()), group);
    }
    keys.finish("group keys")?;
    Groups::from_parts(types, groups).ok_or_else(|| invalid("a group of an unknown group type"))
}

fn event_ref(ordinals: &[u64], times: &[i64], uuids: &[u8], i: usize) -> EventRef {
    EventRef {
        ordinal: ordinals[i],
        timestamp: Timestamp::from_unix_micros(times[i]),
        uuid: uuid_of(&uuids[i * 16..i * 16 + 16]),
    }
}

fn decode<T: Copy>(table: &[T], code: u8, what: &str) -> Result<T, SnapshotError> {
    code_in(table, code).ok_or_else(|| invalid(format!("unknown {what} code {code}")))
}

/// The links and refusals of a project: every link inside one person, every id in range.
fn links_in(
    dto: &ProjectV2<'static>,
    person_at: &[u32],
    links: Vec<Link>,
    record_props: CheckedRows,
    sets: &Sets,
) -> Result<(LinkStore, Option<u32>), SnapshotError> {
    let runs = || {
        links
            .iter()
            .filter_map(|l| l.merge.as_ref())
            .flat_map(|m| [&m.target_props, &m.source_props])
    };
    let records = PropRuns::from_packed(record_props.rows, runs())
        .ok_or_else(|| counts_differ("merge records"))?;
    let falls = RowVerdict::falls_at_starts(runs().map(|&run| records.get(run)));
    let max_value = rows_fit_owners(record_props.verdict, falls)?;
    for link in &links {
        let (target, source) = (link.target, link.source);
        let (Some(&root), Some(&source_root)) =
            (sets.root.get(target.index()), sets.root.get(source.index()))
        else {
            return Err(invalid("a link names an id out of range"));
        };
        if target == source || source_root != root || person_at[root as usize] == NO_PERSON {
            return Err(invalid("a link joins ids that are not one person"));
        }
    }
    let key = |raw: u32| -> Result<IdKey, SnapshotError> {
        if (raw as usize) < sets.root.len() {
            Ok(IdKey::from_raw(raw))
        } else {
            Err(invalid("a link names an id out of range"))
        }
    };

    let m = dto.refusal_target.len();
    if [
        dto.refusal_source.len(),
        dto.refusal_kind.len(),
        dto.refusal_reason.len(),
        dto.refusal_ordinal.len(),
        dto.refusal_time.len(),
    ]
    .iter()
    .any(|&len| len != m)
        || dto.refusal_uuids.len() != m * 16
    {
        return Err(invalid("refusal columns of different lengths"));
    }
    let mut refusals = Vec::with_capacity(m);
    for i in 0..m {
        refusals.push(Refusal {
            target: key(dto.refusal_target[i])?,
            source: key(dto.refusal_source[i])?,
            kind: decode(&LINK_KINDS, dto.refusal_kind[i], "link kind")?,
            reason: decode(&REASONS, dto.refusal_reason[i], "refusal reason")?,
            event: event_ref(
                &dto.refusal_ordinal,
                &dto.refusal_time,
                &dto.refusal_uuids,
                i,
            ),
        });
    }
    let store = LinkStore {
        links,
        refusals,
        records,
    };
    Ok((store, max_value))
}

/// Moves property rows out of a transfer object.
fn take_rows(rows: &mut PropRows<'static>) -> CheckedRows {
    let empty = || CheckedRows {
        rows: Vec::new(),
        verdict: RowVerdict::default(),
    };
    match std::mem::replace(rows, PropRows::In(empty())) {
        PropRows::In(checked) => checked,
        PropRows::Persons(..) | PropRows::Records(..) => empty(),
    }
}

/// A project's graph from its decoded columns and what its jobs prepared, with the highest
/// value slot its property rows name.
fn graph_in(
    mut dto: ProjectV2<'static>,
    ids: PreparedIds,
    forest: PreparedForest,
    persons: PreparedPersons,
) -> Result<(ProjectGraph, Option<u32>), SnapshotError> {
    let project = project_in(&dto)?;
    let mut values = ValuesIn::new(&dto.values)?;
    let n = forest.len;
    let PreparedPersons { cols, checked } = persons;
    if ids.len != n || cols.person_at.len() != n {
        return Err(invalid("id columns of different lengths"));
    }
    if dto.personless.len() != n.div_ceil(8)
        || (!n.is_multiple_of(8) && dto.personless[n / 8] >> (n % 8) != 0)
    {
        return Err(invalid("the personless bitmap does not match the ids"));
    }
    let (forest, sets) = forest
        .checked
        .ok_or_else(|| invalid("the union-find forest is not a forest of its member lists"))?;
    let (props, person_max) = checked.ok_or_else(unprepared)??;
    let links = match std::mem::replace(&mut dto.links, Links::In(Vec::new())) {
        Links::In(links) => links,
        Links::Out(_) => Vec::new(),
    };
    let record_props = take_rows(&mut dto.record_props);
    let (links, record_max) = links_in(&dto, &cols.person_at, links, record_props, &sets)?;
    drop(sets);
    let groups = groups_in(&dto, &mut values)?;
    values.finish()?;
    let personless = (0..n)
        .map(|i| dto.personless[i / 8] & (1 << (i % 8)) != 0)
        .collect();
    let erased = take_col(&mut dto.ids_erased);
    let graph = ProjectGraph::from_checked_parts(ProjectParts {
        project,
        ids: finish_interner(ids.table, erased, "distinct ids")?,
        forest,
        person_at: cols.person_at,
        personless,
        persons: cols.persons,
        free_persons: cols.free_persons,
        props,
        groups,
        links,
    });
    Ok((graph, person_max.max(record_max)))
}

/// The value store: its slots in order, free ones null.
fn values_in(dto: &Values<'static>, free: Vec<u32>) -> Result<ValueStore, SnapshotError> {
    let repeated = || invalid("the value store repeats a value or frees a slot in use");
    let mut stream = ValuesIn::new(dto)?;
    let mut store = Rebuild::with_capacity(dto.tags.len().min(1 << 20));
    while stream.tag < stream.tags.len() {
        store.push(stream.value(0)?).ok_or_else(repeated)?;
    }
    stream.finish()?;
    store.finish(free).ok_or_else(repeated)
}

/// The engine and position of a decoded body, given what its jobs made ([`prepare`]), once
/// every invariant holds.
///
/// The errors are taken in a fixed order (the values, then each project's checks, its value
/// slots and its id table), so an invalid body gives the same error however the threads ran.
pub(super) fn engine(
    body: BodyV2<'static>,
    prepared: Prepared,
) -> Result<(Engine, Vec<u8>), SnapshotError> {
    let BodyV2 {
        position,
        lift_properties,
        filter_churn,
        record_changes,
        max_ids_per_person,
        events,
        merges,
        warnings,
        prop_keys,
        projects,
        ..
    } = body;
    let warnings: [u64; WarningKind::ALL.len()] = warnings
        .as_ref()
        .try_into()
        .map_err(|_| invalid("warning counters of another number of kinds"))?;
    let prop_keys = interner(prop_keys, Vec::new(), "property keys")?;
    let values = prepared.values.ok_or_else(unprepared)??;
    let mut ids = prepared.ids.into_iter();
    let mut forests = prepared.forests.into_iter();
    let mut persons = prepared.persons.into_iter();
    let mut graphs = Vec::with_capacity(projects.0.len());
    for dto in projects.0 {
        let (Some(ids), Some(forest), Some(persons)) = (ids.next(), forests.next(), persons.next())
        else {
            return Err(unprepared());
        };
        let (graph, max_value) = graph_in(dto, ids, forest, persons)?;
        if max_value.is_some_and(|v| v as usize >= values.slots()) {
            return Err(no_value());
        }
        graphs.push(graph);
    }
    let projects =
        Projects::from_graphs(graphs).ok_or_else(|| invalid("a project appears twice"))?;
    let engine = Engine {
        config: Config {
            lift_properties,
            filter_churn,
            record_changes,
            max_ids_per_person: match max_ids_per_person {
                u64::MAX => None,
                max => Some(u32::try_from(max).map_err(|_| invalid("a move limit past u32"))?),
            },
        },
        prop_keys,
        values,
        fixed_keys: Vec::new(),
        projects,
        counters: Counters::from_kind_order(events, merges, warnings),
    };
    Ok((engine, position.into_vec()))
}
