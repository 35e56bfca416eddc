//! The reference model: docs/behaviour.md §3 to §10, 12, 13, 14 and 16, written as plainly as
//! possible.
//!
//! It is a second, independent implementation of the engine's rules, for tests that compare
//! the two. It keeps persons in ordered maps of sets and copies whole property maps on every
//! update; it has no union-find, no interning and no shortcuts, so that each rule can be read
//! off the code next to the section of docs/behaviour.md it implements. It shares only the input
//! and output types with the engine (`Event`, `Value`, `Dump`): the illegal-id lists, the
//! lifted keys, the churn-filtered keys and the uuid derivation are written out again here.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use crate::{
    Dump, Event, EventKind, GroupRecord, PersonRecord, PersonlessRecord, Project, Timestamp, Value,
    WarningKind,
};

/// PostHog's namespace for person uuids (docs/behaviour.md §8).
const PERSON_NAMESPACE: Uuid = Uuid::from_u128(0x9329_79b4_65c3_4424_8467_0b66_ec27_bc22);

/// Longest distinct id or group key PostHog accepts, in characters (sections 4.1, 12, 13).
const MAX_CHARS: usize = 400;

/// Group types a project may have (section 12).
const MAX_GROUP_TYPES: usize = 5;

/// Past this many bytes of compact JSON a person's properties are over the size limit
/// (section 13, decision 16).
const SIZE_LIMIT: usize = 640 * 1024;

/// What a trim brings a person's properties down to, when protected keys allow.
const TRIM_TARGET: usize = 512 * 1024;

/// Keys a trim never drops (section 13, PPU `canTrimProperty`): core, event-to-person,
/// campaign, session, identity and initial keys.
const PROTECTED: &[&str] = &[
    "email",
    "name",
    "$app_build",
    "$app_name",
    "$app_namespace",
    "$app_version",
    "$browser",
    "$browser_version",
    "$device_type",
    "$current_url",
    "$pathname",
    "$os",
    "$os_name",
    "$os_version",
    "$referring_domain",
    "$referrer",
    "$screen_height",
    "$screen_width",
    "$viewport_height",
    "$viewport_width",
    "$raw_user_agent",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_content",
    "utm_name",
    "utm_term",
    "gclid",
    "gad_source",
    "gclsrc",
    "dclid",
    "gbraid",
    "wbraid",
    "fbclid",
    "msclkid",
    "twclid",
    "li_fat_id",
    "mc_cid",
    "igshid",
    "ttclid",
    "rdt_cid",
    "irclid",
    "_kx",
    "epik",
    "qclid",
    "sccid",
    "$session_id",
    "$window_id",
    "$pageview_id",
    "$host",
    "$user_id",
    "$device_id",
    "$anon_distinct_id",
    "$initial_referrer",
    "$initial_referring_domain",
    "$initial_utm_source",
    "$initial_utm_medium",
    "$initial_utm_campaign",
    "$initial_utm_content",
    "$initial_utm_term",
];

/// Ids refused after lower-casing (section 4.1), before adding their quoted forms.
const ILLEGAL_LOWERCASE: [&str; 10] = [
    "anonymous",
    "guest",
    "distinctid",
    "distinct_id",
    "id",
    "not_authenticated",
    "email",
    "undefined",
    "true",
    "false",
];

/// Ids refused as written (section 4.1), before adding their quoted forms.
const ILLEGAL_EXACT: [&str; 7] = [
    "[object Object]",
    "NaN",
    "None",
    "none",
    "null",
    "0",
    "undefined",
];

/// Event properties copied into person properties (section 3, PPU).
const LIFTED_KEYS: &[&str] = &[
    "$app_build",
    "$app_name",
    "$app_namespace",
    "$app_version",
    "$browser",
    "$browser_version",
    "$device_type",
    "$current_url",
    "$pathname",
    "$os",
    "$os_version",
    "$referring_domain",
    "$referrer",
    "$screen_height",
    "$screen_width",
    "$viewport_height",
    "$viewport_width",
    "$raw_user_agent",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_content",
    "utm_name",
    "utm_term",
    "gclid",
    "gad_source",
    "gclsrc",
    "dclid",
    "gbraid",
    "wbraid",
    "fbclid",
    "msclkid",
    "twclid",
    "li_fat_id",
    "mc_cid",
    "igshid",
    "ttclid",
    "rdt_cid",
    "irclid",
    "_kx",
    "epik",
    "qclid",
    "sccid",
    // Listed last so that an `$os` on the same event claims `$initial_os` first.
    "$os_name",
];

/// Keys whose changes of an existing value ordinary events do not write (section 7.4).
const CHURN_KEYS: &[&str] = &[
    "$current_url",
    "$pathname",
    "$referring_domain",
    "$referrer",
    "$screen_height",
    "$screen_width",
    "$viewport_height",
    "$viewport_width",
    "$browser",
    "$browser_version",
    "$device_type",
    "$raw_user_agent",
    "$os",
    "$os_name",
    "$os_version",
    "$geoip_postal_code",
    "$geoip_time_zone",
    "$geoip_latitude",
    "$geoip_longitude",
    "$geoip_accuracy_radius",
    "$geoip_subdivision_1_code",
    "$geoip_subdivision_1_name",
    "$geoip_subdivision_2_code",
    "$geoip_subdivision_2_name",
    "$geoip_subdivision_3_code",
    "$geoip_subdivision_3_name",
    "$geoip_city_confidence",
    "$geoip_country_confidence",
    "$geoip_postal_code_confidence",
    "$geoip_subdivision_1_confidence",
    "$geoip_subdivision_2_confidence",
];

/// Whether PostHog's illegal-id lists refuse `id` (section 4.1).
fn is_illegal(id: &str) -> bool {
    if id.chars().all(is_js_whitespace) {
        return true;
    }
    let quoted = |list: &[&str], candidate: &str| {
        list.iter().any(|entry| {
            candidate == *entry
                || candidate == format!("'{entry}'")
                || candidate == format!("\"{entry}\"")
        })
    };
    quoted(&ILLEGAL_LOWERCASE, &id.to_lowercase()) || quoted(&ILLEGAL_EXACT, id)
}

/// Whether JavaScript's `trim()` removes `c`: ECMAScript's WhiteSpace and LineTerminator.
/// Rust's `char::is_whitespace` differs on two characters: it keeps U+FEFF (which JavaScript
/// trims) and removes U+0085 (which JavaScript keeps).
fn is_js_whitespace(c: char) -> bool {
    c == '\u{feff}' || (c.is_whitespace() && c != '\u{85}')
}

/// Whether the merge path refuses `id`: illegal, holding U+0000, or too long (section 4.1).
fn is_unmergeable(id: &str) -> bool {
    is_illegal(id) || id.contains('\0') || id.chars().count() > MAX_CHARS
}

/// The `$initial_` key of a lifted key: JavaScript's `replace('$', '')` drops the first `$`.
fn initial_key(key: &str) -> String {
    format!("$initial_{}", key.replacen('$', "", 1))
}

/// The uuid PostHog derives for a person born on `distinct_id` (section 8, with the
/// engine's project scopes: `0` for the default project, the team id, or the token).
fn person_uuid(project: &Project, distinct_id: &str) -> String {
    let scope = match project {
        Project::Default => "0".to_owned(),
        Project::Team(id) => id.to_string(),
        Project::Token(token) => token.to_string(),
    };
    Uuid::new_v5(
        &PERSON_NAMESPACE,
        format!("{scope}:{distinct_id}").as_bytes(),
    )
    .hyphenated()
    .to_string()
}

/// The bytes of `value` as serde_json writes it, compact.
fn json_len(value: &impl serde::Serialize) -> usize {
    serde_json::to_string(value).map_or(usize::MAX, |json| json.len())
}

/// The size of a person's properties: the object written as compact JSON (section 13).
fn size(properties: &BTreeMap<String, Value>) -> usize {
    json_len(properties)
}

/// Drops unprotected keys, largest `"key":value` first (equal sizes by key), until the
/// properties are at most [`TRIM_TARGET`] or only protected keys are left. Returns whether
/// anything was dropped.
fn trim(properties: &mut BTreeMap<String, Value>) -> bool {
    let mut candidates: Vec<(usize, String)> = properties
        .iter()
        .filter(|(key, _)| !PROTECTED.contains(&key.as_str()))
        .map(|(key, value)| (json_len(key) + 1 + json_len(value), key.clone()))
        .collect();
    candidates.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let mut dropped = false;
    for (_, key) in candidates {
        if size(properties) <= TRIM_TARGET {
            break;
        }
        properties.remove(&key);
        dropped = true;
    }
    dropped
}

/// The properties a person is created with: none when the event's would pass the size
/// limit, which raises the warning.
fn created_with(
    properties: BTreeMap<String, Value>,
    warnings: &mut Vec<WarningKind>,
) -> BTreeMap<String, Value> {
    if size(&properties) > SIZE_LIMIT {
        warnings.push(WarningKind::PersonPropertiesSizeViolation);
        return BTreeMap::new();
    }
    properties
}

/// The members of an object value; any other value reads as no members.
fn members(value: Option<&Value>) -> BTreeMap<String, Value> {
    value
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
        .unwrap_or_default()
}

/// The person-property operations of one event, after lifting (sections 3 and 7.1).
#[derive(Default)]
struct Ops {
    set: BTreeMap<String, Value>,
    /// Without the keys of `set`: `$set` wins a key named in both.
    set_once: BTreeMap<String, Value>,
    unset: BTreeSet<String>,
}

impl Ops {
    /// The properties of a person created by this event: `{...$set_once, ...$set}`.
    fn creation(&self) -> BTreeMap<String, Value> {
        let mut properties = self.set_once.clone();
        properties.extend(self.set.iter().map(|(k, v)| (k.clone(), v.clone())));
        properties
    }
}

/// One person of the model.
#[derive(Clone, Debug)]
struct Person {
    project: Project,
    uuid: String,
    distinct_ids: BTreeSet<String>,
    properties: BTreeMap<String, Value>,
    is_identified: bool,
    created_at: Timestamp,
    version: u64,
}

/// One group of the model.
#[derive(Clone, Debug)]
struct Group {
    type_name: String,
    properties: BTreeMap<String, Value>,
    created_at: Timestamp,
}

/// A deliberately simple reference implementation of the engine's behaviour, to compare
/// against in tests.
///
/// The model takes the same [`Event`]s as [`Engine::apply`](crate::Engine::apply), returns
/// the warning kinds the event raised, and [`Model::dump`] gives a [`Dump`] ordered exactly as
/// [`Engine::dump`](crate::Engine::dump) orders it, so that the two can be compared with `==`.
/// A downstream crate that wraps the engine in its own pipeline can check its results the
/// same way:
///
/// ```
/// use idgraph::testing::Model;
/// use idgraph::{Engine, Event, Timestamp, Value};
///
/// /// The downstream pipeline under test: here it only stamps events and forwards them.
/// fn pipeline(engine: &mut Engine, event: &Event) -> Vec<idgraph::WarningKind> {
///     let outcome = engine.apply(event).expect("the engine has room");
///     outcome.warnings.iter().map(|w| w.kind).collect()
/// }
///
/// let events = [
///     Event::new("$pageview", "anon_1")
///         .with_property("$set_once", Value::object([("first_page", Value::from("/pricing"))])),
///     Event::new("$identify", "user_1")
///         .with_property("$anon_distinct_id", "anon_1")
///         .with_property("$set", Value::object([("plan", Value::from("pro"))])),
///     Event::new("$create_alias", "user_2").with_property("alias", "user_1"),
/// ];
/// let (mut engine, mut model) = (Engine::new(), Model::new());
/// for (second, event) in (0_i64..).zip(events) {
///     let event = event.with_timestamp(Timestamp::from_unix_micros(second * 1_000_000));
///     assert_eq!(pipeline(&mut engine, &event), model.apply(&event));
///     assert_eq!(engine.dump(), model.dump());
/// }
/// assert_eq!(
///     model.dump().persons[0].distinct_ids,
///     ["anon_1", "user_1", "user_2"],
///     "user_2 had no person, so it is attached even though user_1 is identified"
/// );
/// ```
#[derive(Clone, Debug)]
pub struct Model {
    lift_properties: bool,
    filter_churn: bool,
    /// Persons by a number the model hands out; never reused.
    persons: BTreeMap<u64, Person>,
    next_person: u64,
    /// The person of every distinct id that has one.
    owners: BTreeMap<(Project, String), u64>,
    /// Every id ever seen in personless mode; the dump leaves out those with a person.
    personless: BTreeSet<(Project, String)>,
    /// Group type names of each project, in index order.
    group_types: BTreeMap<Project, Vec<String>>,
    groups: BTreeMap<(Project, u8, String), Group>,
}

impl Default for Model {
    fn default() -> Self {
        Model::new()
    }
}

impl Model {
    /// An empty model with PostHog's default behaviour (lifting and churn filtering on).
    #[must_use]
    pub fn new() -> Model {
        Model {
            lift_properties: true,
            filter_churn: true,
            persons: BTreeMap::new(),
            next_person: 0,
            owners: BTreeMap::new(),
            personless: BTreeSet::new(),
            group_types: BTreeMap::new(),
            groups: BTreeMap::new(),
        }
    }

    /// Whether event properties such as `$browser` are lifted into person properties, as
    /// [`EngineBuilder::lift_properties`](crate::EngineBuilder::lift_properties). Default: on.
    #[must_use]
    pub fn lift_properties(mut self, on: bool) -> Model {
        self.lift_properties = on;
        self
    }

    /// Whether ordinary events that only change churning keys are not written, as
    /// [`EngineBuilder::filter_churn`](crate::EngineBuilder::filter_churn). Default: on.
    #[must_use]
    pub fn filter_churn(mut self, on: bool) -> Model {
        self.filter_churn = on;
        self
    }

    /// Applies one event and returns the kinds of the warnings it raised, in order.
    ///
    /// An event without a timestamp is stamped with the current time, as the engine does.
    pub fn apply(&mut self, event: &Event) -> Vec<WarningKind> {
        let mut warnings = Vec::new();
        let kind = event.kind();
        let distinct_id = event.distinct_id();

        // Validation drops come first, in PostHog's step order (sections 13, 3, 12).
        if distinct_id.chars().count() > MAX_CHARS {
            return vec![WarningKind::SkippingEventInvalidDistinctId];
        }
        if is_merge_event(kind) {
            // PostHog checks both properties on all three events, `$anon_distinct_id` first.
            for (key, warning) in [
                ("$anon_distinct_id", WarningKind::InvalidAnonDistinctId),
                ("alias", WarningKind::InvalidAlias),
            ] {
                if event
                    .property(key)
                    .is_some_and(|v| !matches!(v, Value::Null | Value::String(_)))
                {
                    return vec![warning];
                }
            }
        }
        if kind == EventKind::GroupIdentify {
            let key = event.property("$group_key");
            if key.is_some_and(|k| k.is_truthy() && k.to_js_string().chars().count() > MAX_CHARS) {
                return vec![WarningKind::GroupKeyTooLong];
            }
            if event
                .property("$group_set")
                .is_some_and(|s| !matches!(s, Value::Null | Value::Object(_)))
            {
                return vec![WarningKind::InvalidGroupSet];
            }
        }

        // Section 10: only a strict `false` turns person processing off.
        let personless = match event.property("$process_person_profile") {
            None | Some(Value::Bool(true)) => false,
            Some(Value::Bool(false)) => true,
            Some(_) => {
                warnings.push(WarningKind::InvalidProcessPersonProfile);
                false
            }
        };
        let project = event.project().clone();
        if personless {
            if is_merge_event(kind) || kind == EventKind::GroupIdentify {
                warnings.push(WarningKind::InvalidEventWhenProcessPersonProfileIsFalse);
                return warnings;
            }
            // Nothing about a person changes; the id is remembered as personless.
            self.personless.insert((project, distinct_id.to_owned()));
            return warnings;
        }

        let time = event.timestamp().unwrap_or_else(Timestamp::now);
        let ops = if matches!(kind, EventKind::GroupIdentify | EventKind::NoPersonUpdate) {
            // Sections 3 and 12, decision 12: these never write person properties.
            Ops::default()
        } else {
            self.ops_of(event)
        };
        // Churn filtering never suppresses person events (section 7.4).
        let forced = kind.is_person_event() || !self.filter_churn;

        let mut merged = false;
        if let Some(source) = merge_source(event) {
            if source == distinct_id {
                // Self merge: nothing at all, not even `is_identified` (section 4 step 1).
            } else if is_unmergeable(distinct_id) || is_unmergeable(&source) {
                warnings.push(WarningKind::CannotMergeWithIllegalDistinctId);
            } else {
                self.merge(
                    &project,
                    &source,
                    distinct_id,
                    kind,
                    &ops,
                    time,
                    &mut warnings,
                );
                merged = true;
            }
        }
        if !merged {
            let person = self.get_or_create(&project, distinct_id, &ops, time, &mut warnings);
            if let Some(person) = person {
                self.update(person, &ops, false, forced, true, &mut warnings);
            }
        }
        if kind == EventKind::GroupIdentify {
            self.upsert_group(&project, event, time);
        }
        warnings
    }

    /// The `$set`, `$set_once` and `$unset` of an event, with lifted properties (section 3).
    fn ops_of(&self, event: &Event) -> Ops {
        let mut set = members(event.property("$set"));
        let mut set_once = members(event.property("$set_once"));
        if self.lift_properties {
            let is_server = event.property("$is_server") == Some(&Value::Bool(true));
            for &key in LIFTED_KEYS {
                if is_server && matches!(key, "$os" | "$os_version") {
                    continue;
                }
                let Some(value) = event.property(key) else {
                    continue;
                };
                // Explicit keys win over lifted ones; a null never goes into `$set_once`.
                set.entry(key.to_owned()).or_insert_with(|| value.clone());
                if *value != Value::Null {
                    set_once
                        .entry(initial_key(key))
                        .or_insert_with(|| value.clone());
                    if key == "$os_name" {
                        // `$os_name` is a fallback alias of `$os` for `$initial_os`. Section 3
                        // lets `$is_server` skip only the `$os` and `$os_version` keys, so the
                        // fallback still applies on server events.
                        set_once
                            .entry("$initial_os".to_owned())
                            .or_insert_with(|| value.clone());
                    }
                }
            }
        }
        set_once.retain(|key, _| !set.contains_key(key));
        let unset = match event.property("$unset") {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            Some(Value::Object(m)) => m.iter().map(|(k, _)| k.to_string()).collect(),
            _ => BTreeSet::new(),
        };
        Ops {
            set,
            set_once,
            unset,
        }
    }

    /// The existing person of `distinct_id`; when there is none, one is created from the
    /// event's ops and `None` returned, since a new person needs no further update.
    fn get_or_create(
        &mut self,
        project: &Project,
        distinct_id: &str,
        ops: &Ops,
        time: Timestamp,
        warnings: &mut Vec<WarningKind>,
    ) -> Option<u64> {
        if let Some(&person) = self.owners.get(&(project.clone(), distinct_id.to_owned())) {
            return Some(person);
        }
        let properties = created_with(ops.creation(), warnings);
        self.create(project, &[distinct_id], properties, false, time);
        None
    }

    /// Stores a new person on `ids`, its uuid derived from the first one.
    fn create(
        &mut self,
        project: &Project,
        ids: &[&str],
        properties: BTreeMap<String, Value>,
        is_identified: bool,
        time: Timestamp,
    ) -> u64 {
        let number = self.next_person;
        self.next_person += 1;
        for id in ids {
            self.owners
                .insert((project.clone(), (*id).to_owned()), number);
        }
        self.persons.insert(
            number,
            Person {
                project: project.clone(),
                uuid: person_uuid(project, ids[0]),
                distinct_ids: ids.iter().map(|id| (*id).to_owned()).collect(),
                properties,
                is_identified,
                created_at: time,
                version: 0,
            },
        );
        number
    }

    /// Applies the event's ops to an existing person (sections 7.1, 7.4, 9).
    ///
    /// `identify` raises `is_identified`; `forced` disables churn filtering; `bump` adds one
    /// to the version when anything changed (a merge has already bumped it).
    ///
    /// Changes that would take the properties past the size limit are refused whole
    /// (section 13); a person that is itself past it is then trimmed.
    fn update(
        &mut self,
        number: u64,
        ops: &Ops,
        identify: bool,
        forced: bool,
        bump: bool,
        warnings: &mut Vec<WarningKind>,
    ) {
        let Some(person) = self.persons.get_mut(&number) else {
            return;
        };
        let before = &person.properties;
        let mut after = before.clone();
        let mut counts = false;
        for (key, value) in &ops.set_once {
            if !before.contains_key(key) {
                after.insert(key.clone(), value.clone());
                counts = true;
            }
        }
        for (key, value) in &ops.set {
            if before.get(key) != Some(value) {
                after.insert(key.clone(), value.clone());
                if !before.contains_key(key) || !CHURN_KEYS.contains(&key.as_str()) {
                    counts = true;
                }
            }
        }
        for key in &ops.unset {
            // Only keys present before the event are removed: "present means gone, absent
            // means the value lands".
            if before.contains_key(key) {
                after.remove(key);
                counts = true;
            }
        }
        let mut changed = (counts || forced) && after != *before;
        let identified = identify && !person.is_identified;
        if changed && size(&after) > SIZE_LIMIT {
            warnings.push(WarningKind::PersonPropertiesSizeViolation);
            changed = size(&person.properties) > SIZE_LIMIT && trim(&mut person.properties);
        } else if changed {
            person.properties = after;
        }
        if identified {
            person.is_identified = true;
        }
        if bump && (changed || identified) {
            person.version += 1;
        }
    }

    /// The four merge cases of section 5 and the survivor rules of section 6. `source` and
    /// `target` are distinct and mergeable.
    #[allow(
        clippy::too_many_arguments,
        reason = "one call site; a struct adds nothing"
    )]
    fn merge(
        &mut self,
        project: &Project,
        source: &str,
        target: &str,
        kind: EventKind,
        ops: &Ops,
        time: Timestamp,
        warnings: &mut Vec<WarningKind>,
    ) {
        let source_person = self
            .owners
            .get(&(project.clone(), source.to_owned()))
            .copied();
        let target_person = self
            .owners
            .get(&(project.clone(), target.to_owned()))
            .copied();
        match (source_person, target_person) {
            (None, None) => {
                let properties = created_with(ops.creation(), warnings);
                self.create(project, &[target, source], properties, true, time);
            }
            (Some(person), None) | (None, Some(person)) => {
                let missing = if source_person.is_none() {
                    source
                } else {
                    target
                };
                self.owners
                    .insert((project.clone(), missing.to_owned()), person);
                if let Some(p) = self.persons.get_mut(&person) {
                    p.distinct_ids.insert(missing.to_owned());
                }
                self.update(person, ops, true, true, true, warnings);
            }
            (Some(s), Some(t)) if s == t => self.update(t, ops, true, true, true, warnings),
            (Some(s), Some(t)) => {
                let source_identified = self.persons.get(&s).is_some_and(|p| p.is_identified);
                if source_identified && kind != EventKind::MergeDangerously {
                    warnings.push(WarningKind::CannotMergeAlreadyIdentified);
                    self.update(t, ops, true, true, true, warnings);
                    return;
                }
                let Some(gone) = self.persons.remove(&s) else {
                    return;
                };
                for id in &gone.distinct_ids {
                    self.owners.insert((project.clone(), id.clone()), t);
                }
                if let Some(survivor) = self.persons.get_mut(&t) {
                    let mut properties = gone.properties;
                    properties.extend(std::mem::take(&mut survivor.properties));
                    // Section 13: a merged person past the size limit is trimmed before the
                    // event's ops run.
                    if size(&properties) > SIZE_LIMIT {
                        warnings.push(WarningKind::PersonPropertiesSizeViolation);
                        trim(&mut properties);
                    }
                    survivor.properties = properties;
                    survivor.distinct_ids.extend(gone.distinct_ids);
                    survivor.created_at = survivor.created_at.min(gone.created_at);
                    survivor.is_identified = true;
                    survivor.version = survivor.version.max(gone.version) + 1;
                }
                // Decision 13: the event's ops run once, against the merged map, without a
                // second version bump.
                self.update(t, ops, true, true, false, warnings);
            }
        }
    }

    /// Creates or updates the group a `$groupidentify` names (section 12).
    fn upsert_group(&mut self, project: &Project, event: &Event, time: Timestamp) {
        let (Some(group_type), Some(group_key)) =
            (event.property("$group_type"), event.property("$group_key"))
        else {
            return;
        };
        if !group_type.is_truthy() || !group_key.is_truthy() {
            return;
        }
        let group_type = group_type.to_js_string();
        let group_key = group_key.to_js_string().replace('\0', "\u{fffd}");
        let types = self.group_types.entry(project.clone()).or_default();
        let index = match types.iter().position(|t| *t == group_type) {
            Some(index) => index,
            None if types.len() < MAX_GROUP_TYPES => {
                types.push(group_type.clone());
                types.len() - 1
            }
            // A sixth type gets no mapping and its group is silently not written.
            None => return,
        };
        let Ok(index) = u8::try_from(index) else {
            return;
        };
        let set = members(event.property("$group_set"));
        let group = self
            .groups
            .entry((project.clone(), index, group_key))
            .or_insert_with(|| Group {
                type_name: group_type,
                properties: BTreeMap::new(),
                created_at: time,
            });
        group.properties.extend(set);
        group.created_at = group.created_at.min(time);
    }

    /// The model's state in the engine's dump shape and order. `warnings` and `rejected` are
    /// empty, as in [`Engine::dump`](crate::Engine::dump).
    #[must_use]
    pub fn dump(&self) -> Dump {
        let persons: Vec<PersonRecord> = self
            .persons
            .values()
            .map(|p| PersonRecord {
                team: p.project.to_string(),
                uuid: p.uuid.clone(),
                distinct_ids: p.distinct_ids.iter().cloned().collect(),
                is_identified: p.is_identified,
                properties: Value::object(p.properties.clone()),
                created_at: p.created_at.to_string(),
                version: p.version,
            })
            .collect();
        let personless: Vec<PersonlessRecord> = self
            .personless
            .iter()
            .filter(|key| !self.owners.contains_key(key))
            .map(|(project, id)| PersonlessRecord {
                team: project.to_string(),
                distinct_id: id.clone(),
            })
            .collect();
        let groups: Vec<GroupRecord> = self
            .groups
            .iter()
            .map(|((project, index, key), g)| GroupRecord {
                team: project.to_string(),
                group_type: g.type_name.clone(),
                group_type_index: *index,
                group_key: key.clone(),
                properties: Value::object(g.properties.clone()),
                created_at: g.created_at.to_string(),
            })
            .collect();
        // Only the order of the output is shared with the engine, not how it is computed.
        Dump::new(persons, personless, groups)
    }
}

/// Whether the event kind may merge two ids.
fn is_merge_event(kind: EventKind) -> bool {
    matches!(
        kind,
        EventKind::Identify | EventKind::CreateAlias | EventKind::MergeDangerously
    )
}

/// The id a merge event merges into its `distinct_id`, when the entry condition holds
/// (section 3): `$identify` needs the key `$anon_distinct_id` (null reads as `"null"`), the
/// alias events a truthy `alias`.
fn merge_source(event: &Event) -> Option<String> {
    match event.kind() {
        EventKind::Identify => event.property("$anon_distinct_id").map(Value::to_js_string),
        EventKind::CreateAlias | EventKind::MergeDangerously => event
            .property("alias")
            .filter(|alias| alias.is_truthy())
            .map(Value::to_js_string),
        _ => None,
    }
}

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
