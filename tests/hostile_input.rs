//! Input built to hurt: lines of any length, and times outside what the dump can write.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a test fails loudly"
)]

use std::io::{self, BufRead, Read};

use idgraph::{Engine, Event, EventError, LineStatus, Replay, Timestamp};

/// An event line of exactly `len` bytes for `id`.
fn line_of(len: usize, id: &str) -> Vec<u8> {
    let start = format!(
        "{{\"event\": \"e\", \"distinct_id\": \"{id}\", \"timestamp\": \"2024-01-01T00:00:00Z\", \"properties\": {{\"s\": \""
    );
    let end = "\"}}";
    let mut line = start.into_bytes();
    assert!(line.len() + end.len() <= len, "{len} bytes is too short");
    line.resize(len - end.len(), b'x');
    line.extend_from_slice(end.as_bytes());
    line
}

/// `left` bytes of `x` and then `rest`, made as they are read, so that the test holds none
/// of them either.
struct Endless {
    left: u64,
    rest: &'static [u8],
}

impl Read for Endless {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left > 0 {
            let n = buf
                .len()
                .min(usize::try_from(self.left).unwrap_or(usize::MAX));
            buf[..n].fill(b'x');
            self.left -= n as u64;
            return Ok(n);
        }
        let n = buf.len().min(self.rest.len());
        buf[..n].copy_from_slice(&self.rest[..n]);
        self.rest = &self.rest[n..];
        Ok(n)
    }
}

/// Every status `read_line` gives, to the end of the input.
fn read_all(replay: &mut Replay, reader: &mut impl BufRead) -> Vec<LineStatus> {
    std::iter::from_fn(|| replay.read_line(reader).unwrap()).collect()
}

fn too_large(limit: usize) -> LineStatus {
    LineStatus::Rejected(EventError::TooLarge { limit })
}

/// A line had no length limit: `Replay` took whatever line it was given, and the CLI read
/// a line whole, however long. A line over the maximum event size is rejected (by
/// `Replay::line` and `Replay::read_line` alike) with its line number; `read_line` skips it
/// to the next line break without holding it.
#[test]
fn a_line_over_the_maximum_event_size_is_rejected_and_reading_goes_on() {
    assert_eq!(Replay::DEFAULT_MAX_EVENT_BYTES, 1_000_000);
    let limit = 200;
    let mut input = Vec::new();
    for (len, end) in [
        (200, &b"\n"[..]),
        (201, b"\n"),
        (200, b"\r\n"),
        (201, b"\r\n"),
    ] {
        input.extend(line_of(len, &format!("len_{len}")));
        input.extend_from_slice(end);
    }
    input.extend_from_slice(b"\n");
    input.extend(line_of(5000, "long"));
    input.extend_from_slice(b"\n");
    input.extend(line_of(200, "after"));
    input.extend_from_slice(b"\n");
    input.extend(line_of(201, "last"));
    let mut replay = Replay::new(Engine::new()).max_event_bytes(limit);
    let mut reader = io::BufReader::with_capacity(16, &input[..]);
    assert_eq!(
        read_all(&mut replay, &mut reader),
        [
            LineStatus::Applied,
            too_large(limit),
            LineStatus::Applied,
            too_large(limit),
            LineStatus::Blank,
            too_large(limit),
            LineStatus::Applied,
            too_large(limit),
        ]
    );
    let lines: Vec<u64> = replay.rejected().iter().map(|r| r.line).collect();
    assert_eq!(lines, [2, 4, 6, 8]);
    assert_eq!(
        replay.rejected()[0].reason,
        "larger than the maximum event size of 200 bytes"
    );

    // The same lines given one by one are judged alike.
    let mut by_line = Replay::new(Engine::new()).max_event_bytes(limit);
    for line in input.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        by_line.line(line).unwrap();
    }
    assert_eq!(by_line.finish(), replay.finish());

    // The default allows an event of a megabyte.
    let mut replay = Replay::new(Engine::new());
    assert_eq!(
        replay.line(&line_of(1_000_000, "at_the_limit")).unwrap(),
        LineStatus::Applied
    );
    assert_eq!(
        replay.line(&line_of(1_000_001, "over_it")).unwrap(),
        too_large(1_000_000)
    );
}

/// A line of a gigabyte is rejected, and the line after it read as usual. (That it is not
/// held is pinned in tests/cli.rs, in a process with little memory.)
#[test]
fn a_line_of_a_gigabyte_is_rejected_and_the_next_line_read() {
    let mut reader = io::BufReader::with_capacity(
        1 << 16,
        Endless {
            left: 1 << 30,
            rest: b"\n{\"event\": \"e\", \"distinct_id\": \"after\"}\n",
        },
    );
    let mut replay = Replay::new(Engine::new());
    assert_eq!(
        read_all(&mut replay, &mut reader),
        [too_large(1_000_000), LineStatus::Applied]
    );
    assert!(
        replay
            .engine()
            .resolve(&idgraph::Project::Default, "after")
            .is_some()
    );
}

/// `9999-12-31T23:00:00-05:00` is a valid RFC 3339 time whose UTC value lies in year 10000,
/// and the dump wrote it as `@253402318800000000us`, which no reader of `created_at` parses.
/// A time outside years 0000-9999 in UTC is refused at input, with a reason that says so.
#[test]
fn a_timestamp_outside_years_0000_to_9999_in_utc_is_refused() {
    for text in [
        "9999-12-31T23:00:00-05:00",
        "9999-12-31T23:59:59.999999-00:01",
        "0000-01-01T00:30:00+01:00",
        "0000-01-01T00:00:00+00:01",
    ] {
        assert_eq!(
            Timestamp::parse(text),
            Err(EventError::TimestampOutOfRange(text.to_owned())),
            "{text}"
        );
        let line =
            format!("{{\"event\": \"e\", \"distinct_id\": \"a\", \"timestamp\": \"{text}\"}}");
        assert!(
            matches!(
                Event::from_json(&line),
                Err(EventError::TimestampOutOfRange(_))
            ),
            "{text}"
        );
        let mut replay = Replay::new(Engine::new());
        replay.line(line.as_bytes()).unwrap();
        let dump = replay.finish();
        assert!(dump.persons.is_empty(), "{text}");
        assert_eq!(
            dump.rejected[0].reason,
            format!("timestamp {text:?} is outside years 0000-9999 in UTC")
        );
    }
    // The ends of the range, whatever the offset, are written back as they were read.
    for (text, utc) in [
        ("9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59.999999Z"),
        ("9999-12-31T23:59:59+00:00", "9999-12-31T23:59:59Z"),
        ("9999-12-31 23:00:00", "9999-12-31T23:00:00Z"),
        ("0000-01-01T00:00:00Z", "0000-01-01T00:00:00Z"),
        ("0000-01-01T01:00:00+01:00", "0000-01-01T00:00:00Z"),
        ("9999-12-31T18:00:00-05:00", "9999-12-31T23:00:00Z"),
    ] {
        let line =
            format!("{{\"event\": \"e\", \"distinct_id\": \"a\", \"timestamp\": \"{text}\"}}");
        let mut replay = Replay::new(Engine::new());
        assert_eq!(replay.line(line.as_bytes()).unwrap(), LineStatus::Applied);
        assert_eq!(replay.finish().persons[0].created_at, utc, "{text}");
    }
}
