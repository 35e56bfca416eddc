//! Property values stored once: persons hold a `ValueId` (4 bytes) per property instead of a
//! `Value` (24 bytes plus its heap), and equal values share one slot.
//!
//! Analytics properties repeat: browser names, plans, campaign sources, initial URLs. Storing
//! each distinct value once is what brings a person's properties from about 60 bytes each to
//! 12. Values that nothing refers to any more (overwritten, unset, merged away) are collected
//! by a mark-and-sweep pass that runs when the store has doubled since the last one, so its
//! cost is amortized O(1) per stored value and no count is kept on the hot path.

use std::hash::{BuildHasher, Hash, Hasher};

use hashbrown::hash_table::Entry;
use hashbrown::{DefaultHashBuilder, HashTable};

use crate::error::EngineError;
use crate::event::{Number, Value};
use crate::graph::ValueId;

/// Below this many slots, collection is not worth a pass.
const MIN_COLLECT: usize = 1 << 12;

#[derive(Clone, Default)]
pub(crate) struct ValueStore {
    /// Slot to value; free slots hold `Null` and are listed in `free`.
    values: Vec<Value>,
    /// Slots by the strict hash of their value.
    table: HashTable<u32>,
    free: Vec<u32>,
    hasher: DefaultHashBuilder,
    /// Slots in use right after the last collection.
    live_after_collect: usize,
    /// Counts the calls that stored or freed a value (see [`ValueStore::writes`]).
    writes: u64,
}

/// Where [`ValueStore::find_or_store`] found a value's slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Interned {
    /// The value was stored already.
    Found(ValueId),
    /// The value was stored by this call.
    Stored(ValueId),
}

impl Interned {
    pub(crate) fn slot(self) -> ValueId {
        match self {
            Interned::Found(slot) | Interned::Stored(slot) => slot,
        }
    }
}

/// Hashes a value by its exact form: `1` and `1.0` hash (and compare) apart in the store,
/// so that each person keeps the form it was sent.
fn hash_value<H: Hasher>(value: &Value, h: &mut H) {
    match value {
        Value::Null => 0u8.hash(h),
        Value::Bool(b) => (1u8, b).hash(h),
        Value::Number(Number::Int(i)) => (2u8, i).hash(h),
        Value::Number(Number::UInt(u)) => (3u8, u).hash(h),
        Value::Number(Number::Float(f)) => (4u8, f.to_bits()).hash(h),
        Value::String(s) => (5u8, s).hash(h),
        Value::Array(items) => {
            (6u8, items.len()).hash(h);
            items.iter().for_each(|v| hash_value(v, h));
        }
        Value::Object(members) => {
            (7u8, members.len()).hash(h);
            for (k, v) in &**members {
                k.hash(h);
                hash_value(v, h);
            }
        }
    }
}

/// Equality by exact form (see [`hash_value`]).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(Number::Float(x)), Value::Number(Number::Float(y))) => {
            x.to_bits() == y.to_bits()
        }
        (Value::Number(x), Value::Number(y)) => {
            std::mem::discriminant(x) == std::mem::discriminant(y) && x == y
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y.iter())
                    .all(|((ka, va), (kb, vb))| ka == kb && same(va, vb))
        }
        _ => a == b,
    }
}

impl ValueStore {
    /// A count that changes whenever a value is stored or freed: a shared engine's writer
    /// compares it around an event to tell one that changed nothing.
    pub(crate) fn writes(&self) -> u64 {
        self.writes
    }

    fn hash(&self, value: &Value) -> u64 {
        let mut h = self.hasher.build_hasher();
        hash_value(value, &mut h);
        h.finish()
    }

    /// The value in slot `id`.
    pub(crate) fn get(&self, id: ValueId) -> &Value {
        &self.values[id.index()]
    }

    /// The slot holding exactly `value`, if any.
    #[cfg_attr(
        not(test),
        allow(dead_code, reason = "a query kept for tests and tools")
    )]
    pub(crate) fn lookup(&self, value: &Value) -> Option<ValueId> {
        let hash = self.hash(value);
        self.table
            .find(hash, |&slot| same(&self.values[slot as usize], value))
            .map(|&slot| ValueId::from_raw(slot))
    }

    /// Whether slot `id` holds exactly `value`.
    pub(crate) fn holds(&self, id: ValueId, value: &Value) -> bool {
        self.values.get(id.index()).is_some_and(|v| same(v, value))
    }

    /// The slot holding exactly `value`, storing a copy first if needed.
    pub(crate) fn intern(&mut self, value: &Value) -> Result<ValueId, EngineError> {
        self.find_or_store(value).map(Interned::slot)
    }

    /// [`ValueStore::intern`], telling whether the value was there already.
    pub(crate) fn find_or_store(&mut self, value: &Value) -> Result<Interned, EngineError> {
        let hash = self.hash(value);
        if let Some(&slot) = self
            .table
            .find(hash, |&slot| same(&self.values[slot as usize], value))
        {
            return Ok(Interned::Found(ValueId::from_raw(slot)));
        }
        self.writes = self.writes.wrapping_add(1);
        let slot = match self.free.pop() {
            Some(slot) => {
                self.values[slot as usize] = value.clone();
                slot
            }
            None => {
                let slot = ValueId::new(self.values.len())?.raw();
                self.values.push(value.clone());
                slot
            }
        };
        let ValueStore {
            values,
            table,
            hasher,
            ..
        } = self;
        table.insert_unique(hash, slot, |&s| {
            let mut h = hasher.build_hasher();
            hash_value(&values[s as usize], &mut h);
            h.finish()
        });
        Ok(Interned::Stored(ValueId::from_raw(slot)))
    }

    /// Slots in use.
    pub(crate) fn live(&self) -> usize {
        self.values.len() - self.free.len()
    }

    /// Whether enough slots may have died since the last collection to pay for a pass.
    pub(crate) fn wants_collection(&self) -> bool {
        self.live() >= MIN_COLLECT.max(2 * self.live_after_collect)
    }

    /// Frees every slot not in `reachable` (a slice of flags, one per slot, as built by the
    /// caller from every person and merge record).
    pub(crate) fn collect(&mut self, reachable: &[bool]) {
        self.writes = self.writes.wrapping_add(1);
        let ValueStore {
            values,
            table,
            free,
            hasher,
            ..
        } = self;
        let mut already_free = vec![false; values.len()];
        for &slot in free.iter() {
            already_free[slot as usize] = true;
        }
        for (slot, value) in values.iter_mut().enumerate() {
            let in_use = reachable.get(slot).copied().unwrap_or(false);
            if in_use || already_free[slot] {
                continue;
            }
            let mut h = hasher.build_hasher();
            hash_value(value, &mut h);
            if let Ok(entry) = table.find_entry(h.finish(), |&s| s as usize == slot) {
                entry.remove();
            }
            *value = Value::Null;
            free.push(slot as u32);
        }
        self.live_after_collect = self.live();
    }

    /// Number of slots, free or not: for sizing the `reachable` flags, and what a loaded
    /// property may name.
    pub(crate) fn slots(&self) -> usize {
        self.values.len()
    }

    /// The slots and the free list, for snapshots.
    pub(crate) fn parts(&self) -> (&[Value], &[u32]) {
        (&self.values, &self.free)
    }

    /// Rebuilds a store; `None` when a free slot is out of range, listed twice or not
    /// `Null`, or when two live slots hold the same value.
    #[cfg(test)]
    pub(crate) fn from_parts(values: Vec<Value>, free: Vec<u32>) -> Option<ValueStore> {
        let mut rebuild = Rebuild::with_capacity(values.len());
        for value in values {
            rebuild.push(value)?;
        }
        rebuild.finish(free)
    }
}

/// A store rebuilt slot by slot, as a snapshot lists them. Each value is hashed as it
/// arrives, while it is in cache, rather than in a second pass over every value.
pub(crate) struct Rebuild {
    store: ValueStore,
    /// Slots holding `Null`: free ones, or the one live `Null`, told apart by the free list.
    nulls: Vec<u32>,
}

impl Rebuild {
    pub(crate) fn with_capacity(slots: usize) -> Rebuild {
        let mut store = ValueStore {
            values: Vec::with_capacity(slots),
            ..ValueStore::default()
        };
        store.table.reserve(slots, |_| 0);
        Rebuild {
            store,
            nulls: Vec::new(),
        }
    }

    /// Adds the next slot; `None` when it holds a value an earlier live slot holds.
    pub(crate) fn push(&mut self, value: Value) -> Option<()> {
        let slot = u32::try_from(self.store.values.len()).ok()?;
        if matches!(value, Value::Null) {
            self.nulls.push(slot);
        } else {
            self.insert(slot, &value)?;
        }
        self.store.values.push(value);
        Some(())
    }

    fn insert(&mut self, slot: u32, value: &Value) -> Option<()> {
        let hash = self.store.hash(value);
        let ValueStore {
            values,
            table,
            hasher,
            ..
        } = &mut self.store;
        match table.entry(
            hash,
            |&s| same(&values[s as usize], value),
            |&s| {
                let mut h = hasher.build_hasher();
                hash_value(&values[s as usize], &mut h);
                h.finish()
            },
        ) {
            Entry::Occupied(_) => None,
            Entry::Vacant(vacant) => {
                vacant.insert(slot);
                Some(())
            }
        }
    }

    /// The store with `free` as its free list; `None` when a free slot is out of range,
    /// listed twice or not `Null`, or when two live slots hold `Null`.
    pub(crate) fn finish(mut self, mut free: Vec<u32>) -> Option<ValueStore> {
        let mut is_free = vec![false; self.store.values.len()];
        for &slot in &free {
            let flag = is_free.get_mut(slot as usize)?;
            if *flag || !matches!(self.store.values[slot as usize], Value::Null) {
                return None;
            }
            *flag = true;
        }
        for slot in std::mem::take(&mut self.nulls) {
            if !is_free[slot as usize] {
                self.insert(slot, &Value::Null)?;
            }
        }
        free.shrink_to_fit();
        self.store.free = free;
        self.store.live_after_collect = self.store.live();
        Some(self.store)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_values_share_a_slot_and_forms_stay_apart() {
        let mut store = ValueStore::default();
        let a = store.intern(&Value::from("pro")).unwrap();
        assert_eq!(store.intern(&Value::from("pro")).unwrap(), a);
        let int = store.intern(&Value::from(1)).unwrap();
        let float = store.intern(&Value::from(1.0)).unwrap();
        assert_ne!(int, float);
        assert_eq!(store.get(float), &Value::from(1.0));
        assert_eq!(store.lookup(&Value::object([("k", Value::from(1))])), None);
    }

    #[test]
    fn collection_frees_unreachable_slots_for_reuse() {
        let mut store = ValueStore::default();
        let keep = store.intern(&Value::from("keep")).unwrap();
        let drop = store.intern(&Value::from("drop")).unwrap();
        let mut reachable = vec![false; store.slots()];
        reachable[keep.index()] = true;
        store.collect(&reachable);
        assert_eq!(store.live(), 1);
        assert_eq!(store.lookup(&Value::from("drop")), None);
        assert_eq!(store.lookup(&Value::from("keep")), Some(keep));
        assert_eq!(
            store.intern(&Value::from("new")).unwrap(),
            drop,
            "the freed slot is reused"
        );
        let (values, free) = store.parts();
        assert!(ValueStore::from_parts(values.to_vec(), free.to_vec()).is_some());
        assert!(ValueStore::from_parts(vec![Value::from(1), Value::from(1)], vec![]).is_none());
        // One live null is a value like any other; two are the same value twice.
        assert!(ValueStore::from_parts(vec![Value::Null, Value::Null], vec![1]).is_some());
        assert!(ValueStore::from_parts(vec![Value::Null, Value::Null], vec![]).is_none());
        assert!(ValueStore::from_parts(vec![Value::from(1)], vec![0]).is_none());
    }
}
