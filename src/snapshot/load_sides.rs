//! The merge record sides of a project, back from their columns with every invariant of
//! `graph/sides.rs` checked: bases earlier than the sides built on them, removals only in
//! deltas, each side's keys sorted and once, every side that a record or a person names in
//! the table.

use super::load::invalid;
use super::records::CheckedRows;
use super::rows::{RowVerdict, rows_fit_owners};
use super::schema::{RecordSides, SideCols};
use crate::error::{InvalidSnapshot as Kind, SnapshotError};
use crate::graph::{
    Link, NO_SIDE, Person, PropKey, PropRuns, RunAt, Side, SideKey, Sides, removal,
};

/// The side columns, whatever the format.
struct Cols {
    base: Vec<u32>,
    sets: Vec<u32>,
    removals: Vec<u32>,
    removed: Vec<u32>,
    person_side: Vec<u32>,
}

/// What formats 2 and 3 hold of the sides: each record's two sides whole, their row counts
/// in the link records, and no person's latest side, which the load takes to be the longer
/// side of the newest record inside the person (any side is a correct base; this one is
/// what the merges alone would have left).
pub(super) struct Legacy {
    pub(super) lens: Vec<u32>,
    pub(super) person_side: Vec<u32>,
}

fn cols(legacy: Option<Legacy>, stored: RecordSides<'static>) -> Result<Cols, SnapshotError> {
    match (legacy, stored) {
        (Some(Legacy { lens, person_side }), RecordSides::Legacy) => Ok(Cols {
            base: vec![NO_SIDE; lens.len()],
            removals: vec![0; lens.len()],
            sets: lens,
            removed: Vec::new(),
            person_side,
        }),
        (
            None,
            RecordSides::Cols(SideCols {
                base,
                sets,
                removals,
                removed,
                person_side,
            }),
        ) => Ok(Cols {
            base: base.into_vec(),
            sets: sets.into_vec(),
            removals: removals.into_vec(),
            removed: removed.into_vec(),
            person_side: person_side.into_vec(),
        }),
        _ => Err(invalid(Kind::SideColumnsDiffer)),
    }
}

/// The runs of `counts` entries back to back from 0, and their total.
fn runs_of(counts: &[u32]) -> (Vec<RunAt>, usize) {
    let mut start = 0usize;
    let runs = counts
        .iter()
        .map(|&n| {
            let run = RunAt::exact(start, n);
            start = start.saturating_add(n as usize);
            run
        })
        .collect();
    (runs, start)
}

/// The sides of a project whose links are `links` and whose person slots are `persons`
/// (given their latest sides here), from the stored columns and the record property rows;
/// with the highest value slot the rows name. `keys` is how many property keys there are.
pub(super) fn sides_in(
    links: &[Link],
    persons: &mut [Option<Person>],
    legacy: Option<Legacy>,
    stored: RecordSides<'static>,
    rows: CheckedRows,
    keys: usize,
) -> Result<(Sides, Option<u32>), SnapshotError> {
    let Cols {
        base,
        sets,
        removals,
        removed,
        person_side,
    } = cols(legacy, stored)?;
    let n = base.len();
    if sets.len() != n || removals.len() != n {
        return Err(invalid(Kind::SideColumnsDiffer));
    }
    if SideKey::new(n).is_err() {
        return Err(invalid(Kind::TooManySides));
    }
    let (set_runs, set_total) = runs_of(&sets);
    let (removal_runs, removal_total) = runs_of(&removals);
    if set_total != rows.rows.len() || removal_total != removed.len() {
        return Err(invalid(Kind::RecordPropertyCountsDiffer));
    }
    for (i, (&b, &gone)) in base.iter().zip(&removals).enumerate() {
        if b == NO_SIDE && gone > 0 {
            return Err(invalid(Kind::RemovalInFullSide));
        }
        if b != NO_SIDE && b as usize >= i {
            return Err(invalid(Kind::SideBaseNotEarlier));
        }
    }
    let runs = PropRuns::from_packed(rows.rows, set_runs.iter())
        .ok_or_else(|| invalid(Kind::RecordPropertyCountsDiffer))?;
    let falls = RowVerdict::falls_at_starts(set_runs.iter().map(|&run| runs.get(run)));
    let max_value = rows_fit_owners(rows.verdict, falls)?;
    if removed.iter().any(|&key| key as usize >= keys) {
        return Err(invalid(Kind::PropertyKeyOutOfRange));
    }
    let (runs, table) = if removed.is_empty() {
        let table = set_runs
            .iter()
            .zip(&base)
            .map(|(&run, &b)| Side::stored(run, b))
            .collect();
        (runs, table)
    } else {
        with_removals(&runs, &set_runs, &removed, &removal_runs, &base)?
    };
    let sides = Sides::from_checked(runs, table);

    let named = |raw: u32| (raw as usize) < n;
    let mut records = links.iter().filter_map(|l| l.merge.as_ref());
    if !records.all(|m| named(m.target_side.raw()) && named(m.source_side.raw())) {
        return Err(invalid(Kind::SideOutOfRange));
    }
    if person_side.len() != persons.len() {
        return Err(invalid(Kind::SideColumnsDiffer));
    }
    for (slot, &side) in persons.iter_mut().zip(&person_side) {
        match slot.take() {
            Some(person) if side == NO_SIDE || named(side) => {
                *slot = Some(person.with_stored_side(side));
            }
            None if side == NO_SIDE => {}
            _ => return Err(invalid(Kind::SideOutOfRange)),
        }
    }
    Ok((sides, max_value))
}

/// The runs and table of sides some of which remove keys: each side's sets and removal
/// markers merged into one run sorted by key, a key set and removed at once refused.
fn with_removals(
    sets: &PropRuns,
    set_runs: &[RunAt],
    removed: &[u32],
    removal_runs: &[RunAt],
    base: &[u32],
) -> Result<(PropRuns, Vec<Side>), SnapshotError> {
    let mut runs = PropRuns::default();
    let mut table = Vec::with_capacity(base.len());
    let mut run = Vec::new();
    for ((&set_run, removal_run), &b) in set_runs.iter().zip(removal_runs).zip(base) {
        let start = removal_run.start();
        let gone = &removed[start..start + removal_run.len()];
        if gone.windows(2).any(|w| w[0] >= w[1]) {
            return Err(invalid(Kind::PropertyKeysOutOfOrder));
        }
        run.clear();
        let mut markers = gone
            .iter()
            .map(|&k| removal(PropKey::from_raw(k)))
            .peekable();
        for &set in sets.get(set_run) {
            while let Some(marker) = markers.next_if(|m| m.key < set.key) {
                run.push(marker);
            }
            if markers.peek().is_some_and(|m| m.key == set.key) {
                return Err(invalid(Kind::SideSetsRemovedKey));
            }
            run.push(set);
        }
        run.extend(markers);
        table.push(Side::stored(runs.push(&run), b));
    }
    Ok((runs, table))
}
