//! The second thread's work in a load: the [`Job`]s the schedule hands over as the body
//! decodes (rebuilding the hash tables, checking the union-find and the persons), done in
//! the order they came, on that thread or here after decoding a small body.

use std::sync::mpsc::Receiver;

use super::load::{invalid, unfinished_interner};
use super::load_values::values_in;
use super::records::CheckedRows;
use super::rows::{FallsAtStarts, rows_fit_owners};
use super::schedule::Job;
use crate::error::{InvalidSnapshot as Kind, SnapshotError, SnapshotSection as Section};
use crate::graph::{Forest, NO_PERSON, Person, PropArena, Sets, Unfinished, ValueStore};

/// What the decoder's [`Job`]s make, in the order they came (on the second thread, or here
/// after decoding a small body): the value store, and per project its id table (less the erased list,
/// decoded later), its checked forest and its checked persons.
#[derive(Default)]
pub(super) struct Prepared {
    pub(super) values: Option<Result<ValueStore, SnapshotError>>,
    pub(super) ids: Vec<PreparedIds>,
    pub(super) forests: Vec<PreparedForest>,
    pub(super) persons: Vec<PreparedPersons>,
}

/// A project's id table, with the number of ids its arena holds.
pub(super) struct PreparedIds {
    pub(super) len: usize,
    pub(super) table: Result<Unfinished, SnapshotError>,
}

/// A project's forest and its sets, with the number of ids its arrays hold; `None` when
/// the arrays are not a forest of their member lists.
pub(super) struct PreparedForest {
    pub(super) len: usize,
    pub(super) checked: Option<(Forest, Sets)>,
}

/// A project's person slots and where the sets hold them, with their check: the
/// properties in an arena and the highest value slot they name. `None` when the forest or
/// the lengths of the columns left nothing to check against, which [`graph_in`] reports
/// first.
pub(super) struct PreparedPersons {
    pub(super) cols: PersonCols,
    pub(super) checked: Option<Result<(PropArena, Option<u32>), SnapshotError>>,
}

/// A project's person slots and the columns that place them in the sets.
pub(super) struct PersonCols {
    pub(super) persons: Vec<Option<Person>>,
    pub(super) person_at: Vec<u32>,
    pub(super) free_persons: Vec<u32>,
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
    pub(super) fn take(&mut self, job: Job) {
        match job {
            Job::Values(values, free) => self.values = Some(values_in(&values, free)),
            Job::Ids(arena) => self.ids.push(PreparedIds {
                len: arena.ends.len(),
                table: unfinished_interner(arena, Section::DistinctIds),
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
/// The persons of a project and their properties, checked against its forest and
/// `person_at`.
pub(super) fn persons_in(
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
        return Err(invalid(Kind::TooManyPersonSlots));
    }
    let arena = PropArena::from_packed(props.rows, persons.iter().flatten().map(Person::props))
        .ok_or_else(|| invalid(Kind::PersonPropertyCountsDiffer))?;
    // One walk over the live persons: their runs of rows, and the set of each one's anchor,
    // which must hold it and count its ids.
    let (mut starts, mut live) = (FallsAtStarts::default(), 0usize);
    for (slot, person) in persons.iter().enumerate() {
        let Some(person) = person else { continue };
        live += 1;
        starts.see(arena.get(person.props()));
        let Some(&root) = sets.root.get(person.anchor().index()) else {
            return Err(invalid(Kind::PersonAnchorOutside));
        };
        if person_at[root as usize] as usize != slot {
            return Err(invalid(Kind::PersonAnchorHoldsAnother));
        }
        if person.id_count() != sets.size[root as usize] {
            return Err(invalid(Kind::PersonIdCountDiffers));
        }
    }
    let max_value = rows_fit_owners(props.verdict, starts.falls)?;
    // The free list names empty slots, each once; as many as there are, so all of them.
    let mut listed = vec![false; persons.len()];
    for &slot in free_persons {
        match (listed.get_mut(slot as usize), persons.get(slot as usize)) {
            (Some(seen @ false), Some(None)) => *seen = true,
            (Some(true), _) => return Err(invalid(Kind::FreeSlotTwice)),
            _ => return Err(invalid(Kind::FreeSlotInvalid)),
        }
    }
    if free_persons.len() != persons.len() - live {
        return Err(invalid(Kind::FreeSlotMissing));
    }
    check_person_at(sets, cols)?;
    Ok((arena, max_value))
}

/// Checks that `person_at` names persons only at roots, and no more of them than there are
/// live persons. [`persons_in`] showed that every live person is named at the root of its
/// anchor's set, each at its own root, and that the free list holds exactly the other
/// slots; so when the count matches, those are all the names: none is of a free slot, and
/// no person is held by two sets.
pub(super) fn check_person_at(sets: &Sets, cols: &PersonCols) -> Result<(), SnapshotError> {
    let (mut named, mut off_root) = (0usize, false);
    for (i, (&at, &root)) in cols.person_at.iter().zip(&sets.root).enumerate() {
        let holds = at != NO_PERSON;
        named += usize::from(holds);
        off_root |= holds && root as usize != i;
    }
    if off_root {
        return Err(invalid(Kind::PersonOffRoot));
    }
    if Some(named) != cols.persons.len().checked_sub(cols.free_persons.len()) {
        return Err(invalid(Kind::PersonNamedTwice));
    }
    Ok(())
}
