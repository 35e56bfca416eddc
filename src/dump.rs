//! The JSON dump of docs/contract.md §2.2, and replaying JSON Lines into it.

use serde::{Deserialize, Serialize};

use crate::engine::Engine;
use crate::error::{EngineError, EventError};
use crate::event::Event;
use crate::event::Value;
use crate::posthog::{Outcome, Warning};

/// The whole state of an engine in docs/contract.md's JSON shape, plus the warnings and rejected
/// lines of a replay. Every list is in a deterministic order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Dump {
    /// Every person, sorted by project, then smallest distinct id.
    pub persons: Vec<PersonRecord>,
    /// Ids seen only in personless mode that still have no person, sorted.
    pub personless_distinct_ids: Vec<PersonlessRecord>,
    /// Every group, sorted by project, type index, key.
    pub groups: Vec<GroupRecord>,
    /// Warnings, in the order they were raised.
    pub warnings: Vec<WarningRecord>,
    /// Lines refused as input.
    pub rejected: Vec<RejectedRecord>,
}

/// A person in the dump.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PersonRecord {
    /// The project.
    pub team: String,
    /// The person's uuid.
    pub uuid: String,
    /// Its distinct ids, sorted.
    pub distinct_ids: Vec<String>,
    /// Whether it is identified.
    pub is_identified: bool,
    /// Its properties (an object).
    pub properties: Value,
    /// RFC 3339.
    pub created_at: String,
    /// PostHog's row version.
    pub version: u64,
}

/// A personless id in the dump.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PersonlessRecord {
    /// The project.
    pub team: String,
    /// The id.
    pub distinct_id: String,
}

/// A group in the dump.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupRecord {
    /// The project.
    pub team: String,
    /// The group type name.
    pub group_type: String,
    /// The group type index, 0 to 4.
    pub group_type_index: u8,
    /// The group key.
    pub group_key: String,
    /// Its properties (an object).
    pub properties: Value,
    /// RFC 3339.
    pub created_at: String,
}

/// A warning in the dump.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WarningRecord {
    /// PostHog's warning name.
    #[serde(rename = "type")]
    pub kind: String,
    /// The 1-based input line of the event, when replaying lines.
    pub line: Option<u64>,
    /// The event's uuid.
    pub event_uuid: Option<String>,
    /// The event's distinct id.
    pub distinct_id: String,
    /// Named facts (an object).
    pub details: Value,
}

impl WarningRecord {
    /// The record of a warning raised by the event on `line`.
    #[must_use]
    pub fn new(warning: &Warning, line: Option<u64>) -> WarningRecord {
        WarningRecord {
            kind: warning.kind.as_str().to_owned(),
            line,
            event_uuid: warning.event_uuid.as_deref().map(str::to_owned),
            distinct_id: warning.distinct_id.to_string(),
            details: Value::object(warning.details.iter().map(|(k, v)| (*k, Value::from(&**v)))),
        }
    }
}

/// A rejected input line in the dump.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RejectedRecord {
    /// The 1-based line number.
    pub line: u64,
    /// Why it was rejected.
    pub reason: String,
}

impl Dump {
    /// What [`Engine::dump`] returns.
    pub(crate) fn of_engine(engine: &Engine) -> Dump {
        let persons: Vec<PersonRecord> = engine
            .persons()
            .map(|p| PersonRecord {
                team: p.project().to_string(),
                uuid: p.uuid().hyphenated().to_string(),
                distinct_ids: p
                    .sorted_distinct_ids()
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
                is_identified: p.is_identified(),
                properties: Value::object(p.properties().map(|(k, v)| (k, v.clone()))),
                created_at: p.created_at().to_string(),
                version: p.version(),
            })
            .collect();
        let personless: Vec<PersonlessRecord> = engine
            .personless_distinct_ids()
            .map(|(project, id)| PersonlessRecord {
                team: project.to_string(),
                distinct_id: id.to_owned(),
            })
            .collect();
        let groups: Vec<GroupRecord> = engine
            .groups()
            .map(|g| GroupRecord {
                team: g.project().to_string(),
                group_type: g.group_type().to_owned(),
                group_type_index: g.group_type_index(),
                group_key: g.group_key().to_owned(),
                properties: Value::object(g.properties().map(|(k, v)| (k, v.clone()))),
                created_at: g.created_at().to_string(),
            })
            .collect();
        Dump::new(persons, personless, groups)
    }

    /// A dump of these records in docs/contract.md's order: persons by project, then smallest
    /// distinct id; personless ids by project and id; groups by project, type index, key.
    /// `warnings` and `rejected` start empty. The one place that order is decided, so that
    /// every producer of a dump (the engine, the reference model) agrees on it.
    #[must_use]
    pub fn new(
        mut persons: Vec<PersonRecord>,
        mut personless: Vec<PersonlessRecord>,
        mut groups: Vec<GroupRecord>,
    ) -> Dump {
        persons.sort_by(|a, b| {
            (&a.team, a.distinct_ids.first()).cmp(&(&b.team, b.distinct_ids.first()))
        });
        personless.sort_by(|a, b| (&a.team, &a.distinct_id).cmp(&(&b.team, &b.distinct_id)));
        groups.sort_by(|a, b| {
            (&a.team, a.group_type_index, &a.group_key).cmp(&(
                &b.team,
                b.group_type_index,
                &b.group_key,
            ))
        });
        Dump {
            persons,
            personless_distinct_ids: personless,
            groups,
            warnings: Vec::new(),
            rejected: Vec::new(),
        }
    }
}

/// Replays JSON Lines into an engine, keeping the warnings and rejected lines that the dump
/// reports. The CLI's `replay` is this, and so is the library path that tests compare it to.
///
/// ```
/// let mut replay = idgraph::Replay::new(idgraph::Engine::new());
/// replay.line(br#"{"event": "$pageview", "distinct_id": "a"}"#)?;
/// replay.line(b"not json")?;
/// let dump = replay.finish();
/// assert_eq!(dump.persons.len(), 1);
/// assert_eq!(dump.rejected[0].line, 2);
/// # Ok::<(), idgraph::Error>(())
/// ```
pub struct Replay {
    engine: Engine,
    warnings: Vec<WarningRecord>,
    rejected: Vec<RejectedRecord>,
    line: u64,
    outcome: Outcome,
    capture_validation: bool,
}

/// What [`Replay::line`] did with one line.
#[derive(Clone, Debug, PartialEq)]
pub enum LineStatus {
    /// A blank line, skipped.
    Blank,
    /// The event was applied.
    Applied,
    /// The line was rejected, for this reason.
    Rejected(crate::EventError),
}

impl Replay {
    /// A replay into `engine`.
    #[must_use]
    pub fn new(engine: Engine) -> Replay {
        Replay {
            engine,
            warnings: Vec::new(),
            rejected: Vec::new(),
            line: 0,
            outcome: Outcome::default(),
            capture_validation: false,
        }
    }

    /// Rejects lines whose `distinct_id` PostHog's capture v1 endpoint refuses
    /// ([`is_rejected_by_capture`](crate::is_rejected_by_capture)), as capture would before
    /// ingestion sees them. Default: off, as ingestion does not apply that list
    /// (docs/behaviour.md §16, decision 10).
    #[must_use]
    pub fn capture_validation(mut self, on: bool) -> Replay {
        self.capture_validation = on;
        self
    }

    /// Restarts line numbering, for the next input file.
    pub fn start_file(&mut self) {
        self.line = 0;
    }

    /// Parses and applies the next line (without its line break).
    ///
    /// # Errors
    ///
    /// [`EngineError`] when the engine is full; the line changed nothing.
    pub fn line(&mut self, bytes: &[u8]) -> Result<LineStatus, EngineError> {
        self.line = self.line.saturating_add(1);
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(LineStatus::Blank);
        }
        let parsed = Event::from_json_slice(bytes).and_then(|event| {
            if self.capture_validation
                && crate::posthog::is_rejected_by_capture(event.distinct_id())
            {
                Err(EventError::RefusedByCapture(event.distinct_id().to_owned()))
            } else {
                Ok(event)
            }
        });
        match parsed {
            Ok(event) => {
                self.engine.apply_into(&event, &mut self.outcome)?;
                let line = Some(self.line);
                self.warnings.extend(
                    self.outcome
                        .warnings
                        .iter()
                        .map(|w| WarningRecord::new(w, line)),
                );
                Ok(LineStatus::Applied)
            }
            Err(error) => {
                self.rejected.push(RejectedRecord {
                    line: self.line,
                    reason: error.to_string(),
                });
                Ok(LineStatus::Rejected(error))
            }
        }
    }

    /// The number of the last line given.
    #[must_use]
    pub fn line_number(&self) -> u64 {
        self.line
    }

    /// The engine so far.
    #[must_use]
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Warnings so far.
    #[must_use]
    pub fn warnings(&self) -> &[WarningRecord] {
        &self.warnings
    }

    /// Rejected lines so far.
    #[must_use]
    pub fn rejected(&self) -> &[RejectedRecord] {
        &self.rejected
    }

    /// The engine, giving up the warnings and rejected lines.
    #[must_use]
    pub fn into_engine(self) -> Engine {
        self.engine
    }

    /// The dump of the engine with this replay's warnings and rejected lines.
    #[must_use]
    pub fn finish(self) -> Dump {
        let mut dump = self.engine.dump();
        dump.warnings = self.warnings;
        dump.rejected = self.rejected;
        dump
    }
}
