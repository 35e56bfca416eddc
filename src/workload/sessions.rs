//! The generator's session scripts: what one visit, signup, login, logout, alias, backend
//! or group session sends, through a [`Client`] where a browser would send it.

use super::client::{Client, PersonProfiles, UserState};
use super::generator::{ALIAS_CHAIN_LINKS, Out};
use super::rng::Rng;
use super::world::{Device, User, World};
use crate::event::{Timestamp, Value};

/// Paths and their URLs, spelled out so that a page view allocates no string to format.
pub(super) const PAGES: &[(&str, &str)] = &[
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

pub(super) fn realistic_session(out: &mut Out, world: &mut World) {
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
pub(super) fn new_client(out: &mut Out, mode: PersonProfiles) -> Client {
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

pub(super) fn anonymous_visit(out: &mut Out) {
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

pub(super) fn giant_session(out: &mut Out, world: &mut World) {
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

pub(super) fn alias_chain_session(out: &mut Out, world: &mut World) {
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

pub(super) fn illegal_session(out: &mut Out, world: &mut World) {
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
