//! PostHog's rules for changing person properties (docs/behaviour.md §7): one event's
//! `$set`, `$set_once` and `$unset` after lifting and precedence, and churn filtering.

use super::decisions::Decisions;
use crate::error::EngineError;
use crate::event::Event;
use crate::event::Value;
use crate::event::{LIFTED_KEYS, OS, OS_NAME, OS_VERSION, initial_key_index, lifted_key_index};
use crate::graph::{IdKey, Interner, PropKey, PropStore, ValueId, ValueStore};
use crate::posthog::rules::is_churn_filtered;
use crate::posthog::size::{self, SIZE_LIMIT, entry_bound, entry_len, object_len};

/// What [`Ops::apply`] did to a person's properties.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Applied {
    /// Nothing to write, or only churn.
    Unchanged,
    /// The changes were written.
    Written,
    /// The changes would have left the properties `size` bytes long, past the size limit
    /// (docs/behaviour.md §13): none of them was written.
    Refused { size: usize },
}

pub(crate) const FIXED_KEYS: usize = 2 * LIFTED_KEYS.len();

/// The name of fixed key `i`.
fn fixed_name(i: usize) -> &'static str {
    let (key, initial) = LIFTED_KEYS[i % LIFTED_KEYS.len()];
    if i < LIFTED_KEYS.len() { key } else { initial }
}

/// A property name in an operation: its text, and for the names lifting writes, their place
/// among the fixed keys, so that the engine finds their `PropKey` without hashing the text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OpKey<'e> {
    pub(crate) text: &'e str,
    fixed: Option<u8>,
}

impl<'e> OpKey<'e> {
    fn text(text: &'e str) -> OpKey<'e> {
        OpKey { text, fixed: None }
    }

    /// The lifted key at `index` of [`LIFTED_KEYS`], or its `$initial_` key.
    fn lifted(index: u8, initial: bool) -> OpKey<'static> {
        let i = usize::from(index) + if initial { LIFTED_KEYS.len() } else { 0 };
        OpKey {
            text: fixed_name(i),
            fixed: u8::try_from(i).ok(),
        }
    }
}

/// Property names by text, with the fixed names already resolved.
pub(crate) struct KeyTable<'a> {
    pub(crate) names: &'a mut Interner,
    pub(crate) fixed: &'a [PropKey],
}

impl KeyTable<'_> {
    fn lookup(&self, key: OpKey<'_>) -> Option<PropKey> {
        match key.fixed.and_then(|i| self.fixed.get(usize::from(i))) {
            Some(&fixed) => Some(fixed),
            None => self.names.lookup(key.text).map(PropKey::from_raw),
        }
    }

    fn intern(&mut self, key: OpKey<'_>) -> Result<PropKey, EngineError> {
        match key.fixed.and_then(|i| self.fixed.get(usize::from(i))) {
            Some(&fixed) => Ok(fixed),
            None => Ok(PropKey::from_raw(
                self.names.intern(key.text, PropKey::WHAT)?,
            )),
        }
    }
}

/// Makes sure `fixed` holds the `PropKey` of every fixed name, interning them on first use
/// (and after a snapshot is loaded, which does not store them).
pub(crate) fn resolve_fixed_keys(
    names: &mut Interner,
    fixed: &mut Vec<PropKey>,
) -> Result<(), EngineError> {
    if fixed.len() == FIXED_KEYS {
        return Ok(());
    }
    fixed.clear();
    for i in 0..FIXED_KEYS {
        fixed.push(PropKey::from_raw(
            names.intern(fixed_name(i), PropKey::WHAT)?,
        ));
    }
    Ok(())
}

/// The property operations of one event: `$set`, `$set_once` and `$unset` after lifting and
/// precedence, as a view over the event. Nothing is collected: every event has operations,
/// and building lists of them cost a third of `apply`; the precedence checks below are
/// binary searches in the event's own sorted objects, made once an event for the lifted keys
/// and kept as bit masks.
#[derive(Debug, Default)]
pub(crate) struct Ops<'e> {
    /// The explicit `$set` members, sorted by key.
    explicit_set: &'e [(Box<str>, Value)],
    /// The explicit `$set_once` members, sorted by key.
    explicit_once: &'e [(Box<str>, Value)],
    /// The lifted event properties that take part (none without lifting), in event order.
    lifted: &'e [(u8, Value)],
    /// Bit `i`: lifted key `i` takes part (`$is_server` events leave out `$os`, `$os_version`).
    active: u64,
    /// Bit `i`: lifted key `i` is an explicit `$set` key too, which wins.
    set_explicitly: u64,
    /// Bit `i`: the `$initial_` key of lifted key `i` is an explicit `$set` or `$set_once`
    /// key, which wins. Both masks may hold bits of keys the event does not carry. They are
    /// found once here: the operations are walked several times an event (the size bound,
    /// then the writes).
    initial_explicitly: u64,
    /// `$initial_os` from `$os_name`, when nothing else gives it.
    initial_os_from_name: Option<&'e Value>,
    unset: Option<&'e Value>,
}

fn members(value: Option<&Value>) -> &[(Box<str>, Value)] {
    value.and_then(Value::as_object).unwrap_or(&[])
}

fn contains(members: &[(Box<str>, Value)], key: &str) -> bool {
    members.binary_search_by(|(k, _)| (**k).cmp(key)).is_ok()
}

impl<'e> Ops<'e> {
    /// The operations of `event`. With `lift`, event properties such as `$browser` are added
    /// to `$set` and their `$initial_` keys to `$set_once`, explicit keys winning.
    pub(crate) fn of_event(event: &'e Event, lift: bool) -> Ops<'e> {
        let mut ops = Ops {
            explicit_set: members(event.props.set.as_ref()),
            explicit_once: members(event.props.set_once.as_ref()),
            unset: event.props.unset.as_ref(),
            ..Ops::default()
        };
        if lift && !event.props.lifted.is_empty() {
            ops.lifted = &event.props.lifted;
            let is_server = event.props.is_server == Some(Value::Bool(true));
            for (index, _) in ops.lifted {
                if !(is_server && matches!(*index, OS | OS_VERSION)) {
                    ops.active |= 1 << index;
                }
            }
            // One walk of the explicit objects, which hold a few members, rather than three
            // searches in them for each of the dozen lifted properties an event carries.
            for (key, _) in ops.explicit_set {
                if let Some(index) = lifted_key_index(key) {
                    ops.set_explicitly |= 1 << index;
                } else if let Some(index) = initial_key_index(key) {
                    ops.initial_explicitly |= 1 << index;
                }
            }
            for (key, _) in ops.explicit_once {
                if let Some(index) = initial_key_index(key) {
                    ops.initial_explicitly |= 1 << index;
                }
            }
            // With no explicit `$initial_os`, `$os` gives it whenever it takes part.
            let os_gives_initial = ops
                .active_lifted()
                .any(|(i, v)| i == OS && *v != Value::Null);
            if !os_gives_initial && ops.initial_explicitly & (1 << OS) == 0 {
                ops.initial_os_from_name = ops
                    .lifted
                    .iter()
                    .find(|(i, v)| *i == OS_NAME && *v != Value::Null)
                    .map(|(_, v)| v);
            }
        }
        ops
    }

    fn active_lifted(&self) -> impl Iterator<Item = (u8, &'e Value)> + '_ {
        self.lifted
            .iter()
            .filter(|(i, _)| self.active & (1 << i) != 0)
            .map(|(i, v)| (*i, v))
    }

    /// The `$initial_` keys lifting fills: never a lifted `$set` key, so only an explicit
    /// `$set` or `$set_once` of the same name beats them.
    fn lifted_initials(&self) -> impl Iterator<Item = (OpKey<'e>, &'e Value)> + '_ {
        self.active_lifted().filter_map(|(index, value)| {
            (*value != Value::Null && self.initial_explicitly & (1 << index) == 0)
                .then_some((OpKey::lifted(index, true), value))
        })
    }

    /// `$set`: the explicit members, then the lifted properties not explicitly set. Unique.
    pub(crate) fn set(&self) -> impl Iterator<Item = (OpKey<'e>, &'e Value)> + '_ {
        let explicit = self.explicit_set.iter().map(|(k, v)| (OpKey::text(k), v));
        let lifted = self.active_lifted().filter_map(|(index, value)| {
            (self.set_explicitly & (1 << index) == 0)
                .then_some((OpKey::lifted(index, false), value))
        });
        explicit.chain(lifted)
    }

    /// Whether `key` is a `$set` key of this event.
    fn in_set(&self, key: &str) -> bool {
        contains(self.explicit_set, key)
            || lifted_key_index(key).is_some_and(|i| self.active & (1 << i) != 0)
    }

    /// `$set_once`: the explicit members that no `$set` key beats, then the lifted
    /// `$initial_` keys. Unique, none of them a `$set` key.
    pub(crate) fn set_once(&self) -> impl Iterator<Item = (OpKey<'e>, &'e Value)> + '_ {
        let explicit = self
            .explicit_once
            .iter()
            .filter(|(k, _)| !self.in_set(k))
            .map(|(k, v)| (OpKey::text(k), v));
        let from_name = self
            .initial_os_from_name
            .map(|v| (OpKey::lifted(OS, true), v));
        explicit.chain(self.lifted_initials()).chain(from_name)
    }

    /// `$unset`: a list of keys (non-strings ignored) or an object whose keys are unset.
    pub(crate) fn unset(&self) -> impl Iterator<Item = &'e str> + '_ {
        let (list, object): (&[Value], &[(Box<str>, Value)]) = match self.unset {
            Some(Value::Array(items)) => (items, &[]),
            Some(Value::Object(members)) => (&[], members),
            _ => (&[], &[]),
        };
        list.iter()
            .filter_map(Value::as_str)
            .chain(object.iter().map(|(k, _)| &**k))
    }

    /// The size of the properties a person created by this event would start with, when it
    /// is past the limit (docs/behaviour.md §13); measured only if a bound passes it.
    pub(crate) fn creation_over_limit(&self) -> Option<usize> {
        let entries = || self.set_once().chain(self.set());
        if 2 + entries()
            .map(|(k, v)| entry_bound(k.text, v))
            .sum::<usize>()
            <= SIZE_LIMIT
        {
            return None;
        }
        let sum = entries().map(|(k, v)| entry_len(k.text, v)).sum();
        Some(object_len(entries().count(), sum)).filter(|&size| size > SIZE_LIMIT)
    }

    /// The size of the properties these operations would leave, when it is past the limit;
    /// measured only if a bound on the current properties and every written entry passes
    /// it. `removed` are the `$unset` keys present before the event.
    fn size_over_limit(
        &self,
        props: &impl PropStore,
        keys: &KeyTable<'_>,
        values: &ValueStore,
        removed: &[PropKey],
        decided: &Decided,
    ) -> Option<usize> {
        let before = props.entries();
        let added: usize = self
            .set_once()
            .chain(self.set())
            .map(|(k, v)| entry_bound(k.text, v))
            .sum();
        if size::props_bound(before, keys.names, values) + added <= SIZE_LIMIT {
            return None;
        }
        // The entries that the write loops of `apply` would write, with their key if it has one.
        let mut written: Vec<(Option<PropKey>, &str, &Value)> = Vec::new();
        for (i, (key, value)) in self.set_once().enumerate() {
            if decided
                .set_once
                .wanted(i, || current(props, keys, key).is_none())
            {
                written.push((keys.lookup(key), key.text, value));
            }
        }
        for (i, (key, value)) in self.set().enumerate() {
            if decided
                .set
                .wanted(i, || is_new(props, keys, values, key, value))
            {
                written.push((keys.lookup(key), key.text, value));
            }
        }
        let (mut entries, mut sum) = (0, 0);
        for p in before {
            if removed.contains(&p.key) || written.iter().any(|w| w.0 == Some(p.key)) {
                continue;
            }
            entries += 1;
            sum += entry_len(keys.names.get(p.key.raw()), values.get(p.value));
        }
        for &(k, text, value) in &written {
            // A key present before the event and unset by it is gone, whatever was written.
            if k.is_some_and(|k| removed.contains(&k)) {
                continue;
            }
            entries += 1;
            sum += entry_len(text, value);
        }
        Some(object_len(entries, sum)).filter(|&size| size > SIZE_LIMIT)
    }

    /// Writes the properties of a person created by this event into its empty `props`:
    /// `$set_once`, then `$set` over it; `$unset` is ignored.
    pub(crate) fn create(
        &self,
        props: &mut impl PropStore,
        keys: &mut KeyTable<'_>,
        values: &mut ValueStore,
        writer: IdKey,
        decisions: &mut Decisions<'_>,
    ) -> Result<(), EngineError> {
        props.reserve(self.set_once().count() + self.set().count());
        for (key, value) in self.set_once().chain(self.set()) {
            let key = keys.intern(key)?;
            props.put(key, writer, decisions.intern(values, value)?);
        }
        Ok(())
    }

    /// Applies the operations to existing properties, on behalf of `writer`'s event. Returns
    /// whether anything changed, or that nothing was because the result would have passed
    /// the size limit (docs/behaviour.md §13), and what was decided to write.
    ///
    /// With `filter_churn`, changes only of churn-filtered keys that already existed are not
    /// written (docs/behaviour.md §7.4): they are written only together with a change that counts.
    ///
    /// When `decisions` holds the decision this call made on a copy in the same state, it
    /// is not made again: its writes are made. A decision made here that writes is kept in
    /// `decisions`.
    #[allow(
        clippy::too_many_arguments,
        reason = "the properties, the tables they name, the writer, the log and the decision are apart"
    )]
    pub(crate) fn apply(
        &self,
        props: &mut impl PropStore,
        keys: &mut KeyTable<'_>,
        values: &mut ValueStore,
        writer: IdKey,
        filter_churn: bool,
        mut log: Option<&mut PropertyChanges>,
        decisions: &mut Decisions<'_>,
    ) -> Result<Applied, EngineError> {
        // `$unset` only removes keys present before this event, so look them up first.
        let mut removed: Vec<PropKey> = Vec::new();
        for key in self.unset() {
            if let Some(k) = keys.names.lookup(key).map(PropKey::from_raw)
                && props.value(k).is_some()
                && !removed.contains(&k)
            {
                removed.push(k);
            }
        }
        let decided = match decisions.taken() {
            Some(decided) => decided,
            None => match self.decide(props, keys, values, filter_churn, &removed) {
                Ok(decided) => decided,
                Err(applied) => return Ok(applied),
            },
        };
        decisions.keep(decided);
        let Decided {
            set_once: once_writes,
            set: set_writes,
        } = decided;
        for (i, (key, value)) in self.set_once().enumerate() {
            if once_writes.wanted(i, || current(props, keys, key).is_none()) {
                let k = keys.intern(key)?;
                props.put(k, writer, decisions.intern(values, value)?);
                if let Some(log) = log.as_deref_mut() {
                    log.set.push((key.text.into(), value.clone()));
                }
            }
        }
        for (i, (key, value)) in self.set().enumerate() {
            if set_writes.wanted(i, || is_new(props, keys, values, key, value)) {
                let k = keys.intern(key)?;
                props.put(k, writer, decisions.intern(values, value)?);
                if let Some(log) = log.as_deref_mut() {
                    log.set.push((key.text.into(), value.clone()));
                }
            }
        }
        for k in removed {
            props.take(k);
            if let Some(log) = log.as_deref_mut() {
                log.unset.push(keys.names.get(k.raw()).into());
            }
        }
        Ok(Applied::Written)
    }

    /// What the operations write to `props`, with `removed` the `$unset` keys present; or,
    /// when nothing is written, why.
    fn decide(
        &self,
        props: &impl PropStore,
        keys: &KeyTable<'_>,
        values: &ValueStore,
        filter_churn: bool,
        removed: &[PropKey],
    ) -> Result<Decided, Applied> {
        let mut changes = !removed.is_empty();
        let mut counts = !removed.is_empty();
        let mut decided = Decided::default();
        for (i, (key, _)) in self.set_once().enumerate() {
            if current(props, keys, key).is_none() {
                changes = true;
                counts = true;
                decided.set_once.mark(i);
            }
        }
        for (i, (key, value)) in self.set().enumerate() {
            match current(props, keys, key) {
                None => {
                    changes = true;
                    counts = true;
                }
                Some(old) if values.get(old) != value => {
                    changes = true;
                    counts |= !is_churn_filtered(key.text);
                }
                Some(_) => continue,
            }
            decided.set.mark(i);
        }
        if !changes || (filter_churn && !counts) {
            return Err(Applied::Unchanged);
        }
        match self.size_over_limit(props, keys, values, removed, &decided) {
            Some(size) => Err(Applied::Refused { size }),
            None => Ok(decided),
        }
    }
}

/// The current value of a property named by text.
fn current(props: &impl PropStore, keys: &KeyTable<'_>, key: OpKey<'_>) -> Option<ValueId> {
    keys.lookup(key).and_then(|k| props.value(k))
}

/// Whether `$set` of `key` to `value` writes: the key is absent or holds another value.
fn is_new(
    props: &impl PropStore,
    keys: &KeyTable<'_>,
    values: &ValueStore,
    key: OpKey<'_>,
    value: &Value,
) -> bool {
    current(props, keys, key).is_none_or(|old| values.get(old) != value)
}

/// What [`Ops::apply`] decided an event writes to a person's properties: which entries of
/// `$set_once` and of `$set`. The walks after the decision (the size bound, the writes) take
/// it rather than look each entry up and compare it again, and so can a copy of the engine
/// in the same state that makes the same change (a shared engine's standby copy,
/// `shared/writer.rs`): the decision is most of the cost of an update.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Decided {
    set_once: Writes,
    set: Writes,
}

/// Which entries of one walk of `$set_once` or `$set` are written. Only the first 64 are
/// kept: an entry past them is looked at again, which gives the same answer, since the
/// entries of `$set_once` and `$set` are unique and apart, so no write changes what another
/// entry finds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Writes(u64);

impl Writes {
    fn mark(&mut self, i: usize) {
        if i < 64 {
            self.0 |= 1 << i;
        }
    }

    fn wanted(self, i: usize, again: impl FnOnce() -> bool) -> bool {
        if i < 64 {
            self.0 & (1 << i) != 0
        } else {
            again()
        }
    }
}

/// What an update wrote, for the change feed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PropertyChanges {
    /// Keys written, with their new values.
    pub set: Vec<(Box<str>, Value)>,
    /// Keys removed.
    pub unset: Vec<Box<str>>,
}

#[cfg(test)]
#[path = "ops_tests.rs"]
mod tests;
