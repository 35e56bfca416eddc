//! What an event does: validation, personless mode, the merge entry and its guards, the four
//! merge cases, and property updates (docs/behaviour.md §3 to §10 and §12).
//!
//! Decisions are taken here, against the current state, before anything is changed; the
//! graph's operations (`graph/project.rs`) never re-check policy.

use super::config::Config;
use super::decisions::Decisions;
use super::ops::{Applied, KeyTable, Ops, PropertyChanges, resolve_fixed_keys};
use super::outcome::{Change, Outcome, Warning, WarningKind};
use super::rules::{MAX_ID_CHARS, is_too_long, is_unmergeable_id};
use super::size::{self, Trim};
use crate::error::EngineError;
use crate::event::{Event, EventKind, Timestamp, Value};
use crate::graph::{
    EventRef, IdKey, Interner, Link, LinkEffect, LinkKind, MergeRecord, NewPerson, PersonKey,
    ProjectGraph, Projects, PropKey, PropStore, Refusal, RefusalReason, ValueStore,
};

/// How an event asks to merge, once its entry conditions hold.
struct MergeRequest<'e> {
    source: std::borrow::Cow<'e, str>,
    dangerous: bool,
}

/// What applying one event may touch: the options, every project's graph, and the property
/// keys and values shared by all projects.
pub(crate) struct Applier<'a, 't> {
    pub(crate) config: &'a Config,
    pub(crate) projects: &'a mut Projects,
    pub(crate) prop_keys: &'a mut Interner,
    pub(crate) fixed_keys: &'a mut Vec<PropKey>,
    pub(crate) values: &'a mut ValueStore,
    /// The event's 1-based place in the engine's life, kept on the links it makes.
    pub(crate) ordinal: u64,
    /// By the rules, or as a copy in the same state kept (`decisions.rs`).
    pub(crate) decisions: &'a mut Decisions<'t>,
}

/// Refuses, before anything changes, an event whose ids or property keys could not be
/// numbered, so that a capacity error never leaves an event half applied.
pub(crate) fn check_capacity(
    projects: &Projects,
    prop_keys: &Interner,
    event: &Event,
) -> Result<(), EngineError> {
    const LIMIT: usize = (u32::MAX - 1) as usize;
    let (ids, id_bytes) = projects
        .get(event.project())
        .map_or((0, 0), |g| (g.ids().len(), g.ids().parts().0.len()));
    let (keys, key_bytes) = (prop_keys.len(), prop_keys.parts().0.len());
    // Far from every limit, no event can reach one: a line is read whole into memory, so
    // it is far smaller than half of 4 GiB.
    if [ids, id_bytes, keys, key_bytes]
        .iter()
        .all(|&used| used < LIMIT / 2)
    {
        return Ok(());
    }
    // An event adds at most two ids (each at most 400 characters, 1600 bytes, when they
    // take part in a merge) and at most as many keys as its operations name.
    let props = &event.props;
    let new_key_bytes: usize = [&props.set, &props.set_once, &props.unset]
        .into_iter()
        .flatten()
        .map(|v| match v {
            Value::Object(m) => m.iter().map(|(k, _)| k.len() + 32).sum(),
            Value::Array(items) => items.len() * 32,
            _ => 0,
        })
        .sum::<usize>()
        + 64 * 44;
    let full = |what| EngineError::CapacityExceeded {
        what,
        limit: u64::from(u32::MAX - 1),
    };
    if ids + 2 > LIMIT || id_bytes + event.distinct_id().len() + 1600 > LIMIT {
        return Err(full(IdKey::WHAT));
    }
    if keys + new_key_bytes / 32 > LIMIT || key_bytes + new_key_bytes > LIMIT {
        return Err(full(PropKey::WHAT));
    }
    Ok(())
}

impl Applier<'_, '_> {
    /// Applies one event (its capacity already checked), writing what happened into
    /// `outcome`.
    pub(crate) fn apply(self, event: &Event, outcome: &mut Outcome) -> Result<(), EngineError> {
        let now = event.timestamp().unwrap_or_else(Timestamp::now);
        let kind = event.kind();
        let target = event.distinct_id();

        if is_too_long(target) {
            return drop_event(
                outcome,
                event,
                WarningKind::SkippingEventInvalidDistinctId,
                Vec::new(),
            );
        }
        if let Some(kind) = invalid_merge_id(event) {
            return drop_event(outcome, event, kind, Vec::new());
        }
        let group = if kind == EventKind::GroupIdentify {
            match group_of(event) {
                Ok(group) => group,
                Err(kind) => return drop_event(outcome, event, kind, Vec::new()),
            }
        } else {
            None
        };

        let personless = match event.props.process_person_profile.as_ref() {
            None | Some(Value::Bool(true)) => false,
            Some(Value::Bool(false)) => true,
            Some(_) => {
                outcome.warnings.push(warning(
                    event,
                    WarningKind::InvalidProcessPersonProfile,
                    Vec::new(),
                ));
                false
            }
        };
        if personless {
            if matches!(
                kind,
                EventKind::Identify
                    | EventKind::CreateAlias
                    | EventKind::MergeDangerously
                    | EventKind::GroupIdentify
            ) {
                let kind = WarningKind::InvalidEventWhenProcessPersonProfileIsFalse;
                return drop_event(outcome, event, kind, Vec::new());
            }
            return self.apply_personless(event, outcome);
        }

        // `$groupidentify` never changes person properties, and the denylisted events never
        // write them, on any path.
        let ops = match kind {
            EventKind::GroupIdentify | EventKind::NoPersonUpdate => Ops::default(),
            _ => Ops::of_event(event, self.config.lift_properties),
        };
        resolve_fixed_keys(self.prop_keys, self.fixed_keys)?;
        let graph = self.projects.get_or_insert(event.project());
        let mut step = Step {
            graph,
            keys: KeyTable {
                names: self.prop_keys,
                fixed: self.fixed_keys,
            },
            values: self.values,
            outcome,
            record: self.config.record_changes,
            now,
            ops: &ops,
            filter_churn: self.config.filter_churn && !kind.is_person_event(),
            max_ids: self.config.max_ids_per_person,
            ordinal: self.ordinal,
            input: event,
            decisions: self.decisions,
        };
        match merge_request(event) {
            Some(request) if request.source != target => {
                if is_unmergeable_id(target) || is_unmergeable_id(&request.source) {
                    step.refuse(event, target, &request.source, RefusalReason::IllegalId)?;
                } else {
                    step.merge(event, target, &request.source, request.dangerous)?;
                }
            }
            _ => step.update(target, false)?,
        }
        if let Some((group_type, group_key)) = group {
            step.upsert_group(&group_type, &group_key);
        }
        // Only this project's persons changed, so only its arena can have become sparse.
        step.graph.compact_props_if_sparse();
        Ok(())
    }

    /// Personless mode: no person is created or changed. The id is recorded as personless
    /// unless it already has a person, to which the event is then attributed.
    fn apply_personless(self, event: &Event, outcome: &mut Outcome) -> Result<(), EngineError> {
        let graph = self.projects.get_or_insert(event.project());
        if let Some(person) = graph.person_of_id(event.distinct_id()) {
            outcome.person = Some(graph.person(person).uuid);
            return Ok(());
        }
        let key = graph.intern(event.distinct_id())?;
        if graph.mark_personless(key) && self.config.record_changes {
            outcome.changes.push(Change::PersonlessRecorded {
                distinct_id: event.distinct_id().into(),
            });
        }
        Ok(())
    }
}

/// The merge an event asks for, if its entry conditions hold (docs/behaviour.md §3):
/// `$identify` with the key `$anon_distinct_id` present (`null` reads as `"null"`), or
/// `$create_alias`/`$merge_dangerously` with a truthy `alias`.
fn merge_request(event: &Event) -> Option<MergeRequest<'_>> {
    let props = &event.props;
    let (value, dangerous) = match event.kind() {
        EventKind::Identify => (props.anon_distinct_id.as_ref()?, false),
        EventKind::CreateAlias => (props.alias.as_ref().filter(|v| v.is_truthy())?, false),
        EventKind::MergeDangerously => (props.alias.as_ref().filter(|v| v.is_truthy())?, true),
        _ => return None,
    };
    let source = match value {
        Value::String(s) => std::borrow::Cow::Borrowed(&**s),
        other => std::borrow::Cow::Owned(other.to_js_string()),
    };
    Some(MergeRequest { source, dangerous })
}

#[allow(
    clippy::unnecessary_wraps,
    reason = "returned straight from apply's early exits"
)]
fn drop_event(
    outcome: &mut Outcome,
    event: &Event,
    kind: WarningKind,
    details: Vec<(&'static str, Box<str>)>,
) -> Result<(), EngineError> {
    outcome.dropped = true;
    outcome.warnings.push(warning(event, kind, details));
    Ok(())
}

fn warning(event: &Event, kind: WarningKind, details: Vec<(&'static str, Box<str>)>) -> Warning {
    let id = event.distinct_id();
    let id = if is_too_long(id) {
        id.chars().take(MAX_ID_CHARS).collect()
    } else {
        id.into()
    };
    Warning {
        kind,
        distinct_id: id,
        event_uuid: event.uuid().map(Into::into),
        details,
    }
}

/// The newest validation step: a merge event whose `$anon_distinct_id` or `alias` is neither
/// a string nor null is dropped, whichever of the two its kind reads (`$anon_distinct_id` is
/// checked first).
fn invalid_merge_id(event: &Event) -> Option<WarningKind> {
    if !matches!(
        event.kind(),
        EventKind::Identify | EventKind::CreateAlias | EventKind::MergeDangerously
    ) {
        return None;
    }
    let malformed =
        |v: Option<&Value>| matches!(v, Some(v) if !matches!(v, Value::String(_) | Value::Null));
    if malformed(event.props.anon_distinct_id.as_ref()) {
        Some(WarningKind::InvalidAnonDistinctId)
    } else if malformed(event.props.alias.as_ref()) {
        Some(WarningKind::InvalidAlias)
    } else {
        None
    }
}

/// The group a `$groupidentify` names: `None` when its type or key is not truthy (the event
/// is still ingested, no group changes).
fn group_of(event: &Event) -> Result<Option<(String, String)>, WarningKind> {
    let props = &event.props;
    let key = props
        .group_key
        .as_ref()
        .filter(|v| v.is_truthy())
        .map(|v| v.to_js_string().replace('\0', "\u{fffd}"));
    if key.as_deref().is_some_and(is_too_long) {
        return Err(WarningKind::GroupKeyTooLong);
    }
    if matches!(&props.group_set, Some(v) if !matches!(v, Value::Object(_) | Value::Null)) {
        return Err(WarningKind::InvalidGroupSet);
    }
    let group_type = props
        .group_type
        .as_ref()
        .filter(|v| v.is_truthy())
        .map(Value::to_js_string);
    Ok(group_type.zip(key))
}

/// One event's processing, after the decisions that need no graph.
struct Step<'a, 'e, 't> {
    graph: &'a mut ProjectGraph,
    keys: KeyTable<'a>,
    values: &'a mut ValueStore,
    outcome: &'a mut Outcome,
    record: bool,
    now: Timestamp,
    ops: &'a Ops<'e>,
    filter_churn: bool,
    max_ids: Option<u32>,
    /// The event's place in the engine's life, for [`Step::event_ref`].
    ordinal: u64,
    input: &'e Event,
    decisions: &'a mut Decisions<'t>,
}

/// Where the size limit stopped an event (the `cause` of its warning).
#[derive(Clone, Copy)]
enum Cause {
    /// The event's property changes were refused.
    Write,
    /// The merged person was past the limit.
    Merge,
}

/// Drops what a trim of `props` (of `size` bytes) drops, and names the dropped keys in `log`.
fn trim_props(
    props: &mut impl PropStore,
    size: usize,
    names: &Interner,
    values: &ValueStore,
    log: Option<&mut Vec<Box<str>>>,
) -> Trim {
    let trim = size::trim(props.entries(), size, names, values);
    for &key in &trim.dropped {
        props.take(key);
    }
    if let Some(log) = log {
        log.extend(trim.dropped.iter().map(|k| names.get(k.raw()).into()));
    }
    trim
}

/// After a refused write: a person that is itself past the limit (saved before the limit
/// existed, or rebuilt by an edit) is trimmed, as PostHog remediates such a row when an
/// update of it is refused. Returns the size that was refused and what the trim left.
fn after_refusal(
    size: usize,
    props: &mut impl PropStore,
    names: &Interner,
    values: &ValueStore,
    log: Option<&mut Vec<Box<str>>>,
) -> (usize, Option<Trim>) {
    let trim = size::over_limit(props.entries(), names, values)
        .map(|current| trim_props(props, current, names, values, log))
        .filter(|t| !t.dropped.is_empty());
    (size, trim)
}

impl Step<'_, '_, '_> {
    /// `$groupidentify`: the group's `$group_set`, shallow.
    fn upsert_group(&mut self, group_type: &str, group_key: &str) {
        let set = self
            .input
            .props
            .group_set
            .as_ref()
            .and_then(Value::as_object)
            .unwrap_or(&[]);
        let written = self
            .graph
            .groups_mut()
            .upsert(group_type, group_key, set, self.now);
        if written && self.record {
            self.outcome.changes.push(Change::GroupUpdated {
                group_type: group_type.into(),
                group_key: group_key.into(),
            });
        }
    }

    /// The ordinary path: get or create the person of `distinct_id` and apply the event's
    /// operations; with `identify`, the person also becomes identified.
    fn update(&mut self, distinct_id: &str, identify: bool) -> Result<(), EngineError> {
        let key = self.graph.intern(distinct_id)?;
        match self.graph.person_of(key) {
            Some(person) => self.update_person(person, key, identify),
            None => self.create(key, distinct_id, identify).map(|_| ()),
        }
    }

    /// Creates a person on the singleton `key` with the event's `$set_once` then `$set`.
    fn create(
        &mut self,
        key: IdKey,
        distinct_id: &str,
        identified: bool,
    ) -> Result<PersonKey, EngineError> {
        let uuid = self
            .decisions
            .person_uuid(self.graph.project(), distinct_id);
        let new = NewPerson {
            uuid,
            created_at: self.now,
            version: 0,
            is_identified: identified,
        };
        let (ops, keys, values) = (self.ops, &mut self.keys, &mut *self.values);
        let decisions = &mut *self.decisions;
        let refused = ops.creation_over_limit();
        let slot = self.graph.create_person(key, new, |props| match refused {
            Some(_) => Ok(()),
            None => ops.create(props, keys, values, key, decisions),
        })?;
        if let Some(size) = refused {
            self.size_warning(Cause::Write, size, None);
        }
        self.outcome.person = Some(uuid);
        if self.record {
            self.outcome.changes.push(Change::PersonCreated {
                person: uuid,
                distinct_id: distinct_id.into(),
            });
            if identified {
                self.outcome
                    .changes
                    .push(Change::Identified { person: uuid });
            }
        }
        Ok(slot)
    }

    /// Applies the event's operations, on behalf of `writer`, to an existing person; one
    /// write (version + 1) when anything changed.
    fn update_person(
        &mut self,
        person: PersonKey,
        writer: IdKey,
        identify: bool,
    ) -> Result<(), EngineError> {
        let mut log = self.record.then(PropertyChanges::default);
        let record = self.record;
        let filter_churn = self.filter_churn;
        let (ops, keys, values) = (self.ops, &mut self.keys, &mut *self.values);
        let decisions = &mut *self.decisions;
        let (newly_identified, uuid, refused) =
            self.graph.with_person_props(person, |state, props| {
                let applied = ops.apply(
                    props,
                    keys,
                    values,
                    writer,
                    filter_churn,
                    log.as_mut(),
                    decisions,
                )?;
                let refused = match applied {
                    Applied::Refused { size } => {
                        let unset = log.as_mut().map(|l| &mut l.unset);
                        Some(after_refusal(size, props, keys.names, values, unset))
                    }
                    Applied::Unchanged | Applied::Written => None,
                };
                let changed = applied == Applied::Written
                    || refused.as_ref().is_some_and(|(_, trim)| trim.is_some());
                let newly_identified = identify && !state.is_identified;
                state.is_identified |= identify;
                if changed || newly_identified {
                    state.version = state.version.saturating_add(1);
                }
                if !changed {
                    log = None;
                }
                Ok::<_, EngineError>((newly_identified, state.uuid, refused))
            })?;
        if let Some((size, trim)) = refused {
            self.size_warning(Cause::Write, size, trim.map(|t| t.size));
        }
        self.outcome.person = Some(uuid);
        if record {
            if newly_identified {
                self.outcome
                    .changes
                    .push(Change::Identified { person: uuid });
            }
            if let Some(changes) = log {
                self.outcome.changes.push(Change::PropertiesChanged {
                    person: uuid,
                    changes,
                });
            }
        }
        Ok(())
    }

    /// Raises `person_properties_size_violation`: `size` passed the limit, and a trim left
    /// `trimmed_to` when it dropped anything.
    fn size_warning(&mut self, cause: Cause, size: usize, trimmed_to: Option<usize>) {
        let cause = match cause {
            Cause::Write => "write",
            Cause::Merge => "merge",
        };
        let mut details = vec![("cause", cause.into()), ("size", size.to_string().into())];
        if let Some(trimmed_to) = trimmed_to {
            details.push(("trimmed_to", trimmed_to.to_string().into()));
        }
        let kind = WarningKind::PersonPropertiesSizeViolation;
        self.outcome
            .warnings
            .push(warning(self.input, kind, details));
    }

    /// Whether a person of `ids` distinct ids would pass the configured limit.
    fn over_limit(&self, ids: u32) -> bool {
        self.max_ids.is_some_and(|max| ids > max)
    }

    /// Records a refused merge, raises its warning, and processes the event on the target
    /// as PostHog does after a refusal: ops applied, and the target identified unless an
    /// illegal id stopped the merge before the identified flag was raised.
    fn refuse(
        &mut self,
        event: &Event,
        target: &str,
        source: &str,
        reason: RefusalReason,
    ) -> Result<(), EngineError> {
        let (kind, details) = match reason {
            RefusalReason::IllegalId => {
                let offender = if is_unmergeable_id(target) {
                    target
                } else {
                    source
                };
                let offender = if is_too_long(offender) {
                    offender.chars().take(MAX_ID_CHARS).collect()
                } else {
                    offender.into()
                };
                (
                    WarningKind::CannotMergeWithIllegalDistinctId,
                    vec![("illegal_id", offender)],
                )
            }
            RefusalReason::AlreadyIdentified => (
                WarningKind::CannotMergeAlreadyIdentified,
                vec![("source", source.into())],
            ),
            RefusalReason::MoveLimitExceeded => (
                WarningKind::MergeMoveLimitExceeded,
                vec![("source", source.into())],
            ),
        };
        self.outcome.warnings.push(warning(event, kind, details));
        self.update(target, reason != RefusalReason::IllegalId)?;
        // An over-long id is not kept even as evidence: it could never be merged, and the
        // capacity check counts on ids of at most 400 characters.
        if !is_too_long(source) {
            let (target_key, source_key) = (self.graph.intern(target)?, self.graph.intern(source)?);
            self.graph.add_refusal(Refusal {
                target: target_key,
                source: source_key,
                kind: link_kind(event.kind()),
                reason,
                event: self.event_ref(),
            });
        }
        Ok(())
    }

    /// Where a link or refusal of this event came from. Made only when one is kept: most
    /// events make neither, and parsing their uuid was 2% of applying them.
    fn event_ref(&self) -> EventRef {
        EventRef::of(self.input, self.ordinal, self.now)
    }

    fn add_link(
        &mut self,
        event: &Event,
        target: IdKey,
        source: IdKey,
        effect: LinkEffect,
        merge: Option<MergeRecord>,
    ) {
        let kind = link_kind(event.kind());
        self.graph.add_link(Link {
            target,
            source,
            kind,
            effect,
            event: self.event_ref(),
            merge,
        });
        self.outcome.merged = true;
    }

    /// The four merge cases (docs/behaviour.md §5), once the entry guards have passed.
    fn merge(
        &mut self,
        event: &Event,
        target: &str,
        source: &str,
        dangerous: bool,
    ) -> Result<(), EngineError> {
        let target_person = self.graph.person_of_id(target);
        let source_person = self.graph.person_of_id(source);
        match (target_person, source_person) {
            (Some(person), None) => {
                self.attach(event, source, person, target, LinkEffect::AttachedSource)
            }
            (None, Some(person)) => {
                self.attach(event, target, person, source, LinkEffect::AttachedTarget)
            }
            (Some(t), Some(s)) if t == s => {
                let writer = self.graph.intern(target)?;
                self.update_person(t, writer, true)
            }
            (Some(t), Some(s)) => {
                if !dangerous && self.graph.person(s).is_identified {
                    return self.refuse(event, target, source, RefusalReason::AlreadyIdentified);
                }
                if self.over_limit(
                    self.graph
                        .person(t)
                        .id_count()
                        .saturating_add(self.graph.person(s).id_count()),
                ) {
                    return self.refuse(event, target, source, RefusalReason::MoveLimitExceeded);
                }
                self.merge_persons(event, target, source, t, s)
            }
            (None, None) => {
                if self.over_limit(2) {
                    return self.refuse(event, target, source, RefusalReason::MoveLimitExceeded);
                }
                let target_key = self.graph.intern(target)?;
                let source_key = self.graph.intern(source)?;
                let person = self.create(target_key, target, true)?;
                self.graph.attach(source_key, person);
                self.add_link(event, target_key, source_key, LinkEffect::Created, None);
                if self.record {
                    let uuid = self.graph.person(person).uuid;
                    self.outcome.changes.push(Change::DistinctIdAttached {
                        person: uuid,
                        distinct_id: source.into(),
                    });
                }
                Ok(())
            }
        }
    }

    /// Case 1: the id without a person joins the one that has one. There is no identified
    /// check on this path (docs/behaviour.md §16, decision 1).
    fn attach(
        &mut self,
        event: &Event,
        distinct_id: &str,
        person: PersonKey,
        other: &str,
        effect: LinkEffect,
    ) -> Result<(), EngineError> {
        let (target, source) = (
            event.distinct_id(),
            if effect == LinkEffect::AttachedSource {
                distinct_id
            } else {
                other
            },
        );
        if self.over_limit(self.graph.person(person).id_count().saturating_add(1)) {
            return self.refuse(event, target, source, RefusalReason::MoveLimitExceeded);
        }
        let key = self.graph.intern(distinct_id)?;
        let other_key = self.graph.intern(other)?;
        self.graph.attach(key, person);
        let (target_key, source_key) = if effect == LinkEffect::AttachedSource {
            (other_key, key)
        } else {
            (key, other_key)
        };
        self.add_link(event, target_key, source_key, effect, None);
        if self.record {
            let uuid = self.graph.person(person).uuid;
            self.outcome.changes.push(Change::DistinctIdAttached {
                person: uuid,
                distinct_id: distinct_id.into(),
            });
        }
        self.update_person(person, target_key, true)
    }

    /// Case 3: the target survives with the source's ids, the earlier `created_at`, the
    /// source's properties overlaid by its own, then the event's operations applied once
    /// (docs/behaviour.md §16, decision 13).
    fn merge_persons(
        &mut self,
        event: &Event,
        target: &str,
        source: &str,
        target_person: PersonKey,
        source_person: PersonKey,
    ) -> Result<(), EngineError> {
        let (target_key, source_key) = (self.graph.intern(target)?, self.graph.intern(source)?);
        let (merged, record) = self.graph.merge_persons(target_person, source_person);
        let mut log = self.record.then(PropertyChanges::default);
        // The keys trimmed from the merged person, and after a refused write, apart from the
        // event's changes: a key may be trimmed and then set again by the event.
        let mut trimmed = self.record.then(PropertyChanges::default);
        let mut trimmed_after = self.record.then(PropertyChanges::default);
        let (ops, keys, values) = (self.ops, &mut self.keys, &mut *self.values);
        let decisions = &mut *self.decisions;
        let (newly_identified, uuid, merge_trim, refused) =
            self.graph
                .with_person_props(target_person, |survivor, props| {
                    survivor.created_at = survivor.created_at.min(merged.created_at);
                    survivor.version = survivor.version.max(merged.version).saturating_add(1);
                    let newly_identified = !survivor.is_identified;
                    survivor.is_identified = true;
                    let merge_trim =
                        size::over_limit(props.entries(), keys.names, values).map(|size| {
                            let unset = trimmed.as_mut().map(|l| &mut l.unset);
                            (size, trim_props(props, size, keys.names, values, unset))
                        });
                    let applied = ops.apply(
                        props,
                        keys,
                        values,
                        target_key,
                        false,
                        log.as_mut(),
                        decisions,
                    )?;
                    let refused = match applied {
                        Applied::Refused { size } => {
                            let unset = trimmed_after.as_mut().map(|l| &mut l.unset);
                            Some(after_refusal(size, props, keys.names, values, unset))
                        }
                        Applied::Unchanged | Applied::Written => None,
                    };
                    Ok::<_, EngineError>((newly_identified, survivor.uuid, merge_trim, refused))
                })?;
        if let Some((size, trim)) = merge_trim {
            let left = (!trim.dropped.is_empty()).then_some(trim.size);
            self.size_warning(Cause::Merge, size, left);
        }
        if let Some((size, trim)) = refused {
            self.size_warning(Cause::Write, size, trim.map(|t| t.size));
        }
        self.add_link(event, target_key, source_key, LinkEffect::Merged, record);
        self.outcome.person = Some(uuid);
        if self.record {
            self.outcome.changes.push(Change::PersonsMerged {
                survivor: uuid,
                merged: merged.uuid,
            });
            if newly_identified {
                self.outcome
                    .changes
                    .push(Change::Identified { person: uuid });
            }
            for changes in [trimmed, log, trimmed_after]
                .into_iter()
                .flatten()
                .filter(|c| !c.set.is_empty() || !c.unset.is_empty())
            {
                self.outcome.changes.push(Change::PropertiesChanged {
                    person: uuid,
                    changes,
                });
            }
        }
        Ok(())
    }
}

fn link_kind(kind: EventKind) -> LinkKind {
    match kind {
        EventKind::CreateAlias => LinkKind::Alias,
        EventKind::MergeDangerously => LinkKind::MergeDangerously,
        _ => LinkKind::Identify,
    }
}
