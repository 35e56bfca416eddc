//! A small value for each id of one person, for the edits' walks over every link of a
//! project, which look up both ends of each link.
//!
//! A hash map pays a hash for each lookup and, once the person outgrows the cache, a miss at
//! a random slot. Keys are minted in the order ids are first seen, so the ids of one person
//! mostly sit in a narrow range of keys, and links made one after the other name nearby
//! keys: a vector over that range, indexed by key, reads neighbouring slots instead. A
//! person whose few ids are spread far apart (one seen long ago, one today) would make that
//! vector the size of the project rather than of the person, so its table is a hash map.

use hashbrown::HashMap;

use super::keys::IdKey;

/// The vector may take this many slots per key it is made for, and [`SLOTS_FREE`] more,
/// before a hash map is cheaper: a slot is a few bytes and a hash map entry costs more than
/// one, so the table stays O(keys) either way.
const SLOTS_PER_KEY: usize = 8;

/// Slots any table may take whatever its keys, so that small persons never hash.
const SLOTS_FREE: usize = 4096;

/// A value for each of a set of keys, `absent` for every other key.
pub(crate) struct IdTable<T> {
    store: Store<T>,
    absent: T,
}

enum Store<T> {
    /// The slot of `key` is `slots[key - first]`.
    Dense {
        first: usize,
        slots: Vec<T>,
    },
    Sparse(HashMap<IdKey, T>),
}

impl<T: Copy + PartialEq> IdTable<T> {
    /// A table that can hold a value for each of `keys`; every key reads `absent` until set.
    pub(crate) fn for_keys(keys: impl IntoIterator<Item = IdKey>, absent: T) -> IdTable<T> {
        let (mut first, mut last, mut count) = (usize::MAX, 0, 0usize);
        for key in keys {
            first = first.min(key.index());
            last = last.max(key.index());
            count += 1;
        }
        let span = if count == 0 { 0 } else { last - first + 1 };
        let store = if span
            <= count
                .saturating_mul(SLOTS_PER_KEY)
                .saturating_add(SLOTS_FREE)
        {
            Store::Dense {
                first: first.min(last),
                slots: vec![absent; span],
            }
        } else {
            Store::Sparse(HashMap::with_capacity(count))
        };
        IdTable { store, absent }
    }

    /// The value of `key`, `absent` if it has none.
    pub(crate) fn get(&self, key: IdKey) -> T {
        match &self.store {
            Store::Dense { first, slots } => key
                .index()
                .checked_sub(*first)
                .and_then(|i| slots.get(i))
                .copied()
                .unwrap_or(self.absent),
            Store::Sparse(map) => map.get(&key).copied().unwrap_or(self.absent),
        }
    }

    /// Sets the value of `key`, one of the keys the table was made for.
    pub(crate) fn set(&mut self, key: IdKey, value: T) {
        match &mut self.store {
            Store::Dense { first, slots } => slots[key.index() - *first] = value,
            Store::Sparse(map) => {
                map.insert(key, value);
            }
        }
    }
}

impl IdTable<bool> {
    /// A table that reads `true` for exactly `keys`: a set of ids.
    pub(crate) fn marking(keys: &[IdKey]) -> IdTable<bool> {
        let mut table = IdTable::for_keys(keys.iter().copied(), false);
        for &key in keys {
            table.set(key, true);
        }
        table
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(raw: &[u32]) -> Vec<IdKey> {
        raw.iter().copied().map(IdKey::from_raw).collect()
    }

    /// Both kinds of table read what was set, and `absent` for every other key, inside
    /// their range or not.
    #[test]
    fn a_table_reads_what_was_set_and_absent_elsewhere() {
        let near = keys(&[10, 12, 11, 40]);
        let far = keys(&[3, 5_000_000, 7]);
        for set in [&near, &far] {
            let mut table = IdTable::for_keys(set.iter().copied(), u32::MAX);
            for (i, &key) in set.iter().enumerate() {
                table.set(key, i as u32);
            }
            for (i, &key) in set.iter().enumerate() {
                assert_eq!(table.get(key), i as u32);
            }
            for raw in [0, 2, 4, 9, 13, 39, 41, 4_999_999, 5_000_001, u32::MAX - 1] {
                assert_eq!(table.get(IdKey::from_raw(raw)), u32::MAX, "{raw}");
            }
        }
        assert!(matches!(
            IdTable::for_keys(near, false).store,
            Store::Dense { .. }
        ));
        assert!(matches!(
            IdTable::for_keys(far, false).store,
            Store::Sparse(_)
        ));
        let empty = IdTable::for_keys([], false);
        assert!(!empty.get(IdKey::from_raw(0)));
    }
}
