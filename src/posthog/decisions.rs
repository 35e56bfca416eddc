//! What one copy of the engine decided and computed for an event, kept so that a copy in
//! the same state (a shared engine's standby copy, `shared/writer.rs`) takes it instead of
//! doing the work again: the update's decision, the uuid of the person created, and the
//! value slots its writes found already stored.

use uuid::Uuid;

use super::ops::Decided;
use super::person_uuid::person_uuid;
use crate::error::EngineError;
use crate::event::{Project, Value};
use crate::graph::{Interned, ValueId, ValueStore};

/// How an event's update of a person's properties is decided (at most one an event: the
/// ordinary path, a merge request whose ids already share a person or attach one to it, or
/// the survivor of a merge), where the uuid of the person it creates comes from, and how
/// the values it writes find their slots.
#[derive(Debug, Default)]
pub(crate) enum Decisions<'t> {
    /// By the rules.
    #[default]
    Make,
    /// By the rules, keeping the decision of an update that wrote, the uuid of the first
    /// person created, and the slot of each value written (`None` for one stored new), in
    /// the order they were written.
    Keep(Kept, &'t mut Vec<Option<ValueId>>),
    /// As kept from the same event on a copy in the same state, with the slots it kept for
    /// this event; what was not kept is made by the rules.
    Take(Kept, std::slice::Iter<'t, Option<ValueId>>),
}

/// What one event's application kept for a copy in the same state to take.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Kept {
    /// The decision of the update, when it wrote.
    update: Option<Decided>,
    /// The uuid of the first person the event created: PostHog's SHA-1 of the project and
    /// the id, about 1,900 instructions the standby copy need not spend.
    created: Option<Uuid>,
    /// How many value slots the event kept, in the list [`Decisions::Keep`] writes to.
    slots: u32,
}

impl Kept {
    /// How many value slots the event kept: the length of its part of the list.
    pub(crate) fn slots(&self) -> usize {
        self.slots as usize
    }
}

impl Decisions<'_> {
    /// What was kept, once the event is applied.
    pub(crate) fn kept(&self) -> Kept {
        match self {
            Decisions::Keep(kept, _) | Decisions::Take(kept, _) => *kept,
            Decisions::Make => Kept::default(),
        }
    }

    /// The decision of the update to take, if any.
    pub(crate) fn taken(&self) -> Option<Decided> {
        match self {
            Decisions::Take(kept, _) => kept.update,
            Decisions::Make | Decisions::Keep(..) => None,
        }
    }

    /// Keeps the decision of an update that writes.
    pub(crate) fn keep(&mut self, decided: Decided) {
        if let Decisions::Keep(kept, _) = self {
            kept.update = Some(decided);
        }
    }

    /// The uuid of a person created for `distinct_id`: the one taken, or computed (and
    /// kept, for the first person an event creates).
    pub(crate) fn person_uuid(&mut self, project: &Project, distinct_id: &str) -> Uuid {
        if let Decisions::Take(kept, _) = self
            && let Some(uuid) = kept.created.take()
        {
            return uuid;
        }
        let uuid = person_uuid(project, distinct_id);
        if let Decisions::Keep(kept, _) = self {
            kept.created.get_or_insert(uuid);
        }
        uuid
    }

    /// The slot of `value` in `values`, storing it first if needed. A copy in the same
    /// state takes the slot the first copy found rather than hash and probe for it: its
    /// store's table is cold (the readers, not the writer, touched it last), and the
    /// probes are most of what creating a person costs it. A value the first copy stored
    /// new is stored again, which gives it the same slot.
    pub(crate) fn intern(
        &mut self,
        values: &mut ValueStore,
        value: &Value,
    ) -> Result<ValueId, EngineError> {
        match self {
            Decisions::Make => values.intern(value),
            Decisions::Keep(kept, slots) => {
                let interned = values.find_or_store(value)?;
                slots.push(match interned {
                    Interned::Found(slot) => Some(slot),
                    Interned::Stored(_) => None,
                });
                kept.slots += 1;
                Ok(interned.slot())
            }
            Decisions::Take(_, slots) => match slots.next() {
                Some(&Some(slot)) => {
                    debug_assert!(values.holds(slot, value), "a copy in another state");
                    Ok(slot)
                }
                Some(None) | None => values.intern(value),
            },
        }
    }
}
