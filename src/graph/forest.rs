//! Union-find over the distinct ids of one project, with the member list of every set.
//!
//! `parent` and `rank` are the classic forest (union by rank, path halving). `next` threads
//! every set into a circular list, so a union splices two lists in O(1) and listing a
//! person's ids costs O(ids). Which person a set is lives outside, at the root: the root is
//! chosen by rank alone, never forced to be the surviving person's id, which would break the
//! rank bound on depth.

use crate::graph::{IdKey, reserve_gently};

#[derive(Clone, Default)]
pub(crate) struct Forest {
    parent: Vec<u32>,
    rank: Vec<u8>,
    next: Vec<u32>,
}

impl Forest {
    pub(crate) fn len(&self) -> usize {
        self.parent.len()
    }

    /// `len` singleton sets, keys `0..len`, allocated at once.
    pub(crate) fn singletons(len: u32) -> Forest {
        Forest {
            parent: (0..len).collect(),
            rank: vec![0; len as usize],
            next: (0..len).collect(),
        }
    }

    /// Adds a singleton set for the next key. The caller mints `key` as `len()`.
    pub(crate) fn push(&mut self, key: IdKey) {
        debug_assert_eq!(key.index(), self.parent.len());
        reserve_gently(&mut self.parent);
        reserve_gently(&mut self.rank);
        reserve_gently(&mut self.next);
        self.parent.push(key.raw());
        self.rank.push(0);
        self.next.push(key.raw());
    }

    /// The root of `key`'s set, without compressing paths (for `&self` queries; the rank
    /// bound keeps the path at most log2(n) long).
    pub(crate) fn find(&self, key: IdKey) -> IdKey {
        let mut x = key.raw();
        loop {
            let p = self.parent[x as usize];
            if p == x {
                return IdKey::from_raw(x);
            }
            x = p;
        }
    }

    /// The root of `key`'s set, halving the path on the way.
    pub(crate) fn find_mut(&mut self, key: IdKey) -> IdKey {
        let mut x = key.raw();
        loop {
            let p = self.parent[x as usize];
            if p == x {
                return IdKey::from_raw(x);
            }
            let grandparent = self.parent[p as usize];
            self.parent[x as usize] = grandparent;
            x = grandparent;
        }
    }

    /// Joins the sets of two distinct roots and returns the new root.
    pub(crate) fn union_roots(&mut self, a: IdKey, b: IdKey) -> IdKey {
        debug_assert!(a != b && self.find(a) == a && self.find(b) == b);
        let (ra, rb) = (self.rank[a.index()], self.rank[b.index()]);
        let (root, child) = if ra >= rb { (a, b) } else { (b, a) };
        self.parent[child.index()] = root.raw();
        if ra == rb {
            self.rank[root.index()] = ra.saturating_add(1);
        }
        self.next.swap(a.index(), b.index());
        root
    }

    /// Makes `key` a singleton again. The caller resets every member of a set together, so
    /// that no other key is left pointing into it.
    pub(crate) fn reset(&mut self, key: IdKey) {
        let i = key.index();
        self.parent[i] = key.raw();
        self.rank[i] = 0;
        self.next[i] = key.raw();
    }

    /// Every key in the set of `key`, starting with `key`.
    pub(crate) fn members(&self, key: IdKey) -> Members<'_> {
        Members {
            next: &self.next,
            start: key.raw(),
            at: Some(key.raw()),
        }
    }

    /// The arrays, for snapshots.
    pub(crate) fn parts(&self) -> (&[u32], &[u8], &[u32]) {
        (&self.parent, &self.rank, &self.next)
    }

    /// Rebuilds a forest from its arrays, checking that every parent chain reaches a root
    /// and that the member lists are exactly the sets. Returns it with the root and size
    /// of every set ([`Sets`]), or `None` when a check fails.
    pub(crate) fn from_parts(
        parent: Vec<u32>,
        rank: Vec<u8>,
        next: Vec<u32>,
    ) -> Option<(Forest, Sets)> {
        const UNSET: u32 = u32::MAX;
        let n = parent.len();
        if rank.len() != n
            || next.len() != n
            || parent.iter().chain(&next).any(|&k| k as usize >= n)
        {
            return None;
        }
        // Ranks strictly increase towards the root, so no parent chain can cycle. Each
        // check is a single look, not a walk up the chain.
        let mut wrong = false;
        for (x, (&p, &r)) in parent.iter().zip(&rank).enumerate() {
            wrong |= p as usize != x && rank[p as usize] <= r;
        }
        if wrong {
            return None;
        }
        // Label each root's list with the root: every key must be on exactly one.
        let mut root = vec![UNSET; n];
        let mut size = vec![0u32; n];
        let mut labelled = 0usize;
        for (r, &p) in parent.iter().enumerate() {
            if p as usize != r {
                continue;
            }
            let mut at = r;
            let mut count = 0u32;
            loop {
                if root[at] != UNSET {
                    return None;
                }
                root[at] = p;
                count += 1;
                at = next[at] as usize;
                if at == r {
                    break;
                }
            }
            size[r] = count;
            labelled += count as usize;
        }
        // A key whose parent is on another list would make its list miss part of its set;
        // with every parent on the key's own list, each list is exactly its root's set.
        for (x, &p) in parent.iter().enumerate() {
            wrong |= root[p as usize] != root[x];
        }
        if wrong || labelled != n {
            return None;
        }
        Some((Forest { parent, rank, next }, Sets { root, size }))
    }
}

/// What [`Forest::from_parts`] learns of the sets on its way.
pub(crate) struct Sets {
    /// The root of every key.
    pub(crate) root: Vec<u32>,
    /// The number of keys in each root's set; 0 for the other keys.
    pub(crate) size: Vec<u32>,
}

/// The keys of one set, in list order.
pub(crate) struct Members<'a> {
    next: &'a [u32],
    start: u32,
    at: Option<u32>,
}

impl Iterator for Members<'_> {
    type Item = IdKey;

    fn next(&mut self) -> Option<IdKey> {
        let at = self.at?;
        let following = self.next[at as usize];
        self.at = (following != self.start).then_some(following);
        Some(IdKey::from_raw(at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forest(n: u32) -> Forest {
        let mut f = Forest::default();
        for i in 0..n {
            f.push(IdKey::from_raw(i));
        }
        f
    }

    fn sorted_members(f: &Forest, k: u32) -> Vec<u32> {
        let mut m: Vec<u32> = f.members(IdKey::from_raw(k)).map(IdKey::raw).collect();
        m.sort_unstable();
        m
    }

    #[test]
    fn union_joins_member_lists() {
        let mut f = forest(5);
        let k = IdKey::from_raw;
        let r = f.union_roots(k(0), k(1));
        let r2 = f.union_roots(f.find(k(2)), r);
        assert_eq!(f.find_mut(k(0)), r2);
        assert_eq!(f.find(k(2)), r2);
        assert_eq!(sorted_members(&f, 1), [0, 1, 2]);
        assert_eq!(sorted_members(&f, 4), [4]);
    }

    #[test]
    fn a_long_chain_stays_shallow() {
        let n = 1 << 12;
        let mut f = forest(n);
        for i in 1..n {
            let (a, b) = (f.find(IdKey::from_raw(0)), f.find(IdKey::from_raw(i)));
            f.union_roots(a, b);
        }
        assert_eq!(f.members(IdKey::from_raw(7)).count(), n as usize);
        let (parent, rank, next) = f.parts();
        let (_, sets) = Forest::from_parts(parent.to_vec(), rank.to_vec(), next.to_vec()).unwrap();
        let root = f.find(IdKey::from_raw(0));
        assert_eq!(sets.size[root.index()], n);
        assert_eq!(sets.size.iter().sum::<u32>(), n);
        assert!(sets.root.iter().all(|&r| r == root.raw()));
        assert!(rank.iter().all(|&r| r <= 12));
    }

    #[test]
    fn from_parts_rejects_cycles_and_broken_lists() {
        assert!(Forest::from_parts(vec![1, 0], vec![0, 0], vec![0, 1]).is_none());
        assert!(Forest::from_parts(vec![0, 0], vec![1, 0], vec![0, 1]).is_none());
        assert!(Forest::from_parts(vec![0, 5], vec![0, 0], vec![0, 1]).is_none());
        assert!(Forest::from_parts(vec![0, 0], vec![1, 0], vec![1, 0]).is_some());
        // Two roots on one list, and a list that runs into another set's loop.
        assert!(Forest::from_parts(vec![0, 1], vec![0, 0], vec![1, 0]).is_none());
        assert!(Forest::from_parts(vec![0, 1, 1], vec![0, 1, 0], vec![2, 2, 1]).is_none());
        // Lists that each hold one set, but not the set of their own root.
        assert!(Forest::from_parts(vec![0, 0, 2, 2], vec![1, 0, 1, 0], vec![3, 1, 0, 2]).is_none());
    }
}
