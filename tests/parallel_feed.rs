//! `Replay::feed` with lines parsed on worker threads gives what the serial path gives, line
//! by line through `Replay::read_line`: the same dump (persons, warnings with their lines,
//! rejections with their lines and indexes) and the same snapshot bytes, whatever the chunk
//! size and the number of workers; it stops where the serial path stops; it streams.
#![cfg(feature = "testing")]
#![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests fail loudly")]

use std::io::{self, Read, Write};
use std::ops::ControlFlow;

use idgraph::testing::strategy;
use idgraph::{
    Arrival, CaptureReader, Captured, Dump, Engine, FeedWatch, RejectedRecord, Replay, Shape,
    Workload, WorkloadConfig, write_event_json,
};
use proptest::prelude::*;

/// Small, so that an over-long line is cheap to write; generated lines are shorter.
const MAX_EVENT_BYTES: usize = 4_000;

/// Lines no event stream is made of, each rejected (or skipped, or dropped) in its own way.
const BAD_LINES: [&str; 9] = [
    "not json",
    "{\"event\": \"$pageview\"",
    r#"{"event": "$pageview", "timestamp": "2024-01-01T00:00:00Z"}"#,
    r#"{"distinct_id": "a", "timestamp": "2024-01-01T00:00:00Z"}"#,
    r#"[{"event": "e", "distinct_id": "b1", "timestamp": "2024-01-02T00:00:00Z"}, {"event": "e"}, {"event": "e", "distinct_id": "b2", "timestamp": "2024-01-02T00:00:01Z"}]"#,
    r#"{"api_key": "phc_x", "sent_at": "2024-01-03T00:00:00Z", "batch": [{"event": "$identify", "distinct_id": "u", "properties": {"$anon_distinct_id": "b1"}, "timestamp": "2024-01-03T00:00:00Z"}, 7, {"event": "$performance_event", "distinct_id": "u"}]}"#,
    r#"[{"event": "e", "token": "t1", "distinct_id": "m"}, {"event": "e", "token": "t2", "distinct_id": "m"}]"#,
    "   ",
    r#"{"event": "$performance_event", "distinct_id": "p"}"#,
];

/// A bad line to insert: one of [`BAD_LINES`], or one longer than [`MAX_EVENT_BYTES`].
#[derive(Clone, Debug)]
enum Bad {
    Known(usize),
    TooLong(usize),
}

fn bad() -> impl Strategy<Value = Bad> {
    prop_oneof![
        4 => (0..BAD_LINES.len()).prop_map(Bad::Known),
        1 => (MAX_EVENT_BYTES - 2..MAX_EVENT_BYTES * 3).prop_map(Bad::TooLong),
    ]
}

fn shape() -> impl Strategy<Value = Shape> {
    prop::sample::select(vec![
        Shape::Realistic,
        Shape::GiantPerson,
        Shape::AliasChains,
        Shape::Singletons,
        Shape::IllegalIds,
    ])
}

/// A stream of generated lines (a workload, then adversarial events) with `bad` lines put
/// in at the given places, `\r\n` after some lines, and the last line break left off or not.
fn stream(
    seed: u64,
    events: u64,
    shape: Shape,
    adversarial: &[idgraph::Event],
    bad: &[(usize, Bad)],
    crlf_every: usize,
    final_break: bool,
) -> Vec<u8> {
    let mut good = Vec::new();
    Workload::new(WorkloadConfig {
        seed,
        events,
        shape,
        ..WorkloadConfig::default()
    })
    .write_json_lines(&mut good)
    .unwrap();
    for event in adversarial {
        write_event_json(event, &mut good).unwrap();
    }
    let mut lines: Vec<Vec<u8>> = good
        .split(|b| *b == b'\n')
        .filter(|line| !line.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    for (at, bad) in bad {
        let line = match bad {
            Bad::Known(i) => BAD_LINES[*i].as_bytes().to_vec(),
            Bad::TooLong(len) => {
                let mut line = br#"{"event": "e", "distinct_id": ""#.to_vec();
                line.resize(*len, b'x');
                line
            }
        };
        let at = at % (lines.len() + 1);
        lines.insert(at, line);
    }
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        out.extend_from_slice(line);
        if crlf_every > 0 && i % crlf_every == 0 {
            out.push(b'\r');
        }
        out.push(b'\n');
    }
    if !final_break {
        out.pop();
    }
    out
}

fn builder() -> idgraph::ReplayBuilder {
    let mut builder = Replay::builder();
    builder.max_event_bytes(MAX_EVENT_BYTES);
    builder
}

/// What a replay ended with: its dump, its snapshot, and its counts.
#[derive(Debug, PartialEq)]
struct Ended {
    dump: Dump,
    snapshot: Vec<u8>,
    applied: u64,
    dropped: u64,
    lines: u64,
}

fn ended(replay: Replay) -> Ended {
    let snapshot = replay.engine().save_to_vec(b"").unwrap();
    let (applied, dropped, lines) = (replay.applied(), replay.dropped(), replay.line_number());
    Ended {
        dump: replay.finish(),
        snapshot,
        applied,
        dropped,
        lines,
    }
}

/// The serial path as it was before `feed`: `read_line` until the end, or until the first
/// line with a rejection when `strict`.
fn serial(input: &[u8], strict: bool) -> Ended {
    let mut replay = builder().build();
    let mut reader = input;
    loop {
        let before = replay.rejected().len();
        if replay.read_line(&mut reader).unwrap().is_none() {
            break;
        }
        if strict && replay.rejected().len() > before {
            break;
        }
    }
    ended(replay)
}

/// Stops at the first rejection, and remembers what it heard.
#[derive(Default)]
struct Heard {
    strict: bool,
    rejected: Vec<RejectedRecord>,
    lines_done: u64,
}

impl FeedWatch for Heard {
    fn rejected(&mut self, record: &RejectedRecord) -> ControlFlow<()> {
        self.rejected.push(record.clone());
        if self.strict {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }

    fn line_done(&mut self, _: &idgraph::Engine) {
        self.lines_done += 1;
    }
}

/// The input handed over at most `piece` bytes a read, so that lines end and begin across
/// the reads the feed buffers.
struct Trickle<'a> {
    input: &'a [u8],
    piece: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.piece).min(self.input.len());
        buf[..n].copy_from_slice(&self.input[..n]);
        self.input = &self.input[n..];
        Ok(n)
    }
}

fn parallel(input: &[u8], workers: usize, chunk_bytes: usize, strict: bool) -> (Ended, Heard) {
    parallel_in_pieces(input, usize::MAX, workers, chunk_bytes, strict)
}

fn parallel_in_pieces(
    input: &[u8],
    piece: usize,
    workers: usize,
    chunk_bytes: usize,
    strict: bool,
) -> (Ended, Heard) {
    let mut replay = builder()
        .parse_threads(workers)
        .chunk_bytes(chunk_bytes)
        .build();
    let mut heard = Heard {
        strict,
        ..Heard::default()
    };
    let fed = replay.feed(Trickle { input, piece }, &mut heard).unwrap();
    assert_eq!(fed.stopped, strict && !heard.rejected.is_empty());
    assert_eq!(fed.lines, replay.line_number());
    assert_eq!(fed.applied, replay.applied());
    assert_eq!(fed.dropped, replay.dropped());
    assert_eq!(fed.rejected, replay.rejected().len() as u64);
    assert_eq!(heard.rejected, replay.rejected());
    (ended(replay), heard)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn parallel_feed_gives_what_the_serial_path_gives(
        seed in any::<u64>(),
        events in 0_u64..300,
        shape in shape(),
        adversarial in strategy::adversarial(30),
        bad in proptest::collection::vec((any::<usize>(), bad()), 0..12),
        crlf_every in 0_usize..5,
        final_break in any::<bool>(),
        workers in 0_usize..=3,
        chunk_bytes in prop_oneof![1_usize..64, 64_usize..8192],
        piece in prop_oneof![1_usize..16, 16_usize..400, Just(usize::MAX)],
        strict in any::<bool>(),
    ) {
        let input = stream(seed, events, shape, &adversarial, &bad, crlf_every, final_break);
        let expected = serial(&input, strict);
        let (got, heard) = parallel_in_pieces(&input, piece, workers, chunk_bytes, strict);
        prop_assert_eq!(&got, &expected);
        if !strict || heard.rejected.is_empty() {
            prop_assert_eq!(heard.lines_done, expected.lines);
        }
    }
}

/// What an engine that does not lift ends with when every line is read by a reader that
/// keeps the lifted properties: its snapshot, and the events applied, dropped and rejected.
fn unlifted_from_every_property(input: &[u8]) -> (Vec<u8>, u64, u64, usize) {
    let reader = CaptureReader::new();
    let mut engine = Engine::builder().lift_properties(false).build();
    let (mut applied, mut dropped, mut rejected) = (0, 0, 0);
    for line in input.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if line.len() > MAX_EVENT_BYTES {
            rejected += 1;
            continue;
        }
        let Ok(request) = reader.read(line, Arrival::Saved) else {
            rejected += 1;
            continue;
        };
        for captured in &request {
            match captured {
                Captured::Event(event) => {
                    engine.apply(event).unwrap();
                    applied += 1;
                }
                Captured::Dropped => dropped += 1,
                Captured::Rejected(_) => rejected += 1,
            }
        }
    }
    (engine.save_to_vec(b"").unwrap(), applied, dropped, rejected)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// A replay that does not lift reads its lines without their lifted properties; the
    /// engine never reads them, so it ends as if they had been read.
    #[test]
    fn a_replay_that_does_not_lift_ends_as_if_its_reader_kept_the_lifted_properties(
        seed in any::<u64>(),
        events in 0_u64..300,
        shape in shape(),
        adversarial in strategy::adversarial(30),
        bad in proptest::collection::vec((any::<usize>(), bad()), 0..12),
        workers in 0_usize..=2,
    ) {
        let input = stream(seed, events, shape, &adversarial, &bad, 3, true);
        let mut replay = builder().lift_properties(false).parse_threads(workers).build();
        replay.feed(input.as_slice(), &mut ()).unwrap();
        let got = (
            replay.engine().save_to_vec(b"").unwrap(),
            replay.applied(),
            replay.dropped(),
            replay.rejected().len(),
        );
        prop_assert_eq!(got, unlifted_from_every_property(&input));
    }
}

#[test]
fn rejections_keep_their_line_numbers_and_indexes_across_chunks() {
    let input = stream(
        7,
        200,
        Shape::Realistic,
        &[],
        &[
            (3, Bad::Known(0)),
            (50, Bad::Known(4)),
            (120, Bad::TooLong(9_000)),
        ],
        0,
        true,
    );
    let expected = serial(&input, false);
    let places: Vec<(u64, Option<u64>)> = expected
        .dump
        .rejected
        .iter()
        .map(|r| (r.line, r.index))
        .collect();
    assert_eq!(places, [(4, None), (51, Some(1)), (121, None)]);
    for workers in 1..=3 {
        for chunk_bytes in [1, 100, 1000, 1 << 20] {
            let (got, _) = parallel(&input, workers, chunk_bytes, false);
            assert_eq!(got, expected, "{workers} workers, chunks of {chunk_bytes}");
        }
    }
}

#[test]
fn gzip_input_is_decompressed_as_it_is_fed() {
    let input = stream(
        3,
        150,
        Shape::AliasChains,
        &[],
        &[(9, Bad::Known(5))],
        0,
        true,
    );
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gzip.write_all(&input).unwrap();
    let gzip = gzip.finish().unwrap();
    let (got, _) = parallel(&gzip, 2, 512, false);
    assert_eq!(got, serial(&input, false));
}

/// Endless lines, the 1000th of them not JSON; counts what was read.
struct Endless {
    line: u64,
    pending: Vec<u8>,
    read: u64,
}

impl Read for Endless {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pending.is_empty() {
            self.line += 1;
            self.pending = if self.line == 1000 {
                b"not json\n".to_vec()
            } else {
                format!(
                    "{{\"event\": \"e\", \"distinct_id\": \"u{}\", \"timestamp\": \"2024-01-01T00:00:00Z\"}}\n",
                    self.line % 97
                )
                .into_bytes()
            };
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        self.read += n as u64;
        Ok(n)
    }
}

#[test]
fn feed_streams_its_input_and_stops_at_the_first_rejection_when_asked() {
    for workers in 1..=3 {
        let mut input = Endless {
            line: 0,
            pending: Vec::new(),
            read: 0,
        };
        let chunk_bytes = 4096;
        let mut replay = builder()
            .parse_threads(workers)
            .chunk_bytes(chunk_bytes)
            .build();
        let mut heard = Heard {
            strict: true,
            ..Heard::default()
        };
        let fed = replay.feed(&mut input, &mut heard).unwrap();
        assert!(fed.stopped);
        assert_eq!((fed.lines, fed.applied), (1000, 999));
        assert_eq!(replay.rejected()[0].line, 1000);
        // Read ahead of the stop: the chunks in flight and the read buffer, nothing more.
        let lines = 1000 * 80;
        let ahead = (4 * workers as u64 + 2) * (chunk_bytes as u64 + 100) + (1 << 16);
        assert!(
            input.read < lines + ahead,
            "{workers} workers read {}",
            input.read
        );
    }
}

/// `input`, then a failed read.
struct FailsAfter<'a> {
    input: &'a [u8],
}

impl Read for FailsAfter<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.input.is_empty() {
            return Err(io::Error::other("the disk went away"));
        }
        self.input.read(buf)
    }
}

#[test]
fn lines_before_a_failed_read_are_applied_as_the_serial_path_applies_them() {
    let input = stream(
        5,
        120,
        Shape::Realistic,
        &[],
        &[(30, Bad::Known(0))],
        0,
        true,
    );
    // Cut inside a line, so that the failure comes in the middle of it.
    let cut = &input[..input.len() * 2 / 3];
    let mut expected = builder().build();
    let mut reader = io::BufReader::new(FailsAfter { input: cut });
    let error = loop {
        match expected.read_line(&mut reader) {
            Ok(Some(_)) => {}
            Ok(None) => panic!("the input ended without failing"),
            Err(error) => break error,
        }
    };
    assert!(matches!(error, idgraph::Error::Io(_)));
    let expected = ended(expected);
    for workers in 0..=3 {
        for chunk_bytes in [1, 700, 1 << 20] {
            let mut replay = builder()
                .parse_threads(workers)
                .chunk_bytes(chunk_bytes)
                .build();
            let fed = replay.feed(FailsAfter { input: cut }, &mut ());
            assert!(matches!(fed, Err(idgraph::Error::Io(_))), "{fed:?}");
            assert_eq!(
                ended(replay),
                expected,
                "{workers} workers, chunks of {chunk_bytes}"
            );
        }
    }
}

/// Hears which input each rejection came from.
#[derive(Default)]
struct ByInput {
    current: usize,
    started: Vec<usize>,
    rejected: Vec<(usize, u64)>,
}

impl FeedWatch for ByInput {
    fn input_started(&mut self, index: usize) {
        self.current = index;
        self.started.push(index);
    }

    fn rejected(&mut self, record: &RejectedRecord) -> std::ops::ControlFlow<()> {
        self.rejected.push((self.current, record.line));
        std::ops::ControlFlow::Continue(())
    }
}

#[test]
fn many_inputs_feed_in_order_as_one_feed_each_and_an_unopenable_one_stops_there() {
    let first = stream(
        3,
        400,
        Shape::Realistic,
        &[],
        &[(10, Bad::Known(0))],
        0,
        true,
    );
    let second = stream(
        4,
        300,
        Shape::Realistic,
        &[],
        &[(5, Bad::Known(1))],
        0,
        true,
    );
    let mut one_by_one = builder().build();
    one_by_one.feed(&first[..], &mut ()).unwrap();
    one_by_one.feed(&second[..], &mut ()).unwrap();

    let mut all = builder().build();
    let mut heard = ByInput::default();
    let fed = all
        .feed_all([Ok(&first[..]), Ok(&second[..])], &mut heard)
        .unwrap();
    assert_eq!(heard.started, [0, 1]);
    assert_eq!(heard.rejected, [(0, 11), (1, 6)]);
    assert_eq!((fed.applied, fed.rejected, fed.stopped), (700, 2, false));
    assert_eq!(ended(all), ended(one_by_one));

    let missing = || Err(io::Error::new(io::ErrorKind::NotFound, "no such file"));
    let mut stops = builder().build();
    let mut heard = ByInput::default();
    let inputs: [io::Result<&[u8]>; 3] = [Ok(&first[..]), missing(), Ok(&second[..])];
    let err = stops.feed_all(inputs, &mut heard).unwrap_err();
    assert!(matches!(err, idgraph::Error::Io(_)), "{err}");
    assert_eq!(heard.started, [0, 1], "the input that failed is named");
    assert_eq!(stops.applied(), 400, "the first input stays applied");
}
