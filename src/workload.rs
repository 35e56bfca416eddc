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

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::client::{Client, PersonProfiles, UserState};
use crate::event::{Event, Project, Timestamp};
use crate::rng::Rng;
use crate::value::Value;

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

    /// Writes the remaining events as JSON Lines (CONTRACT.md section 1), one event a line,
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

/// Writes one event as a JSON line (CONTRACT.md section 1): `uuid`, `event`, `distinct_id`,
/// `properties` (the properties the event keeps), `timestamp` in RFC 3339 and the project.
/// [`Event::from_json`] reads the line back into an equal event.
///
/// ```
/// use idgraph::{Event, Timestamp, write_event_json};
///
/// let event = Event::new("$identify", "user_1")
///     .with_property("$anon_distinct_id", "anon_1")
///     .with_timestamp(Timestamp::from_unix_micros(1_704_067_200_000_000));
/// let mut line = Vec::new();
/// write_event_json(&event, &mut line)?;
/// assert_eq!(
///     String::from_utf8(line.clone())?,
///     "{\"event\":\"$identify\",\"distinct_id\":\"user_1\",\"properties\":{\"$anon_distinct_id\":\"anon_1\"},\"timestamp\":\"2024-01-01T00:00:00Z\"}\n"
/// );
/// assert_eq!(Event::from_json(std::str::from_utf8(&line)?.trim_end())?, event);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// The error of `out`.
pub fn write_event_json<W: io::Write + ?Sized>(event: &Event, out: &mut W) -> io::Result<()> {
    let mut buffer = Vec::with_capacity(256);
    write_line(
        &mut buffer,
        &Line {
            event,
            device_id: None,
            groups: None,
        },
    )?;
    out.write_all(&buffer)
}

fn write_line(buffer: &mut Vec<u8>, line: &Line<'_>) -> io::Result<()> {
    serde_json::to_writer(&mut *buffer, line).map_err(io::Error::other)?;
    buffer.push(b'\n');
    Ok(())
}

/// The properties an [`Event`] keeps apart from the lifted ones, in the order they are
/// written.
const KEPT_PROPERTIES: [&str; 10] = [
    "$set",
    "$set_once",
    "$unset",
    "$anon_distinct_id",
    "alias",
    "$group_type",
    "$group_key",
    "$group_set",
    "$process_person_profile",
    "$is_server",
];

struct Line<'a> {
    event: &'a Event,
    device_id: Option<&'a str>,
    groups: Option<&'a Value>,
}

impl Serialize for Line<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let event = self.event;
        let mut map = serializer.serialize_map(None)?;
        if let Some(uuid) = event.uuid() {
            map.serialize_entry("uuid", uuid)?;
        }
        map.serialize_entry("event", event.name())?;
        map.serialize_entry("distinct_id", event.distinct_id())?;
        map.serialize_entry("properties", &Properties(self))?;
        if let Some(timestamp) = event.timestamp() {
            map.serialize_entry("timestamp", &Rfc3339(timestamp))?;
        }
        match event.project() {
            Project::Default => {}
            Project::Team(id) => map.serialize_entry("team_id", id)?,
            Project::Token(token) => map.serialize_entry("token", token)?,
        }
        map.end()
    }
}

struct Properties<'a>(&'a Line<'a>);

impl Serialize for Properties<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Line {
            event,
            device_id,
            groups,
        } = self.0;
        let mut map = serializer.serialize_map(None)?;
        for key in KEPT_PROPERTIES {
            if let Some(value) = event.property(key) {
                map.serialize_entry(key, value)?;
            }
        }
        for (key, value) in event.lifted_properties() {
            map.serialize_entry(key, value)?;
        }
        if let Some(device_id) = device_id {
            map.serialize_entry("$device_id", device_id)?;
        }
        if let Some(groups) = groups {
            map.serialize_entry("$groups", groups)?;
        }
        map.end()
    }
}

struct Rfc3339(Timestamp);

impl Serialize for Rfc3339 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

/// An event waiting to be handed out, with what its line carries beyond the [`Event`].
#[derive(Debug)]
struct Pending {
    event: Event,
    device_id: Option<Arc<str>>,
    groups: Option<Value>,
}

/// The clock, the generator and the queue of events of the current session.
#[derive(Debug)]
struct Out {
    rng: Rng,
    clock: i64,
    queue: VecDeque<Pending>,
    project: Project,
}

impl Out {
    /// The time of the next event: 0.5 to 6 seconds after the last one sent. The clock moves
    /// only when an event is sent, so that a call that sends nothing leaves no gap.
    fn tick(&mut self) -> Timestamp {
        let millis = self.rng.range(500, 6_000);
        Timestamp::from_unix_micros(self.clock.saturating_add_unsigned(millis * 1_000))
    }

    fn now(&self) -> Timestamp {
        Timestamp::from_unix_micros(self.clock)
    }

    /// Queues what a client call sent, with the client's device id and groups.
    fn send(&mut self, event: Option<Event>, client: &Client) {
        if let Some(event) = event {
            self.push(
                event,
                Some(client.shared_device_id()),
                client.groups().cloned(),
            );
        }
    }

    fn push(&mut self, event: Event, device_id: Option<Arc<str>>, groups: Option<Value>) {
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
    fn server_event(&mut self, name: &str, distinct_id: &str) -> Event {
        let now = self.tick();
        let uuid = self.rng.uuid_v7(now);
        Event::new(name, distinct_id)
            .with_timestamp(now)
            .with_uuid(uuid)
    }
}

/// The users and devices that outlive a session.
#[derive(Debug, Default)]
struct World {
    users: Vec<User>,
    /// Devices on which someone has logged in; anonymous-only devices are never revisited.
    devices: Vec<Device>,
    companies: u32,
    aliases: u64,
    /// [`Shape::AliasChains`]: the id the next link aliases onto, and the links so far.
    chain: Option<(Box<str>, u32)>,
    chains: u64,
}

#[derive(Debug)]
struct User {
    id: Box<str>,
    email: Box<str>,
    name: Box<str>,
    plan: &'static str,
    company: Option<u32>,
}

#[derive(Debug)]
struct Device {
    client: Client,
    /// The user who last logged in on it.
    user: usize,
}

/// Paths and their URLs, spelled out so that a page view allocates no string to format.
const PAGES: &[(&str, &str)] = &[
    ("/", "https://example.com/"),
    ("/pricing", "https://example.com/pricing"),
    ("/features", "https://example.com/features"),
    (
        "/blog/identity-resolution",
        "https://example.com/blog/identity-resolution",
    ),
    (
        "/blog/product-analytics-101",
        "https://example.com/blog/product-analytics-101",
    ),
    ("/docs", "https://example.com/docs"),
    (
        "/docs/getting-started",
        "https://example.com/docs/getting-started",
    ),
    ("/signup", "https://example.com/signup"),
    ("/login", "https://example.com/login"),
    ("/app", "https://example.com/app"),
    ("/app/dashboard", "https://example.com/app/dashboard"),
    ("/app/insights", "https://example.com/app/insights"),
    ("/app/settings", "https://example.com/app/settings"),
    ("/app/billing", "https://example.com/app/billing"),
];
const EVENT_NAMES: &[&str] = &[
    "$pageview",
    "$pageview",
    "$pageview",
    "$pageview",
    "$autocapture",
    "$autocapture",
    "$pageleave",
    "button_clicked",
    "feature_used",
    "$rageclick",
    "$exception",
];
const BROWSERS: &[&str] = &[
    "Chrome",
    "Chrome",
    "Safari",
    "Firefox",
    "Edge",
    "Samsung Internet",
];
const OSES: &[&str] = &["Windows", "Mac OS X", "iOS", "Android", "Linux"];
const DEVICE_TYPES: &[&str] = &["Desktop", "Desktop", "Mobile", "Tablet"];
const UTM_SOURCES: &[&str] = &["google", "newsletter", "twitter", "linkedin", "producthunt"];
const CAMPAIGNS: &[&str] = &["spring_launch", "retargeting", "webinar", "brand"];
const PLANS: &[&str] = &["free", "free", "free", "pro", "team", "enterprise"];
const FIRST_NAMES: &[&str] = &[
    "Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken", "Radia", "Linus",
];
const LAST_NAMES: &[&str] = &[
    "Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Thompson",
];
const DOMAINS: &[&str] = &["example.com", "mail.test", "corp.example"];
const INDUSTRIES: &[&str] = &["fintech", "health", "retail", "saas", "logistics"];
const SERVER_EVENTS: &[&str] = &[
    "order_completed",
    "subscription_renewed",
    "invoice_paid",
    "email_sent",
    "api_request",
];
/// Ids ingestion refuses to merge that posthog-js still sends (it refuses only the two
/// `distinct_id` spellings, which are here to exercise that).
const ILLEGAL_CLIENT_IDS: &[&str] = &[
    "null",
    "undefined",
    "[object Object]",
    "NaN",
    "None",
    "0",
    "anonymous",
    "guest",
    "\"undefined\"",
    "distinct_id",
];
/// Ids refused as merge sources, including a blank one that capture would refuse as a
/// `distinct_id`.
const ILLEGAL_MERGE_IDS: &[&str] = &["null", "undefined", "  ", "[object Object]", "", "'null'"];

fn realistic_session(out: &mut Out, world: &mut World) {
    let roll = out.rng.below(100);
    // An empty world has nobody to return: those sessions become signups.
    let known = !world.devices.is_empty();
    match roll {
        0..33 => anonymous_visit(out),
        33..47 => personless_visit(out),
        47..67 if known => returning_visit(out, world),
        67..72 if known => new_device_login(out, world),
        72..76 if known => logout(out, world),
        76..78 if known => shared_device(out, world),
        78..80 if known => alias_session(out, world),
        80..89 if known => backend_session(out, world),
        89..93 if known => group_session(out, world),
        _ => signup(out, world),
    }
}

/// A client on a new device, with the context posthog-js reports for it.
fn new_client(out: &mut Out, mode: PersonProfiles) -> Client {
    let now = out.now();
    let rng = &mut out.rng;
    let mut client = Client::new(rng.next_u64(), mode, now);
    client.set_context("$browser", rng.pick(BROWSERS));
    client.set_context("$os", rng.pick(OSES));
    client.set_context("$device_type", rng.pick(DEVICE_TYPES));
    if rng.percent(33) {
        client.set_context("utm_source", rng.pick(UTM_SOURCES));
        client.set_context("utm_campaign", rng.pick(CAMPAIGNS));
    }
    client
}

/// `pages` browser events from the client, most carrying person property operations.
fn browse(out: &mut Out, client: &mut Client, pages: u64, user: Option<&User>, ops: bool) {
    for _ in 0..pages {
        let page = out.rng.pick(PAGES);
        client.set_context("$current_url", page.1);
        let name = out.rng.pick(EVENT_NAMES);
        let (set, set_once) = if ops {
            person_operations(&mut out.rng, page, user)
        } else {
            (None, None)
        };
        let now = out.tick();
        let event = client.capture(now, name, set, set_once);
        out.send(Some(event), client);
    }
}

/// `$set`/`$set_once` for one browser event: 40% `$set` only, 25% `$set_once` only, 15%
/// both, 20% neither.
fn person_operations(
    rng: &mut Rng,
    (path, url): (&'static str, &'static str),
    user: Option<&User>,
) -> (Option<Value>, Option<Value>) {
    let roll = rng.below(100);
    let set = (roll < 40 || (65..80).contains(&roll)).then(|| {
        let mut members = Vec::with_capacity(2);
        for _ in 0..rng.range(1, 2) {
            members.push(match (rng.below(6), user) {
                (0, _) => ("$current_url", Value::from(url)),
                (1, _) => ("last_page", Value::from(path)),
                (2, _) => ("$browser", Value::from(rng.pick(BROWSERS))),
                (3, Some(user)) => ("plan", Value::from(user.plan)),
                (4, Some(user)) => ("email", Value::from(&*user.email)),
                (5, Some(user)) => ("name", Value::from(&*user.name)),
                (3, None) => ("theme", Value::from(rng.pick(&["dark", "light"]))),
                _ => ("utm_source", Value::from(rng.pick(UTM_SOURCES))),
            });
        }
        Value::object(members)
    });
    let set_once = (40..80).contains(&roll).then(|| {
        Value::object([
            ("first_page", Value::from(path)),
            ("initial_utm_source", Value::from(rng.pick(UTM_SOURCES))),
        ])
    });
    (set, set_once)
}

fn anonymous_visit(out: &mut Out) {
    let mut client = new_client(out, PersonProfiles::Always);
    let pages = out.rng.range(1, 7);
    browse(out, &mut client, pages, None, true);
}

fn personless_visit(out: &mut Out) {
    let mut client = new_client(out, PersonProfiles::IdentifiedOnly);
    let pages = out.rng.range(1, 4);
    browse(out, &mut client, pages, None, false);
}

fn new_user(rng: &mut Rng, users: &mut Vec<User>) -> usize {
    let n = users.len();
    let first = rng.pick(FIRST_NAMES);
    let last = rng.pick(LAST_NAMES);
    let email: Box<str> = format!(
        "{}.{}{n}@{}",
        first.to_ascii_lowercase(),
        last.to_ascii_lowercase(),
        rng.pick(DOMAINS)
    )
    .into();
    // Apps use their database id, a prefixed id or the email as the distinct id.
    let id: Box<str> = match rng.below(10) {
        0..4 => (100_000 + n).to_string().into(),
        4..8 => format!("usr_{:08x}", rng.next_u64() as u32).into(),
        _ => email.clone(),
    };
    users.push(User {
        id,
        email,
        name: format!("{first} {last}").into(),
        plan: rng.pick(PLANS),
        company: None,
    });
    n
}

fn signup_properties(user: &User, now: Timestamp) -> (Option<Value>, Option<Value>) {
    let set = Value::object([
        ("email", Value::from(&*user.email)),
        ("name", Value::from(&*user.name)),
        ("plan", Value::from(user.plan)),
    ]);
    let set_once = Value::object([("signed_up_at", Value::from(now.to_string()))]);
    (Some(set), Some(set_once))
}

fn signup(out: &mut Out, world: &mut World) {
    let mode = if out.rng.percent(25) {
        PersonProfiles::IdentifiedOnly
    } else {
        PersonProfiles::Always
    };
    let mut client = new_client(out, mode);
    let before = out.rng.range(1, 4);
    browse(
        out,
        &mut client,
        before,
        None,
        mode == PersonProfiles::Always,
    );
    let user = new_user(&mut out.rng, &mut world.users);
    identify(out, &mut client, &world.users[user]);
    let after = out.rng.range(1, 4);
    browse(out, &mut client, after, Some(&world.users[user]), true);
    if out.rng.percent(33) {
        let event = out.server_event("user_signed_up", &world.users[user].id);
        out.push(event, None, None);
    }
    world.devices.push(Device { client, user });
}

fn identify(out: &mut Out, client: &mut Client, user: &User) {
    let now = out.tick();
    let (set, set_once) = signup_properties(user, now);
    let event = client.identify(now, &user.id, set, set_once);
    out.send(event, client);
}

/// A known device, preferring one whose user is logged in.
fn pick_device(rng: &mut Rng, devices: &[Device]) -> usize {
    let mut index = rng.index(devices.len());
    for _ in 0..3 {
        if devices[index].client.state() == UserState::Identified {
            break;
        }
        index = rng.index(devices.len());
    }
    index
}

/// Logs the device's last user in again if they logged out: a few anonymous pages, then
/// `identify`.
fn log_in_again(out: &mut Out, device: &mut Device, users: &[User]) {
    if device.client.state() == UserState::Anonymous {
        let pages = out.rng.range(0, 2);
        browse(out, &mut device.client, pages, None, true);
        identify(out, &mut device.client, &users[device.user]);
    }
}

fn returning_visit(out: &mut Out, world: &mut World) {
    let index = pick_device(&mut out.rng, &world.devices);
    let device = &mut world.devices[index];
    log_in_again(out, device, &world.users);
    let user = &world.users[device.user];
    let pages = out.rng.range(2, 8);
    browse(out, &mut device.client, pages, Some(user), true);
    if out.rng.percent(15) {
        let plan = Value::object([("plan", Value::from(out.rng.pick(PLANS)))]);
        let now = out.tick();
        let event = device.client.set_person_properties(now, Some(plan), None);
        out.send(event, &device.client);
    }
}

fn new_device_login(out: &mut Out, world: &mut World) {
    let user = out.rng.index(world.users.len());
    let mut client = new_client(out, PersonProfiles::Always);
    let before = out.rng.range(0, 2);
    browse(out, &mut client, before, None, true);
    identify(out, &mut client, &world.users[user]);
    let after = out.rng.range(1, 4);
    browse(out, &mut client, after, Some(&world.users[user]), true);
    world.devices.push(Device { client, user });
}

fn logout(out: &mut Out, world: &mut World) {
    let index = pick_device(&mut out.rng, &world.devices);
    let device = &mut world.devices[index];
    log_in_again(out, device, &world.users);
    let user = &world.users[device.user];
    let pages = out.rng.range(1, 3);
    browse(out, &mut device.client, pages, Some(user), true);
    let reset_device_id = out.rng.percent(10);
    let now = out.tick();
    device.client.reset(now, reset_device_id);
    let pages = out.rng.range(0, 2);
    browse(out, &mut device.client, pages, None, true);
}

fn shared_device(out: &mut Out, world: &mut World) {
    let index = pick_device(&mut out.rng, &world.devices);
    let previous = world.devices[index].user;
    let next = if out.rng.percent(50) || world.users.len() < 2 {
        new_user(&mut out.rng, &mut world.users)
    } else {
        // Another existing user; stepping past the previous one keeps the pick uniform.
        let pick = out.rng.index(world.users.len() - 1);
        if pick >= previous { pick + 1 } else { pick }
    };
    let device = &mut world.devices[index];
    log_in_again(out, device, &world.users);
    let pages = out.rng.range(1, 2);
    browse(
        out,
        &mut device.client,
        pages,
        Some(&world.users[previous]),
        true,
    );
    let now = out.tick();
    device.client.reset(now, false);
    let pages = out.rng.range(0, 1);
    browse(out, &mut device.client, pages, None, true);
    identify(out, &mut device.client, &world.users[next]);
    let pages = out.rng.range(1, 3);
    browse(
        out,
        &mut device.client,
        pages,
        Some(&world.users[next]),
        true,
    );
    device.user = next;
}

fn alias_session(out: &mut Out, world: &mut World) {
    let index = pick_device(&mut out.rng, &world.devices);
    let device = &mut world.devices[index];
    log_in_again(out, device, &world.users);
    world.aliases += 1;
    let alias = format!("crm_{:07}", world.aliases);
    let now = out.tick();
    let event = device.client.alias(now, &alias);
    out.send(event, &device.client);
    let pages = out.rng.range(1, 2);
    browse(out, &mut device.client, pages, None, true);
}

fn backend_session(out: &mut Out, world: &World) {
    let user = &world.users[out.rng.index(world.users.len())];
    let groups = user
        .company
        .map(|c| Value::object([("company", Value::from(company_key(c)))]));
    for _ in 0..out.rng.range(1, 3) {
        let event = if out.rng.percent(10) {
            out.server_event("$set", &user.id)
                .with_property(
                    "$set",
                    Value::object([("plan", Value::from(out.rng.pick(PLANS)))]),
                )
                .with_property("$unset", Value::from(vec![Value::from("trial_ends_at")]))
        } else {
            let name = out.rng.pick(SERVER_EVENTS);
            let mut event = out.server_event(name, &user.id);
            if out.rng.percent(30) {
                let set = Value::object([
                    ("plan", Value::from(user.plan)),
                    ("trial_ends_at", Value::from("2024-02-01")),
                ]);
                event = event.with_property("$set", set);
            }
            event
        };
        out.push(event, None, groups.clone());
    }
}

fn company_key(company: u32) -> String {
    format!("company_{company:05}")
}

fn group_session(out: &mut Out, world: &mut World) {
    let index = pick_device(&mut out.rng, &world.devices);
    let device = &mut world.devices[index];
    log_in_again(out, device, &world.users);
    let user = &mut world.users[device.user];
    let (company, first_join) = match user.company {
        Some(company) => (company, false),
        None => {
            let company = if world.companies == 0 || out.rng.percent(30) {
                world.companies += 1;
                world.companies - 1
            } else {
                out.rng.below(u64::from(world.companies)) as u32
            };
            user.company = Some(company);
            (company, true)
        }
    };
    let properties = (first_join || out.rng.percent(30)).then(|| {
        Value::object([
            ("name", Value::from(format!("Company {company}"))),
            ("industry", Value::from(out.rng.pick(INDUSTRIES))),
            (
                "employees",
                Value::from(i64::try_from(out.rng.range(5, 5_000)).unwrap_or(5)),
            ),
        ])
    });
    let now = out.tick();
    let event = device
        .client
        .group(now, "company", &company_key(company), properties);
    out.send(event, &device.client);
    let pages = out.rng.range(1, 3);
    browse(out, &mut device.client, pages, Some(&*user), true);
}

fn giant_session(out: &mut Out, world: &mut World) {
    if world.users.is_empty() {
        new_user(&mut out.rng, &mut world.users);
    }
    let mut client = new_client(out, PersonProfiles::Always);
    let before = out.rng.range(0, 2);
    browse(out, &mut client, before, None, true);
    identify(out, &mut client, &world.users[0]);
    let after = out.rng.range(0, 1);
    browse(out, &mut client, after, Some(&world.users[0]), true);
}

fn alias_chain_session(out: &mut Out, world: &mut World) {
    let head = match world.chain.take() {
        Some((head, links)) if links < ALIAS_CHAIN_LINKS => (head, links),
        _ => {
            world.chains += 1;
            let head: Box<str> = format!("chain{}_0", world.chains).into();
            // A first event gives the head a person, so each link joins an existing one.
            let event = out.server_event("$pageview", &head);
            out.push(event, None, None);
            (head, 0)
        }
    };
    let (head, links) = head;
    let next: Box<str> = format!("chain{}_{}", world.chains, links + 1).into();
    let event = out
        .server_event("$create_alias", &head)
        .with_property("alias", &*next);
    out.push(event, None, None);
    if out.rng.percent(20) {
        let event = out.server_event("$pageview", &next);
        out.push(event, None, None);
    }
    world.chain = Some((next, links + 1));
}

fn illegal_session(out: &mut Out, world: &mut World) {
    match out.rng.below(10) {
        0..4 => anonymous_visit(out),
        4..7 => {
            let mut client = new_client(out, PersonProfiles::Always);
            let pages = out.rng.range(1, 2);
            browse(out, &mut client, pages, None, true);
            let now = out.tick();
            let event = client.identify(now, out.rng.pick(ILLEGAL_CLIENT_IDS), None, None);
            out.send(event, &client);
            let pages = out.rng.range(1, 2);
            browse(out, &mut client, pages, None, true);
        }
        _ => {
            let user = new_user(&mut out.rng, &mut world.users);
            let id = world.users[user].id.clone();
            let illegal = out.rng.pick(ILLEGAL_MERGE_IDS);
            let event = if out.rng.percent(50) {
                out.server_event("$create_alias", &id)
                    .with_property("alias", illegal)
            } else {
                out.server_event("$identify", &id)
                    .with_property("$anon_distinct_id", illegal)
            };
            out.push(event, None, None);
        }
    }
}
