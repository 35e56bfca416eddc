//! Union-find over the distinct ids of one project, with the member list of every set.
//!
//! `parent` and `rank` are the classic forest (union by rank, path halving). `next` threads
//! every set into a circular list, so a union splices two lists in O(1) and listing a
//! person's ids costs O(ids). Which person a set is lives outside, at the root: the root is
//! chosen by rank alone, never forced to be the surviving person's id, which would break the
//! rank bound on depth.

use crate::id::{IdKey, reserve_gently};

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
    /// and that the member lists are exactly the sets, and returns it with the size of
    /// each root's set (0 for the other ids). Returns `None` when a check fails.
    pub(crate) fn from_parts(
        parent: Vec<u32>,
        rank: Vec<u8>,
        next: Vec<u32>,
    ) -> Option<(Forest, Vec<u32>)> {
        let n = parent.len();
        if rank.len() != n
            || next.len() != n
            || parent.iter().chain(&next).any(|&p| p as usize >= n)
        {
            return None;
        }
        let forest = Forest { parent, rank, next };
        // Ranks strictly increase towards the root, so any chain longer than 256 steps is
        // a cycle.
        let mut root_of = vec![0u32; n];
        for (x, slot) in root_of.iter_mut().enumerate() {
            let mut at = u32::try_from(x).ok()?;
            let mut steps = 0;
            while forest.parent[at as usize] != at {
                let up = forest.parent[at as usize];
                if forest.rank[up as usize] <= forest.rank[at as usize] {
                    return None;
                }
                at = up;
                steps += 1;
                if steps > 256 {
                    return None;
                }
            }
            *slot = at;
        }
        // Each list must stay inside one set and visit every member of it once.
        let mut size = vec![0u32; n];
        for &r in &root_of {
            size[r as usize] += 1;
        }
        let mut visited = vec![false; n];
        for x in 0..n {
            if root_of[x] as usize != x {
                continue;
            }
            let mut count = 0u32;
            for member in forest.members(IdKey::from_raw(u32::try_from(x).ok()?)) {
                let m = member.index();
                if visited[m] || root_of[m] as usize != x {
                    return None;
                }
                visited[m] = true;
                count += 1;
            }
            if count != size[x] {
                return None;
            }
        }
        Some((forest, size))
    }
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
        let (_, sizes) = Forest::from_parts(parent.to_vec(), rank.to_vec(), next.to_vec()).unwrap();
        let root = f.find(IdKey::from_raw(0));
        assert_eq!(sizes[root.index()], n);
        assert_eq!(sizes.iter().sum::<u32>(), n);
        assert!(rank.iter().all(|&r| r <= 12));
    }

    #[test]
    fn from_parts_rejects_cycles_and_broken_lists() {
        assert!(Forest::from_parts(vec![1, 0], vec![0, 0], vec![0, 1]).is_none());
        assert!(Forest::from_parts(vec![0, 0], vec![1, 0], vec![0, 1]).is_none());
        assert!(Forest::from_parts(vec![0, 5], vec![0, 0], vec![0, 1]).is_none());
        assert!(Forest::from_parts(vec![0, 0], vec![1, 0], vec![1, 0]).is_some());
    }
}
