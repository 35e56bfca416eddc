//! Seeded synthetic event streams, built on [`Client`], for benchmarks, demos and tests.
//!
//! A [`Workload`] is an iterator of [`Event`]s. The same [`WorkloadConfig`] always gives the
//! same events, and [`Workload::write_json_lines`] the same bytes: the generator draws from
//! its own SplitMix64 generator seeded by [`WorkloadConfig::seed`], never from the system.
//! Events are stamped from 2024-01-01T00:00:00Z (by default) onwards, 0.5 to 6 seconds
//! apart, so their timestamps strictly increase.
//!
//! # The realistic mix ([`Shape::Realistic`])
//!
//! The stream is a sequence of sessions, one after another. Browser sessions go through a
//! [`Client`], so every merge in the stream is one that posthog-js can ask for; backend
//! sessions write events as a server SDK would, with the user's id and no
//! `$anon_distinct_id`. Each session is drawn with these odds:
//!
//! | share | session | events |
//! |---|---|---|
//! | 33% | anonymous visitor on a new device who never identifies (`person_profiles: always`) | 1–7 page views |
//! | 14% | personless marketing visitor on a new device (`identified_only`, `$process_person_profile: false`) | 1–4 page views |
//! | 7% | signup: anonymous pages, then `identify` to a new user id with email, name and plan; a third also get a backend `user_signed_up` | 3–10 |
//! | 20% | returning user on a known device: page views while logged in, a log-in again after a logout, now and then a plan change (`$set`) | 2–9 |
//! | 5% | returning user on a new device: a new anonymous id, then `identify` to the existing user id | 2–7 |
//! | 4% | logout: page views, `reset` (one in ten also resets the device id), then anonymous pages | 1–5 |
//! | 2% | shared device: `reset`, then another user (half of them new) identifies on it | 3–7 |
//! | 2% | alias: a logged-in user gets an alias (`$create_alias`, e.g. a CRM id) | 2–3 |
//! | 9% | backend: server events under a user id (purchases, renewals); one in ten is a `$set` event with an `$unset` | 1–3 |
//! | 4% | B2B: a logged-in user joins their company's group (`$groupidentify` with `$group_set`), then pages carrying `$groups` | 2–4 |
//!
//! So four new devices in five never identify. Most browser events carry `$set`,
//! `$set_once` or both, with keys such as `email`, `name`, `plan`, `$current_url`,
//! `$browser` and `utm_source`; every browser event also carries the device's `$browser`,
//! `$os`, `$device_type` and `$current_url`, and a third of visitors arrive with
//! `utm_source`/`utm_campaign`. Per million events (seed 1) this makes about 187,000
//! distinct ids (36,000 of them seen only in personless mode), 20,000 user ids, 41,000
//! merges and no ingestion warning; 10% of the events are personless, 5% come from the
//! backend, 3.6% are `$identify` and 70% carry `$set` or `$set_once`.
//!
//! # Adversarial shapes
//!
//! - [`Shape::GiantPerson`]: nine sessions in ten are a new device that identifies as one
//!   and the same user, so one person ends up holding most distinct ids.
//! - [`Shape::AliasChains`]: server `$create_alias` events that each alias a fresh id onto
//!   the previous one, in chains of [`ALIAS_CHAIN_LINKS`] links.
//! - [`Shape::Singletons`]: every event is a page view from a new anonymous id: as many
//!   persons as events, no merge.
//! - [`Shape::IllegalIds`]: clients that identify with `null`, `undefined`, `[object
//!   Object]`, `NaN`, `0` and the like, and server merges whose other side is one of those or
//!   `"  "`, among ordinary anonymous visits. No event's `distinct_id` is blank, since
//!   capture refuses those before ingestion.
//!
//! ```
//! use idgraph::{Engine, Shape, Workload, WorkloadConfig};
//!
//! let config = WorkloadConfig { seed: 7, events: 2_000, shape: Shape::Realistic, ..WorkloadConfig::default() };
//! let mut engine = Engine::new();
//! for event in Workload::new(config.clone()) {
//!     engine.apply(&event)?;
//! }
//! assert!(engine.stats().persons > 100);
//!
//! let mut bytes = Vec::new();
//! let written = Workload::new(config).write_json_lines(&mut bytes)?;
//! assert_eq!(written, 2_000);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;

use super::client::{Client, PersonProfiles};
use super::rng::Rng;
use super::sessions::{
    PAGES, alias_chain_session, anonymous_visit, giant_session, illegal_session, new_client,
    realistic_session,
};
use super::world::World;
use crate::event::{Event, Line, Project, Timestamp, Value, write_line};

/// How many links [`Shape::AliasChains`] puts in one chain before starting the next.
pub const ALIAS_CHAIN_LINKS: u32 = 1_000;

/// 2024-01-01T00:00:00Z.
const DEFAULT_START: Timestamp = Timestamp::from_unix_micros(1_704_067_200_000_000);

/// What kind of traffic a [`Workload`] generates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Shape {
    /// The realistic mix of the module documentation.
    #[default]
    Realistic,
    /// Most devices identify as one user: one giant person.
    GiantPerson,
    /// Long chains of `$create_alias`, each link aliasing a new id onto the last.
    AliasChains,
    /// One page view per new anonymous id: many single-id persons.
    Singletons,
    /// Merges that name ingestion's illegal ids, among anonymous visits.
    IllegalIds,
}

/// What to generate.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkloadConfig {
    /// The seed; the same configuration always gives the same events. Default 0.
    pub seed: u64,
    /// How many events to generate. Default 10,000.
    pub events: u64,
    /// The kind of traffic. Default [`Shape::Realistic`].
    pub shape: Shape,
    /// The time of the first event. Default 2024-01-01T00:00:00Z.
    pub start: Timestamp,
    /// The project of every event. Default [`Project::Default`], written with no project
    /// field.
    pub project: Project,
}

impl Default for WorkloadConfig {
    fn default() -> WorkloadConfig {
        WorkloadConfig {
            seed: 0,
            events: 10_000,
            shape: Shape::Realistic,
            start: DEFAULT_START,
            project: Project::Default,
        }
    }
}

/// A seeded stream of events: an iterator of exactly [`WorkloadConfig::events`] events.
#[derive(Debug)]
pub struct Workload {
    shape: Shape,
    remaining: u64,
    out: Out,
    world: World,
}

impl Workload {
    /// A workload that has generated nothing yet.
    #[must_use]
    pub fn new(config: WorkloadConfig) -> Workload {
        Workload {
            shape: config.shape,
            remaining: config.events,
            out: Out {
                // Mixing the shape in keeps shapes with the same seed from sharing ids.
                rng: Rng::new(config.seed ^ (config.shape as u64).wrapping_mul(0x5851_F42D)),
                clock: config.start.unix_micros(),
                queue: VecDeque::new(),
                project: config.project,
            },
            world: World::default(),
        }
    }

    /// Writes the remaining events as JSON Lines (docs/contract.md §1), one event a line,
    /// and returns how many it wrote. Browser events also carry the `$device_id` and the
    /// `$groups` of their client, which [`Event`] does not keep; every line parses back with
    /// [`Event::from_json`] into the event the iterator would have yielded.
    ///
    /// Output is buffered here, so `out` need not be.
    ///
    /// # Errors
    ///
    /// The first error of `out`; the events before it were written.
    pub fn write_json_lines<W: io::Write + ?Sized>(&mut self, out: &mut W) -> io::Result<u64> {
        const FLUSH_AT: usize = 64 * 1024;
        let mut buffer = Vec::with_capacity(FLUSH_AT + 4096);
        let mut written = 0;
        while let Some(pending) = self.next_pending() {
            write_line(
                &mut buffer,
                &Line {
                    event: &pending.event,
                    device_id: pending.device_id.as_deref(),
                    groups: pending.groups.as_ref(),
                },
            )?;
            written += 1;
            if buffer.len() >= FLUSH_AT {
                out.write_all(&buffer)?;
                buffer.clear();
            }
        }
        out.write_all(&buffer)?;
        Ok(written)
    }

    fn next_pending(&mut self) -> Option<Pending> {
        if self.remaining == 0 {
            return None;
        }
        // Every session sends at least one event, so this loop ends.
        while self.out.queue.is_empty() {
            self.session();
        }
        self.remaining -= 1;
        self.out.queue.pop_front()
    }

    fn session(&mut self) {
        let (out, world) = (&mut self.out, &mut self.world);
        match self.shape {
            Shape::Realistic => realistic_session(out, world),
            Shape::GiantPerson => {
                if out.rng.percent(90) {
                    giant_session(out, world);
                } else {
                    anonymous_visit(out);
                }
            }
            Shape::AliasChains => alias_chain_session(out, world),
            Shape::Singletons => {
                let mut client = new_client(out, PersonProfiles::Always);
                let now = out.tick();
                let (path, _) = out.rng.pick(PAGES);
                let set_once = Value::object([("first_page", Value::from(path))]);
                let event = client.capture(now, "$pageview", None, Some(set_once));
                out.send(Some(event), &client);
            }
            Shape::IllegalIds => illegal_session(out, world),
        }
    }
}

impl Iterator for Workload {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        self.next_pending().map(|pending| pending.event)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let remaining = usize::try_from(self.remaining).unwrap_or(usize::MAX);
        (remaining, Some(remaining))
    }
}

impl ExactSizeIterator for Workload {}

/// An event waiting to be handed out, with what its line carries beyond the [`Event`].
#[derive(Debug)]
pub(super) struct Pending {
    event: Event,
    device_id: Option<Arc<str>>,
    groups: Option<Value>,
}

/// The clock, the generator and the queue of events of the current session.
#[derive(Debug)]
pub(super) struct Out {
    pub(super) rng: Rng,
    clock: i64,
    queue: VecDeque<Pending>,
    project: Project,
}

impl Out {
    /// The time of the next event: 0.5 to 6 seconds after the last one sent. The clock moves
    /// only when an event is sent, so that a call that sends nothing leaves no gap.
    pub(super) fn tick(&mut self) -> Timestamp {
        let millis = self.rng.range(500, 6_000);
        Timestamp::from_unix_micros(self.clock.saturating_add_unsigned(millis * 1_000))
    }

    pub(super) fn now(&self) -> Timestamp {
        Timestamp::from_unix_micros(self.clock)
    }

    /// Queues what a client call sent, with the client's device id and groups.
    pub(super) fn send(&mut self, event: Option<Event>, client: &Client) {
        if let Some(event) = event {
            self.push(
                event,
                Some(client.shared_device_id()),
                client.groups().cloned(),
            );
        }
    }

    pub(super) fn push(
        &mut self,
        event: Event,
        device_id: Option<Arc<str>>,
        groups: Option<Value>,
    ) {
        if let Some(time) = event.timestamp() {
            self.clock = self.clock.max(time.unix_micros());
        }
        let event = match &self.project {
            Project::Default => event,
            project => event.with_project(project.clone()),
        };
        self.queue.push_back(Pending {
            event,
            device_id,
            groups,
        });
    }

    /// A server-side event under `distinct_id`, as posthog-node sends it.
    pub(super) fn server_event(&mut self, name: &str, distinct_id: &str) -> Event {
        let now = self.tick();
        let uuid = self.rng.uuid_v7(now);
        Event::new(name, distinct_id)
            .with_timestamp(now)
            .with_uuid(uuid)
    }
}
