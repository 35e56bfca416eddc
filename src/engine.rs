//! The engine: per-project graphs, configuration and read queries. Applying events is in
//! `ingest.rs`.

use hashbrown::HashMap;
use uuid::Uuid;

use crate::event::{Project, Timestamp};
use crate::graph::Forest;
use crate::groups::Groups;
use crate::id::{IdKey, Interner, PersonKey, PropKey, reserve_gently};
use crate::links::LinkStore;
use crate::outcome::WarningKind;
use crate::prop_arena::{PropArena, PropRange};
use crate::props::Prop;
use crate::value::Value;
use crate::values::ValueStore;

/// Marks "no person" in `ProjectGraph::person_at`.
pub(crate) const NO_PERSON: u32 = u32::MAX;

/// PostHog's namespace for person uuids (`person-uuid.ts`).
const PERSON_UUID_NAMESPACE: Uuid = Uuid::from_u128(0x9329_79b4_65c3_4424_8467_0b66_ec27_bc22);

/// Options of an [`Engine`]. Every default is PostHog's behaviour.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub(crate) lift_properties: bool,
    pub(crate) filter_churn: bool,
    pub(crate) record_changes: bool,
    pub(crate) max_ids_per_person: Option<u32>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            lift_properties: true,
            filter_churn: true,
            record_changes: true,
            max_ids_per_person: None,
        }
    }
}

/// Builds an [`Engine`] with options.
///
/// ```
/// let engine = idgraph::Engine::builder().lift_properties(false).build();
/// assert_eq!(engine.persons().count(), 0);
/// ```
#[derive(Clone, Debug, Default)]
pub struct EngineBuilder {
    config: Config,
}

impl EngineBuilder {
    /// Whether event properties such as `$browser` and `utm_source` are lifted into `$set`,
    /// and into `$set_once` as `$initial_` keys (SEMANTICS.md section 3). Default: on.
    pub fn lift_properties(&mut self, on: bool) -> &mut Self {
        self.config.lift_properties = on;
        self
    }

    /// Whether ordinary events that only change churning keys (`$current_url`, `$browser`,
    /// ...) of existing properties are not written (SEMANTICS.md 7.4). Default: on.
    pub fn filter_churn(&mut self, on: bool) -> &mut Self {
        self.config.filter_churn = on;
        self
    }

    /// Whether [`Outcome::changes`](crate::Outcome::changes) is filled. Default: on; turn it
    /// off for bulk ingestion that nobody follows.
    pub fn record_changes(&mut self, on: bool) -> &mut Self {
        self.config.record_changes = on;
        self
    }

    /// A guard against mega-persons: a merge that would leave a person with more than `max`
    /// distinct ids is refused with warning `merge_move_limit_exceeded` (and kept as a
    /// refused link that `explain` shows). Default: no limit, as in PostHog's default mode.
    pub fn max_distinct_ids_per_person(&mut self, max: Option<u32>) -> &mut Self {
        self.config.max_ids_per_person = max;
        self
    }

    /// The engine.
    #[must_use]
    pub fn build(&self) -> Engine {
        Engine {
            config: self.config.clone(),
            ..Engine::default()
        }
    }
}

/// A person's state.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Person {
    pub(crate) uuid: Uuid,
    pub(crate) created_at: Timestamp,
    pub(crate) version: u64,
    pub(crate) is_identified: bool,
    /// The person's properties, in the project's [`ProjectGraph::props`].
    pub(crate) props: PropRange,
    /// The id the person was born on; listing the person's ids starts here, and undoing a
    /// link keeps the uuid with the part that holds it.
    pub(crate) anchor: IdKey,
    /// How many distinct ids the person holds.
    pub(crate) ids: u32,
}

/// The identity graph of one project.
#[derive(Clone, Default)]
pub(crate) struct ProjectGraph {
    pub(crate) project: Project,
    pub(crate) ids: Interner,
    pub(crate) forest: Forest,
    /// The person of each root; [`NO_PERSON`] for non-roots and personless ids.
    pub(crate) person_at: Vec<u32>,
    /// Whether an id was seen in personless mode.
    pub(crate) personless: Vec<bool>,
    pub(crate) persons: Vec<Option<Person>>,
    pub(crate) free_persons: Vec<u32>,
    /// Every person's properties.
    pub(crate) props: PropArena,
    pub(crate) groups: Groups,
    pub(crate) links: LinkStore,
}

impl ProjectGraph {
    pub(crate) fn new(project: Project) -> ProjectGraph {
        ProjectGraph {
            project,
            ..ProjectGraph::default()
        }
    }

    pub(crate) fn key_of(&self, distinct_id: &str) -> Option<IdKey> {
        self.ids.lookup(distinct_id).map(IdKey::from_raw)
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

    pub(crate) fn person_mut(&mut self, key: PersonKey) -> &mut Person {
        match &mut self.persons[key.index()] {
            Some(person) => person,
            None => unreachable!("person keys in the graph always name live persons"),
        }
    }

    /// The key of `distinct_id`, adding it as a singleton without a person if new.
    pub(crate) fn intern(&mut self, distinct_id: &str) -> Result<IdKey, crate::EngineError> {
        let raw = self.ids.intern(distinct_id, IdKey::WHAT)?;
        let key = IdKey::from_raw(raw);
        if key.index() == self.forest.len() {
            self.forest.push(key);
            reserve_gently(&mut self.person_at);
            reserve_gently(&mut self.personless);
            self.person_at.push(NO_PERSON);
            self.personless.push(false);
        }
        Ok(key)
    }

    /// The uuid PostHog derives for a person born on `distinct_id`.
    pub(crate) fn person_uuid(&self, distinct_id: &str) -> Uuid {
        let name = format!("{}:{distinct_id}", self.project.uuid_scope());
        Uuid::new_v5(&PERSON_UUID_NAMESPACE, name.as_bytes())
    }

    /// Stores a new person on the singleton `key`.
    pub(crate) fn add_person(
        &mut self,
        key: IdKey,
        person: Person,
    ) -> Result<PersonKey, crate::EngineError> {
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
        self.person_at[root.index()] = slot.raw();
        Ok(slot)
    }

    /// Joins the set of `key` (which has no person) into the set of `person`.
    pub(crate) fn attach(&mut self, key: IdKey, person: PersonKey) {
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

    /// Moves every id of `source` to `target` and frees `source`'s slot.
    pub(crate) fn absorb(&mut self, target: PersonKey, source: PersonKey) -> Person {
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
        let Some(merged) = self.persons[source.index()].take() else {
            unreachable!("merge sources are live persons")
        };
        let state = self.person_mut(target);
        state.ids = state.ids.saturating_add(merged.ids);
        merged
    }

    /// The properties of `person`, sorted by key.
    pub(crate) fn props_of(&self, person: &Person) -> &[Prop] {
        self.props.get(person.props)
    }

    /// The person at `key` and its properties, to change both.
    pub(crate) fn person_and_props(&mut self, key: PersonKey) -> (&mut Person, &mut PropArena) {
        match &mut self.persons[key.index()] {
            Some(person) => (person, &mut self.props),
            None => unreachable!("person keys in the graph always name live persons"),
        }
    }

    /// Empties the slot of `key` and gives its properties' block back; the caller frees
    /// the slot or reuses it.
    pub(crate) fn remove_person(&mut self, key: PersonKey) {
        if let Some(mut person) = self.persons[key.index()].take() {
            self.props.clear(&mut person.props);
        }
    }

    /// Packs the property arena when it is mostly free blocks.
    pub(crate) fn compact_props_if_sparse(&mut self) {
        if self.props.is_sparse() {
            self.props
                .compact(self.persons.iter_mut().flatten().map(|p| &mut p.props));
        }
    }

    pub(crate) fn distinct_ids(&self, person: PersonKey) -> impl Iterator<Item = &str> {
        self.forest
            .members(self.person(person).anchor)
            .map(|k| self.ids.get(k.raw()))
    }
}

impl Project {
    /// The team part of PostHog's person uuid name `"<team>:<distinct_id>"`: the team id,
    /// the token, or `0` for the default project.
    pub(crate) fn uuid_scope(&self) -> String {
        match self {
            Project::Default => "0".to_owned(),
            Project::Team(id) => id.to_string(),
            Project::Token(token) => token.to_string(),
        }
    }
}

/// Counters kept across the engine's life (and its snapshots).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Events applied.
    pub events: u64,
    /// Merges executed: persons merged, or ids attached by a merge event.
    pub merges: u64,
    /// Warnings raised, by kind, in the order of [`WarningKind::ALL`].
    pub warnings: [u64; WarningKind::ALL.len()],
}

impl Counters {
    /// The count of one warning kind.
    #[must_use]
    pub fn warnings_of(&self, kind: WarningKind) -> u64 {
        WarningKind::ALL
            .iter()
            .position(|k| *k == kind)
            .map_or(0, |i| self.warnings[i])
    }
}

/// An in-process identity graph: ingests events, resolves distinct ids to persons.
///
/// `Engine` is `Send + Sync`; queries take `&self`, applying events `&mut self`.
///
/// ```
/// use idgraph::{Engine, Event, Project};
///
/// let mut engine = Engine::new();
/// engine.apply(&Event::new("$pageview", "anon_1"))?;
/// let outcome = engine.apply(&Event::new("$identify", "user_1").with_property("$anon_distinct_id", "anon_1"))?;
/// assert!(outcome.merged);
/// let person = engine.resolve(&Project::Default, "anon_1").expect("anon_1 has a person");
/// assert!(person.is_identified());
/// assert_eq!(person.distinct_ids().collect::<Vec<_>>(), ["anon_1", "user_1"]);
/// # Ok::<(), idgraph::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct Engine {
    pub(crate) config: Config,
    /// Property key names, shared by every project.
    pub(crate) prop_keys: Interner,
    /// Property values, shared by every project.
    pub(crate) values: ValueStore,
    /// The `PropKey` of each name lifting writes (`props::FIXED_KEYS`), resolved on the first
    /// event so that lifted operations need no hashing; not part of snapshots.
    pub(crate) fixed_keys: Vec<PropKey>,
    pub(crate) projects: Vec<ProjectGraph>,
    pub(crate) project_index: HashMap<Project, u32>,
    pub(crate) counters: Counters,
}

// The engine is shared across threads behind a lock by services; keep it `Send + Sync`.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Engine>();
};

impl Engine {
    /// An engine with PostHog's default behaviour.
    #[must_use]
    pub fn new() -> Engine {
        Engine::default()
    }

    /// A builder for an engine with options.
    #[must_use]
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    /// The engine's options.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Counters of events, merges and warnings.
    #[must_use]
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    pub(crate) fn graph(&self, project: &Project) -> Option<&ProjectGraph> {
        self.project_slot(project).map(|i| &self.projects[i])
    }

    /// The position of a project's graph. Most engines serve one project, so the first is
    /// compared before the table is hashed.
    pub(crate) fn project_slot(&self, project: &Project) -> Option<usize> {
        match self.projects.first() {
            Some(first) if first.project == *project => Some(0),
            _ => self.project_index.get(project).map(|&i| i as usize),
        }
    }

    /// The person of a distinct id, if it has one.
    #[must_use]
    pub fn resolve(&self, project: &Project, distinct_id: &str) -> Option<PersonRef<'_>> {
        let graph = self.graph(project)?;
        let key = graph.person_of_id(distinct_id)?;
        Some(PersonRef {
            engine: self,
            graph,
            key,
        })
    }

    /// Every person of every project, projects in the order they were first seen.
    pub fn persons(&self) -> impl Iterator<Item = PersonRef<'_>> {
        self.projects.iter().flat_map(move |graph| {
            graph
                .persons
                .iter()
                .enumerate()
                .filter(|(_, p)| p.is_some())
                .map(move |(i, _)| PersonRef {
                    engine: self,
                    graph,
                    key: PersonKey::from_raw(u32::try_from(i).unwrap_or(u32::MAX)),
                })
        })
    }

    /// Distinct ids seen only in personless mode that still have no person.
    pub fn personless_distinct_ids(&self) -> impl Iterator<Item = (&Project, &str)> {
        self.projects.iter().flat_map(|graph| {
            graph
                .personless
                .iter()
                .enumerate()
                .filter_map(move |(i, &seen)| {
                    let key = IdKey::from_raw(u32::try_from(i).ok()?);
                    (seen && graph.person_of(key).is_none())
                        .then(|| (&graph.project, graph.ids.get(key.raw())))
                })
        })
    }

    /// Every group of every project.
    pub fn groups(&self) -> impl Iterator<Item = GroupRef<'_>> {
        self.projects.iter().flat_map(|graph| {
            graph
                .groups
                .groups
                .iter()
                .map(move |((index, key), group)| GroupRef {
                    project: &graph.project,
                    group_type: &graph.groups.types[usize::from(*index)],
                    group_type_index: *index,
                    group_key: key,
                    group,
                })
        })
    }

    /// Frees stored values that no person and no merge record refers to any more.
    pub(crate) fn collect_values(&mut self) {
        let mut reachable = vec![false; self.values.slots()];
        let mut mark = |props: &[Prop]| {
            for prop in props {
                reachable[prop.value.index()] = true;
            }
        };
        for graph in &self.projects {
            for person in graph.persons.iter().flatten() {
                mark(graph.props_of(person));
            }
            for record in graph.links.links.iter().filter_map(|l| l.merge.as_ref()) {
                mark(graph.links.records.get(record.target_props));
                mark(graph.links.records.get(record.source_props));
            }
        }
        self.values.collect(&reachable);
    }

    /// Numbers of persons, distinct ids with a person, and personless ids.
    #[must_use]
    pub fn stats(&self) -> Stats {
        let mut stats = Stats::default();
        for graph in &self.projects {
            stats.projects += 1;
            stats.persons += graph.persons.len() - graph.free_persons.len();
            stats.distinct_ids += graph
                .persons
                .iter()
                .flatten()
                .map(|p| p.ids as usize)
                .sum::<usize>();
            stats.groups += graph.groups.groups.len();
        }
        stats.personless_distinct_ids = self.personless_distinct_ids().count();
        stats
    }
}

/// Sizes of an engine's graph.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Projects seen.
    pub projects: usize,
    /// Persons.
    pub persons: usize,
    /// Distinct ids that belong to a person.
    pub distinct_ids: usize,
    /// Distinct ids seen only in personless mode.
    pub personless_distinct_ids: usize,
    /// Groups.
    pub groups: usize,
}

/// A read-only view of one person.
#[derive(Clone, Copy)]
pub struct PersonRef<'e> {
    engine: &'e Engine,
    graph: &'e ProjectGraph,
    key: PersonKey,
}

impl<'e> PersonRef<'e> {
    fn person(&self) -> &'e Person {
        self.graph.person(self.key)
    }

    /// The project the person belongs to.
    #[must_use]
    pub fn project(&self) -> &'e Project {
        &self.graph.project
    }

    /// The person's uuid.
    #[must_use]
    pub fn uuid(&self) -> Uuid {
        self.person().uuid
    }

    /// Whether an identify, alias or merge has named the person.
    #[must_use]
    pub fn is_identified(&self) -> bool {
        self.person().is_identified
    }

    /// When the person (or the oldest person merged into it) was created.
    #[must_use]
    pub fn created_at(&self) -> Timestamp {
        self.person().created_at
    }

    /// PostHog's row version: 0 at creation, +1 per write, `max + 1` on merge.
    #[must_use]
    pub fn version(&self) -> u64 {
        self.person().version
    }

    /// The person's distinct ids, in no particular order (use [`Self::sorted_distinct_ids`]
    /// for a stable one).
    pub fn distinct_ids(&self) -> impl Iterator<Item = &'e str> + use<'e> {
        self.graph.distinct_ids(self.key)
    }

    /// The person's distinct ids, sorted.
    #[must_use]
    pub fn sorted_distinct_ids(&self) -> Vec<&'e str> {
        let mut ids: Vec<&str> = self.distinct_ids().collect();
        ids.sort_unstable();
        ids
    }

    /// The person's properties, in no particular order.
    pub fn properties(&self) -> impl ExactSizeIterator<Item = (&'e str, &'e Value)> + use<'e> {
        let (keys, values) = (&self.engine.prop_keys, &self.engine.values);
        self.graph
            .props_of(self.person())
            .iter()
            .map(move |p| (keys.get(p.key.raw()), values.get(p.value)))
    }

    /// One property.
    #[must_use]
    pub fn property(&self, key: &str) -> Option<&'e Value> {
        let key = PropKey::from_raw(self.engine.prop_keys.lookup(key)?);
        self.graph
            .props
            .value(self.person().props, key)
            .map(|v| self.engine.values.get(v))
    }
}

impl std::fmt::Debug for PersonRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Person")
            .field("uuid", &self.uuid())
            .field("distinct_ids", &self.sorted_distinct_ids())
            .field("is_identified", &self.is_identified())
            .field("properties", &self.properties().collect::<Vec<_>>())
            .finish()
    }
}

/// A read-only view of one group.
#[derive(Clone, Copy, Debug)]
pub struct GroupRef<'e> {
    project: &'e Project,
    group_type: &'e str,
    group_type_index: u8,
    group_key: &'e str,
    group: &'e crate::groups::Group,
}

impl<'e> GroupRef<'e> {
    /// The project.
    #[must_use]
    pub fn project(&self) -> &'e Project {
        self.project
    }

    /// The group type name, e.g. `company`.
    #[must_use]
    pub fn group_type(&self) -> &'e str {
        self.group_type
    }

    /// The group type's index (0 to 4).
    #[must_use]
    pub fn group_type_index(&self) -> u8 {
        self.group_type_index
    }

    /// The group key.
    #[must_use]
    pub fn group_key(&self) -> &'e str {
        self.group_key
    }

    /// The group's properties, sorted by key.
    pub fn properties(&self) -> impl ExactSizeIterator<Item = (&'e str, &'e Value)> + use<'e> {
        self.group.props.iter().map(|(k, v)| (&**k, v))
    }

    /// When the group was first seen.
    #[must_use]
    pub fn created_at(&self) -> Timestamp {
        self.group.created_at
    }
}
