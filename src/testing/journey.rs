//! Realistic client journeys: what a few users on a few browsers running posthog-js send.
//!
//! A [`Journey`] is a list of [`Step`]s (visits, signups, logins on new devices, logouts,
//! aliases, groups, personless browsing) over a small pool of users and device slots. It is
//! played through [`Client`], so every event in it is one posthog-js can send, and it keeps
//! the bookkeeping a test needs to judge the result: which device session sent each event,
//! which ids that session used, which users it identified as, and whether any alias joined
//! ids of two different users on purpose.
//!
//! A downstream crate can check its own pipeline against the reference [`Model`] on these
//! journeys, and check a property that must hold for any honest client:
//!
//! ```
//! use idgraph::Engine;
//! use idgraph::testing::{Model, journey};
//! use proptest::prelude::*;
//!
//! proptest!(ProptestConfig::with_cases(16), |(journey in journey::journeys(25))| {
//!     let mut engine = Engine::new();
//!     let mut model = Model::new();
//!     for event in journey.events() {
//!         prop_assert!(engine.apply(event).is_ok());
//!         model.apply(event);
//!     }
//!     // The pipeline under test agrees with the reference model...
//!     prop_assert_eq!(engine.dump(), model.dump());
//!     // ...and, unless an alias joined two users on purpose, no person holds two users.
//!     if !journey.crosses_users() {
//!         for person in engine.persons() {
//!             let users = person.distinct_ids().filter(|id| journey.is_user_id(id)).count();
//!             prop_assert!(users <= 1, "{:?}", person.sorted_distinct_ids());
//!         }
//!     }
//! });
//! ```
//!
//! [`Model`]: crate::testing::Model

use std::collections::BTreeSet;
use std::fmt;

use proptest::collection::vec;
use proptest::prelude::*;

use crate::{Client, Event, PersonProfiles, Timestamp, Value};

/// How many users a journey draws from: `user_0` to `user_3`.
pub const USERS: u8 = 4;

/// How many device slots a journey draws from.
pub const DEVICES: u8 = 3;

/// The time of a journey's first event: 2024-01-01T00:00:00Z. Events are one second apart.
const START_MICROS: i64 = 1_704_067_200_000_000;

/// The user id of user `index`: `user_<index>`.
pub fn user_id(index: u8) -> String {
    format!("user_{index}")
}

/// Which id a [`Step::Alias`] gives `posthog.alias`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AliasTarget {
    /// An id of the session's own: `crm_<user>_<n>` once the session has identified, or
    /// `alias_<session>_<n>` while it is anonymous. It never joins two users.
    Own(u8),
    /// The user id of user `index`: the alias joins the session's ids to that user's, which
    /// is a cross-user merge when the session belongs to someone else.
    User(u8),
}

/// One thing a user does in a browser. `device` picks a slot in `0..DEVICES`; a slot holds
/// one browser at a time, created on first use (`person_profiles: always` on even slots,
/// `identified_only` on odd ones, so odd slots browse personless until identified).
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// A page view, with a `$set` of `plan` when `plan` is given.
    Visit {
        /// The device slot.
        device: u8,
        /// The plan to `$set` with the page view.
        plan: Option<&'static str>,
    },
    /// `identify(user_<user>)` on the browser in the slot, with `$set` of the user's email:
    /// a signup the first time, a login later. On an identified browser it switches the
    /// id without a merge, as posthog-js does.
    Identify {
        /// The device slot.
        device: u8,
        /// The user, in `0..USERS`.
        user: u8,
    },
    /// A login on a new device: the slot gets a fresh browser, which views a page and then
    /// identifies as `user_<user>`.
    LoginOnNewDevice {
        /// The device slot.
        device: u8,
        /// The user, in `0..USERS`.
        user: u8,
        /// The new browser's `person_profiles`: `identified_only` when true.
        identified_only: bool,
    },
    /// A fresh browser in the slot that views a page and stays anonymous (personless under
    /// `identified_only`).
    NewDevice {
        /// The device slot.
        device: u8,
        /// The new browser's `person_profiles`: `identified_only` when true.
        identified_only: bool,
    },
    /// A logout: `reset(reset_device_id)`. The next events come from a new anonymous id.
    Logout {
        /// The device slot.
        device: u8,
        /// Whether the reset also draws a new `$device_id`.
        reset_device_id: bool,
    },
    /// `alias(target)`.
    Alias {
        /// The device slot.
        device: u8,
        /// The alias id.
        target: AliasTarget,
    },
    /// `group(group_type, group_key, {"name": ...})`.
    Group {
        /// The device slot.
        device: u8,
        /// The group type.
        group_type: &'static str,
        /// The group key.
        group_key: &'static str,
    },
    /// `setPersonProperties({"plan": plan})`.
    SetProperties {
        /// The device slot.
        device: u8,
        /// The plan to set.
        plan: &'static str,
    },
}

/// One browser from its creation or its last `reset` to the next one: the span in which
/// its ids belong to the same user(s).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// The device slot.
    pub device: u8,
    /// Whether the browser runs with `person_profiles: identified_only`.
    pub identified_only: bool,
    /// The user ids the session identified as, in order. More than one when `identify` was
    /// called again with another user without a `reset` (posthog-js switches ids then, and
    /// sends no `$identify`).
    pub users: Vec<String>,
    /// Every id the session's events carried as `distinct_id`, `$anon_distinct_id` or
    /// `alias`, in order of first use.
    pub distinct_ids: Vec<String>,
}

/// A played list of [`Step`]s: the events the browsers sent, and who sent them.
#[derive(Clone, PartialEq)]
pub struct Journey {
    steps: Vec<Step>,
    events: Vec<Event>,
    event_sessions: Vec<usize>,
    sessions: Vec<Session>,
    crosses_users: bool,
}

impl fmt::Debug for Journey {
    /// The steps only: they determine everything else, and they are what a shrunk failing
    /// case should show.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Journey")
            .field("steps", &self.steps)
            .finish_non_exhaustive()
    }
}

/// A browser in a device slot, and the index of its current session.
struct Device {
    client: Client,
    session: usize,
}

/// The state of [`Journey::play`].
struct Player {
    clock: i64,
    browsers_created: u64,
    devices: Vec<Option<Device>>,
    journey: Journey,
    /// `(session, user index)` for every alias to a user id, judged at the end, once each
    /// session's users are known.
    user_aliases: Vec<(usize, u8)>,
}

impl Player {
    fn tick(&mut self) -> Timestamp {
        self.clock += 1;
        Timestamp::from_unix_micros(START_MICROS + self.clock * 1_000_000)
    }

    /// A fresh browser for `slot`, with a seed no other browser of the journey has, and its
    /// first session.
    fn fresh_device(&mut self, slot: usize, identified_only: bool) -> Device {
        self.browsers_created += 1;
        let profiles = if identified_only {
            PersonProfiles::IdentifiedOnly
        } else {
            PersonProfiles::Always
        };
        let now = self.tick();
        let client = Client::new(self.browsers_created, profiles, now);
        let session = self.new_session(slot, identified_only);
        Device { client, session }
    }

    /// Puts a fresh browser in `slot`, replacing the one there.
    fn new_browser(&mut self, slot: usize, identified_only: bool) {
        let device = self.fresh_device(slot, identified_only);
        self.devices[slot] = Some(device);
    }

    fn new_session(&mut self, slot: usize, identified_only: bool) -> usize {
        self.journey.sessions.push(Session {
            device: u8::try_from(slot).unwrap_or(u8::MAX),
            identified_only,
            users: Vec::new(),
            distinct_ids: Vec::new(),
        });
        self.journey.sessions.len() - 1
    }

    /// The browser in `device`'s slot (`device` taken modulo [`DEVICES`]), created on first
    /// use, and its session.
    fn device(&mut self, device: u8) -> (&mut Client, usize) {
        let slot = usize::from(device % DEVICES);
        let device = match self.devices[slot].take() {
            Some(device) => device,
            None => self.fresh_device(slot, slot % 2 == 1),
        };
        let device = self.devices[slot].insert(device);
        (&mut device.client, device.session)
    }

    /// Records an event the browser of `session` sent, if it sent one.
    fn record(&mut self, session: usize, event: Option<Event>) {
        let Some(event) = event else { return };
        let ids = &mut self.journey.sessions[session].distinct_ids;
        let carried = [
            Some(event.distinct_id()),
            event.property("$anon_distinct_id").and_then(Value::as_str),
            event.property("alias").and_then(Value::as_str),
        ];
        for id in carried.into_iter().flatten() {
            if !ids.iter().any(|known| known == id) {
                ids.push(id.to_owned());
            }
        }
        self.journey.events.push(event);
        self.journey.event_sessions.push(session);
    }

    /// Notes that `session`'s browser now names `user` (after an `identify` it accepted).
    fn note_user(&mut self, session: usize, user: &str) {
        let users = &mut self.journey.sessions[session].users;
        if !users.iter().any(|known| known == user) {
            users.push(user.to_owned());
        }
    }

    fn visit(&mut self, device: u8) {
        let now = self.tick();
        let (client, session) = self.device(device);
        let event = client.capture(now, "$pageview", None, None);
        self.record(session, Some(event));
    }

    fn identify(&mut self, device: u8, user: u8) {
        let now = self.tick();
        let user = user_id(user % USERS);
        let email = Value::object([("email", Value::from(format!("{user}@example.com")))]);
        let (client, session) = self.device(device);
        let event = client.identify(now, &user, Some(email), None);
        let accepted = client.user_id() == Some(user.as_str());
        self.record(session, event);
        if accepted {
            self.note_user(session, &user);
        }
    }

    fn step(&mut self, step: &Step) {
        match *step {
            Step::Visit { device, plan } => {
                let now = self.tick();
                let (client, session) = self.device(device);
                let set = plan.map(|plan| Value::object([("plan", Value::from(plan))]));
                let event = client.capture(now, "$pageview", set, None);
                self.record(session, Some(event));
            }
            Step::Identify { device, user } => self.identify(device, user),
            Step::LoginOnNewDevice {
                device,
                user,
                identified_only,
            } => {
                self.new_browser(usize::from(device % DEVICES), identified_only);
                self.visit(device);
                self.identify(device, user);
            }
            Step::NewDevice {
                device,
                identified_only,
            } => {
                self.new_browser(usize::from(device % DEVICES), identified_only);
                self.visit(device);
            }
            Step::Logout {
                device,
                reset_device_id,
            } => {
                let now = self.tick();
                let slot = usize::from(device % DEVICES);
                let (client, _) = self.device(device);
                client.reset(now, reset_device_id);
                let identified_only = client.person_profiles() == PersonProfiles::IdentifiedOnly;
                let session = self.new_session(slot, identified_only);
                if let Some(device) = &mut self.devices[slot] {
                    device.session = session;
                }
            }
            Step::Alias { device, target } => {
                let now = self.tick();
                let (client, session) = self.device(device);
                let alias = match target {
                    AliasTarget::Own(n) => match client.user_id() {
                        Some(user) => format!("crm_{user}_{n}"),
                        None => format!("alias_{session}_{n}"),
                    },
                    AliasTarget::User(user) => user_id(user % USERS),
                };
                let event = client.alias(now, &alias);
                self.record(session, event);
                if let AliasTarget::User(user) = target {
                    self.user_aliases.push((session, user % USERS));
                }
            }
            Step::Group {
                device,
                group_type,
                group_key,
            } => {
                let now = self.tick();
                let (client, session) = self.device(device);
                let properties = Value::object([("name", Value::from(group_key))]);
                let event = client.group(now, group_type, group_key, Some(properties));
                self.record(session, event);
            }
            Step::SetProperties { device, plan } => {
                let now = self.tick();
                let (client, session) = self.device(device);
                let set = Value::object([("plan", Value::from(plan))]);
                let event = client.set_person_properties(now, Some(set), None);
                self.record(session, event);
            }
        }
    }
}

impl Journey {
    /// Plays `steps` through fresh browsers. The same steps always give the same events:
    /// browser seeds count up from 1 and the clock starts at 2024-01-01T00:00:00Z.
    #[must_use]
    pub fn play(steps: Vec<Step>) -> Journey {
        let mut player = Player {
            clock: 0,
            browsers_created: 0,
            devices: (0..DEVICES).map(|_| None).collect(),
            journey: Journey {
                steps: Vec::new(),
                events: Vec::new(),
                event_sessions: Vec::new(),
                sessions: Vec::new(),
                crosses_users: false,
            },
            user_aliases: Vec::new(),
        };
        for step in &steps {
            player.step(step);
        }
        let mut journey = player.journey;
        // An alias to a user id joins the session's ids to that user, so a session that
        // aliased a user id and also names another user (by identifying as them, or by
        // aliasing their id too) joins two users through its anonymous id.
        journey.crosses_users = journey.sessions.iter().enumerate().any(|(index, session)| {
            let mut users: BTreeSet<String> = player
                .user_aliases
                .iter()
                .filter(|&&(aliased_in, _)| aliased_in == index)
                .map(|&(_, user)| user_id(user))
                .collect();
            let aliased = !users.is_empty();
            users.extend(session.users.iter().cloned());
            aliased && users.len() > 1
        });
        journey.steps = steps;
        journey
    }

    /// The steps played.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// The events the browsers sent, in order.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// The events, by value.
    pub fn into_events(self) -> Vec<Event> {
        self.events
    }

    /// Every session, in the order they started.
    pub fn sessions(&self) -> &[Session] {
        &self.sessions
    }

    /// The session that sent event `index` of [`Journey::events`].
    pub fn session_of(&self, index: usize) -> Option<&Session> {
        self.event_sessions
            .get(index)
            .and_then(|&session| self.sessions.get(session))
    }

    /// Whether an alias joined ids of two different users: a session aliased a user id and
    /// also named another user, by identifying as them (before or after the alias) or by
    /// aliasing their id too. Only then may a person rightly hold two user ids.
    pub fn crosses_users(&self) -> bool {
        self.crosses_users
    }

    /// Whether `id` is one of the journey's user ids (`user_0` to `user_3`).
    pub fn is_user_id(&self, id: &str) -> bool {
        (0..USERS).any(|user| id == user_id(user))
    }

    /// The user ids some session identified as, sorted.
    pub fn users(&self) -> BTreeSet<&str> {
        self.sessions
            .iter()
            .flat_map(|session| session.users.iter().map(String::as_str))
            .collect()
    }

    /// Whether some session ended with a `reset` (a logout) on its browser.
    pub fn has_logout(&self) -> bool {
        self.steps
            .iter()
            .any(|step| matches!(step, Step::Logout { .. }))
    }
}

/// One step: visits and identifies most often, then logouts, new devices and the rest.
/// Aliases to another user's id are rare, as they are in real use.
pub fn step() -> impl Strategy<Value = Step> {
    let device = 0..DEVICES;
    let user = 0..USERS;
    prop_oneof![
        6 => (device.clone(), proptest::option::of(prop_oneof![Just("free"), Just("pro")]))
            .prop_map(|(device, plan)| Step::Visit { device, plan }),
        4 => (device.clone(), user.clone()).prop_map(|(device, user)| Step::Identify { device, user }),
        2 => (device.clone(), user.clone(), any::<bool>()).prop_map(|(device, user, identified_only)| {
            Step::LoginOnNewDevice { device, user, identified_only }
        }),
        2 => (device.clone(), any::<bool>())
            .prop_map(|(device, identified_only)| Step::NewDevice { device, identified_only }),
        4 => (device.clone(), proptest::bool::weighted(0.2))
            .prop_map(|(device, reset_device_id)| Step::Logout { device, reset_device_id }),
        2 => (device.clone(), 0_u8..2)
            .prop_map(|(device, n)| Step::Alias { device, target: AliasTarget::Own(n) }),
        1 => (device.clone(), user)
            .prop_map(|(device, user)| Step::Alias { device, target: AliasTarget::User(user) }),
        1 => (device.clone(), prop_oneof![Just("company"), Just("team")], prop_oneof![Just("acme"), Just("beta")])
            .prop_map(|(device, group_type, group_key)| Step::Group { device, group_type, group_key }),
        1 => (device, prop_oneof![Just("free"), Just("pro"), Just("team")])
            .prop_map(|(device, plan)| Step::SetProperties { device, plan }),
    ]
}

/// A journey of 1 to `max_steps` steps (each step sends zero to two events).
pub fn journeys(max_steps: usize) -> impl Strategy<Value = Journey> {
    vec(step(), 1..=max_steps.max(1)).prop_map(Journey::play)
}

/// A journey of 2 to `max_steps` (at least 2) steps in which some browser logs out and a
/// user identifies on it right afterwards: the case reset safety is about.
pub fn journeys_with_logouts(max_steps: usize) -> impl Strategy<Value = Journey> {
    // Two steps are the logout and the identify; the rest are split around them.
    let around = max_steps.max(2) - 2;
    (
        vec(step(), 0..=around / 2),
        0..DEVICES,
        0..USERS,
        vec(step(), 0..=around - around / 2),
    )
        .prop_map(|(mut steps, device, user, rest)| {
            steps.push(Step::Logout {
                device,
                reset_device_id: false,
            });
            steps.push(Step::Identify { device, user });
            steps.extend(rest);
            Journey::play(steps)
        })
}

#[cfg(test)]
#[path = "journey_tests.rs"]
mod tests;
