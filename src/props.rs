//! Person properties and PostHog's rules for changing them (SEMANTICS.md section 7).
//!
//! A person's properties are a vector of `(PropKey, Value)` sorted by key: persons carry a
//! handful of properties, so a sorted vector beats a hash map in memory (no table, no empty
//! buckets) and is fast enough by binary search.

use crate::error::EngineError;
use crate::event::Event;
use crate::id::{IdKey, Interner, PropKey, ValueId};
use crate::rules::{LIFTED_KEYS, OS, OS_NAME, OS_VERSION, is_churn_filtered};
use crate::value::Value;
use crate::values::ValueStore;

/// One property of a person, with the distinct id whose event last wrote it, so that
/// undoing a merge can hand each value back to the side that wrote it. 12 bytes: the value
/// lives in the engine's `ValueStore`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Prop {
    pub(crate) key: PropKey,
    pub(crate) writer: IdKey,
    pub(crate) value: ValueId,
}

/// The properties of one person, sorted by key.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Props(Vec<Prop>);

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
                // Persons gain keys one at a time and rarely many: growing by one keeps the
                // vector exact instead of up to twice its size.
                self.0.reserve_exact(1);
                self.0.insert(i, Prop { key, writer, value });
            }
        }
    }

    fn remove(&mut self, key: PropKey) -> bool {
        match self.find(key) {
            Ok(i) => {
                self.0.remove(i);
                true
            }
            Err(_) => false,
        }
    }

    pub(crate) fn iter(&self) -> impl ExactSizeIterator<Item = (PropKey, ValueId)> {
        self.0.iter().map(|p| (p.key, p.value))
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
            .then_some(Props(entries))
    }

    /// Keeps the properties for which `keep` holds.
    pub(crate) fn retain(&mut self, keep: impl FnMut(&Prop) -> bool) {
        self.0.retain(keep);
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// The properties of a merge: `source` overlaid by `target`, the target winning on every
    /// shared key.
    pub(crate) fn overlay(source: Props, target: Props) -> Props {
        if source.0.is_empty() {
            return target;
        }
        let mut merged = Vec::with_capacity(source.0.len() + target.0.len());
        let mut s = source.0.into_iter().peekable();
        for entry in target.0 {
            while let Some(earlier) = s.next_if(|e| e.key < entry.key) {
                merged.push(earlier);
            }
            s.next_if(|e| e.key == entry.key);
            merged.push(entry);
        }
        merged.extend(s);
        merged.shrink_to_fit();
        Props(merged)
    }
}

/// The property operations of one event, borrowed from it: `$set`, `$set_once` and `$unset`
/// after lifting and precedence.
#[derive(Debug, Default)]
pub(crate) struct Ops<'e> {
    /// Sorted by key, unique.
    pub(crate) set: Vec<(&'e str, &'e Value)>,
    /// Unique, none of them in `set`.
    pub(crate) set_once: Vec<(&'e str, &'e Value)>,
    pub(crate) unset: Vec<&'e str>,
}

fn members(value: Option<&Value>) -> &[(Box<str>, Value)] {
    value.and_then(Value::as_object).unwrap_or(&[])
}

impl<'e> Ops<'e> {
    /// The operations of `event`. With `lift`, event properties such as `$browser` are added
    /// to `$set` and their `$initial_` keys to `$set_once`, explicit keys winning.
    pub(crate) fn of_event(event: &'e Event, lift: bool) -> Ops<'e> {
        let explicit_set = members(event.props.set.as_ref());
        let explicit_once = members(event.props.set_once.as_ref());
        let explicitly_set = |key: &str| {
            explicit_set
                .binary_search_by(|(k, _)| (**k).cmp(key))
                .is_ok()
        };
        let explicitly_once = |key: &str| {
            explicit_once
                .binary_search_by(|(k, _)| (**k).cmp(key))
                .is_ok()
        };

        let mut set: Vec<(&str, &Value)> = explicit_set.iter().map(|(k, v)| (&**k, v)).collect();
        let mut set_once: Vec<(&str, &Value)> =
            explicit_once.iter().map(|(k, v)| (&**k, v)).collect();
        if lift && !event.props.lifted.is_empty() {
            let is_server = event.props.is_server == Some(Value::Bool(true));
            let mut initial_os_given = explicitly_once(LIFTED_KEYS[OS as usize].1);
            for (index, value) in &event.props.lifted {
                if is_server && matches!(*index, OS | OS_VERSION) {
                    continue;
                }
                let (key, initial) = LIFTED_KEYS[usize::from(*index)];
                if !explicitly_set(key) {
                    set.push((key, value));
                }
                if *value != Value::Null && !explicitly_once(initial) {
                    set_once.push((initial, value));
                    initial_os_given |= *index == OS;
                }
            }
            if !initial_os_given {
                let os_name = event.props.lifted.iter().find(|(i, _)| *i == OS_NAME);
                if let Some((_, value)) = os_name.filter(|(_, v)| *v != Value::Null) {
                    set_once.push((LIFTED_KEYS[OS as usize].1, value));
                }
            }
            set.sort_by(|a, b| a.0.cmp(b.0));
        }
        // `$set` wins over `$set_once` for a key in both.
        set_once.retain(|(k, _)| set.binary_search_by(|(s, _)| (*s).cmp(k)).is_err());

        let unset = match event.props.unset.as_ref() {
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            Some(Value::Object(members)) => members.iter().map(|(k, _)| &**k).collect(),
            _ => Vec::new(),
        };
        Ops {
            set,
            set_once,
            unset,
        }
    }

    /// The properties of a person created by this event: `$set_once`, then `$set` over it;
    /// `$unset` is ignored.
    pub(crate) fn creation_props(
        &self,
        keys: &mut Interner,
        values: &mut ValueStore,
        writer: IdKey,
    ) -> Result<Props, EngineError> {
        let mut props = Props(Vec::with_capacity(self.set.len() + self.set_once.len()));
        for (key, value) in self.set_once.iter().chain(&self.set) {
            let key = PropKey::from_raw(keys.intern(key, PropKey::WHAT)?);
            props.insert(key, writer, values.intern(value)?);
        }
        Ok(props)
    }

    /// Applies the operations to existing properties, on behalf of `writer`'s event. Returns
    /// whether anything changed.
    ///
    /// With `filter_churn`, changes only of churn-filtered keys that already existed are not
    /// written (SEMANTICS.md 7.4): they are written only together with a change that counts.
    pub(crate) fn apply(
        &self,
        props: &mut Props,
        keys: &mut Interner,
        values: &mut ValueStore,
        writer: IdKey,
        filter_churn: bool,
        mut log: Option<&mut PropertyChanges>,
    ) -> Result<bool, EngineError> {
        let mut changes = false;
        let mut counts = false;
        if self
            .set_once
            .iter()
            .any(|(key, _)| current(props, keys, key).is_none())
        {
            changes = true;
            counts = true;
        }
        for (key, value) in &self.set {
            match current(props, keys, key) {
                None => {
                    changes = true;
                    counts = true;
                }
                Some(old) if values.get(old) != *value => {
                    changes = true;
                    counts |= !is_churn_filtered(key);
                }
                Some(_) => {}
            }
        }
        // `$unset` only removes keys present before this event, so look them up first.
        let mut removed: Vec<PropKey> = Vec::new();
        for key in &self.unset {
            if let Some(k) = keys.lookup(key).map(PropKey::from_raw)
                && props.get(k).is_some()
                && !removed.contains(&k)
            {
                removed.push(k);
            }
        }
        changes |= !removed.is_empty();
        counts |= !removed.is_empty();
        if !changes || (filter_churn && !counts) {
            return Ok(false);
        }
        for (key, value) in &self.set_once {
            if current(props, keys, key).is_none() {
                let k = PropKey::from_raw(keys.intern(key, PropKey::WHAT)?);
                props.insert(k, writer, values.intern(value)?);
                if let Some(log) = log.as_deref_mut() {
                    log.set.push(((*key).into(), (*value).clone()));
                }
            }
        }
        for (key, value) in &self.set {
            if current(props, keys, key).is_none_or(|old| values.get(old) != *value) {
                let k = PropKey::from_raw(keys.intern(key, PropKey::WHAT)?);
                props.insert(k, writer, values.intern(value)?);
                if let Some(log) = log.as_deref_mut() {
                    log.set.push(((*key).into(), (*value).clone()));
                }
            }
        }
        for k in removed {
            props.remove(k);
            if let Some(log) = log.as_deref_mut() {
                log.unset.push(keys.get(k.raw()).into());
            }
        }
        Ok(true)
    }
}

/// The current value of a property named by text.
fn current(props: &Props, keys: &Interner, key: &str) -> Option<ValueId> {
    keys.lookup(key)
        .and_then(|k| props.get(PropKey::from_raw(k)))
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
mod tests;
