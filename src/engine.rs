//! The façade: `Engine` and its builder, every public operation on it, and the read views
//! of persons and groups. Each operation hands the work to the part that does it: PostHog's
//! policy (`posthog/`), the graph (`graph/`), or input and output (`dump.rs`, `explain.rs`,
//! `snapshot/`).

use std::io::{Read, Write};
use std::path::Path;

use uuid::Uuid;

use crate::error::{EditError, EngineError, SnapshotError};
use crate::event::{Event, Project, Timestamp, Value};
use crate::graph::{Group, Interner, PersonKey, ProjectGraph, Projects, PropKey, ValueStore};
use crate::posthog::{self, Applier, Config, Decisions, Outcome, Unlinked, WarningKind};
use crate::snapshot::{self, Snapshot};

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
    /// and into `$set_once` as `$initial_` keys (docs/behaviour.md §3). Default: on.
    pub fn lift_properties(&mut self, on: bool) -> &mut Self {
        self.config.lift_properties = on;
        self
    }

    /// Whether ordinary events that only change churning keys (`$current_url`, `$browser`,
    /// ...) of existing properties are not written (docs/behaviour.md §7.4). Default: on.
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

/// See [`Engine::revision`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Revision {
    key_names: usize,
    values: u64,
    projects: usize,
    graph: u64,
}

/// Counters kept across the engine's life (and its snapshots).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Events applied.
    pub events: u64,
    /// Merges executed: persons merged, or ids attached by a merge event.
    pub merges: u64,
    /// Warnings raised, by kind; kinds never raised are absent. Snapshots store them by
    /// PostHog's name, so a new kind of warning changes neither this API nor old files.
    warnings: Vec<(WarningKind, u64)>,
}

impl Counters {
    /// The count of one warning kind.
    #[must_use]
    pub fn warnings_of(&self, kind: WarningKind) -> u64 {
        self.warnings
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or(0, |&(_, n)| n)
    }

    /// Every warning kind raised, with its count, in the order of [`WarningKind::ALL`].
    pub fn warnings(&self) -> impl Iterator<Item = (WarningKind, u64)> + '_ {
        self.warnings.iter().copied()
    }

    /// Counters as a snapshot stored them.
    pub(crate) fn stored(
        events: u64,
        merges: u64,
        warnings: impl IntoIterator<Item = (WarningKind, u64)>,
    ) -> Counters {
        let mut counters = Counters {
            events,
            merges,
            warnings: Vec::new(),
        };
        for (kind, n) in warnings {
            counters.count_warning(kind, n);
        }
        counters
    }

    /// Adds `n` warnings of `kind` (saturating: counts come back from snapshots as they
    /// were saved).
    pub(crate) fn count_warning(&mut self, kind: WarningKind, n: u64) {
        // A kind never raised is absent, so that equal counters compare equal.
        if n == 0 {
            return;
        }
        match self.warnings.binary_search_by_key(&kind, |&(k, _)| k) {
            Ok(i) => self.warnings[i].1 = self.warnings[i].1.saturating_add(n),
            Err(i) => self.warnings.insert(i, (kind, n)),
        }
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
    /// The `PropKey` of each name lifting writes (`posthog::FIXED_KEYS`), resolved on the
    /// first event so that lifted operations need no hashing; not part of snapshots.
    pub(crate) fixed_keys: Vec<PropKey>,
    pub(crate) projects: Projects,
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

    // Applying events (PostHog's rules: `posthog/apply.rs`).

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
        self.apply_deciding(event, outcome, &mut Decisions::Make)
    }

    /// [`Engine::apply_into`], with the update of a person's properties decided as
    /// `decisions` says: a shared engine's writer keeps its copy's decision, and its standby
    /// copy takes it.
    pub(crate) fn apply_deciding(
        &mut self,
        event: &Event,
        outcome: &mut Outcome,
        decisions: &mut Decisions<'_>,
    ) -> Result<(), EngineError> {
        outcome.clear();
        posthog::check_capacity(&self.projects, &self.prop_keys, event)?;
        // Counters and versions come back from snapshots as they were saved, so they
        // saturate rather than overflow.
        self.counters.events = self.counters.events.saturating_add(1);
        let result = Applier {
            config: &self.config,
            projects: &mut self.projects,
            prop_keys: &mut self.prop_keys,
            fixed_keys: &mut self.fixed_keys,
            values: &mut self.values,
            ordinal: self.counters.events,
            decisions,
        }
        .apply(event, outcome);
        if self.values.wants_collection() {
            self.collect_values();
        }
        self.counters.merges = self
            .counters
            .merges
            .saturating_add(u64::from(outcome.merged));
        for warning in &outcome.warnings {
            self.counters.count_warning(warning.kind, 1);
        }
        result
    }

    /// Where the engine's state stands, as far as an event of `project` can move it (an
    /// event changes its own project and the shared key names and values, nothing else).
    /// Two equal revisions around an event mean it changed nothing but the counters.
    /// `fixed_keys` is not counted: it caches lookups of key names, is not part of
    /// snapshots, and fills the same on either copy whenever it fills.
    pub(crate) fn revision(&self, project: &Project) -> Revision {
        Revision {
            key_names: self.prop_keys.len(),
            values: self.values.writes(),
            projects: self.projects.iter().len(),
            graph: self.projects.get(project).map_or(0, ProjectGraph::revision),
        }
    }

    /// Frees stored values that no person and no merge record refers to any more.
    pub(crate) fn collect_values(&mut self) {
        let mut reachable = vec![false; self.values.slots()];
        for graph in self.projects.iter() {
            graph.values_in_use(|value| reachable[value.index()] = true);
        }
        self.values.collect(&reachable);
    }

    // Edits (`posthog/edit.rs`).

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
        posthog::unlink(self.graph_for_edit(project)?, a, b)
    }

    /// PostHog's split (docs/behaviour.md §11): each listed id leaves its person for a new
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
        self.split_at(project, ids, Timestamp::now())
    }

    /// [`Engine::split`] with the new persons created at `now`: what a replay of the split
    /// must give again.
    pub(crate) fn split_at(
        &mut self,
        project: &Project,
        ids: &[&str],
        now: Timestamp,
    ) -> Result<Vec<Uuid>, EditError> {
        posthog::split(self.graph_for_edit(project)?, ids, now)
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
        posthog::delete_person(self.graph_for_edit(project)?, distinct_id)
    }

    /// Erases one distinct id for good (GDPR): the id, its links and refusals, and every
    /// property value its own events wrote (also in the merge records kept for `unlink`) are
    /// gone, and no dump, explanation or snapshot shows the id afterwards. The person it
    /// belonged to keeps its other ids together: links through the erased id are replaced by
    /// [`LinkKind::Bridge`](crate::LinkKind::Bridge) links between the ids it joined. A
    /// person left with no id is deleted.
    ///
    /// The person's uuid is kept even when it was derived from the erased id: it is a
    /// one-way hash, and downstream stores key on it.
    ///
    /// # Errors
    ///
    /// [`EditError`] when the project or the id is unknown.
    pub fn erase(&mut self, project: &Project, distinct_id: &str) -> Result<(), EditError> {
        posthog::erase(self.graph_for_edit(project)?, distinct_id)
    }

    fn graph_for_edit(&mut self, project: &Project) -> Result<&mut ProjectGraph, EditError> {
        self.projects
            .get_mut(project)
            .ok_or_else(|| EditError::UnknownProject(project.to_string()))
    }

    // Snapshots (`snapshot/`): every save stores a position, every load returns it.

    /// Writes a snapshot of the engine to `writer`, storing `position` beside it: the
    /// caller's place in its event source, returned in [`Snapshot::position`] by a load.
    ///
    /// The writer receives the header and then the body in chunks of up to 16 KiB; wrap an
    /// unbuffered writer such as a `File` in a `BufWriter` (or use [`Engine::save_to_path`],
    /// which also makes the write atomic).
    ///
    /// # Errors
    ///
    /// [`SnapshotError::Io`] when the writer fails (it may then hold part of a snapshot,
    /// which a load refuses); [`SnapshotError::Invalid`] when the engine holds something
    /// the format cannot store (a property value nested more than 512 levels).
    pub fn save_to(&self, writer: impl Write, position: &[u8]) -> Result<(), SnapshotError> {
        snapshot::save_to(self, writer, position)
    }

    /// Writes a snapshot of the engine, with `position`, into a new vector.
    ///
    /// This is the fastest way to a snapshot in memory: it walks the engine once and
    /// writes the header last, where [`Engine::save_to`] a plain writer walks it twice
    /// (once to learn the body's length and checksum, which the header holds, and once to
    /// write it).
    ///
    /// # Errors
    ///
    /// [`SnapshotError::Invalid`] as for [`Engine::save_to`].
    ///
    /// # Examples
    ///
    /// ```
    /// use idgraph::{Engine, Event, Project};
    ///
    /// let mut engine = Engine::new();
    /// engine.apply(&Event::new("$identify", "user_1").with_property("$anon_distinct_id", "anon_1"))?;
    /// let bytes = engine.save_to_vec(b"offset 1")?;
    /// let restored = Engine::load_from_bytes(&bytes)?;
    /// assert_eq!(restored.position, b"offset 1");
    /// assert_eq!(restored.engine.dump(), engine.dump());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn save_to_vec(&self, position: &[u8]) -> Result<Vec<u8>, SnapshotError> {
        snapshot::save_to_vec(self, position)
    }

    /// Saves a snapshot, with `position`, to `path` atomically: it writes a temporary file
    /// in the same directory, syncs it to disk, renames it over `path` and syncs the
    /// directory, so that after a crash or an error `path` holds either the previous
    /// snapshot or the new one, whole.
    ///
    /// A new file is readable by its owner alone (mode 600 on Unix: a snapshot holds user
    /// ids and emails); a rewrite keeps the permission bits of the file it replaces. A
    /// symbolic link is followed to the file it names, which is replaced in its own
    /// directory, and the link stays. The temporary file is `.{name}.{pid}.{n}.tmp` beside
    /// the file; those that killed saves left there are removed by the next save to the
    /// file: the ones whose process no longer runs on this machine (as `/proc` tells), or
    /// that nothing has written for an hour.
    ///
    /// # Errors
    ///
    /// As [`Engine::save_to`], and [`SnapshotError::NotAFile`] when `path` (or the file a
    /// link names) exists and is not a regular file; on any error the previous file at
    /// `path` is left as it was and the temporary file is removed.
    pub fn save_to_path(
        &self,
        path: impl AsRef<Path>,
        position: &[u8],
    ) -> Result<(), SnapshotError> {
        snapshot::save_to_path(self, path.as_ref(), position)
    }

    /// Reads a snapshot and the position stored in it from `reader`.
    ///
    /// Reads exactly the snapshot: bytes after it are left in the reader, for a stream that
    /// carries more than one thing (a file is the snapshot alone: [`Engine::load_from_path`]
    /// and [`Engine::load_from_bytes`] refuse bytes after it). The body is
    /// decoded as it streams in, the large columns read straight into the engine's memory,
    /// so a `File` or a socket needs no buffering of its own.
    ///
    /// A load of a body of 1 MiB or more uses a second thread for its lifetime when one can
    /// start: as soon as the value store's columns, a project's ids, its union-find or its
    /// persons are decoded, that thread rebuilds their hash tables and checks them while the
    /// rest of the body decodes here. A smaller body, or a process where no thread starts,
    /// has the same work done here after decoding, with the same result.
    ///
    /// # Errors
    ///
    /// [`SnapshotError::NotASnapshot`], [`SnapshotError::Truncated`],
    /// [`SnapshotError::UnsupportedVersion`], [`SnapshotError::ChecksumMismatch`],
    /// [`SnapshotError::Invalid`] (the contents break an invariant of the graph) or
    /// [`SnapshotError::Io`]. Never a panic, and never a different graph.
    pub fn load_from(reader: impl Read) -> Result<Snapshot, SnapshotError> {
        snapshot::load_from(reader)
    }

    /// Reads a snapshot held in memory (a file read or mapped whole, say), without
    /// copying the body first. The second thread (see [`Engine::load_from`]) also
    /// checksums the body while it decodes.
    ///
    /// # Errors
    ///
    /// As [`Engine::load_from`], and [`SnapshotError::TrailingBytes`] when `bytes` go on
    /// after the snapshot.
    pub fn load_from_bytes(bytes: &[u8]) -> Result<Snapshot, SnapshotError> {
        snapshot::load_from_bytes(bytes)
    }

    /// Loads a snapshot and its position from `path`.
    ///
    /// The file is read as [`Engine::load_from`] reads a stream, without holding its
    /// bytes: the large columns go straight from the file into the engine's memory. `path`
    /// may be a pipe or a FIFO (`<(zcat s.idg.gz)`) as well as a file. The file must hold
    /// the snapshot and nothing else.
    ///
    /// # Errors
    ///
    /// As [`Engine::load_from`], and [`SnapshotError::TrailingBytes`] when the file goes on
    /// after the snapshot.
    ///
    /// # Examples
    ///
    /// A service that saves its graph with its place in the source, and on restart
    /// restores both and resumes reading there:
    ///
    /// ```
    /// use idgraph::{Engine, Event};
    ///
    /// let path = std::env::temp_dir().join(format!("idgraph-doc-{}.idg", std::process::id()));
    /// let mut engine = Engine::new();
    /// let source = ["anon_1", "anon_2", "anon_3"];
    /// for id in &source[..2] {
    ///     engine.apply(&Event::new("$pageview", *id))?;
    /// }
    /// engine.save_to_path(&path, &2u64.to_le_bytes())?;
    ///
    /// let restored = Engine::load_from_path(&path)?;
    /// let mut engine = restored.engine;
    /// let next = u64::from_le_bytes(restored.position.as_slice().try_into()?);
    /// for id in &source[next as usize..] {
    ///     engine.apply(&Event::new("$pageview", *id))?;
    /// }
    /// assert_eq!(engine.stats().distinct_ids, 3);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn load_from_path(path: impl AsRef<Path>) -> Result<Snapshot, SnapshotError> {
        snapshot::load_from_path(path.as_ref())
    }

    // Reads.

    pub(crate) fn graph(&self, project: &Project) -> Option<&ProjectGraph> {
        self.projects.get(project)
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
            graph.persons().map(move |(key, _)| PersonRef {
                engine: self,
                graph,
                key,
            })
        })
    }

    /// Distinct ids seen only in personless mode that still have no person.
    pub fn personless_distinct_ids(&self) -> impl Iterator<Item = (&Project, &str)> {
        self.projects
            .iter()
            .flat_map(|graph| graph.personless_ids().map(|id| (graph.project(), id)))
    }

    /// Every group of every project.
    pub fn groups(&self) -> impl Iterator<Item = GroupRef<'_>> {
        self.projects.iter().flat_map(|graph| {
            graph
                .groups()
                .iter()
                .map(move |(group_type, index, key, group)| GroupRef {
                    project: graph.project(),
                    group_type,
                    group_type_index: index,
                    group_key: key,
                    group,
                })
        })
    }

    /// Why `a` and `b` are, or are not, the same person of `project`.
    ///
    /// ```
    /// use idgraph::{Engine, Event, Project};
    ///
    /// let mut engine = Engine::new();
    /// engine.apply(&Event::new("$identify", "user").with_property("$anon_distinct_id", "phone"))?;
    /// engine.apply(&Event::new("$create_alias", "user").with_property("alias", "user@example.com"))?;
    /// let why = engine.explain(&Project::Default, "phone", "user@example.com");
    /// assert!(why.same_person);
    /// assert_eq!(why.chain.len(), 2);
    /// # Ok::<(), idgraph::Error>(())
    /// ```
    #[must_use]
    pub fn explain(&self, project: &Project, a: &str, b: &str) -> crate::Explanation {
        crate::explain::explain(self.graph(project), a, b)
    }

    /// The engine's persons, personless ids and groups in the dump's shape
    /// (docs/contract.md §2.2). `warnings` and `rejected` are empty: the engine does not
    /// keep them (a [`Replay`](crate::Replay) does).
    #[must_use]
    pub fn dump(&self) -> crate::Dump {
        crate::Dump::of_engine(self)
    }

    /// Numbers of persons, distinct ids with a person, and personless ids.
    #[must_use]
    pub fn stats(&self) -> Stats {
        let mut stats = Stats::default();
        for graph in self.projects.iter() {
            stats.projects += 1;
            stats.persons += graph.person_count();
            stats.distinct_ids += graph
                .persons()
                .map(|(_, p)| p.id_count() as usize)
                .sum::<usize>();
            stats.groups += graph.groups().len();
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
    fn person(&self) -> &'e crate::graph::Person {
        self.graph.person(self.key)
    }

    /// The project the person belongs to.
    #[must_use]
    pub fn project(&self) -> &'e Project {
        self.graph.project()
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
            .props()
            .value(self.person().props(), key)
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
    group: &'e Group,
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
