//! Transfer objects to engine: every invariant the engine relies on is checked before one
//! is built, so a loaded engine is one that `apply` could have built.

use hashbrown::HashMap;

use super::codes::{LINK_KINDS, PROJECT_DEFAULT, PROJECT_TEAM, PROJECT_TOKEN, REASONS, code_in};
use super::load_sides::{Legacy, sides_in};
use super::load_values::{StrsIn, ValuesIn};
use super::prepare::{PersonCols, Prepared, PreparedForest, PreparedIds, PreparedPersons};
use super::records::{CheckedRows, Links, PropRows, uuid_of};
use super::rows::{RowVerdict, no_value};
use super::schema::{Arena, Body, Named, ProjectBody, RecordSides, Warnings};
use super::wire::take_col;
use crate::engine::{Counters, Engine};
use crate::error::{InvalidSnapshot as Kind, SnapshotError, SnapshotSection as Section};
use crate::event::{Project, Timestamp};
use crate::graph::{EventRef, Link, LinkStore, Refusal};
use crate::graph::{Group, Groups, MAX_GROUP_TYPES};
use crate::graph::{IdKey, Interner, Unfinished};
use crate::graph::{NO_PERSON, NO_SIDE, ProjectGraph, ProjectParts, Projects, Sets};
use crate::posthog::Config;
use crate::posthog::WarningKind;

pub(super) fn invalid(kind: Kind) -> SnapshotError {
    SnapshotError::invalid(kind)
}

fn interner(
    arena: Arena<'static>,
    erased: Vec<u32>,
    what: Section,
) -> Result<Interner, SnapshotError> {
    finish_interner(unfinished_interner(arena, what), erased, what)
}

/// The first step of [`interner`], for an arena whose erased list comes later.
pub(super) fn unfinished_interner(
    arena: Arena<'static>,
    what: Section,
) -> Result<Unfinished, SnapshotError> {
    let text =
        String::from_utf8(arena.text.into_vec()).map_err(|_| invalid(Kind::TextNotUtf8(what)))?;
    Interner::rebuild(text, arena.ends.into_vec()).ok_or_else(|| bad_interner(what))
}

fn finish_interner(
    unfinished: Result<Unfinished, SnapshotError>,
    erased: Vec<u32>,
    what: Section,
) -> Result<Interner, SnapshotError> {
    unfinished?.finish(erased).ok_or_else(|| bad_interner(what))
}

fn bad_interner(what: Section) -> SnapshotError {
    invalid(Kind::BadInterner(what))
}

/// A project whose jobs were not done, which a load never leaves.
fn unprepared() -> SnapshotError {
    invalid(Kind::NotPrepared)
}

fn project_in(dto: &ProjectBody<'static>) -> Result<Project, SnapshotError> {
    let team_or_token_set = dto.team != 0 || !dto.token.is_empty();
    match dto.kind {
        PROJECT_DEFAULT if !team_or_token_set => Ok(Project::Default),
        PROJECT_TEAM if dto.token.is_empty() => Ok(Project::Team(dto.team)),
        PROJECT_TOKEN if dto.team == 0 => std::str::from_utf8(&dto.token)
            .map(|token| Project::Token(token.into()))
            .map_err(|_| invalid(Kind::ProjectTokenNotUtf8)),
        _ => Err(invalid(Kind::UnknownProjectKind)),
    }
}

fn groups_in(
    dto: &ProjectBody<'static>,
    values: &mut ValuesIn<'_>,
) -> Result<Groups, SnapshotError> {
    let mut types: Vec<Box<str>> = Vec::new();
    let mut type_names = StrsIn::new(&dto.group_types, Section::GroupTypes)?;
    while type_names.remaining() > 0 {
        let name = type_names.next()?;
        if types.len() == MAX_GROUP_TYPES || types.iter().any(|t| **t == *name) {
            return Err(invalid(Kind::TooManyGroupTypes));
        }
        types.push(name.into());
    }
    type_names.finish(Section::GroupTypes)?;

    let count = dto.group_type_index.len();
    if dto.group_created_at.len() != count || dto.group_versions.len() != count {
        return Err(invalid(Kind::GroupColumnsDiffer));
    }
    let mut keys = StrsIn::new(&dto.group_keys, Section::GroupKeys)?;
    let mut groups = HashMap::with_capacity(count.min(keys.remaining()));
    let mut last: Option<(u8, &str)> = None;
    for i in 0..count {
        let index = dto.group_type_index[i];
        if usize::from(index) >= types.len() {
            return Err(invalid(Kind::UnknownGroupType));
        }
        let key = keys.next()?;
        if last.is_some_and(|last| last >= (index, key)) {
            return Err(invalid(Kind::GroupsOutOfOrder));
        }
        last = Some((index, key));
        let group = Group {
            props: values.object()?,
            created_at: Timestamp::from_unix_micros(dto.group_created_at[i]),
            version: dto.group_versions[i],
        };
        groups.insert((index, key.into()), group);
    }
    keys.finish(Section::GroupKeys)?;
    Groups::from_parts(types, groups).ok_or_else(|| invalid(Kind::UnknownGroupType))
}

fn event_ref(ordinals: &[u64], times: &[i64], uuids: &[u8], i: usize) -> EventRef {
    EventRef {
        ordinal: ordinals[i],
        timestamp: Timestamp::from_unix_micros(times[i]),
        uuid: uuid_of(&uuids[i * 16..i * 16 + 16]),
    }
}

fn decode<T: Copy>(table: &[T], code: u8, unknown: fn(u8) -> Kind) -> Result<T, SnapshotError> {
    code_in(table, code).ok_or_else(|| invalid(unknown(code)))
}

/// The links, refusals and merge record sides of a project: every link inside one person,
/// every id in range; with the highest value slot the sides name.
#[allow(
    clippy::too_many_arguments,
    reason = "the parts of one project's links, as decoded"
)]
fn links_in(
    dto: &ProjectBody<'static>,
    cols: &mut PersonCols,
    (links, legacy): (Vec<Link>, Option<Vec<u32>>),
    stored: RecordSides<'static>,
    record_props: CheckedRows,
    sets: &Sets,
    keys: usize,
) -> Result<(LinkStore, Option<u32>), SnapshotError> {
    let person_at = &cols.person_at;
    for link in &links {
        let (target, source) = (link.target, link.source);
        let (Some(&root), Some(&source_root)) =
            (sets.root.get(target.index()), sets.root.get(source.index()))
        else {
            return Err(invalid(Kind::LinkIdOutOfRange));
        };
        if target == source || source_root != root || person_at[root as usize] == NO_PERSON {
            return Err(invalid(Kind::LinkAcrossPersons));
        }
    }
    // Every link is inside a person: the survivor of each legacy record's merge holds its
    // target id, and took the longer side as its latest, as a merge does.
    let legacy = legacy.map(|lens| {
        let mut person_side = vec![NO_SIDE; cols.persons.len()];
        for (i, link) in links.iter().filter(|l| l.merge.is_some()).enumerate() {
            let slot = person_at[sets.root[link.target.index()] as usize] as usize;
            let (target, source) = (2 * i, 2 * i + 1);
            let longer = if lens.get(source) > lens.get(target) {
                source
            } else {
                target
            };
            if let (Some(side), Ok(raw)) = (person_side.get_mut(slot), u32::try_from(longer)) {
                *side = raw;
            }
        }
        Legacy { lens, person_side }
    });
    let (sides, max_value) = sides_in(
        &links,
        &mut cols.persons,
        legacy,
        stored,
        record_props,
        keys,
    )?;
    let key = |raw: u32| -> Result<IdKey, SnapshotError> {
        if (raw as usize) < sets.root.len() {
            Ok(IdKey::from_raw(raw))
        } else {
            Err(invalid(Kind::LinkIdOutOfRange))
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
        return Err(invalid(Kind::RefusalColumnsDiffer));
    }
    let mut refusals = Vec::with_capacity(m);
    for i in 0..m {
        refusals.push(Refusal {
            target: key(dto.refusal_target[i])?,
            source: key(dto.refusal_source[i])?,
            kind: decode(&LINK_KINDS, dto.refusal_kind[i], Kind::UnknownLinkKindCode)?,
            reason: decode(
                &REASONS,
                dto.refusal_reason[i],
                Kind::UnknownRefusalReasonCode,
            )?,
            event: event_ref(
                &dto.refusal_ordinal,
                &dto.refusal_time,
                &dto.refusal_uuids,
                i,
            ),
        });
    }
    let store = LinkStore {
        links: links.into_iter().collect(),
        refusals,
        sides,
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
        PropRows::Persons(..) | PropRows::Sides(..) => empty(),
    }
}

/// A project's graph from its decoded columns and what its jobs prepared, with the highest
/// value slot its property rows name.
fn graph_in(
    mut dto: ProjectBody<'static>,
    ids: PreparedIds,
    forest: PreparedForest,
    persons: PreparedPersons,
    keys: usize,
) -> Result<(ProjectGraph, Option<u32>), SnapshotError> {
    let project = project_in(&dto)?;
    let mut values = ValuesIn::new(&dto.values)?;
    let n = forest.len;
    let PreparedPersons { mut cols, checked } = persons;
    if ids.len != n || cols.person_at.len() != n {
        return Err(invalid(Kind::IdColumnsDiffer));
    }
    if dto.personless.len() != n.div_ceil(8)
        || (!n.is_multiple_of(8) && dto.personless[n / 8] >> (n % 8) != 0)
    {
        return Err(invalid(Kind::PersonlessBitmap));
    }
    let (forest, sets) = forest
        .checked
        .ok_or_else(|| invalid(Kind::ForestNotAForest))?;
    let (props, person_max) = checked.ok_or_else(unprepared)??;
    let links = match std::mem::replace(&mut dto.links, Links::In(Vec::new())) {
        Links::In(links) => (links, None),
        Links::Legacy(links, lens) => (links, Some(lens)),
        Links::Out(_) => (Vec::new(), None),
    };
    let record_props = take_rows(&mut dto.record_props);
    let stored = std::mem::replace(&mut dto.sides, RecordSides::Legacy);
    let (links, record_max) = links_in(&dto, &mut cols, links, stored, record_props, &sets, keys)?;
    drop(sets);
    let groups = groups_in(&dto, &mut values)?;
    values.finish()?;
    let personless = (0..n)
        .map(|i| dto.personless[i / 8] & (1 << (i % 8)) != 0)
        .collect();
    let erased = take_col(&mut dto.ids_erased);
    let graph = ProjectGraph::from_checked_parts(ProjectParts {
        project,
        ids: finish_interner(ids.table, erased, Section::DistinctIds)?,
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
/// The engine and position of a decoded body, given what its jobs made ([`prepare`]), once
/// every invariant holds.
///
/// The errors are taken in a fixed order (the values, then each project's checks, its value
/// slots and its id table), so an invalid body gives the same error however the threads ran.
pub(super) fn engine(
    body: Body<'static>,
    prepared: Prepared,
) -> Result<(Engine, Vec<u8>), SnapshotError> {
    let Body {
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
    let counters = counters_in(events, merges, &warnings)?;
    let prop_keys = interner(prop_keys, Vec::new(), Section::PropertyKeys)?;
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
        let (graph, max_value) = graph_in(dto, ids, forest, persons, prop_keys.len())?;
        if max_value.is_some_and(|v| v as usize >= values.slots()) {
            return Err(no_value());
        }
        graphs.push(graph);
    }
    let projects = Projects::from_graphs(graphs).ok_or_else(|| invalid(Kind::ProjectTwice))?;
    let engine = Engine {
        config: Config {
            lift_properties,
            filter_churn,
            record_changes,
            max_ids_per_person: match max_ids_per_person {
                u64::MAX => None,
                max => Some(u32::try_from(max).map_err(|_| invalid(Kind::MoveLimitPastU32))?),
            },
        },
        prop_keys,
        values,
        fixed_keys: Vec::new(),
        projects,
        counters,
    };
    Ok((engine, position.into_vec()))
}

/// The warning kinds of format 2, in the order its counters are stored: the kinds this
/// crate had when format 2 was the newest, fixed here so that a new kind changes no file.
const FORMAT_2_WARNINGS: [WarningKind; 10] = [
    WarningKind::CannotMergeWithIllegalDistinctId,
    WarningKind::CannotMergeAlreadyIdentified,
    WarningKind::MergeMoveLimitExceeded,
    WarningKind::InvalidEventWhenProcessPersonProfileIsFalse,
    WarningKind::InvalidProcessPersonProfile,
    WarningKind::SkippingEventInvalidDistinctId,
    WarningKind::InvalidAnonDistinctId,
    WarningKind::InvalidAlias,
    WarningKind::GroupKeyTooLong,
    WarningKind::InvalidGroupSet,
];

/// The counters, from either format's warnings.
fn counters_in(
    events: u64,
    merges: u64,
    warnings: &Warnings<'static>,
) -> Result<Counters, SnapshotError> {
    match warnings {
        Warnings::InKindOrder(counts) => {
            if counts.len() != FORMAT_2_WARNINGS.len() {
                return Err(invalid(Kind::WarningCountersOfOtherKinds));
            }
            let counts = FORMAT_2_WARNINGS.into_iter().zip(counts.iter().copied());
            Ok(Counters::stored(events, merges, counts))
        }
        Warnings::Named(named) => named_counters(events, merges, named),
    }
}

/// Format 3's counters: every name one PostHog gives a kind, each once.
fn named_counters(
    events: u64,
    merges: u64,
    named: &Named<'static>,
) -> Result<Counters, SnapshotError> {
    let mut stored_names = StrsIn::new(&named.names, Section::WarningNames)?;
    if stored_names.remaining() != named.counts.len() {
        return Err(invalid(Kind::WarningColumnsDiffer));
    }
    let mut counters = Counters::stored(events, merges, []);
    let mut seen: Vec<WarningKind> = Vec::with_capacity(named.counts.len());
    for &count in named.counts.iter() {
        let name = stored_names.next()?;
        let kind = WarningKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
            .ok_or_else(|| invalid(Kind::UnknownWarning(name.to_owned())))?;
        if seen.contains(&kind) {
            return Err(invalid(Kind::WarningRepeated));
        }
        seen.push(kind);
        counters.count_warning(kind, count);
    }
    stored_names.finish(Section::WarningNames)?;
    Ok(counters)
}
