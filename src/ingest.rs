//! Applying one event: validation, personless mode, the merge entry and its guards, the four
//! merge cases, and property updates (SEMANTICS.md sections 3 to 10 and 12).
//!
//! Decisions are taken here, against the current state, before anything is changed; the
//! graph mechanism in `engine.rs` and `graph.rs` never re-checks policy.

use crate::engine::{Engine, Person, ProjectGraph};
use crate::error::EngineError;
use crate::event::{Event, EventKind, Project, Timestamp};
use crate::id::{IdKey, PersonKey};
use crate::links::{EventRef, Link, LinkEffect, LinkKind, MergeRecord, Refusal, RefusalReason};
use crate::outcome::{Change, Outcome, Warning, WarningKind};
use crate::prop_arena::{InArena, PropRange};
use crate::props::{KeyTable, Ops, PropertyChanges, Props, resolve_fixed_keys};
use crate::rules::{MAX_ID_CHARS, is_too_long, is_unmergeable_id};
use crate::value::Value;

/// How an event asks to merge, once its entry conditions hold.
struct MergeRequest<'e> {
    source: std::borrow::Cow<'e, str>,
    dangerous: bool,
}

impl Engine {
    /// Applies one event.
    ///
    /// # Errors
    ///
    /// Only [`EngineError::CapacityExceeded`], when a project's ids or the property key
    /// names pass what `u32` keys can number; the event then changed nothing. Bad events are
    /// not errors: they come back as warnings in the [`Outcome`].
    pub fn apply(&mut self, event: &Event) -> Result<Outcome, EngineError> {
        let mut outcome = Outcome::default();
        self.apply_into(event, &mut outcome)?;
        Ok(outcome)
    }

    /// Applies one event, writing what happened into `outcome` (cleared first), so that a
    /// loop can reuse one outcome's allocations.
    ///
    /// # Errors
    ///
    /// As [`Engine::apply`].
    pub fn apply_into(&mut self, event: &Event, outcome: &mut Outcome) -> Result<(), EngineError> {
        outcome.clear();
        self.check_capacity(event)?;
        // Counters and versions come back from snapshots as they were saved, so they
        // saturate rather than overflow.
        self.counters.events = self.counters.events.saturating_add(1);
        let result = self.apply_checked(event, outcome);
        if self.values.wants_collection() {
            self.collect_values();
        }
        self.counters.merges = self
            .counters
            .merges
            .saturating_add(u64::from(outcome.merged));
        for warning in &outcome.warnings {
            if let Some(i) = WarningKind::ALL.iter().position(|k| *k == warning.kind) {
                self.counters.warnings[i] = self.counters.warnings[i].saturating_add(1);
            }
        }
        result
    }

    /// Refuses, before anything changes, an event whose ids or property keys could not be
    /// numbered, so that a capacity error never leaves an event half applied.
    fn check_capacity(&self, event: &Event) -> Result<(), EngineError> {
        const LIMIT: usize = (u32::MAX - 1) as usize;
        let (ids, id_bytes) = self
            .graph(event.project())
            .map_or((0, 0), |g| (g.ids.len(), g.ids.parts().0.len()));
        let (keys, key_bytes) = (self.prop_keys.len(), self.prop_keys.parts().0.len());
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
            return Err(full(crate::id::PropKey::WHAT));
        }
        Ok(())
    }

    fn apply_checked(&mut self, event: &Event, outcome: &mut Outcome) -> Result<(), EngineError> {
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
        let filter_churn = self.config.filter_churn && !kind.is_person_event();
        resolve_fixed_keys(&mut self.prop_keys, &mut self.fixed_keys)?;
        let index = self.graph_index(event.project());
        let mut step = Step {
            graph: &mut self.projects[index],
            keys: KeyTable {
                names: &mut self.prop_keys,
                fixed: &self.fixed_keys,
            },
            values: &mut self.values,
            outcome,
            record: self.config.record_changes,
            now,
            ops: &ops,
            filter_churn,
            max_ids: self.config.max_ids_per_person,
            event: EventRef::of(event, self.counters.events, now),
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
            let set = event
                .props
                .group_set
                .as_ref()
                .and_then(Value::as_object)
                .unwrap_or(&[]);
            if step.graph.groups.upsert(&group_type, &group_key, set, now) && step.record {
                let (group_type, group_key) = (group_type.into(), group_key.into());
                step.outcome.changes.push(Change::GroupUpdated {
                    group_type,
                    group_key,
                });
            }
        }
        // Only this project's persons changed, so only its arena can have become sparse.
        self.projects[index].compact_props_if_sparse();
        Ok(())
    }

    /// Personless mode: no person is created or changed. The id is recorded as personless
    /// unless it already has a person, to which the event is then attributed.
    fn apply_personless(
        &mut self,
        event: &Event,
        outcome: &mut Outcome,
    ) -> Result<(), EngineError> {
        let index = self.graph_index(event.project());
        let graph = &mut self.projects[index];
        if let Some(person) = graph.person_of_id(event.distinct_id()) {
            outcome.person = Some(graph.person(person).uuid);
            return Ok(());
        }
        let key = graph.intern(event.distinct_id())?;
        if !graph.personless[key.index()] {
            graph.personless[key.index()] = true;
            if self.config.record_changes {
                outcome.changes.push(Change::PersonlessRecorded {
                    distinct_id: event.distinct_id().into(),
                });
            }
        }
        Ok(())
    }

    fn graph_index(&mut self, project: &Project) -> usize {
        if let Some(i) = self.project_slot(project) {
            return i;
        }
        self.projects.push(ProjectGraph::new(project.clone()));
        let i = self.projects.len() - 1;
        // Projects are few; a project count past u32 is not a real case.
        self.project_index
            .insert(project.clone(), u32::try_from(i).unwrap_or(u32::MAX));
        i
    }
}

/// The merge an event asks for, if its entry conditions hold (SEMANTICS.md section 3):
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
struct Step<'a, 'e> {
    graph: &'a mut ProjectGraph,
    keys: KeyTable<'a>,
    values: &'a mut crate::values::ValueStore,
    outcome: &'a mut Outcome,
    record: bool,
    now: Timestamp,
    ops: &'a Ops<'e>,
    filter_churn: bool,
    max_ids: Option<u32>,
    event: EventRef,
}

impl Step<'_, '_> {
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
        let mut props = PropRange::default();
        let created = self.ops.create(
            &mut InArena {
                arena: &mut self.graph.props,
                at: &mut props,
            },
            &mut self.keys,
            self.values,
            key,
        );
        let uuid = self.graph.person_uuid(distinct_id);
        let person = Person {
            uuid,
            created_at: self.now,
            version: 0,
            is_identified: identified,
            props,
            anchor: key,
            ids: 1,
        };
        let slot = match created.and_then(|()| self.graph.add_person(key, person)) {
            Ok(slot) => slot,
            Err(error) => {
                self.graph.props.clear(&mut props);
                return Err(error);
            }
        };
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
        let (state, arena) = self.graph.person_and_props(person);
        let changed = self.ops.apply(
            &mut InArena {
                arena,
                at: &mut state.props,
            },
            &mut self.keys,
            self.values,
            writer,
            filter_churn,
            log.as_mut(),
        )?;
        let newly_identified = identify && !state.is_identified;
        state.is_identified |= identify;
        if changed || newly_identified {
            state.version = state.version.saturating_add(1);
        }
        let uuid = state.uuid;
        self.outcome.person = Some(uuid);
        if record {
            if newly_identified {
                self.outcome
                    .changes
                    .push(Change::Identified { person: uuid });
            }
            if let Some(changes) = log.filter(|_| changed) {
                self.outcome.changes.push(Change::PropertiesChanged {
                    person: uuid,
                    changes,
                });
            }
        }
        Ok(())
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
            self.graph.links.refusals.push(Refusal {
                target: target_key,
                source: source_key,
                kind: link_kind(event.kind()),
                reason,
                event: self.event,
            });
        }
        Ok(())
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
        crate::id::reserve_gently(&mut self.graph.links.links);
        self.graph.links.links.push(Link {
            target,
            source,
            kind,
            effect,
            event: self.event,
            merge,
        });
        self.outcome.merged = true;
    }

    /// The four merge cases (SEMANTICS.md section 5), once the entry guards have passed.
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
                        .ids
                        .saturating_add(self.graph.person(s).ids),
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
    /// check on this path (SEMANTICS.md decision 1).
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
        if self.over_limit(self.graph.person(person).ids.saturating_add(1)) {
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
    /// (SEMANTICS.md decision 13).
    fn merge_persons(
        &mut self,
        event: &Event,
        target: &str,
        source: &str,
        target_person: PersonKey,
        source_person: PersonKey,
    ) -> Result<(), EngineError> {
        let (target_key, source_key) = (self.graph.intern(target)?, self.graph.intern(source)?);
        let mut merged = self.graph.absorb(target_person, source_person);
        let graph = &mut *self.graph;
        let survivor_props = graph.person(target_person).props;
        let (target_run, source_run) = (
            graph.links.records.push(graph.props.get(survivor_props)),
            graph.links.records.push(graph.props.get(merged.props)),
        );
        let props = Props::overlay(
            graph.props.get(merged.props),
            graph.props.get(survivor_props),
        );
        graph.props.clear(&mut merged.props);
        let (survivor, arena) = graph.person_and_props(target_person);
        arena.set(&mut survivor.props, props.entries());
        let record = MergeRecord {
            target_props: target_run,
            source_props: source_run,
            target_created_at: survivor.created_at,
            source_created_at: merged.created_at,
        };
        survivor.created_at = survivor.created_at.min(merged.created_at);
        survivor.version = survivor.version.max(merged.version).saturating_add(1);
        let newly_identified = !survivor.is_identified;
        survivor.is_identified = true;
        let uuid = survivor.uuid;
        let mut log = self.record.then(PropertyChanges::default);
        self.ops.apply(
            &mut InArena {
                arena,
                at: &mut survivor.props,
            },
            &mut self.keys,
            self.values,
            target_key,
            false,
            log.as_mut(),
        )?;
        self.add_link(
            event,
            target_key,
            source_key,
            LinkEffect::Merged,
            Some(record),
        );
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
            if let Some(changes) = log.filter(|c| !c.set.is_empty() || !c.unset.is_empty()) {
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
