//! PostHog's rule for an event's time (docs/contract.md §1.1): clients' clocks are wrong,
//! so capture measures from its own clock when the client says how long ago, or how far
//! its clock was off when it sent the request.

use super::model::Timestamp;
use crate::error::EventError;

/// When a request arrived, the `now` that PostHog's timestamp rule measures from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// Received at this time, by the receiver's clock: what a server passes.
    At(Timestamp),
    /// Read back from storage (a file, an export): there is no arrival time, so `sent_at`
    /// stands in for it and the clock skew is 0. An `offset` without a `sent_at` cannot be
    /// resolved and is ignored; an event with no time at all keeps none, and the engine
    /// takes its own clock when it applies it, as for a flat line.
    Saved,
}

/// What one event says about its time.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Clock {
    pub(super) timestamp: Option<Timestamp>,
    /// Milliseconds before `now` at which the event happened.
    pub(super) offset_ms: Option<i64>,
    /// When the client sent the request, by its own clock.
    pub(super) sent_at: Option<Timestamp>,
    /// `$ignore_sent_at: true`: the client asks for no skew correction.
    pub(super) ignore_sent_at: bool,
}

impl Clock {
    /// The event time: `offset` present → `now - offset`; else `sent_at` present (and not
    /// ignored) → `timestamp + (now - sent_at)`; else `timestamp`; else `now`.
    pub(super) fn event_time(self, arrival: Arrival) -> Result<Option<Timestamp>, EventError> {
        let now = match arrival {
            Arrival::At(now) => Some(now),
            Arrival::Saved => self.sent_at,
        };
        let moved = |from: Timestamp, micros: Option<i64>| {
            micros
                .and_then(|micros| from.checked_add_micros(micros))
                .map(Some)
                .ok_or(EventError::AdjustedTimeOutOfRange)
        };
        if let (Some(offset), Some(now)) = (self.offset_ms, now) {
            return moved(now, offset.checked_mul(-1000));
        }
        let sent_at = self.sent_at.filter(|_| !self.ignore_sent_at);
        match (self.timestamp, sent_at, now) {
            (Some(timestamp), Some(sent_at), Some(now)) => moved(
                timestamp,
                now.unix_micros().checked_sub(sent_at.unix_micros()),
            ),
            (Some(timestamp), _, _) => Ok(Some(timestamp)),
            (None, _, now) => Ok(now),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Timestamp = Timestamp::from_unix_micros(1_000_000_000);

    fn at(micros: i64) -> Timestamp {
        Timestamp::from_unix_micros(micros)
    }

    #[test]
    fn offset_counts_back_from_the_arrival_and_beats_everything_else() {
        let clock = Clock {
            timestamp: Some(at(5)),
            offset_ms: Some(250),
            sent_at: Some(at(7)),
            ignore_sent_at: false,
        };
        assert_eq!(clock.event_time(Arrival::At(T)), Ok(Some(at(999_750_000))));
        // Saved: `now` is `sent_at`.
        assert_eq!(clock.event_time(Arrival::Saved), Ok(Some(at(7 - 250_000))));
    }

    #[test]
    fn sent_at_corrects_the_timestamp_by_the_clock_skew() {
        let clock = Clock {
            timestamp: Some(at(100)),
            sent_at: Some(at(1_000)),
            ..Clock::default()
        };
        assert_eq!(clock.event_time(Arrival::At(at(1_600))), Ok(Some(at(700))));
        assert_eq!(clock.event_time(Arrival::Saved), Ok(Some(at(100))));
        let ignored = Clock {
            ignore_sent_at: true,
            ..clock
        };
        assert_eq!(
            ignored.event_time(Arrival::At(at(1_600))),
            Ok(Some(at(100)))
        );
    }

    #[test]
    fn without_a_timestamp_the_event_happens_now() {
        assert_eq!(Clock::default().event_time(Arrival::At(T)), Ok(Some(T)));
        assert_eq!(Clock::default().event_time(Arrival::Saved), Ok(None));
        let offset_alone = Clock {
            offset_ms: Some(5),
            ..Clock::default()
        };
        assert_eq!(offset_alone.event_time(Arrival::Saved), Ok(None));
    }

    #[test]
    fn a_time_moved_out_of_years_0000_to_9999_is_refused() {
        let clock = Clock {
            offset_ms: Some(i64::MAX),
            ..Clock::default()
        };
        assert!(matches!(
            clock.event_time(Arrival::At(T)),
            Err(EventError::AdjustedTimeOutOfRange)
        ));
        let skewed = Clock {
            timestamp: Some(at(253_402_300_799_999_999)),
            sent_at: Some(at(0)),
            ..Clock::default()
        };
        assert!(matches!(
            skewed.event_time(Arrival::At(at(1))),
            Err(EventError::AdjustedTimeOutOfRange)
        ));
    }
}
