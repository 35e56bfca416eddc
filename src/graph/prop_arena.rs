//! Every person's properties of one project in one vector.
//!
//! A boxed slice per person would be one allocation per person, reallocated with each new
//! key and scattered over the heap. Here a person's properties are a block of one vector,
//! named by a [`PropRange`]: creating, growing and dropping persons takes no allocation in
//! the common case, a snapshot reads and writes the blocks in one sweep, and loading one
//! fills the vector in one go instead of allocating once per person.
//!
//! Blocks come in size classes (1, 2, 3, 4, 6, 8, 12, 16, 24, ...: each at most half
//! again the one before), so that a person gaining keys one at a time moves a few times,
//! not once per key. A freed block goes to the free list of the largest class it holds
//! and is handed to the next person needing that class. When more than half of the vector
//! is free, [`PropArena::compact`] packs the live blocks together again.

use super::props::{Prop, PropStore};
use crate::graph::{IdKey, PropKey, ValueId, reserve_room};

/// Where a person's properties sit in its project's [`PropArena`]: `len` entries sorted by
/// key from `start`, in a block of `cap` slots. 16 bytes, as the boxed slice it replaces;
/// `start` is a `usize` so that the arena, like any vector, grows until memory runs out
/// and storing properties cannot fail. A person has fewer properties than there are
/// property keys, which are `u32`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct PropRange {
    start: usize,
    len: u32,
    cap: u32,
}

impl PropRange {
    /// The range of `len` entries from `start` in a block of exactly that size: where a
    /// snapshot puts each person's properties, back to back.
    pub(crate) fn exact(start: usize, len: u32) -> PropRange {
        PropRange {
            start,
            len,
            cap: len,
        }
    }

    pub(crate) fn len(self) -> usize {
        self.len as usize
    }

    fn span(self) -> std::ops::Range<usize> {
        self.start..self.start + self.len as usize
    }

    /// Slots in the block.
    #[cfg(all(test, feature = "workload"))]
    pub(crate) fn cap(self) -> usize {
        self.cap as usize
    }
}

/// A block size as stored: a person's length fits `u32`, so its class's size only passes
/// `u32::MAX` for lengths within a third of it, where the block is cut to `u32::MAX`.
fn cap_u32(cap: usize) -> u32 {
    u32::try_from(cap).unwrap_or(u32::MAX)
}

/// The slots of size class `class`.
const fn class_cap(class: usize) -> usize {
    if class < 4 {
        class + 1
    } else if class.is_multiple_of(2) {
        6 << ((class - 4) / 2)
    } else {
        8 << ((class - 5) / 2)
    }
}

/// The smallest class with room for `len` entries (a person's length, so at most
/// `u32::MAX`: class 67 holds more).
fn class_for(len: usize) -> usize {
    (0..68).find(|&c| class_cap(c) >= len).unwrap_or(67)
}

/// The largest class a block of `cap` slots holds (`cap` at least 1).
fn class_within(cap: usize) -> usize {
    class_for(cap + 1).saturating_sub(1)
}

/// A filler for slots that hold no property.
const EMPTY: Prop = Prop {
    key: PropKey::from_raw(0),
    writer: IdKey::from_raw(0),
    value: ValueId::from_raw(0),
};

/// The properties of all persons of one project. See the module documentation.
#[derive(Clone, Debug, Default)]
pub(crate) struct PropArena {
    slots: Vec<Prop>,
    /// The starts of free blocks, by size class.
    free: Vec<Vec<usize>>,
    /// Slots in blocks that belong to a person.
    in_use: usize,
    /// Counts the calls that may have changed a block (see [`PropArena::writes`]).
    writes: u64,
}

impl PropArena {
    /// A count that changes whenever any block does (it counts the writing calls, some of
    /// which may write what was there): a shared engine's writer compares it around an
    /// event to tell one that changed nothing.
    pub(crate) fn writes(&self) -> u64 {
        self.writes
    }

    fn wrote(&mut self) {
        self.writes = self.writes.wrapping_add(1);
    }

    /// The properties at `at`, sorted by key.
    pub(crate) fn get(&self, at: PropRange) -> &[Prop] {
        &self.slots[at.span()]
    }

    /// The value of `key` at `at`.
    pub(crate) fn value(&self, at: PropRange, key: PropKey) -> Option<ValueId> {
        let props = self.get(at);
        props
            .binary_search_by_key(&key, |p| p.key)
            .ok()
            .map(|i| props[i].value)
    }

    /// A block with room for `len` entries, holding none yet.
    fn alloc(&mut self, len: usize) -> PropRange {
        let class = class_for(len);
        let cap = cap_u32(class_cap(class));
        self.in_use += cap as usize;
        if let Some(start) = self.free.get_mut(class).and_then(Vec::pop) {
            return PropRange { start, len: 0, cap };
        }
        let start = self.slots.len();
        reserve_room(&mut self.slots, cap as usize);
        self.slots.resize(start + cap as usize, EMPTY);
        PropRange { start, len: 0, cap }
    }

    /// Gives the block at `at` back; `at` must not be used again.
    fn release(&mut self, at: PropRange) {
        let cap = at.cap as usize;
        if cap == 0 {
            return;
        }
        self.in_use -= cap;
        let class = class_within(cap);
        if self.free.len() <= class {
            self.free.resize_with(class + 1, Vec::new);
        }
        self.free[class].push(at.start);
    }

    /// Empties `at`, giving its block back.
    pub(crate) fn clear(&mut self, at: &mut PropRange) {
        self.wrote();
        self.release(*at);
        *at = PropRange::default();
    }

    /// Makes room at `at` for `len` entries in all, so that writing them one by one moves
    /// the block once rather than at each size class it grows through.
    pub(crate) fn reserve(&mut self, at: &mut PropRange, len: usize) {
        if len <= at.cap as usize {
            return;
        }
        self.wrote();
        let old = at.span();
        let mut moved = self.alloc(len);
        self.slots.copy_within(old, moved.start);
        moved.len = at.len;
        self.release(*at);
        *at = moved;
    }

    /// Sets `key` at `at` to `value`, written by `writer`.
    pub(crate) fn insert(
        &mut self,
        at: &mut PropRange,
        key: PropKey,
        writer: IdKey,
        value: ValueId,
    ) {
        self.wrote();
        let prop = Prop { key, writer, value };
        let i = match self.get(*at).binary_search_by_key(&key, |p| p.key) {
            Ok(i) => {
                self.slots[at.start + i] = prop;
                return;
            }
            Err(i) => i,
        };
        let old = at.span();
        if at.len < at.cap {
            self.slots
                .copy_within(old.start + i..old.end, old.start + i + 1);
            self.slots[old.start + i] = prop;
            at.len += 1;
            return;
        }
        let mut moved = self.alloc(at.len() + 1);
        let new = moved.start;
        self.slots.copy_within(old.start..old.start + i, new);
        self.slots[new + i] = prop;
        self.slots.copy_within(old.start + i..old.end, new + i + 1);
        moved.len = at.len + 1;
        self.release(*at);
        *at = moved;
    }

    /// Removes `key` at `at`; whether it was there.
    pub(crate) fn remove(&mut self, at: &mut PropRange, key: PropKey) -> bool {
        let Ok(i) = self.get(*at).binary_search_by_key(&key, |p| p.key) else {
            return false;
        };
        self.wrote();
        let span = at.span();
        self.slots
            .copy_within(span.start + i + 1..span.end, span.start + i);
        at.len -= 1;
        true
    }

    /// Replaces the properties at `at` with `props`, sorted by key without repeats.
    pub(crate) fn set(&mut self, at: &mut PropRange, props: &[Prop]) {
        self.wrote();
        if props.is_empty() {
            self.clear(at);
            return;
        }
        if props.len() > at.cap as usize {
            let moved = self.alloc(props.len());
            self.release(*at);
            *at = moved;
        }
        self.slots[at.start..at.start + props.len()].copy_from_slice(props);
        at.len = cap_u32(props.len());
    }

    /// Keeps the properties at `at` for which `keep` holds.
    pub(crate) fn retain(&mut self, at: &mut PropRange, mut keep: impl FnMut(&Prop) -> bool) {
        self.wrote();
        let span = at.span();
        let mut kept = span.start;
        for i in span {
            if keep(&self.slots[i]) {
                self.slots[kept] = self.slots[i];
                kept += 1;
            }
        }
        at.len = cap_u32(kept - at.start);
    }

    /// Whether more than half of the vector is free blocks, and enough to be worth packing.
    pub(crate) fn is_sparse(&self) -> bool {
        let free = self.slots.len() - self.in_use;
        free > 4096 && free * 2 > self.slots.len()
    }

    /// Packs the blocks of `ranges`, which must be every block in use, together; each keeps
    /// the room of its size class.
    pub(crate) fn compact<'r>(&mut self, ranges: impl Iterator<Item = &'r mut PropRange>) {
        let mut packed = PropArena {
            slots: Vec::with_capacity(self.in_use),
            writes: self.writes.wrapping_add(1),
            ..PropArena::default()
        };
        for at in ranges {
            if at.len == 0 {
                *at = PropRange::default();
                continue;
            }
            let cap = cap_u32(class_cap(class_for(at.len())));
            let start = packed.slots.len();
            packed.slots.extend_from_slice(self.get(*at));
            packed.slots.resize(start + cap as usize, EMPTY);
            packed.in_use += cap as usize;
            *at = PropRange {
                start,
                len: at.len,
                cap,
            };
        }
        packed.slots.shrink_to_fit();
        *self = packed;
    }

    /// An arena holding the blocks of `ranges`, made with [`PropRange::exact`] back to back
    /// from 0: what a snapshot loads. `None` when they do not cover `slots` exactly.
    pub(crate) fn from_packed(
        slots: Vec<Prop>,
        ranges: impl Iterator<Item = PropRange>,
    ) -> Option<PropArena> {
        let mut end = 0;
        for at in ranges {
            if at.start != end || at.cap != at.len {
                return None;
            }
            end += at.len as usize;
        }
        (end == slots.len()).then(|| PropArena {
            in_use: slots.len(),
            slots,
            free: Vec::new(),
            writes: 0,
        })
    }

    /// Slots in the vector, used or free: for memory accounting and tests.
    #[cfg(test)]
    pub(crate) fn slots(&self) -> usize {
        self.slots.len()
    }

    /// Slots in blocks that belong to a person.
    #[cfg(test)]
    pub(crate) fn in_use(&self) -> usize {
        self.in_use
    }
}

/// One person's properties in the arena, for `posthog::Ops`.
pub(crate) struct InArena<'a> {
    pub(crate) arena: &'a mut PropArena,
    pub(crate) at: &'a mut PropRange,
}

impl PropStore for InArena<'_> {
    fn value(&self, key: PropKey) -> Option<ValueId> {
        self.arena.value(*self.at, key)
    }

    fn reserve(&mut self, len: usize) {
        self.arena.reserve(self.at, len);
    }

    fn put(&mut self, key: PropKey, writer: IdKey, value: ValueId) {
        self.arena.insert(self.at, key, writer, value);
    }

    fn take(&mut self, key: PropKey) -> bool {
        self.arena.remove(self.at, key)
    }

    fn entries(&self) -> &[Prop] {
        self.arena.get(*self.at)
    }
}

/// Properties sorted by key without repeats, stored back to back: what the sides of merge
/// records keep (`sides.rs`).
/// Runs are appended and only ever shrink in place (erasing an id); removing records
/// leaves their entries behind until [`PropRuns::compact`].
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct PropRuns {
    entries: Vec<Prop>,
}

/// A run of entries in a [`PropRuns`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RunAt {
    start: usize,
    len: u32,
}

impl RunAt {
    /// The run of `len` entries from `start`.
    pub(crate) fn exact(start: usize, len: u32) -> RunAt {
        RunAt { start, len }
    }

    pub(crate) fn len(self) -> usize {
        self.len as usize
    }

    pub(crate) fn start(self) -> usize {
        self.start
    }
}

impl PropRuns {
    /// Entries stored, referred to or not.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn get(&self, at: RunAt) -> &[Prop] {
        &self.entries[at.start..at.start + at.len as usize]
    }

    /// The entries of the run at `at`, to change in place.
    pub(crate) fn get_mut(&mut self, at: RunAt) -> &mut [Prop] {
        &mut self.entries[at.start..at.start + at.len as usize]
    }

    /// Appends `props`, a person's properties (so fewer than `u32::MAX`).
    pub(crate) fn push(&mut self, props: &[Prop]) -> RunAt {
        let start = self.entries.len();
        reserve_room(&mut self.entries, props.len());
        self.entries.extend_from_slice(props);
        RunAt {
            start,
            len: cap_u32(props.len()),
        }
    }

    /// Keeps the entries of the run at `at` for which `keep` holds.
    pub(crate) fn retain(&mut self, at: &mut RunAt, mut keep: impl FnMut(&Prop) -> bool) {
        let mut kept = at.start;
        for i in at.start..at.start + at.len as usize {
            if keep(&self.entries[i]) {
                self.entries[kept] = self.entries[i];
                kept += 1;
            }
        }
        at.len = cap_u32(kept - at.start);
    }

    /// Keeps only the runs of `runs`, back to back.
    pub(crate) fn compact<'r>(&mut self, runs: impl Iterator<Item = &'r mut RunAt>) {
        let mut packed = Vec::new();
        for at in runs {
            let start = packed.len();
            packed.extend_from_slice(self.get(*at));
            at.start = start;
        }
        self.entries = packed;
    }

    /// The stored runs of `runs`, made with [`RunAt::exact`] back to back from 0: what a
    /// snapshot loads. `None` when they do not cover `entries` exactly.
    pub(crate) fn from_packed<'r>(
        entries: Vec<Prop>,
        runs: impl Iterator<Item = &'r RunAt>,
    ) -> Option<PropRuns> {
        let mut end = 0;
        for at in runs {
            if at.start != end {
                return None;
            }
            end += at.len as usize;
        }
        (end == entries.len()).then_some(PropRuns { entries })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: u32) -> PropKey {
        PropKey::from_raw(k)
    }

    #[test]
    fn size_classes_grow_by_at_most_half() {
        let caps: Vec<usize> = (0..12).map(class_cap).collect();
        assert_eq!(caps, [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64]);
        for len in 1..200 {
            let class = class_for(len);
            assert!(class_cap(class) >= len);
            assert!(class == 0 || class_cap(class - 1) < len);
            assert!(class_cap(class_within(len)) <= len);
        }
    }

    #[test]
    fn inserts_keep_keys_sorted_and_reuse_freed_blocks() {
        let mut arena = PropArena::default();
        let (mut a, mut b) = (PropRange::default(), PropRange::default());
        for k in [5, 1, 9, 3, 7] {
            arena.insert(&mut a, key(k), IdKey::from_raw(0), ValueId::from_raw(k));
        }
        let keys: Vec<u32> = arena.get(a).iter().map(|p| p.key.raw()).collect();
        assert_eq!(keys, [1, 3, 5, 7, 9]);
        assert_eq!(arena.value(a, key(7)), Some(ValueId::from_raw(7)));
        assert!(arena.remove(&mut a, key(3)));
        assert!(!arena.remove(&mut a, key(3)));
        assert_eq!(arena.get(a).len(), 4);
        // `a` moved through blocks of 1, 2, 3, 4 and 6 slots; `b` takes the freed ones.
        let before = arena.slots();
        for k in 0..4 {
            arena.insert(&mut b, key(k), IdKey::from_raw(1), ValueId::from_raw(k));
        }
        assert_eq!(arena.slots(), before);
        assert_eq!(arena.in_use(), 6 + 4);
        arena.clear(&mut b);
        assert_eq!(arena.in_use(), 6);
        assert!(arena.get(b).is_empty());
    }

    #[test]
    fn a_reserved_block_takes_its_entries_without_moving_and_keeps_what_it_held() {
        let mut arena = PropArena::default();
        let mut at = PropRange::default();
        arena.insert(&mut at, key(40), IdKey::from_raw(0), ValueId::from_raw(40));
        arena.reserve(&mut at, 26);
        assert_eq!(at.cap, 32, "the class a block of 26 grows into anyway");
        assert_eq!(arena.value(at, key(40)), Some(ValueId::from_raw(40)));
        let start = at.start;
        for k in (0..25).rev() {
            arena.insert(&mut at, key(k), IdKey::from_raw(0), ValueId::from_raw(k));
        }
        assert_eq!(at.start, start, "no move while there is room");
        let keys: Vec<u32> = arena.get(at).iter().map(|p| p.key.raw()).collect();
        assert_eq!(keys, (0..25).chain([40]).collect::<Vec<_>>());
        // Room already there: nothing moves; the first block went back to its free list.
        arena.reserve(&mut at, 10);
        assert_eq!((at.start, at.cap), (start, 32));
        assert_eq!(arena.in_use(), 32);
    }

    #[test]
    fn compaction_keeps_every_range_and_its_entries() {
        let mut arena = PropArena::default();
        let mut ranges = vec![PropRange::default(); 3000];
        for (i, at) in ranges.iter_mut().enumerate() {
            for k in 0..(i % 7) as u32 {
                arena.insert(at, key(k), IdKey::from_raw(i as u32), ValueId::from_raw(k));
            }
        }
        let before: Vec<Vec<Prop>> = ranges.iter().map(|&at| arena.get(at).to_vec()).collect();
        for at in ranges.iter_mut().step_by(2) {
            arena.clear(at);
        }
        arena.compact(ranges.iter_mut());
        for (i, at) in ranges.iter().enumerate() {
            let expected: &[Prop] = if i % 2 == 0 { &[] } else { &before[i] };
            assert_eq!(arena.get(*at), expected);
        }
        assert_eq!(arena.slots(), arena.in_use());
    }

    /// Every block in use belongs to exactly one person after applying, merging, splitting,
    /// unlinking, deleting and erasing: none is lost (memory that compaction could never
    /// reclaim) or shared.
    #[test]
    #[cfg(feature = "workload")]
    fn every_block_in_use_belongs_to_one_person_after_edits() {
        use crate::{Engine, Event, Project, Workload, WorkloadConfig};
        let mut engine = Engine::new();
        let config = WorkloadConfig {
            seed: 7,
            events: 20_000,
            ..WorkloadConfig::default()
        };
        for event in Workload::new(config) {
            engine.apply(&event).unwrap();
        }
        let persons: Vec<(Project, Vec<String>)> = engine
            .persons()
            .filter(|p| p.distinct_ids().count() >= 3)
            .take(40)
            .map(|p| {
                (
                    p.project().clone(),
                    p.distinct_ids().map(str::to_owned).collect(),
                )
            })
            .collect();
        assert!(persons.len() >= 10, "the workload merges persons");
        for (i, (project, ids)) in persons.iter().enumerate() {
            match i % 4 {
                0 => drop(engine.unlink(project, &ids[0], &ids[1])),
                1 => drop(engine.erase(project, &ids[0])),
                2 => drop(engine.delete_person(project, &ids[1])),
                _ => drop(engine.split(project, &[ids[0].as_str()])),
            }
            engine
                .apply(
                    &Event::new("$pageview", ids[2].as_str())
                        .with_project(project.clone())
                        .with_property(
                            "$set",
                            crate::Value::object([(
                                "after_edit",
                                crate::Value::from(i64::try_from(i).unwrap()),
                            )]),
                        ),
                )
                .unwrap();
        }
        for graph in engine.projects.iter() {
            let mut starts: Vec<(usize, usize)> = graph
                .persons()
                .map(|(_, p)| p.props())
                .filter(|props| props.cap() > 0)
                .map(|props| (props.start, props.cap()))
                .collect();
            let held: usize = starts.iter().map(|&(_, cap)| cap).sum();
            assert_eq!(held, graph.props().in_use());
            starts.sort_unstable();
            assert!(
                starts.windows(2).all(|w| w[0].0 + w[0].1 <= w[1].0),
                "blocks overlap"
            );
        }
    }

    #[test]
    fn record_runs_survive_retain_and_compaction() {
        let prop = |k: u32| Prop {
            key: key(k),
            writer: IdKey::from_raw(k % 3),
            value: ValueId::from_raw(k),
        };
        let mut runs = PropRuns::default();
        let mut kept: Vec<RunAt> = (0..10)
            .map(|i| runs.push(&(0..i).map(prop).collect::<Vec<_>>()))
            .collect();
        runs.retain(&mut kept[9], |p| p.writer != IdKey::from_raw(0));
        let expected: Vec<Vec<Prop>> = kept.iter().map(|&at| runs.get(at).to_vec()).collect();
        assert_eq!(expected[9].len(), 6);
        // Drop every other run, as removing their links does, and pack the rest.
        let mut live: Vec<RunAt> = kept.iter().copied().skip(1).step_by(2).collect();
        runs.compact(live.iter_mut());
        assert_eq!(runs.len(), live.iter().map(|at| at.len()).sum::<usize>());
        for (at, want) in live.iter().zip(expected.iter().skip(1).step_by(2)) {
            assert_eq!(runs.get(*at), &want[..]);
        }
        let rebuilt = PropRuns::from_packed(runs.entries.clone(), live.iter());
        assert_eq!(rebuilt, Some(runs.clone()));
        assert_eq!(
            PropRuns::from_packed(runs.entries.clone(), live.iter().skip(1)),
            None
        );
    }

    #[test]
    fn a_set_past_the_block_moves_and_an_empty_set_frees() {
        let mut arena = PropArena::default();
        let mut at = PropRange::default();
        let props: Vec<Prop> = (0..5)
            .map(|k| Prop {
                key: key(k),
                writer: IdKey::from_raw(0),
                value: ValueId::from_raw(k),
            })
            .collect();
        arena.set(&mut at, &props);
        assert_eq!(arena.get(at), &props[..]);
        arena.retain(&mut at, |p| p.key.raw() % 2 == 0);
        assert_eq!(arena.get(at).len(), 3);
        arena.set(&mut at, &[]);
        assert_eq!(arena.in_use(), 0);
    }
}
