//! The string interner that mints dense keys.
//!
//! Every distinct id and every property key is stored once, in one string arena, and named
//! everywhere else by a `u32` key. The arena plus a hash table of keys costs about 4 bytes of
//! offset and 5 to 9 bytes of table per string beyond its text, where a `String` per id costs
//! 24 bytes of header plus an allocation.

use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

use super::keys::reserve_gently;
use crate::error::EngineError;

/// Strings stored once in an arena, each named by its position.
#[derive(Clone, Default)]
pub(crate) struct Interner {
    text: String,
    /// `ends[i]` is where string `i` ends in `text`; it starts where string `i - 1` ends.
    ends: Vec<u32>,
    table: HashTable<u32>,
    /// Seeded at random per process: ids come from clients and may be chosen to collide.
    hasher: DefaultHashBuilder,
    /// Numbers whose text was erased, sorted: their text is empty and no lookup finds them.
    erased: Vec<u32>,
}

impl Interner {
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// The string numbered `index`.
    ///
    /// # Panics
    ///
    /// When `index` was not minted by this interner.
    #[track_caller]
    pub(crate) fn get(&self, index: u32) -> &str {
        let i = index as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.text[start..self.ends[i] as usize]
    }

    /// The number of `s`, if it is stored.
    pub(crate) fn lookup(&self, s: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(s);
        self.table.find(hash, |&k| self.get(k) == s).copied()
    }

    /// The number of `s`, storing it first if needed.
    ///
    /// # Errors
    ///
    /// [`EngineError::CapacityExceeded`] when the arena would pass 4 GiB or `u32::MAX - 1`
    /// strings.
    pub(crate) fn intern(&mut self, s: &str, what: &'static str) -> Result<u32, EngineError> {
        let hash = self.hasher.hash_one(s);
        if let Some(&k) = self.table.find(hash, |&k| self.get(k) == s) {
            return Ok(k);
        }
        let full = || EngineError::CapacityExceeded {
            what,
            limit: u64::from(u32::MAX - 1),
        };
        let index = u32::try_from(self.ends.len())
            .ok()
            .filter(|&i| i < u32::MAX)
            .ok_or_else(full)?;
        let end = u32::try_from(self.text.len() + s.len()).map_err(|_| {
            EngineError::CapacityExceeded {
                what: "bytes of string arena",
                limit: u64::from(u32::MAX),
            }
        })?;
        if self.text.capacity() - self.text.len() < s.len() {
            self.text
                .reserve_exact((self.text.len() / 8).max(s.len()).max(4096));
        }
        self.text.push_str(s);
        reserve_gently(&mut self.ends);
        self.ends.push(end);
        self.table_new(hash, index);
        Ok(index)
    }

    /// Tables string `key`, whose text hashes to `hash` and is not in the table yet.
    fn table_new(&mut self, hash: u64, key: u32) {
        let Interner {
            text,
            ends,
            table,
            hasher,
            ..
        } = self;
        table.insert_unique(hash, key, |&k| hasher.hash_one(text_at(text, ends, k)));
    }

    /// Removes the text of `index` from the arena for good: it becomes empty, no lookup finds
    /// it, and the number is never reused. Costs a move of the arena after it.
    pub(crate) fn erase(&mut self, index: u32) {
        let i = index as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        let end = self.ends[i];
        let hash = self.hasher.hash_one(self.get(index));
        if let Ok(entry) = self.table.find_entry(hash, |&k| k == index) {
            entry.remove();
        }
        self.text.replace_range(start as usize..end as usize, "");
        for e in &mut self.ends[i..] {
            *e -= end - start;
        }
        if let Err(at) = self.erased.binary_search(&index) {
            self.erased.insert(at, index);
        }
    }

    /// The numbers whose text was erased, sorted.
    pub(crate) fn erased(&self) -> &[u32] {
        &self.erased
    }

    /// The arena and offsets, for snapshots.
    pub(crate) fn parts(&self) -> (&str, &[u32]) {
        (&self.text, &self.ends)
    }

    /// Rebuilds an interner from an arena and its offsets.
    ///
    /// Returns `None` when the offsets do not cut `text` into strings at character
    /// boundaries, in order, or when a string appears twice.
    /// `erased` lists, sorted, the strings whose text was erased: each must be empty, and
    /// no lookup finds them. (Snapshots store the erased list after the arena, so they use
    /// its two steps, [`Interner::rebuild`] and [`Unfinished::finish`].)
    #[cfg(test)]
    pub(crate) fn from_parts(text: String, ends: Vec<u32>, erased: Vec<u32>) -> Option<Interner> {
        Interner::rebuild(text, ends)?.finish(erased)
    }

    /// The first step of rebuilding an interner from its arena, for a snapshot that stores
    /// the erased list after it: checks that the offsets cut `text` into strings at
    /// character boundaries, in order, and tables every string that is not empty; `None`
    /// when the offsets are wrong or a string repeats.
    pub(crate) fn rebuild(text: String, ends: Vec<u32>) -> Option<Unfinished> {
        let mut start = 0usize;
        for &end in &ends {
            let end = end as usize;
            if end < start || !text.is_char_boundary(end) || end > text.len() {
                return None;
            }
            start = end;
        }
        if start != text.len() {
            return None;
        }
        let mut interner = Interner {
            text,
            ends,
            table: HashTable::new(),
            hasher: DefaultHashBuilder::default(),
            erased: Vec::new(),
        };
        interner.table.reserve(interner.ends.len(), |_| 0);
        let mut empty = Vec::new();
        let Interner {
            text,
            ends,
            table,
            hasher,
            ..
        } = &mut interner;
        for i in 0..ends.len() {
            let key = u32::try_from(i).ok()?;
            let s = text_at(text, ends, key);
            if s.is_empty() {
                empty.push(key);
                continue;
            }
            match table.entry(
                hasher.hash_one(s),
                |&k| text_at(text, ends, k) == s,
                |&k| hasher.hash_one(text_at(text, ends, k)),
            ) {
                hashbrown::hash_table::Entry::Occupied(_) => return None,
                hashbrown::hash_table::Entry::Vacant(vacant) => {
                    vacant.insert(key);
                }
            }
        }
        Some(Unfinished { interner, empty })
    }
}

/// String `k` of an arena cut at `ends`.
#[inline]
fn text_at<'t>(text: &'t str, ends: &[u32], k: u32) -> &'t str {
    let i = k as usize;
    let start = if i == 0 { 0 } else { ends[i - 1] as usize };
    &text[start..ends[i] as usize]
}

/// An interner whose empty strings wait for the erased list: see [`Interner::rebuild`].
pub(crate) struct Unfinished {
    interner: Interner,
    /// The numbers of the empty strings, in order.
    empty: Vec<u32>,
}

impl Unfinished {
    /// The interner, once `erased` (sorted) names only empty strings and leaves at most one
    /// empty string that is not erased, which lookups then find.
    pub(crate) fn finish(self, erased: Vec<u32>) -> Option<Interner> {
        let Unfinished {
            mut interner,
            empty,
        } = self;
        if !erased.windows(2).all(|w| w[0] < w[1]) {
            return None;
        }
        // Both lists are sorted: walk them together, keeping the empty strings not erased.
        let mut kept = Vec::new();
        let mut erased_left = erased.iter().peekable();
        for &e in &empty {
            if erased_left.next_if_eq(&&e).is_none() {
                kept.push(e);
            }
        }
        if erased_left.next().is_some() {
            // An erased number that is not an empty string, or not a string at all.
            return None;
        }
        match kept[..] {
            [] => {}
            [only] => interner.table_new(interner.hasher.hash_one(""), only),
            _ => return None,
        }
        interner.erased = erased;
        Some(interner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_is_idempotent_and_dense() {
        let mut interner = Interner::default();
        let a = interner.intern("alpha", "ids").unwrap();
        let b = interner.intern("beta", "ids").unwrap();
        assert_eq!((a, b), (0, 1));
        assert_eq!(interner.intern("alpha", "ids").unwrap(), a);
        assert_eq!(interner.get(b), "beta");
        assert_eq!(interner.lookup("gamma"), None);
        assert_eq!(interner.len(), 2);
    }

    #[test]
    fn empty_and_unicode_strings_round_trip() {
        let mut interner = Interner::default();
        let ids = ["", "é", "日本", ""];
        let keys: Vec<u32> = ids
            .iter()
            .map(|s| interner.intern(s, "ids").unwrap())
            .collect();
        assert_eq!(keys, [0, 1, 2, 0]);
        assert_eq!(interner.get(2), "日本");
    }

    #[test]
    fn erased_text_is_gone_and_others_still_resolve() {
        let mut interner = Interner::default();
        for s in ["keep", "secret", "after"] {
            interner.intern(s, "ids").unwrap();
        }
        interner.erase(1);
        assert_eq!(interner.parts().0, "keepafter");
        assert_eq!(interner.get(1), "");
        assert_eq!(interner.lookup("secret"), None);
        assert_eq!(interner.lookup("after"), Some(2));
        assert_eq!(interner.intern("secret", "ids").unwrap(), 3);
        assert_eq!(interner.erased(), [1]);
    }

    #[test]
    fn from_parts_rejects_bad_offsets_and_duplicates() {
        let mut interner = Interner::default();
        for s in ["a", "bc", "é"] {
            interner.intern(s, "ids").unwrap();
        }
        let (text, ends) = interner.parts();
        let rebuilt = Interner::from_parts(text.to_owned(), ends.to_vec(), Vec::new()).unwrap();
        assert_eq!(rebuilt.lookup("bc"), Some(1));
        assert!(Interner::from_parts("abc".into(), vec![2, 1], Vec::new()).is_none());
        assert!(Interner::from_parts("aé".into(), vec![2], Vec::new()).is_none());
        assert!(Interner::from_parts("aa".into(), vec![1, 2], Vec::new()).is_none());
        assert!(Interner::from_parts("abc".into(), vec![1], Vec::new()).is_none());
    }

    #[test]
    fn the_erased_list_names_empty_strings_and_leaves_one_empty_id_at_most() {
        let parts = || ("ab".to_owned(), vec![0, 1, 1, 2, 2]);
        let finish = |erased: Vec<u32>| {
            let (text, ends) = parts();
            Interner::rebuild(text, ends).unwrap().finish(erased)
        };
        let kept = finish(vec![0, 2]).unwrap();
        assert_eq!(kept.lookup(""), Some(4));
        assert_eq!(kept.lookup("b"), Some(3));
        assert_eq!(kept.erased(), [0, 2]);
        assert_eq!(finish(vec![0, 2, 4]).unwrap().lookup(""), None);
        // Two empty ids left, an erased id with text, one past the end, and disorder.
        assert!(finish(vec![0]).is_none());
        assert!(finish(vec![0, 1, 2]).is_none());
        assert!(finish(vec![0, 2, 5]).is_none());
        assert!(finish(vec![2, 0]).is_none());
    }
}
