//! A client state machine with posthog-js's identity rules (docs/behaviour.md §15).
//!
//! The events a browser sends decide which ids PostHog merges, so the workload generator and
//! the property tests drive this machine instead of writing `$identify` events by hand: a
//! generated stream then holds only the merges a real posthog-js client can ask for. The
//! client sends nothing itself; each call returns the event posthog-js would send, if any,
//! stamped with the time the caller passes in.

use std::sync::Arc;

use crate::event::Value;
use crate::event::{Event, Timestamp};
use crate::workload::Rng;

/// posthog-js's `person_profiles` option: when events create and update persons.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PersonProfiles {
    /// Every event processes the person (`$process_person_profile: true`).
    #[default]
    Always,
    /// Events are personless (`$process_person_profile: false`) until the user is
    /// identified, joins a group, gets an alias or sets person properties.
    IdentifiedOnly,
}

/// Whether the client has identified its user (posthog-js's stored `$user_state`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserState {
    /// Since start or the last `reset`: the distinct id is a random anonymous id.
    Anonymous,
    /// After an `identify` that sent `$identify`.
    Identified,
}

/// The distinct id posthog-js uses in cookieless mode; `identify` refuses it.
const COOKIELESS_SENTINEL: &str = "$posthog_cookieless";

/// One browser running posthog-js, as far as identity goes.
///
/// ```
/// use idgraph::{Client, PersonProfiles, Timestamp, Value};
///
/// let now = Timestamp::from_unix_micros(1_704_067_200_000_000);
/// let mut client = Client::new(42, PersonProfiles::Always, now);
/// let anonymous = client.distinct_id().to_owned();
/// client.capture(now, "$pageview", None, None);
///
/// let identify = client.identify(now, "user_1", None, None).expect("sent from the anonymous state");
/// assert_eq!(identify.name(), "$identify");
/// assert_eq!(identify.property("$anon_distinct_id"), Some(&Value::from(anonymous.as_str())));
///
/// // Already identified: posthog-js only switches the local id and sends no `$identify`.
/// assert!(client.identify(now, "user_2", None, None).is_none());
/// assert_eq!(client.distinct_id(), "user_2");
/// ```
#[derive(Clone, Debug)]
pub struct Client {
    rng: Rng,
    person_profiles: PersonProfiles,
    distinct_id: Box<str>,
    /// Shared so that the workload can stamp it on every event without copying it.
    device_id: Arc<str>,
    state: UserState,
    user_id: Option<Box<str>>,
    /// The id given to the last `alias` (posthog-js `ALIAS_ID_KEY`).
    alias: Option<Box<str>>,
    /// The registered `$groups` object, `None` while no group is registered.
    groups: Option<Value>,
    /// posthog-js `ENABLE_PERSON_PROCESSING`: raised by any call that needs a person.
    person_processing: bool,
    /// What the last `$identify` or `$set` carried, to skip sending the same `$set` twice.
    /// posthog-js keeps a JSON hash of the same triple; keeping the triple is exact.
    last_person_properties: Option<(Box<str>, Option<Value>, Option<Value>)>,
    context: Vec<(Box<str>, Value)>,
}

impl Client {
    /// A freshly loaded client: anonymous, with a new UUIDv7 distinct id drawn from `seed` and
    /// `now`, which is also its `$device_id`.
    #[must_use]
    pub fn new(seed: u64, person_profiles: PersonProfiles, now: Timestamp) -> Client {
        let mut rng = Rng::new(seed);
        let id = rng.uuid_v7(now);
        Client {
            rng,
            person_profiles,
            device_id: Arc::from(&*id),
            distinct_id: id,
            state: UserState::Anonymous,
            user_id: None,
            alias: None,
            groups: None,
            person_processing: false,
            last_person_properties: None,
            context: Vec::new(),
        }
    }

    /// The distinct id the next event will carry.
    pub fn distinct_id(&self) -> &str {
        &self.distinct_id
    }

    /// `$device_id`: the first anonymous id, kept across `reset` unless asked otherwise.
    pub fn device_id(&self) -> &str {
        &self.device_id
    }

    pub(crate) fn shared_device_id(&self) -> Arc<str> {
        Arc::clone(&self.device_id)
    }

    /// The `$user_id` registered by the last accepted `identify`, cleared by `reset`.
    pub fn user_id(&self) -> Option<&str> {
        self.user_id.as_deref()
    }

    /// Whether the user is anonymous or identified.
    pub fn state(&self) -> UserState {
        self.state
    }

    /// The `$groups` object every event carries (group type to key), `None` before `group`.
    ///
    /// [`Event`] keeps only what identity processing reads, and `$groups` is not part of it,
    /// so the events returned here do not hold it; a caller that writes events out (the
    /// workload generator) adds it from here.
    pub fn groups(&self) -> Option<&Value> {
        self.groups.as_ref()
    }

    /// The person profiles mode.
    pub fn person_profiles(&self) -> PersonProfiles {
        self.person_profiles
    }

    /// The `$process_person_profile` value the next event would carry (posthog-js
    /// `_hasPersonProcessing`).
    pub fn has_person_processing(&self) -> bool {
        match self.person_profiles {
            PersonProfiles::Always => true,
            PersonProfiles::IdentifiedOnly => {
                self.state == UserState::Identified
                    || self.groups.is_some()
                    || self.alias.is_some()
                    || self.person_processing
            }
        }
    }

    /// Sets a property that every later event carries, such as the `$browser`, `$os` or
    /// `$current_url` that posthog-js adds to each event itself. It describes the device, so
    /// `reset` keeps it. A property [`Event`] does not keep is dropped.
    pub fn set_context(&mut self, key: &str, value: impl Into<Value>) {
        let value = value.into();
        match self.context.iter_mut().find(|(k, _)| &**k == key) {
            Some(entry) => entry.1 = value,
            None => self.context.push((key.into(), value)),
        }
    }

    /// `posthog.identify(new_id, set, set_once)`.
    ///
    /// Refuses (returns `None`, changes nothing) an empty id, `distinct_id` or `distinctid` in
    /// any case, and the cookieless sentinel. Otherwise the client's id becomes `new_id`, and
    /// it sends `$identify` (with `$anon_distinct_id` = the previous id) only when the id
    /// changes while the user is anonymous. In any other case the properties, if any, go out
    /// as a `$set` event, unless the same id and properties were just sent.
    pub fn identify(
        &mut self,
        now: Timestamp,
        new_id: &str,
        set: Option<Value>,
        set_once: Option<Value>,
    ) -> Option<Event> {
        if new_id.is_empty()
            || new_id.eq_ignore_ascii_case("distinct_id")
            || new_id.eq_ignore_ascii_case("distinctid")
            || new_id == COOKIELESS_SENTINEL
        {
            return None;
        }
        self.person_processing = true;
        let previous = self.distinct_id.clone();
        self.user_id = Some(new_id.into());
        // posthog-js keeps the id when identify names the alias it just created.
        if *new_id != *previous && self.alias.as_deref() != Some(new_id) {
            self.alias = None;
            self.distinct_id = new_id.into();
        }
        if *new_id != *previous && self.state == UserState::Anonymous {
            self.state = UserState::Identified;
            let event = self
                .event_from(now, "$identify", Some(new_id))
                .with_property("$anon_distinct_id", &*previous)
                .with_property("$set", set.clone().unwrap_or_else(empty_object))
                .with_property("$set_once", set_once.clone().unwrap_or_else(empty_object));
            self.last_person_properties = Some((new_id.into(), set, set_once));
            return Some(event);
        }
        self.set_person_properties(now, set, set_once)
    }

    /// `posthog.setPersonProperties(set, set_once)`: a `$set` event, unless both are `None` or
    /// the same id and properties were the last sent.
    pub fn set_person_properties(
        &mut self,
        now: Timestamp,
        set: Option<Value>,
        set_once: Option<Value>,
    ) -> Option<Event> {
        if set.is_none() && set_once.is_none() {
            return None;
        }
        self.person_processing = true;
        let operations = (self.distinct_id.clone(), set, set_once);
        if self.last_person_properties.as_ref() == Some(&operations) {
            return None;
        }
        let event = self
            .event(now, "$set")
            .with_property("$set", operations.1.clone().unwrap_or_else(empty_object))
            .with_property(
                "$set_once",
                operations.2.clone().unwrap_or_else(empty_object),
            );
        self.last_person_properties = Some(operations);
        Some(event)
    }

    /// `posthog.alias(alias)`: `$create_alias` with `alias` as the merge source and the
    /// current id as the target, or `identify(alias)` when they are equal.
    pub fn alias(&mut self, now: Timestamp, alias: &str) -> Option<Event> {
        self.person_processing = true;
        if *alias == *self.distinct_id {
            return self.identify(now, alias, None, None);
        }
        self.alias = Some(alias.into());
        Some(
            self.event(now, "$create_alias")
                .with_property("alias", alias),
        )
    }

    /// `posthog.group(group_type, group_key, properties)`: registers the group in `$groups`
    /// and sends `$groupidentify` when properties are given or the key of that type changed.
    /// An empty type or key is refused.
    pub fn group(
        &mut self,
        now: Timestamp,
        group_type: &str,
        group_key: &str,
        properties: Option<Value>,
    ) -> Option<Event> {
        if group_type.is_empty() || group_key.is_empty() {
            return None;
        }
        self.person_processing = true;
        let existing = self
            .groups
            .as_ref()
            .and_then(Value::as_object)
            .unwrap_or(&[]);
        let changed = existing
            .iter()
            .find(|(k, _)| **k == *group_type)
            .is_none_or(|(_, v)| v.as_str() != Some(group_key));
        if changed {
            let members = existing
                .iter()
                .cloned()
                .chain([(group_type.into(), Value::from(group_key))]);
            self.groups = Some(Value::object(members));
        }
        if properties.is_none() && !changed {
            return None;
        }
        Some(
            self.event(now, "$groupidentify")
                .with_property("$group_type", group_type)
                .with_property("$group_key", group_key)
                .with_property("$group_set", properties.unwrap_or_else(empty_object)),
        )
    }

    /// `posthog.capture(name, properties, {$set, $set_once})`: an ordinary event from the
    /// current id, carrying the context properties and the person property operations given.
    pub fn capture(
        &mut self,
        now: Timestamp,
        name: &str,
        set: Option<Value>,
        set_once: Option<Value>,
    ) -> Event {
        let mut event = self.event(now, name);
        if let Some(set) = set {
            event = event.with_property("$set", set);
        }
        if let Some(set_once) = set_once {
            event = event.with_property("$set_once", set_once);
        }
        event
    }

    /// `posthog.reset(reset_device_id)`: a logout. The client becomes anonymous with a new
    /// UUIDv7 id, forgets the user, alias, groups and sent properties, and keeps its
    /// `$device_id` unless `reset_device_id`, in which case the new id is the device id too.
    /// Nothing is sent.
    pub fn reset(&mut self, now: Timestamp, reset_device_id: bool) {
        let id = self.rng.uuid_v7(now);
        if reset_device_id {
            self.device_id = Arc::from(&*id);
        }
        self.distinct_id = id;
        self.state = UserState::Anonymous;
        self.user_id = None;
        self.alias = None;
        self.groups = None;
        self.person_processing = false;
        self.last_person_properties = None;
    }

    /// An event from the current id.
    fn event(&mut self, now: Timestamp, name: &str) -> Event {
        self.event_from(now, name, None)
    }

    /// An event from `distinct_id`, or from the current id when `None`.
    fn event_from(&mut self, now: Timestamp, name: &str, distinct_id: Option<&str>) -> Event {
        let processing = self.has_person_processing();
        // posthog-js enables person processing for good once an event carried `true`.
        self.person_processing |= processing;
        let distinct_id = distinct_id.unwrap_or(&self.distinct_id);
        let mut event = Event::new(name, distinct_id)
            .with_timestamp(now)
            .with_uuid(self.rng.uuid_v7(now));
        for (key, value) in &self.context {
            event = event.with_property(key, value.clone());
        }
        event.with_property("$process_person_profile", processing)
    }
}

fn empty_object() -> Value {
    Value::Object(Box::default())
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
