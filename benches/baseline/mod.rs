//! The plain implementation that every idgraph figure is measured against (issue 7): a
//! `std::collections::HashMap<String, u32>` from distinct id to a dense index,
//! `petgraph::unionfind::UnionFind<u32>` over those indexes, and each person's properties
//! as a `serde_json::Map`, with the same rules as the engine on the generated workloads.
//!
//! It is meant to be what a competent engineer writes first, not a strawman: ids are hashed
//! once per lookup, the union-find grows one set at a time with `UnionFind::new_set` (so
//! it needs no id count in advance and never rebuilds), the person lives in a dense vector
//! indexed from the root, and events are applied from a borrowed, pre-parsed form. What it
//! leaves out is what idgraph adds beyond PostHog's person processing and what the
//! workloads never exercise: the link store behind `explain` and `unmerge`, the change feed,
//! warnings as values, several projects (every event is taken to be in one project), the
//! move limit, and `properties` given as a string of JSON.
#![allow(
    dead_code,
    reason = "each bench uses a different part of the baseline through #[path]"
)]

use std::collections::HashMap;

use petgraph::unionfind::UnionFind;
use serde_json::{Map, Value};

// Event properties lifted into `$set`, each with the `$initial_` key it fills with
// `$set_once`: the same table idgraph uses (a list of names, not an implementation).
use idgraph::LIFTED_PROPERTIES as LIFTED_KEYS;
const OS: usize = 9;
const OS_NAME: usize = 10;
const OS_VERSION: usize = 11;

// PostHog's `FILTERED_PERSON_UPDATE_PROPERTIES`, from the same list idgraph uses.
use idgraph::is_churn_filtered;

mod typed;

fn is_too_long(id: &str) -> bool {
    id.len() > 400 && id.chars().count() > 400
}

/// JavaScript's truthiness.
fn is_truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|x| x != 0.0 && !x.is_nan()),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// JavaScript's `String(value)`, for merge ids and group keys given as non-strings.
fn js_string(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|v| {
                if v.is_null() {
                    String::new()
                } else {
                    js_string(v)
                }
            })
            .collect::<Vec<_>>()
            .join(","),
        Value::Object(_) => "[object Object]".to_owned(),
        other => other.to_string(),
    }
}

/// What an event means to person processing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `$identify`.
    Identify,
    /// `$create_alias`.
    CreateAlias,
    /// `$merge_dangerously`.
    MergeDangerously,
    /// `$set`.
    Set,
    /// `$groupidentify`.
    GroupIdentify,
    /// `$exception`, `$$heatmap`.
    NoPersonUpdate,
    /// Anything else.
    Other,
}

impl Kind {
    /// The kind of an event of this name.
    pub fn of_name(name: &str) -> Kind {
        match name {
            "$identify" => Kind::Identify,
            "$create_alias" => Kind::CreateAlias,
            "$merge_dangerously" => Kind::MergeDangerously,
            "$set" => Kind::Set,
            "$groupidentify" => Kind::GroupIdentify,
            "$exception" | "$$heatmap" => Kind::NoPersonUpdate,
            _ => Kind::Other,
        }
    }
}

/// One event, pulled out of a `serde_json::Value`: owned strings and the few properties the
/// rules read; the rest of the line is dropped.
#[derive(Clone, Debug, PartialEq)]
pub struct BaselineEvent {
    pub kind: Kind,
    pub distinct_id: String,
    /// Microseconds since the Unix epoch; 0 when the line had none.
    pub timestamp: i64,
    pub set: Option<Value>,
    pub set_once: Option<Value>,
    pub unset: Option<Value>,
    pub anon_distinct_id: Option<Value>,
    pub alias: Option<Value>,
    pub group_type: Option<Value>,
    pub group_key: Option<Value>,
    pub group_set: Option<Value>,
    pub process_person_profile: Option<Value>,
    pub is_server: bool,
    /// Lifted event properties, by index into `LIFTED_KEYS`.
    pub lifted: Vec<(usize, Value)>,
}

impl BaselineEvent {
    /// Parses one JSON line with `serde_json::from_slice::<Value>`; `None` for a line that
    /// is not an event.
    pub fn parse(line: &[u8]) -> Option<BaselineEvent> {
        let value: Value = serde_json::from_slice(line).ok()?;
        BaselineEvent::from_value(value)
    }

    /// Pulls an event out of a parsed JSON object.
    pub fn from_value(value: Value) -> Option<BaselineEvent> {
        let Value::Object(mut top) = value else {
            return None;
        };
        let Value::String(name) = top.remove("event")? else {
            return None;
        };
        let distinct_id = match top.remove("distinct_id")? {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            _ => return None,
        };
        if distinct_id.trim().is_empty() {
            return None;
        }
        let timestamp = match top.remove("timestamp") {
            Some(Value::String(text)) => parse_timestamp(&text)?,
            _ => 0,
        };
        let mut props = match top.remove("properties") {
            Some(Value::Object(props)) => props,
            _ => Map::new(),
        };
        // PostHog's `sanitizeEvent`: top-level `$set`/`$set_once` merge into the properties
        // of the same name, the top-level keys winning.
        for key in ["$set", "$set_once"] {
            if let Some(Value::Object(outer)) = top.remove(key) {
                match props.get_mut(key) {
                    Some(Value::Object(inner)) => inner.extend(outer),
                    _ => {
                        props.insert(key.to_owned(), Value::Object(outer));
                    }
                }
            }
        }
        let mut lifted = Vec::new();
        for (index, (key, _)) in LIFTED_KEYS.iter().enumerate() {
            if let Some(value) = props.remove(*key) {
                lifted.push((index, value));
            }
        }
        let kind = Kind::of_name(&name);
        Some(BaselineEvent {
            kind,
            distinct_id,
            timestamp,
            set: props.remove("$set"),
            set_once: props.remove("$set_once"),
            unset: props.remove("$unset"),
            anon_distinct_id: props.remove("$anon_distinct_id"),
            alias: props.remove("alias"),
            group_type: props.remove("$group_type"),
            group_key: props.remove("$group_key"),
            group_set: props.remove("$group_set"),
            process_person_profile: props.remove("$process_person_profile"),
            is_server: props.get("$is_server") == Some(&Value::Bool(true)),
            lifted,
        })
    }
}

fn parse_timestamp(text: &str) -> Option<i64> {
    let t =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1000).ok()
}

/// A person: what PostHog's person row holds.
#[derive(Clone, Debug)]
pub struct Person {
    pub uuid: uuid::Uuid,
    pub created_at: i64,
    pub version: u64,
    pub is_identified: bool,
    pub properties: Map<String, Value>,
    pub ids: u32,
}

/// A group.
#[derive(Clone, Debug)]
pub struct Group {
    pub properties: Map<String, Value>,
    pub created_at: i64,
}

/// No person at this root.
const NO_PERSON: u32 = u32::MAX;

const PERSON_UUID_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x9329_79b4_65c3_4424_8467_0b66_ec27_bc22);

/// The baseline graph of one project.
#[derive(Debug)]
pub struct Baseline {
    pub ids: HashMap<String, u32>,
    pub uf: UnionFind<u32>,
    /// The person slot of each root, `NO_PERSON` elsewhere.
    pub person_at: Vec<u32>,
    pub personless: Vec<bool>,
    pub persons: Vec<Option<Person>>,
    pub group_types: Vec<String>,
    pub groups: HashMap<(u8, String), Group>,
}

impl Default for Baseline {
    fn default() -> Self {
        Baseline {
            ids: HashMap::new(),
            uf: UnionFind::new(0),
            person_at: Vec::new(),
            personless: Vec::new(),
            persons: Vec::new(),
            group_types: Vec::new(),
            groups: HashMap::new(),
        }
    }
}

/// The property operations of one event, borrowed from it, after lifting and precedence.
struct Ops<'e> {
    set: Vec<(&'e str, &'e Value)>,
    set_once: Vec<(&'e str, &'e Value)>,
    unset: Vec<&'e str>,
}

fn members(value: Option<&Value>) -> impl Iterator<Item = (&str, &Value)> {
    value
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|m| m.iter().map(|(k, v)| (k.as_str(), v)))
}

impl<'e> Ops<'e> {
    const NONE: Ops<'static> = Ops {
        set: Vec::new(),
        set_once: Vec::new(),
        unset: Vec::new(),
    };

    fn of(event: &'e BaselineEvent) -> Ops<'e> {
        let explicit_set = event.set.as_ref().and_then(Value::as_object);
        let explicit_once = event.set_once.as_ref().and_then(Value::as_object);
        let mut set: Vec<(&str, &Value)> = members(event.set.as_ref()).collect();
        let mut set_once: Vec<(&str, &Value)> = members(event.set_once.as_ref()).collect();
        if !event.lifted.is_empty() {
            let in_set = |k: &str| explicit_set.is_some_and(|m| m.contains_key(k));
            let in_once = |k: &str| explicit_once.is_some_and(|m| m.contains_key(k));
            let mut initial_os_given = in_once(LIFTED_KEYS[OS].1);
            for (index, value) in &event.lifted {
                if event.is_server && matches!(*index, OS | OS_VERSION) {
                    continue;
                }
                let (key, initial) = LIFTED_KEYS[*index];
                if !in_set(key) {
                    set.push((key, value));
                }
                if !value.is_null() && !in_once(initial) {
                    set_once.push((initial, value));
                    initial_os_given |= *index == OS;
                }
            }
            if !initial_os_given
                && let Some((_, value)) = event.lifted.iter().find(|(i, _)| *i == OS_NAME)
                && !value.is_null()
            {
                set_once.push((LIFTED_KEYS[OS].1, value));
            }
        }
        // `$set` wins over `$set_once` for a key in both.
        set_once.retain(|(k, _)| !set.iter().any(|(s, _)| s == k));
        let unset = match &event.unset {
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            Some(Value::Object(m)) => m.keys().map(String::as_str).collect(),
            _ => Vec::new(),
        };
        Ops {
            set,
            set_once,
            unset,
        }
    }

    fn creation_props(&self) -> Map<String, Value> {
        let mut props = Map::new();
        for (key, value) in self.set_once.iter().chain(&self.set) {
            props.insert((*key).to_owned(), (*value).clone());
        }
        props
    }

    /// Applies the operations; returns whether anything was written. With `filter_churn`,
    /// changes only of churn-filtered keys are not written.
    fn apply(&self, props: &mut Map<String, Value>, filter_churn: bool) -> bool {
        let mut changes = false;
        let mut counts = false;
        if self.set_once.iter().any(|(k, _)| !props.contains_key(*k)) {
            changes = true;
            counts = true;
        }
        for (key, value) in &self.set {
            match props.get(*key) {
                None => {
                    changes = true;
                    counts = true;
                }
                Some(old) if old != *value => {
                    changes = true;
                    counts |= !is_churn_filtered(key);
                }
                Some(_) => {}
            }
        }
        // `$unset` only removes keys present before the event.
        let mut removed: Vec<&str> = Vec::new();
        for key in &self.unset {
            if props.contains_key(*key) && !removed.contains(key) {
                removed.push(key);
            }
        }
        changes |= !removed.is_empty();
        counts |= !removed.is_empty();
        if !changes || (filter_churn && !counts) {
            return false;
        }
        for (key, value) in &self.set_once {
            if !props.contains_key(*key) {
                props.insert((*key).to_owned(), (*value).clone());
            }
        }
        for (key, value) in &self.set {
            match props.get_mut(*key) {
                Some(old) => {
                    if old != *value {
                        *old = (*value).clone();
                    }
                }
                None => {
                    props.insert((*key).to_owned(), (*value).clone());
                }
            }
        }
        for key in removed {
            props.remove(key);
        }
        true
    }
}

impl Baseline {
    /// An empty graph.
    pub fn new() -> Baseline {
        Baseline::default()
    }

    fn index_of(&self, id: &str) -> Option<u32> {
        self.ids.get(id).copied()
    }

    fn intern(&mut self, id: &str) -> u32 {
        if let Some(&index) = self.ids.get(id) {
            return index;
        }
        let index = self.uf.new_set();
        self.ids.insert(id.to_owned(), index);
        self.person_at.push(NO_PERSON);
        self.personless.push(false);
        index
    }

    fn person_of_index(&self, index: u32) -> Option<u32> {
        let at = self.person_at[self.uf.find(index) as usize];
        (at != NO_PERSON).then_some(at)
    }

    /// The person slot of a distinct id.
    pub fn person_of(&self, id: &str) -> Option<u32> {
        self.index_of(id).and_then(|i| self.person_of_index(i))
    }

    /// The person of a distinct id.
    pub fn resolve(&self, id: &str) -> Option<&Person> {
        self.person_of(id)
            .and_then(|p| self.persons[p as usize].as_ref())
    }

    fn person_mut(&mut self, slot: u32) -> &mut Person {
        match &mut self.persons[slot as usize] {
            Some(person) => person,
            None => unreachable!("slots in person_at are live"),
        }
    }

    /// Joins the sets of `a` and `b` and puts `person` at the new root.
    fn join(&mut self, a: u32, b: u32, person: u32) {
        let (ra, rb) = (self.uf.find_mut(a), self.uf.find_mut(b));
        self.uf.union(ra, rb);
        self.person_at[ra as usize] = NO_PERSON;
        self.person_at[rb as usize] = NO_PERSON;
        let root = self.uf.find_mut(ra);
        self.person_at[root as usize] = person;
    }

    /// Applies one event with PostHog's rules.
    pub fn apply(&mut self, event: &BaselineEvent) {
        let target = event.distinct_id.as_str();
        if is_too_long(target) {
            return;
        }
        let merge_kind = matches!(
            event.kind,
            Kind::Identify | Kind::CreateAlias | Kind::MergeDangerously
        );
        let malformed = |v: &Option<Value>| matches!(v, Some(v) if !(v.is_string() || v.is_null()));
        if merge_kind && (malformed(&event.anon_distinct_id) || malformed(&event.alias)) {
            return;
        }
        let mut group = None;
        if event.kind == Kind::GroupIdentify {
            let key = event
                .group_key
                .as_ref()
                .filter(|v| is_truthy(v))
                .map(|v| js_string(v).replace('\0', "\u{fffd}"));
            if key.as_deref().is_some_and(is_too_long)
                || matches!(&event.group_set, Some(v) if !(v.is_object() || v.is_null()))
            {
                return;
            }
            let group_type = event
                .group_type
                .as_ref()
                .filter(|v| is_truthy(v))
                .map(js_string);
            group = group_type.zip(key);
        }
        if event.process_person_profile == Some(Value::Bool(false)) {
            if merge_kind || event.kind == Kind::GroupIdentify {
                return;
            }
            if self.person_of(target).is_none() {
                let index = self.intern(target);
                self.personless[index as usize] = true;
            }
            return;
        }

        let ops = match event.kind {
            Kind::GroupIdentify | Kind::NoPersonUpdate => Ops::NONE,
            _ => Ops::of(event),
        };
        let filter_churn = !matches!(
            event.kind,
            Kind::Identify | Kind::CreateAlias | Kind::MergeDangerously | Kind::Set
        );
        let request = match event.kind {
            Kind::Identify => event.anon_distinct_id.as_ref().map(|v| (v, false)),
            Kind::CreateAlias => event
                .alias
                .as_ref()
                .filter(|v| is_truthy(v))
                .map(|v| (v, false)),
            Kind::MergeDangerously => event
                .alias
                .as_ref()
                .filter(|v| is_truthy(v))
                .map(|v| (v, true)),
            _ => None,
        };
        let request = request.map(|(v, dangerous)| {
            let source = match v {
                Value::String(s) => std::borrow::Cow::Borrowed(s.as_str()),
                other => std::borrow::Cow::Owned(js_string(other)),
            };
            (source, dangerous)
        });
        let now = event.timestamp;
        match request {
            Some((source, dangerous)) if source != target => {
                if idgraph::is_unmergeable_id(target) || idgraph::is_unmergeable_id(&source) {
                    self.update(target, &ops, filter_churn, false, now);
                } else {
                    self.merge(target, &source, dangerous, &ops, filter_churn, now);
                }
            }
            _ => self.update(target, &ops, filter_churn, false, now),
        }
        if let Some((group_type, group_key)) = group {
            self.upsert_group(group_type, group_key, event.group_set.as_ref(), now);
        }
    }

    fn upsert_group(&mut self, group_type: String, key: String, set: Option<&Value>, now: i64) {
        let index = match self.group_types.iter().position(|t| *t == group_type) {
            Some(i) => i,
            None if self.group_types.len() < 5 => {
                self.group_types.push(group_type);
                self.group_types.len() - 1
            }
            None => return,
        };
        let group = self
            .groups
            .entry((index as u8, key))
            .or_insert_with(|| Group {
                properties: Map::new(),
                created_at: now,
            });
        group.created_at = group.created_at.min(now);
        if let Some(Value::Object(set)) = set {
            for (k, v) in set {
                group.properties.insert(k.clone(), v.clone());
            }
        }
    }

    fn create(&mut self, index: u32, id: &str, ops: &Ops<'_>, identified: bool, now: i64) -> u32 {
        let name = format!("0:{id}");
        let person = Person {
            uuid: uuid::Uuid::new_v5(&PERSON_UUID_NAMESPACE, name.as_bytes()),
            created_at: now,
            version: 0,
            is_identified: identified,
            properties: ops.creation_props(),
            ids: 1,
        };
        let slot = self.persons.len() as u32;
        self.persons.push(Some(person));
        let root = self.uf.find_mut(index);
        self.person_at[root as usize] = slot;
        slot
    }

    fn update(&mut self, id: &str, ops: &Ops<'_>, filter_churn: bool, identify: bool, now: i64) {
        let index = self.intern(id);
        match self.person_of_index(index) {
            Some(slot) => self.update_person(slot, ops, filter_churn, identify),
            None => {
                self.create(index, id, ops, identify, now);
            }
        }
    }

    fn update_person(&mut self, slot: u32, ops: &Ops<'_>, filter_churn: bool, identify: bool) {
        let person = self.person_mut(slot);
        let changed = ops.apply(&mut person.properties, filter_churn);
        let newly_identified = identify && !person.is_identified;
        person.is_identified |= identify;
        if changed || newly_identified {
            person.version += 1;
        }
    }

    /// The four merge cases, once the entry guards have passed.
    fn merge(
        &mut self,
        target: &str,
        source: &str,
        dangerous: bool,
        ops: &Ops<'_>,
        filter_churn: bool,
        now: i64,
    ) {
        match (self.person_of(target), self.person_of(source)) {
            (Some(person), None) => {
                let (t, s) = (self.intern(target), self.intern(source));
                self.join(s, t, person);
                self.person_mut(person).ids += 1;
                self.update_person(person, ops, filter_churn, true);
            }
            (None, Some(person)) => {
                let (t, s) = (self.intern(target), self.intern(source));
                self.join(t, s, person);
                self.person_mut(person).ids += 1;
                self.update_person(person, ops, filter_churn, true);
            }
            (Some(t), Some(s)) if t == s => self.update_person(t, ops, filter_churn, true),
            (Some(t), Some(s)) => {
                let source_identified = self.persons[s as usize]
                    .as_ref()
                    .is_some_and(|p| p.is_identified);
                if !dangerous && source_identified {
                    self.update(target, ops, filter_churn, true, now);
                    return;
                }
                let (ti, si) = (self.intern(target), self.intern(source));
                self.join(ti, si, t);
                let Some(merged) = self.persons[s as usize].take() else {
                    unreachable!("merge sources are live")
                };
                let survivor = self.person_mut(t);
                // Target wins on every shared key.
                let mut props = merged.properties;
                props.extend(std::mem::take(&mut survivor.properties));
                survivor.properties = props;
                survivor.created_at = survivor.created_at.min(merged.created_at);
                survivor.version = survivor.version.max(merged.version) + 1;
                survivor.is_identified = true;
                survivor.ids += merged.ids;
                ops.apply(&mut survivor.properties, false);
            }
            (None, None) => {
                let (t, s) = (self.intern(target), self.intern(source));
                let person = self.create(t, target, ops, true, now);
                self.join(s, t, person);
                self.person_mut(person).ids += 1;
            }
        }
    }

    /// Every person as (sorted distinct ids, properties), sorted by ids.
    pub fn partition(&self) -> Vec<(Vec<String>, Map<String, Value>)> {
        let mut ids: HashMap<u32, Vec<String>> = HashMap::new();
        for (id, &index) in &self.ids {
            if let Some(slot) = self.person_of_index(index) {
                ids.entry(slot).or_default().push(id.clone());
            }
        }
        let mut persons: Vec<(Vec<String>, Map<String, Value>)> = ids
            .into_iter()
            .map(|(slot, mut ids)| {
                ids.sort_unstable();
                let props = self.persons[slot as usize]
                    .as_ref()
                    .map(|p| p.properties.clone())
                    .unwrap_or_default();
                (ids, props)
            })
            .collect();
        persons.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        persons
    }

    /// Distinct ids seen only in personless mode.
    pub fn personless_ids(&self) -> usize {
        self.ids
            .values()
            .filter(|&&i| self.personless[i as usize] && self.person_of_index(i).is_none())
            .count()
    }
}
