//! A project's links in the order they were made, kept as two columns: the two ids each
//! joins, and what else it tells.
//!
//! Every edit walks all the links of a project, and of nearly all of them reads only the
//! ids. A whole link is 88 bytes and its ends are 8: at 160k links a walk of the ends reads
//! 1.3 MB where a walk of whole links reads 14 MB, the difference between the cache and
//! main memory. The columns stay in step: position `i` of each is link `i`.

use super::keys::{IdKey, reserve_gently};
use super::links::{EventRef, Link, LinkEffect, LinkKind, MergeRecord};

/// The two ids a link joins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LinkEnds {
    /// The event's `distinct_id`.
    pub(crate) target: IdKey,
    /// The `$anon_distinct_id` or `alias`.
    pub(crate) source: IdKey,
}

impl LinkEnds {
    /// Whether these are `a` and `b`, either way round.
    pub(crate) fn joins(self, a: IdKey, b: IdKey) -> bool {
        (self.target == a && self.source == b) || (self.target == b && self.source == a)
    }
}

/// Everything of a link but its ends.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct LinkFacts {
    pub(crate) kind: LinkKind,
    pub(crate) effect: LinkEffect,
    pub(crate) event: EventRef,
    /// For [`LinkEffect::Merged`]: what the two persons held.
    pub(crate) merge: Option<MergeRecord>,
}

/// Links in order, as two columns of the same length.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct LinkList {
    ends: Vec<LinkEnds>,
    facts: Vec<LinkFacts>,
}

impl LinkList {
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// The ends of every link, in order.
    pub(crate) fn ends(&self) -> &[LinkEnds] {
        &self.ends
    }

    /// Link `index`, whole.
    pub(crate) fn get(&self, index: usize) -> Option<Link> {
        Some(Link::from_columns(
            *self.ends.get(index)?,
            *self.facts.get(index)?,
        ))
    }

    /// Every link, whole, in order.
    pub(crate) fn iter(&self) -> impl ExactSizeIterator<Item = Link> + '_ {
        (self.ends.iter().zip(&self.facts)).map(|(&ends, &facts)| Link::from_columns(ends, facts))
    }

    /// The merge records of the links that have one, in order.
    pub(crate) fn records(&self) -> impl Iterator<Item = MergeRecord> + '_ {
        self.facts.iter().filter_map(|f| f.merge)
    }

    pub(crate) fn records_mut(&mut self) -> impl Iterator<Item = &mut MergeRecord> + '_ {
        self.facts.iter_mut().filter_map(|f| f.merge.as_mut())
    }

    pub(crate) fn push(&mut self, link: Link) {
        let (ends, facts) = link.into_columns();
        reserve_gently(&mut self.ends);
        reserve_gently(&mut self.facts);
        self.ends.push(ends);
        self.facts.push(facts);
    }

    /// Keeps the links for which `keep` is true, in order. `keep` sees each link's ends and
    /// a reference to its facts, which it reads only when the ends do not decide.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(LinkEnds, &LinkFacts) -> bool) {
        let mut kept = 0;
        for at in 0..self.ends.len() {
            if keep(self.ends[at], &self.facts[at]) {
                // Nothing moves until the first link that goes.
                if kept != at {
                    self.ends[kept] = self.ends[at];
                    self.facts[kept] = self.facts[at];
                }
                kept += 1;
            }
        }
        self.ends.truncate(kept);
        self.facts.truncate(kept);
    }
}

impl FromIterator<Link> for LinkList {
    fn from_iter<I: IntoIterator<Item = Link>>(links: I) -> LinkList {
        let (ends, facts) = links.into_iter().map(Link::into_columns).unzip();
        LinkList { ends, facts }
    }
}
