//! The writer handle: applies to its own copy, logs what it did, publishes by swapping.

use std::sync::Arc;

use arc_swap::ArcSwap;
use uuid::Uuid;

use super::published::Published;
use super::reader::EngineReader;
use crate::engine::{Counters, Engine};
use crate::error::{EditError, EngineError};
use crate::event::{Event, Project, Timestamp};
use crate::graph::ValueId;
use crate::posthog::{Decisions, Kept, Outcome, Unlinked};

/// How often the writer looks again for the last view of the copy it takes back before
/// it gives up its core between looks.
const SPINS_BEFORE_YIELDING: u32 = 1_000;

/// One change made to the writer's copy since the last publish, kept to be made again on
/// the other copy. Everything an operation reads from the clock is fixed in it first, so
/// that the replay gives the same state.
#[allow(
    clippy::large_enum_variant,
    reason = "nearly every op is an event: boxing it would add an allocation per event"
)]
enum Op {
    /// An event that changed the graph, with what its application kept (the decision of an
    /// update that wrote, the uuid of a person created, and how many of the writer's value
    /// slots are its own): the other copy takes it rather than make it again.
    Apply(Event, Kept),
    /// The counters after events that changed nothing else (most events of a realistic
    /// stream: a returning user's pageview): the other copy takes the counts instead of
    /// applying them again. One entry stands for a run of such events.
    Counted(Counters),
    Unlink(Project, Box<str>, Box<str>),
    Split(Project, Vec<Box<str>>, Timestamp),
    DeletePerson(Project, Box<str>),
    Erase(Project, Box<str>),
}

impl Op {
    /// Makes the change again. Its result was seen when it was first made; the same change
    /// on the same state gives the same result, so it is not looked at twice.
    /// `slots` are the value slots the writer kept from here on, in order: an event takes
    /// its own part and leaves the rest.
    fn replay(&self, engine: &mut Engine, outcome: &mut Outcome, slots: &mut &[Option<ValueId>]) {
        let _same_as_the_first_time = match self {
            Op::Apply(event, kept) => {
                let (own, rest) = slots.split_at(kept.slots().min(slots.len()));
                *slots = rest;
                let mut decisions = Decisions::Take(*kept, own.iter());
                engine
                    .apply_deciding(event, outcome, &mut decisions)
                    .map_err(drop)
            }
            Op::Counted(counters) => {
                engine.counters.clone_from(counters);
                Ok(())
            }
            Op::Unlink(project, a, b) => engine.unlink(project, a, b).map(drop).map_err(drop),
            Op::Split(project, ids, now) => {
                let ids: Vec<&str> = ids.iter().map(AsRef::as_ref).collect();
                engine.split_at(project, &ids, *now).map(drop).map_err(drop)
            }
            Op::DeletePerson(project, id) => {
                engine.delete_person(project, id).map(drop).map_err(drop)
            }
            Op::Erase(project, id) => engine.erase(project, id).map(drop).map_err(drop),
        };
    }
}

/// The one writer of a shared engine (see [`Engine::into_shared`]). Its changes reach the
/// readers when it publishes; until then they see the state of the last publish.
pub struct EngineWriter {
    /// The writer's copy, ahead of the published one by `log`.
    working: Engine,
    position: Vec<u8>,
    log: Vec<Op>,
    /// The value slots the logged events' writes found already stored, in order, for the
    /// replay to take (`posthog::Decisions::Keep`).
    slots: Vec<Option<ValueId>>,
    /// Operations since the last publish (one log entry may stand for several).
    unpublished: usize,
    /// Publishes so far.
    sequence: u64,
    shared: Arc<ArcSwap<Published>>,
}

impl Engine {
    /// Splits the engine into a writer and a reader handle, both starting at this state
    /// and `position` (the caller's place in its input, as a snapshot stores it). This
    /// clones the engine once: the writer and the readers each have a copy from here on.
    #[must_use]
    pub fn into_shared(self, position: Vec<u8>) -> (EngineWriter, EngineReader) {
        let published = Published::new(self.clone(), position.clone(), 0);
        let shared = Arc::new(ArcSwap::from_pointee(published));
        let writer = EngineWriter {
            working: self,
            position,
            log: Vec::new(),
            slots: Vec::new(),
            unpublished: 0,
            sequence: 0,
            shared,
        };
        let reader = writer.reader();
        (writer, reader)
    }
}

impl EngineWriter {
    /// A new reader handle on this writer's published states.
    #[must_use]
    pub fn reader(&self) -> EngineReader {
        EngineReader {
            shared: Arc::clone(&self.shared),
        }
    }

    /// The writer's own state: everything applied so far, published or not.
    #[must_use]
    pub fn engine(&self) -> &Engine {
        &self.working
    }

    /// The position given by the last [`EngineWriter::set_position`].
    #[must_use]
    pub fn position(&self) -> &[u8] {
        &self.position
    }

    /// Sets the position of the last event applied: the next publish hands it to readers
    /// with the state, and saves from them store it.
    pub fn set_position(&mut self, position: &[u8]) {
        self.position.clear();
        self.position.extend_from_slice(position);
    }

    /// Operations applied since the last publish; an event that failed counts too, since
    /// it may have moved the counters before it failed.
    #[must_use]
    pub fn unpublished(&self) -> usize {
        self.unpublished
    }

    /// Applies one event, as [`Engine::apply`]. An event without a time takes the clock's
    /// now here, once, so that both copies store the same time.
    ///
    /// # Errors
    ///
    /// As [`Engine::apply`]; the event then changed nothing.
    pub fn apply(&mut self, event: Event) -> Result<Outcome, EngineError> {
        let event = match event.timestamp() {
            Some(_) => event,
            None => event.with_timestamp(Timestamp::now()),
        };
        self.unpublished += 1;
        let before = self.working.revision(event.project());
        let mut outcome = Outcome::default();
        let slots_before = self.slots.len();
        let mut decisions = Decisions::Keep(Kept::default(), &mut self.slots);
        let applied = self
            .working
            .apply_deciding(&event, &mut outcome, &mut decisions)
            .map(|()| outcome);
        let kept = decisions.kept();
        if self.working.revision(event.project()) == before {
            self.slots.truncate(slots_before);
            self.count_unchanged();
        } else {
            self.log.push(Op::Apply(event, kept));
        }
        applied
    }

    /// Logs the counters of an event that changed nothing else, into the entry of the run
    /// it ends when there is one.
    fn count_unchanged(&mut self) {
        let counters = &self.working.counters;
        match self.log.last_mut() {
            Some(Op::Counted(last)) => last.clone_from(counters),
            _ => self.log.push(Op::Counted(counters.clone())),
        }
    }

    /// [`Engine::unlink`] on the writer's copy.
    ///
    /// # Errors
    ///
    /// As [`Engine::unlink`].
    pub fn unlink(&mut self, project: &Project, a: &str, b: &str) -> Result<Unlinked, EditError> {
        let unlinked = self.working.unlink(project, a, b)?;
        self.unpublished += 1;
        self.log
            .push(Op::Unlink(project.clone(), a.into(), b.into()));
        Ok(unlinked)
    }

    /// [`Engine::split`] on the writer's copy.
    ///
    /// # Errors
    ///
    /// As [`Engine::split`].
    pub fn split(&mut self, project: &Project, ids: &[&str]) -> Result<Vec<Uuid>, EditError> {
        let now = Timestamp::now();
        let created = self.working.split_at(project, ids, now)?;
        let ids = ids.iter().map(|&id| id.into()).collect();
        self.unpublished += 1;
        self.log.push(Op::Split(project.clone(), ids, now));
        Ok(created)
    }

    /// [`Engine::delete_person`] on the writer's copy.
    ///
    /// # Errors
    ///
    /// As [`Engine::delete_person`].
    pub fn delete_person(
        &mut self,
        project: &Project,
        distinct_id: &str,
    ) -> Result<Uuid, EditError> {
        let uuid = self.working.delete_person(project, distinct_id)?;
        self.unpublished += 1;
        self.log
            .push(Op::DeletePerson(project.clone(), distinct_id.into()));
        Ok(uuid)
    }

    /// [`Engine::erase`] on the writer's copy.
    ///
    /// # Errors
    ///
    /// As [`Engine::erase`].
    pub fn erase(&mut self, project: &Project, distinct_id: &str) -> Result<(), EditError> {
        self.working.erase(project, distinct_id)?;
        self.unpublished += 1;
        self.log
            .push(Op::Erase(project.clone(), distinct_id.into()));
        Ok(())
    }

    /// Hands everything applied so far, with the position, to the readers, and returns
    /// `true`. Returns `false`, changing nothing, while a [`HeldView`](crate::HeldView)
    /// (a save) holds the published state: the writer goes on, and a later publish hands
    /// over everything at once.
    ///
    /// After the swap, the writer waits for the last [`ReadView`](crate::ReadView) of the
    /// state it replaced (queries are short), then replays the log on that copy.
    pub fn publish(&mut self) -> bool {
        let current = self.shared.load_full();
        if current.position == self.position && self.unpublished == 0 {
            return true;
        }
        if !current.retire() {
            return false;
        }
        drop(current);
        self.sequence += 1;
        let working = std::mem::take(&mut self.working);
        let published = Published::new(working, self.position.clone(), self.sequence);
        let mut previous = self.shared.swap(Arc::new(published));
        let mut tries = 0u32;
        let mut standby = loop {
            match Arc::try_unwrap(previous) {
                Ok(state) => break state,
                Err(still_read) => {
                    previous = still_read;
                    // A query holds a view for a microsecond or so: spin first, since
                    // giving up the core can cost a whole time slice on a busy machine.
                    tries += 1;
                    if tries < SPINS_BEFORE_YIELDING {
                        std::hint::spin_loop();
                    } else {
                        std::thread::yield_now();
                    }
                }
            }
        };
        // Nobody reads the replay's outcomes, so it builds no change lists; the option
        // changes what an outcome holds, never the state.
        let record_changes = standby.engine.config.record_changes;
        standby.engine.config.record_changes = false;
        let mut outcome = Outcome::default();
        let mut slots = self.slots.as_slice();
        for op in self.log.drain(..) {
            op.replay(&mut standby.engine, &mut outcome, &mut slots);
        }
        self.slots.clear();
        standby.engine.config.record_changes = record_changes;
        self.unpublished = 0;
        standby.reset_pins();
        self.working = standby.engine;
        true
    }
}
