//! Why two distinct ids are (or are not) the same person.
//!
//! The chain is a shortest path over the links of one person, found with petgraph on a graph
//! built for that one component: explaining costs O(ids of the person + links of the
//! project), never the whole graph.

use serde::Serialize;

use crate::graph::{EventRef, IdKey, LinkEffect, LinkKind, PersonKey, ProjectGraph, RefusalReason};

/// The answer to "why are these two ids one person?".
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Explanation {
    /// The first id asked about.
    pub a: String,
    /// The second id asked about.
    pub b: String,
    /// Whether both ids resolve to the same person.
    pub same_person: bool,
    /// When they are: the shortest chain of links from `a` to `b` (empty when `a == b`).
    pub chain: Vec<LinkStep>,
    /// When they are not: the merges between their two persons (or ids) that were refused.
    pub refused: Vec<RefusedStep>,
}

/// One link of a chain.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LinkStep {
    /// The event's `distinct_id`.
    pub target: String,
    /// The `$anon_distinct_id` or `alias`.
    pub source: String,
    /// The event that made the link.
    pub kind: LinkKind,
    /// What the merge did.
    pub effect: LinkEffect,
    /// Where the event was.
    #[serde(serialize_with = "serialize_event")]
    pub event: EventRef,
}

/// One refused merge.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RefusedStep {
    /// The event's `distinct_id`.
    pub target: String,
    /// The `$anon_distinct_id` or `alias`.
    pub source: String,
    /// The event that asked for the merge.
    pub kind: LinkKind,
    /// Why it was refused (PostHog's warning name).
    pub reason: RefusalReason,
    /// Where the event was.
    #[serde(serialize_with = "serialize_event")]
    pub event: EventRef,
}

fn serialize_event<S: serde::Serializer>(event: &EventRef, s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = s.serialize_map(Some(3))?;
    map.serialize_entry("ordinal", &event.ordinal)?;
    map.serialize_entry("timestamp", &event.timestamp.to_string())?;
    map.serialize_entry("uuid", &event.uuid.map(|u| u.hyphenated().to_string()))?;
    map.end()
}

/// Why `a` and `b` are, or are not, the same person of a project's graph (`None` when the
/// project was never seen).
pub(crate) fn explain(graph: Option<&ProjectGraph>, a: &str, b: &str) -> Explanation {
    let mut explanation = Explanation {
        a: a.to_owned(),
        b: b.to_owned(),
        same_person: false,
        chain: Vec::new(),
        refused: Vec::new(),
    };
    let Some(graph) = graph else {
        return explanation;
    };
    let (Some(ka), Some(kb)) = (graph.key_of(a), graph.key_of(b)) else {
        return explanation;
    };
    let (pa, pb) = (graph.person_of(ka), graph.person_of(kb));
    if pa.is_some() && pa == pb {
        explanation.same_person = true;
        explanation.chain = chain(graph, ka, kb);
        return explanation;
    }
    // Which "side" an id is on: its person, or the id itself when it has none.
    let side = |k: IdKey| graph.person_of(k).map_or(Side::Id(k), Side::Person);
    let (sa, sb) = (side(ka), side(kb));
    explanation.refused = graph
        .links()
        .refusals
        .iter()
        .filter(|r| {
            let (st, ss) = (side(r.target), side(r.source));
            (st == sa && ss == sb) || (st == sb && ss == sa)
        })
        .map(|r| RefusedStep {
            target: graph.id_text(r.target).to_owned(),
            source: graph.id_text(r.source).to_owned(),
            kind: r.kind,
            reason: r.reason,
            event: r.event,
        })
        .collect();
    explanation
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum Side {
    Person(PersonKey),
    Id(IdKey),
}

/// The chain of links from `a` to `b`, both ids of one person.
fn chain(graph: &ProjectGraph, a: IdKey, b: IdKey) -> Vec<LinkStep> {
    let members: Vec<IdKey> = graph.members(a).collect();
    let links = &graph.links().links;
    graph
        .walk(&members)
        .chain(a, b)
        .into_iter()
        .filter_map(|index| links.get(index))
        .map(|link| LinkStep {
            target: graph.id_text(link.target).to_owned(),
            source: graph.id_text(link.source).to_owned(),
            kind: link.kind,
            effect: link.effect,
            event: link.event,
        })
        .collect()
}
