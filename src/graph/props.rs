//! A person's properties as the graph stores them: sorted by key, each with the id whose
//! event last wrote it.
//!
//! Persons carry a handful of properties, so a sorted list beats a hash map in memory (no
//! table, no empty buckets) and is fast enough by binary search.

use super::keys::{IdKey, PropKey, ValueId};

/// One property of a person, with the distinct id whose event last wrote it, so that
/// undoing a merge can hand each value back to the side that wrote it. 12 bytes: the value
/// lives in the engine's `ValueStore`. Laid out as the snapshot's row (`repr(C)`, plain old
/// data), so that loading reads rows straight into the engine's arena.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct Prop {
    pub(crate) key: PropKey,
    pub(crate) writer: IdKey,
    pub(crate) value: ValueId,
}

/// Properties sorted by key, on their own: what splitting and merging persons compute
/// before storing the result in the project's arena (`prop_arena`).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Props(Box<[Prop]>);

/// Where [`Ops`] reads and writes a person's properties: the project's arena, or a
/// [`Props`] of its own.
pub(crate) trait PropStore {
    /// The value of `key`.
    fn value(&self, key: PropKey) -> Option<ValueId>;
    /// Makes room for `len` properties in all, when the store keeps spare room.
    fn reserve(&mut self, len: usize);
    /// Sets `key` to `value`, written by `writer`.
    fn put(&mut self, key: PropKey, writer: IdKey, value: ValueId);
    /// Removes `key`; whether it was there.
    fn take(&mut self, key: PropKey) -> bool;
    /// Every property, sorted by key.
    fn entries(&self) -> &[Prop];
}

impl PropStore for Props {
    fn value(&self, key: PropKey) -> Option<ValueId> {
        self.get(key)
    }

    /// A boxed slice keeps no spare room: nothing to do.
    fn reserve(&mut self, _len: usize) {}

    fn put(&mut self, key: PropKey, writer: IdKey, value: ValueId) {
        self.insert(key, writer, value);
    }

    fn take(&mut self, key: PropKey) -> bool {
        self.remove(key)
    }

    fn entries(&self) -> &[Prop] {
        Props::entries(self)
    }
}

impl Props {
    pub(crate) fn get(&self, key: PropKey) -> Option<ValueId> {
        self.find(key).ok().map(|i| self.0[i].value)
    }

    fn find(&self, key: PropKey) -> Result<usize, usize> {
        self.0.binary_search_by_key(&key, |p| p.key)
    }

    fn insert(&mut self, key: PropKey, writer: IdKey, value: ValueId) {
        match self.find(key) {
            Ok(i) => self.0[i] = Prop { key, writer, value },
            Err(i) => {
                // Persons gain keys one at a time and rarely many: a boxed slice grown by one
                // stays exact (no spare capacity) and costs 8 bytes less per person than a
                // vector.
                let mut props = std::mem::take(&mut self.0).into_vec();
                props.reserve_exact(1);
                props.insert(i, Prop { key, writer, value });
                self.0 = props.into_boxed_slice();
            }
        }
    }

    fn remove(&mut self, key: PropKey) -> bool {
        match self.find(key) {
            Ok(i) => {
                let mut props = std::mem::take(&mut self.0).into_vec();
                props.remove(i);
                self.0 = props.into_boxed_slice();
                true
            }
            Err(_) => false,
        }
    }

    /// Every property with its writer.
    pub(crate) fn entries(&self) -> &[Prop] {
        &self.0
    }

    /// Properties from entries sorted by key without repeats; `None` otherwise.
    pub(crate) fn from_sorted(entries: Vec<Prop>) -> Option<Props> {
        entries
            .windows(2)
            .all(|w| w[0].key < w[1].key)
            .then_some(Props(entries.into_boxed_slice()))
    }

    /// The properties of a merge: `source` overlaid by `target`, the target winning on every
    /// shared key.
    pub(crate) fn overlay(source: &[Prop], target: &[Prop]) -> Props {
        let mut merged = Vec::with_capacity(source.len() + target.len());
        let mut s = source.iter().copied().peekable();
        for &entry in target {
            while let Some(earlier) = s.next_if(|e| e.key < entry.key) {
                merged.push(earlier);
            }
            s.next_if(|e| e.key == entry.key);
            merged.push(entry);
        }
        merged.extend(s);
        Props(merged.into_boxed_slice())
    }
}
