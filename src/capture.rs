//! What PostHog's capture receives, read as capture reads it (docs/contract.md §1.1,
//! docs/behaviour.md §16 decision 17): one event object, a JSON array of them, or a batch
//! envelope, gzip or not. It sits at the edge, beside `dump`, because capture's validation
//! is policy (`posthog::rules`) and the event model must not know policy.

use serde_json::value::RawValue;

use crate::error::{EventError, RequestError};
use crate::event::{
    Arrival, Event, Keep, Parts, ReadFailure, Reading, Request, assemble, decompress, is_gzip,
    read_object,
};
use crate::posthog::is_rejected_by_capture;

/// The longest distinct id capture passes on, in characters; it cuts longer ones
/// (`RawEvent::extract_distinct_id`).
const CAPTURE_ID_CHARS: usize = 200;

/// What became of one event of a request.
#[derive(Clone, Debug, PartialEq)]
#[allow(
    clippy::large_enum_variant,
    reason = "nearly every member is an event; boxing would cost each one an allocation"
)]
pub enum Captured {
    /// An event, to apply.
    Event(Event),
    /// An event capture drops before ingestion sees it (`$performance_event`). Not an
    /// error: counted, and nothing else.
    Dropped,
    /// Not an event, for this reason; the other events of the request are not affected.
    Rejected(EventError),
}

/// One document as read: a single event object, which most lines of JSON Lines are and
/// which needs no list, or an array or envelope of them.
#[allow(
    clippy::large_enum_variant,
    reason = "nearly every line is one event; a list for it would cost each one an allocation"
)]
pub(crate) enum Document {
    Single(Captured),
    Batch(CaptureRequest),
}

/// The events of one capture request body, in order.
///
/// ```
/// use idgraph::{Arrival, CaptureRequest, Captured, Project};
///
/// let body = br#"{"api_key": "phc_1", "batch": [
///     {"event": "$pageview", "properties": {"distinct_id": "anon_1"}},
///     {"event": "$pageview"},
///     {"event": "$performance_event", "distinct_id": "anon_1"}
/// ]}"#;
/// let request = CaptureRequest::parse(body, Arrival::Saved)?;
/// assert!(request.is_batch());
/// let mut events = request.iter();
/// assert!(matches!(events.next(), Some(Captured::Event(e))
///     if e.distinct_id() == "anon_1" && *e.project() == Project::Token("phc_1".into())));
/// assert!(matches!(events.next(), Some(Captured::Rejected(idgraph::EventError::Missing("distinct_id")))));
/// assert!(matches!(events.next(), Some(Captured::Dropped)));
/// # Ok::<(), idgraph::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct CaptureRequest {
    events: Vec<Captured>,
    batch: bool,
}

impl CaptureRequest {
    /// Reads a request body with capture's default options (no capture validation); see
    /// [`CaptureReader::read`].
    ///
    /// # Errors
    ///
    /// As [`CaptureReader::read`].
    pub fn parse(body: &[u8], arrival: Arrival) -> Result<CaptureRequest, RequestError> {
        CaptureReader::new().read(body, arrival)
    }

    /// Whether the body was an array or a batch envelope, whose events are told apart by
    /// their 0-based index; `false` for a single event object.
    #[must_use]
    pub fn is_batch(&self) -> bool {
        self.batch
    }

    /// How many events the request held, dropped and rejected ones included.
    #[must_use]
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether it held none (`[]`, or an envelope with an empty batch).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// What became of each event, in order; the position is the event's index.
    pub fn iter(&self) -> std::slice::Iter<'_, Captured> {
        self.events.iter()
    }

    /// The events to apply, in order.
    pub fn events(&self) -> impl Iterator<Item = &Event> {
        self.events.iter().filter_map(|captured| match captured {
            Captured::Event(event) => Some(event),
            Captured::Dropped | Captured::Rejected(_) => None,
        })
    }
}

impl IntoIterator for CaptureRequest {
    type Item = Captured;
    type IntoIter = std::vec::IntoIter<Captured>;

    fn into_iter(self) -> Self::IntoIter {
        self.events.into_iter()
    }
}

impl<'a> IntoIterator for &'a CaptureRequest {
    type Item = &'a Captured;
    type IntoIter = std::slice::Iter<'a, Captured>;

    fn into_iter(self) -> Self::IntoIter {
        self.events.iter()
    }
}

/// Reads capture request bodies, with the options a receiver chooses.
#[derive(Clone, Copy, Debug)]
pub struct CaptureReader {
    capture_validation: bool,
    max_body_bytes: usize,
    lifted_properties: bool,
}

impl Default for CaptureReader {
    fn default() -> Self {
        CaptureReader::new()
    }
}

impl CaptureReader {
    /// The default of [`CaptureReader::max_body_bytes`], 20 MiB: room for a batch of
    /// twenty events at capture's per-event limit. idgraph's choice, not capture's.
    pub const DEFAULT_MAX_BODY_BYTES: usize = 20 << 20;

    /// A reader with the defaults: no capture validation, bodies up to
    /// [`CaptureReader::DEFAULT_MAX_BODY_BYTES`] once decompressed, lifted properties kept.
    #[must_use]
    pub fn new() -> CaptureReader {
        CaptureReader {
            capture_validation: false,
            max_body_bytes: CaptureReader::DEFAULT_MAX_BODY_BYTES,
            lifted_properties: true,
        }
    }

    /// Whether the events read keep their lifted properties (`$browser`, `utm_source`,
    /// ...: [`LIFTED_PROPERTIES`](crate::LIFTED_PROPERTIES)). Turn it off when the events
    /// go to an engine that does not lift
    /// ([`EngineBuilder::lift_properties`](crate::EngineBuilder::lift_properties)): it
    /// never reads them, and their values are then not built. The same bodies are refused
    /// and the same events rejected either way. Default: on.
    ///
    /// ```
    /// use idgraph::{Arrival, CaptureReader};
    ///
    /// let body = br#"{"event": "$pageview", "distinct_id": "a", "properties": {"$browser": "Firefox"}}"#;
    /// let arrival = Arrival::Saved;
    /// let kept = CaptureReader::new().read(body, arrival)?;
    /// assert_eq!(kept.events().next().unwrap().lifted_properties().count(), 1);
    /// let left = CaptureReader::new().lifted_properties(false).read(body, arrival)?;
    /// assert_eq!(left.events().next().unwrap().lifted_properties().count(), 0);
    /// # Ok::<(), idgraph::RequestError>(())
    /// ```
    pub fn lifted_properties(&mut self, on: bool) -> &mut Self {
        self.lifted_properties = on;
        self
    }

    /// What [`read_object`] keeps of each event.
    pub(crate) fn keep(&self) -> Keep {
        Keep {
            capture: true,
            lifted: self.lifted_properties,
        }
    }

    /// Applies what capture does to an event's distinct id before ingestion sees it: NUL
    /// becomes U+FFFD, the id is cut to 200 characters, and an id on capture v1's refusal
    /// list ([`is_rejected_by_capture`](crate::is_rejected_by_capture)) rejects its event.
    /// Default: off, as stored events and exports have passed capture already
    /// (docs/behaviour.md §16, decision 10).
    pub fn capture_validation(&mut self, on: bool) -> &mut Self {
        self.capture_validation = on;
        self
    }

    /// Refuses a gzip body that decompresses to more than `limit` bytes (a small body can
    /// decompress to gigabytes). Default: [`CaptureReader::DEFAULT_MAX_BODY_BYTES`].
    pub fn max_body_bytes(&mut self, limit: usize) -> &mut Self {
        self.max_body_bytes = limit;
        self
    }

    /// Reads one request body: decompressed first when it starts with gzip's magic bytes,
    /// then one event object, a JSON array of events, or a batch envelope
    /// `{"batch": [...], "api_key" or "token": ..., "sent_at": ...}`. `arrival` is the
    /// `now` of PostHog's timestamp rule.
    ///
    /// # Errors
    ///
    /// [`RequestError`] when the body is refused whole: bad gzip, too large once
    /// decompressed, not JSON, a mistyped envelope member, or events that name different
    /// tokens.
    pub fn read(&self, body: &[u8], arrival: Arrival) -> Result<CaptureRequest, RequestError> {
        let read = if is_gzip(body) {
            self.read_document(&decompress(body, self.max_body_bytes)?, arrival)
        } else {
            self.read_document(body, arrival)
        };
        match read.map_err(RequestError::Refused)? {
            Document::Single(captured) => Ok(CaptureRequest {
                events: vec![captured],
                batch: false,
            }),
            Document::Batch(request) => Ok(request),
        }
    }

    /// Reads one document that is not compressed: a line of JSON Lines, where bytes that
    /// look like gzip are just not UTF-8. The error is why the document is refused whole.
    pub(crate) fn read_document(
        &self,
        text: &[u8],
        arrival: Arrival,
    ) -> Result<Document, EventError> {
        let text = std::str::from_utf8(text)
            .map_err(|e| EventError::Json(format!("invalid UTF-8: {e}")))?;
        let mut request = Request {
            token: None,
            sent_at: None,
            arrival,
        };
        if text.trim_start().starts_with('[') {
            let members: Vec<&RawValue> =
                serde_json::from_str(text).map_err(|e| EventError::Json(e.to_string()))?;
            return self
                .read_batch(&members, &request, true)
                .map(Document::Batch);
        }
        let mut parts = Parts::default();
        let end = match read_object(text, self.keep(), &mut parts) {
            Ok(read) => read,
            Err(ReadFailure::Problem(problem)) => {
                return Ok(Document::Single(self.judge(Err(problem))));
            }
            Err(ReadFailure::Json(message)) => return Err(EventError::Json(message)),
        };
        match parts.envelope() {
            Some(envelope) => {
                end.map_err(EventError::Json)?;
                let envelope = envelope?;
                request.token = envelope.token.as_deref();
                request.sent_at = envelope.sent_at;
                self.read_batch(&envelope.batch, &request, false)
                    .map(Document::Batch)
            }
            None => {
                // A field's problem comes before trailing text, as for a flat line.
                let event = assemble(&mut parts, &Reading::Capture(&request));
                if event.is_ok() {
                    end.map_err(EventError::Json)?;
                }
                Ok(Document::Single(self.judge(event)))
            }
        }
    }

    /// The events of an array or envelope, each read on its own. Without an envelope
    /// token, the tokens the events name must agree (capture's `extract_token`).
    fn read_batch(
        &self,
        members: &[&RawValue],
        request: &Request<'_>,
        check_tokens: bool,
    ) -> Result<CaptureRequest, EventError> {
        let mut events = Vec::with_capacity(members.len());
        let mut first_token: Option<Box<str>> = None;
        for member in members {
            let mut parts = Parts::default();
            let event = match read_object(member.get(), self.keep(), &mut parts) {
                Ok(_) => {
                    if let (true, Some(token)) = (check_tokens, parts.named_token()) {
                        match &first_token {
                            None => first_token = Some(token.into()),
                            Some(first) if **first == *token => {}
                            Some(first) => {
                                return Err(EventError::MixedTokens {
                                    first: first.to_string(),
                                    second: token.to_owned(),
                                });
                            }
                        }
                    }
                    assemble(&mut parts, &Reading::Capture(request))
                }
                Err(failure) => Err(failure.into_event_error()),
            };
            events.push(self.judge(event));
        }
        Ok(CaptureRequest {
            events,
            batch: true,
        })
    }

    /// Drops what capture drops, and applies capture validation when it is on.
    fn judge(&self, event: Result<Event, EventError>) -> Captured {
        let mut event = match event {
            Ok(event) => event,
            Err(error) => return Captured::Rejected(error),
        };
        if event.name() == "$performance_event" {
            return Captured::Dropped;
        }
        if self.capture_validation {
            event.normalise_for_capture(CAPTURE_ID_CHARS);
            if is_rejected_by_capture(event.distinct_id()) {
                return Captured::Rejected(EventError::RefusedByCapture(
                    event.distinct_id().to_owned(),
                ));
            }
        }
        Captured::Event(event)
    }
}

#[cfg(test)]
#[path = "capture_tests.rs"]
mod tests;
