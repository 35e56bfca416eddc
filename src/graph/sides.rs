//! What each side of a merge held, kept for `unlink`, stored as what changed since the
//! same person's previous side rather than as a copy.
//!
//! A person that absorbs k persons one at a time holds up to 2k properties at each of its k
//! merges: a copy of both sides per merge is O(k²) entries (k = 8,000 took 1.2 GB). Here a
//! side is either full, the sorted list itself, or a delta on a base, the longer of the two
//! sides recorded at the person's previous merge (the list the person came out of it with
//! differs from that one by at most the shorter): the entries of the list that the base's
//! list lacks or holds with another writer or value, and a removal marker for each key of
//! the base that the list lacks. A delta is exact whatever its base holds, so a base that
//! the person has drifted far from only costs room, never correctness.
//!
//! A chain of deltas is cut by a full side once the deltas since the last full one, each
//! counted as its entries plus one, would outweigh the list itself. So materialising a side
//! reads O(its list) entries and deltas, the order of what the merge that recorded it
//! already cost, even when merges change nothing (a hub absorbing empty persons), and every
//! full side is paid for by at least as many delta entries and deltas before it: storage is
//! linear in the merges and what they changed.

use super::keys::{IdKey, PropKey, SideKey, ValueId, reserve_gently};
use super::prop_arena::{PropRuns, RunAt};
use super::props::{Prop, Props};

/// Marks "no side": the base of a full side, the side of a person never merged.
pub(crate) const NO_SIDE: u32 = u32::MAX;

/// How many unreachable sides are always let wait for a later edit (see [`Sides`]). None
/// in the crate's own tests, whose graphs are small, so that their edits drop sides.
const UNREACHABLE_SLACK: usize = if cfg!(test) { 0 } else { 4096 };

/// The value of a removal marker. No stored value has this slot: `ValueId::new` stops at
/// `u32::MAX - 1`.
const REMOVED: ValueId = ValueId::from_raw(u32::MAX);

/// The entry of a delta that says the base's `key` is gone. Its writer is always 0, so that
/// markers compare equal whoever removed the key.
pub(crate) fn removal(key: PropKey) -> Prop {
    Prop {
        key,
        writer: IdKey::from_raw(0),
        value: REMOVED,
    }
}

/// Whether `prop` is a removal marker.
pub(crate) fn is_removal(prop: &Prop) -> bool {
    prop.value == REMOVED
}

/// One side: its entries in the runs, and its base ([`NO_SIDE`] for a full side).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Side {
    run: RunAt,
    base: u32,
}

impl Side {
    /// A side as a snapshot stored it; the load checks the table before
    /// [`Sides::from_checked`].
    pub(crate) fn stored(run: RunAt, base: u32) -> Side {
        Side { run, base }
    }

    /// The side this one is a delta on, `None` for a full side.
    pub(crate) fn base(self) -> Option<SideKey> {
        (self.base != NO_SIDE).then_some(SideKey::from_raw(self.base))
    }
}

/// Every side of the merge records of one project, numbered in the order they were made,
/// so that a base always has a smaller number than the sides built on it.
///
/// Invariants: a full side holds no removal marker; a delta's base is an earlier side; the
/// entries of each side are sorted by key, each key once; `holders[i]` counts the merge
/// records and persons that name side `i` and the reachable sides built on it, so a side is
/// reachable (from a record or a person, through bases) exactly when its count is not 0,
/// and `unreachable` counts the others. An edit that removes many records lets the counts
/// go stale instead of counting each down (see [`Sides::release_removed`]), and counts them
/// again from the records and persons when it ends; nothing reads them in between.
///
/// Unreachable sides are dropped by an edit (`ProjectGraph::compact_records`) once they
/// outnumber the reachable ones and [`UNREACHABLE_SLACK`]: dropping renumbers every record
/// and person, a walk over the project, so it waits, and an edit that strands a few sides
/// costs only what it touched. After an edit the table holds at most twice the reachable
/// sides and the slack (a merge may strand one side more until the next edit), so storage
/// stays linear. The table is saved as it is, unreachable sides included, and the counts are
/// derived again at load, so that a loaded engine drops sides when the saved one would
/// have.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Sides {
    runs: PropRuns,
    table: Vec<Side>,
    /// How many holders each side has (see the invariants); derived, never saved.
    holders: Vec<u32>,
    /// How many sides have no holder.
    unreachable: usize,
    /// Sides let go by the records the current edit removed, one by one.
    edit_releases: usize,
    /// Whether the current edit removed so many records that it stopped counting.
    stale: bool,
    /// The entries the table's sides store, for [`Sides::compact_if_sparse`].
    stored: usize,
    /// The full list of every side, as copies used to be kept: the tests check each side's
    /// materialisation against it.
    #[cfg(test)]
    shadow: Vec<Vec<Prop>>,
}

impl Sides {
    /// Sides as a snapshot stored them, once checked; every side unreachable until the
    /// loader counts their holders ([`Sides::recount`]).
    pub(crate) fn from_checked(runs: PropRuns, table: Vec<Side>) -> Sides {
        let unreachable = table.len();
        let stored = table.iter().map(|s| s.run.len()).sum();
        #[cfg_attr(not(test), allow(unused_mut))]
        let mut sides = Sides {
            runs,
            holders: vec![0; table.len()],
            table,
            unreachable,
            edit_releases: 0,
            stale: false,
            stored,
            #[cfg(test)]
            shadow: Vec::new(),
        };
        #[cfg(test)]
        {
            sides.shadow = (0..sides.table.len())
                .map(|i| sides.materialise(SideKey::from_raw(u32::try_from(i).unwrap_or(0))))
                .collect();
        }
        sides
    }

    /// How many sides there are.
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    /// Every side in order, with its stored entries (markers included).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Side, &[Prop])> {
        self.table
            .iter()
            .map(|&side| (side, self.runs.get(side.run)))
    }

    /// Entries stored by the sides, as a measure of their room.
    #[cfg(test)]
    pub(crate) fn entries(&self) -> usize {
        self.stored
    }

    /// One more holder of `side`: a merge record or a person naming it. A side that gets
    /// its first holder holds its base in turn.
    pub(crate) fn hold(&mut self, side: SideKey) {
        if self.stale {
            return;
        }
        let mut at = side.index();
        loop {
            self.holders[at] += 1;
            if self.holders[at] > 1 {
                return;
            }
            self.unreachable -= 1;
            match self.table[at].base() {
                Some(base) => at = base.index(),
                None => return,
            }
        }
    }

    /// One holder of `side` fewer. A side left without one is unreachable, and lets go of
    /// its base.
    pub(crate) fn release(&mut self, side: SideKey) {
        if self.stale {
            return;
        }
        let mut at = side.index();
        loop {
            debug_assert!(self.holders[at] > 0, "side {at} released more than held");
            self.holders[at] = self.holders[at].saturating_sub(1);
            if self.holders[at] > 0 {
                return;
            }
            self.unreachable += 1;
            match self.table[at].base() {
                Some(base) => at = base.index(),
                None => return,
            }
        }
    }

    /// Lets go of the two sides of a record that an edit removed. Past an eighth of the
    /// table in one edit, it stops counting: one count of every holder at the end of the
    /// edit ([`Sides::recount`]) then costs less than the rest one by one.
    pub(crate) fn release_removed(&mut self, target: SideKey, source: SideKey) {
        if self.stale {
            return;
        }
        self.edit_releases += 2;
        if self.edit_releases > 64 + self.table.len() / 8 {
            self.stale = true;
            return;
        }
        self.release(target);
        self.release(source);
    }

    /// Whether the current edit stopped counting (see [`Sides::release_removed`]).
    pub(crate) fn counts_are_stale(&self) -> bool {
        self.stale
    }

    /// Counts every side's holders again from `roots`, the sides of every merge record and
    /// person.
    pub(crate) fn recount(&mut self, roots: &[SideKey]) {
        self.stale = false;
        self.holders.fill(0);
        self.unreachable = self.table.len();
        for &root in roots {
            self.hold(root);
        }
    }

    /// Ends an edit's tally of the records it removed.
    pub(crate) fn end_edit(&mut self) {
        debug_assert!(!self.stale, "an edit ends with its counts made again");
        self.edit_releases = 0;
    }

    /// How many sides are unreachable, and how many reachable.
    #[cfg(test)]
    pub(crate) fn reachability(&self) -> (usize, usize) {
        (self.unreachable, self.table.len() - self.unreachable)
    }

    /// Whether the unreachable sides are worth a renumbering of every record and person:
    /// more of them than of reachable ones, and than [`UNREACHABLE_SLACK`].
    pub(crate) fn mostly_unreachable(&self) -> bool {
        let reachable = self.table.len() - self.unreachable;
        self.unreachable > reachable && self.unreachable > UNREACHABLE_SLACK
    }

    /// The new number of each side that has a holder, [`NO_SIDE`] for the others; `None`
    /// when every side has one.
    pub(crate) fn numbering_of_reachable(&self) -> Option<Vec<u32>> {
        if self.unreachable == 0 {
            return None;
        }
        Some(numbering(self.holders.iter().map(|&h| h > 0)))
    }

    /// Records `props` (a person's properties, sorted by key) as a new side, a delta on
    /// `base` (the person's latest side) when that is smaller than the list. `None` when the sides cannot be numbered any more.
    pub(crate) fn record(&mut self, base: Option<SideKey>, props: &[Prop]) -> Option<SideKey> {
        let key = SideKey::new(self.table.len()).ok()?;
        let delta = base.and_then(|base| {
            let (list, chain) = self.materialise_counted(base);
            let diff = diff(&list, props);
            // Cut the chain when its deltas would outweigh the list: see the module docs.
            // A delta counts one more than its entries, so that a person whose merges change
            // nothing still gets a full side now and then, and no chain grows without bound.
            (chain + diff.len() < props.len()).then_some((base, diff))
        });
        let side = match delta {
            Some((base, diff)) => Side {
                run: self.runs.push(&diff),
                base: base.raw(),
            },
            None => Side {
                run: self.runs.push(props),
                base: NO_SIDE,
            },
        };
        reserve_gently(&mut self.table);
        self.stored += side.run.len();
        self.table.push(side);
        self.holders.push(0);
        self.unreachable += 1;
        #[cfg(test)]
        self.shadow.push(props.to_vec());
        Some(key)
    }

    /// The properties side `side` stands for, sorted by key.
    pub(crate) fn materialise(&self, side: SideKey) -> Vec<Prop> {
        self.materialise_counted(side).0
    }

    /// The properties of `side`, with what its chain of deltas weighs: their entries, and
    /// one for each delta.
    fn materialise_counted(&self, side: SideKey) -> (Vec<Prop>, usize) {
        let mut deltas: Vec<RunAt> = Vec::new();
        let mut at = self.table[side.index()];
        while let Some(base) = at.base() {
            deltas.push(at.run);
            at = self.table[base.index()];
        }
        let full = self.runs.get(at.run);
        if deltas.is_empty() {
            return (full.to_vec(), 0);
        }
        // Oldest delta first, so that after a stable sort by key the newest change of each
        // key comes last among its equals. The runs are sorted, so the sort merges runs.
        let mut changes: Vec<Prop> = deltas
            .iter()
            .rev()
            .flat_map(|&run| self.runs.get(run))
            .copied()
            .collect();
        let chain = changes.len() + deltas.len();
        changes.sort_by_key(|p| p.key);
        let mut newest: Vec<Prop> = Vec::with_capacity(changes.len());
        for change in changes {
            match newest.last_mut() {
                Some(last) if last.key == change.key => *last = change,
                _ => newest.push(change),
            }
        }
        (apply(full, &newest), chain)
    }

    /// Marks every value a side holds.
    pub(crate) fn values_in_use(&self, mark: &mut impl FnMut(ValueId)) {
        for &side in &self.table {
            for prop in self.runs.get(side.run) {
                if !is_removal(prop) {
                    mark(prop.value);
                }
            }
        }
    }

    /// Removes from every side's list the values written by `writer`. In a full side they
    /// are dropped; in a delta they become removal markers, since dropping them would let
    /// the base's value of the key show through.
    pub(crate) fn forget_writer(&mut self, writer: IdKey) {
        for side in &mut self.table {
            if side.base == NO_SIDE {
                self.stored -= side.run.len();
                self.runs.retain(&mut side.run, |p| p.writer != writer);
                self.stored += side.run.len();
            } else {
                for prop in self.runs.get_mut(side.run) {
                    if !is_removal(prop) && prop.writer == writer {
                        *prop = removal(prop.key);
                    }
                }
            }
        }
        #[cfg(test)]
        for list in &mut self.shadow {
            list.retain(|p| p.writer != writer);
        }
    }

    /// The new number of each side reachable from `roots` (the sides of the merge records
    /// and the persons' latest sides) through bases, [`NO_SIDE`] for the others; `None`
    /// when every side is reachable. Found by a walk; the edits take the counts' answer
    /// ([`Sides::numbering_of_reachable`]), which debug builds check against this one.
    #[cfg(any(test, debug_assertions))]
    pub(crate) fn renumbering(&self, roots: impl Iterator<Item = SideKey>) -> Option<Vec<u32>> {
        let mut live = vec![false; self.table.len()];
        for root in roots {
            live[root.index()] = true;
        }
        // A base comes before the sides built on it, so one pass from the end marks them all.
        for i in (0..self.table.len()).rev() {
            if live[i]
                && let Some(base) = self.table[i].base()
            {
                live[base.index()] = true;
            }
        }
        if live.iter().all(|&l| l) {
            return None;
        }
        Some(numbering(live.into_iter()))
    }

    /// Keeps the sides that `map` (from [`Sides::numbering_of_reachable`]) numbers, under
    /// their new numbers. The caller renumbers its own references with [`renumber`].
    pub(crate) fn keep(&mut self, map: &[u32]) {
        // One pass: each kept side moves down to its new number with its base renumbered.
        let (mut kept, mut entries) = (0, 0);
        for i in 0..self.table.len() {
            if map[i] != NO_SIDE {
                let mut side = self.table[i];
                entries += side.run.len();
                if side.base != NO_SIDE {
                    side.base = map[side.base as usize];
                }
                self.table[kept] = side;
                self.holders[kept] = self.holders[i];
                kept += 1;
            }
        }
        self.table.truncate(kept);
        self.holders.truncate(kept);
        self.unreachable = self.holders.iter().filter(|&&h| h == 0).count();
        self.stored = entries;
        #[cfg(test)]
        {
            let mut i = 0;
            self.shadow.retain(|_| {
                i += 1;
                map[i - 1] != NO_SIDE
            });
        }
    }

    /// Drops the entries that no side refers to any more (left by dropped sides and by
    /// erasing), once they are most of the store.
    pub(crate) fn compact_if_sparse(&mut self) {
        if self.runs.len() > 2 * self.stored + 4096 {
            self.runs.compact(self.table.iter_mut().map(|s| &mut s.run));
        }
    }

    /// Checks every side's materialisation against the full list the side stands for.
    #[cfg(test)]
    #[track_caller]
    pub(crate) fn assert_exact(&self) {
        assert_eq!(self.shadow.len(), self.table.len());
        for (i, list) in self.shadow.iter().enumerate() {
            let side = SideKey::from_raw(u32::try_from(i).unwrap_or(0));
            assert_eq!(&self.materialise(side), list, "side {i}");
        }
    }
}

/// Numbers the sides that `live` marks in order, [`NO_SIDE`] for the others.
fn numbering(live: impl Iterator<Item = bool>) -> Vec<u32> {
    let mut next = 0u32;
    live.map(|l| {
        if l {
            next += 1;
            next - 1
        } else {
            NO_SIDE
        }
    })
    .collect()
}

/// `key` under the numbering `map` of [`Sides::renumbering`]; it must be one of the sides
/// kept.
pub(crate) fn renumber(map: &[u32], key: &mut SideKey) {
    *key = SideKey::from_raw(map[key.index()]);
}

/// `base` with `changes` (sorted by key, each key once) applied: a set replaces or adds its
/// key, a removal marker drops it.
fn apply(base: &[Prop], changes: &[Prop]) -> Vec<Prop> {
    let overlaid = Props::overlay(base, changes);
    overlaid
        .entries()
        .iter()
        .filter(|p| !is_removal(p))
        .copied()
        .collect()
}

/// What turns `base` into `list` (both sorted by key, each key once) under [`apply`]: the
/// entries of `list` that `base` does not hold as they are, and a removal marker for each
/// key of `base` that `list` lacks.
fn diff(base: &[Prop], list: &[Prop]) -> Vec<Prop> {
    let mut out = Vec::new();
    let mut old = base.iter().peekable();
    for &entry in list {
        while let Some(gone) = old.next_if(|p| p.key < entry.key) {
            out.push(removal(gone.key));
        }
        if old.next_if(|p| p.key == entry.key) != Some(&entry) {
            out.push(entry);
        }
    }
    out.extend(old.map(|gone| removal(gone.key)));
    out
}

#[cfg(test)]
mod tests;
