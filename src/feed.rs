//! A whole input fed to a [`Replay`]: lines parsed on worker threads, applied in input order
//! on the calling thread, with the same result as [`Replay::read_line`] line by line.

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Read};
use std::ops::ControlFlow;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::thread;

use super::{
    Parsed, RejectedRecord, Replay, parse_line, read_until_line_break, skip_line, strip_line_break,
};
use crate::capture::CaptureReader;
use crate::engine::Engine;
use crate::error::Error;
use crate::event::Input;

/// Chunks a worker may hold at once, queued, being parsed or parsed and waiting: the
/// calling thread never has more than this many per worker in flight, so neither of a
/// worker's queues can fill and block it.
const PER_WORKER: usize = 4;

/// The buffer between the input and the line reader. Lines are copied out of it into
/// chunks, so its size only sets how often the input is read.
const READ_BUFFER: usize = 1 << 16;

/// What [`Replay::feed`] did with one input.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FeedSummary {
    /// Lines read, blank ones included (and the rejected line a stop came at).
    pub lines: u64,
    /// Events applied.
    pub applied: u64,
    /// Events dropped as capture drops them.
    pub dropped: u64,
    /// Lines and events rejected.
    pub rejected: u64,
    /// Whether [`FeedWatch::rejected`] asked to stop: the lines after that one were not
    /// applied (nor, past what was read ahead, read).
    pub stopped: bool,
}

/// What a caller of [`Replay::feed`] hears as the input is applied, on the calling thread
/// and in input order. `()` hears nothing and never stops.
pub trait FeedWatch {
    /// A line, or an event of a batch, was rejected; called once the whole line has been
    /// applied, for each of its rejections in order. [`ControlFlow::Break`] stops the feed
    /// after this line: nothing after it is applied.
    fn rejected(&mut self, record: &RejectedRecord) -> ControlFlow<()> {
        let _ = record;
        ControlFlow::Continue(())
    }

    /// [`Replay::feed_all`] is about to read its input number `index` (from 0).
    fn input_started(&mut self, index: usize) {
        let _ = index;
    }

    /// A line was applied (or skipped, or rejected without a stop); `engine` is the state
    /// after it. Called for every line, so it should be cheap.
    fn line_done(&mut self, engine: &Engine) {
        let _ = engine;
    }
}

impl FeedWatch for () {}

/// Chunks the calling thread may hold parsed by itself, waiting for their turn.
const PARSED_HERE: usize = 2;

/// Whose parse of a chunk comes next in input order.
enum Turn {
    /// The next result of this worker.
    Worker(usize),
    /// Parsed on the calling thread while the worker was busy.
    Here(Vec<Parsed>),
}

/// What a worker is asked to do.
enum Job {
    /// Parse the lines of this chunk.
    Parse(Chunk),
    /// Free these, which this worker parsed and which have been applied.
    Free(Vec<Parsed>),
}

/// A chunk parsed: its lines, and its bytes to be filled again.
struct Done {
    lines: Vec<Parsed>,
    bytes: Vec<u8>,
}

/// A worker's loop, until the feed drops its end of `jobs` or of `done`. The lists of
/// parsed lines are kept for the next chunks: a list is large, and allocating one for every
/// chunk would make the allocator sweep its free small blocks each time.
fn work(
    reader: &CaptureReader,
    max_event_bytes: usize,
    jobs: &Receiver<Job>,
    done: &SyncSender<Done>,
) {
    let mut spare: Vec<Vec<Parsed>> = Vec::new();
    for job in jobs {
        match job {
            Job::Parse(chunk) => {
                let mut lines = spare.pop().unwrap_or_default();
                parse_chunk(reader, max_event_bytes, &chunk, &mut lines);
                let parsed = Done {
                    lines,
                    bytes: chunk.bytes,
                };
                if done.send(parsed).is_err() {
                    return;
                }
            }
            Job::Free(mut lines) => {
                lines.clear();
                spare.push(lines);
            }
        }
    }
}

/// Whole lines of the input; where they stand in it is where the chunk stands in the order
/// chunks are sent, which is the order they are applied in.
struct Chunk {
    bytes: Vec<u8>,
    lines: Vec<Piece>,
}

/// One line of a chunk.
enum Piece {
    /// `bytes[start..end]`, its line break removed.
    Line { start: usize, end: usize },
    /// Longer than the maximum event size: skipped unread, to be rejected.
    TooLong,
}

impl Replay {
    /// Parses and applies every line of `reader`, as [`Replay::read_line`] does line by line:
    /// the same persons, warnings, rejections (with the same line numbers and indexes) and
    /// snapshot bytes. An input that starts with gzip's magic bytes is decompressed as it is
    /// read ([`Input`]). Line numbers restart at 1 ([`Replay::start_file`]); for many
    /// inputs in order, see [`Replay::feed_all`].
    ///
    /// Threads. With [`Replay::parse_threads`] workers (by default one fewer than
    /// [`std::thread::available_parallelism`]), the calling thread reads the input into
    /// chunks of whole lines of about [`Replay::chunk_bytes`], hands them round in turn to
    /// the workers, which parse them (nothing in parsing reads the engine), and applies the
    /// parsed lines itself, chunk after chunk in input order; when the next chunk is not
    /// parsed yet, it parses one of the following chunks itself rather than wait. With no
    /// workers (one core), the calling thread reads, parses and applies each line in turn.
    /// `watch` is always called on the calling thread, in input order.
    ///
    /// Memory. The input is streamed: at most four chunks per worker are in flight (queued,
    /// being parsed, or parsed and waiting), and at most two that the calling thread parsed
    /// itself while a worker was busy, besides the one being read and the one being
    /// applied. A chunk is about [`Replay::chunk_bytes`] (it ends at the first line break
    /// past it), and a line longer than [`Replay::max_event_bytes`] is skipped without
    /// being held, and rejected with its line number.
    ///
    /// ```
    /// use std::ops::ControlFlow;
    ///
    /// struct Stop;
    /// impl idgraph::FeedWatch for Stop {
    ///     fn rejected(&mut self, _: &idgraph::RejectedRecord) -> ControlFlow<()> {
    ///         ControlFlow::Break(())
    ///     }
    /// }
    ///
    /// let input = "{\"event\": \"e\", \"distinct_id\": \"a\"}\nnot json\n{\"event\": \"e\", \"distinct_id\": \"b\"}\n";
    /// let mut replay = idgraph::Replay::builder().parse_threads(2).chunk_bytes(16).build();
    /// let fed = replay.feed(input.as_bytes(), &mut ())?;
    /// assert_eq!((fed.lines, fed.applied, fed.rejected), (3, 2, 1));
    /// assert_eq!(replay.rejected()[0].line, 2);
    ///
    /// // Stopping at the first rejected line: nothing after it is applied.
    /// let mut strict = idgraph::Replay::builder().parse_threads(2).chunk_bytes(16).build();
    /// let fed = strict.feed(input.as_bytes(), &mut Stop)?;
    /// assert!(fed.stopped);
    /// assert_eq!((fed.lines, fed.applied), (2, 1));
    /// # Ok::<(), idgraph::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the input cannot be read, or a worker thread could not be
    /// started; [`Error::Engine`] when the engine is full (the lines before that event stay
    /// applied, as for [`Replay::line`]).
    pub fn feed<R: Read>(
        &mut self,
        reader: R,
        watch: &mut impl FeedWatch,
    ) -> Result<FeedSummary, Error> {
        self.start_file();
        let (applied, dropped, rejected) = (self.applied, self.dropped, self.rejected.len());
        let mut input = Input::new(BufReader::with_capacity(READ_BUFFER, reader))?;
        let workers = self.parse_threads_in_use();
        let stopped = if workers == 0 {
            self.feed_serial(&mut input, watch)?
        } else {
            self.feed_parallel(&mut input, workers, watch)?
        };
        Ok(FeedSummary {
            lines: self.line,
            applied: self.applied - applied,
            dropped: self.dropped - dropped,
            rejected: (self.rejected.len() - rejected) as u64,
            stopped,
        })
    }

    /// Feeds many inputs in order, each as [`Replay::feed`] does (line numbers restart at 1
    /// for each), and sums what they did. An input is opened only when its turn comes, so
    /// `inputs` may open files lazily; `watch` hears [`FeedWatch::input_started`] first.
    /// Stops after the input where `watch` asked to stop.
    ///
    /// ```
    /// let files = ["{\"event\": \"e\", \"distinct_id\": \"a\"}\n", "not json\n"];
    /// let mut replay = idgraph::Replay::builder().build();
    /// let fed = replay.feed_all(files.iter().map(|f| Ok(f.as_bytes())), &mut ())?;
    /// assert_eq!((fed.lines, fed.applied, fed.rejected), (2, 1, 1));
    /// assert_eq!(replay.rejected()[0].line, 1);
    /// # Ok::<(), idgraph::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Replay::feed`], and [`Error::Io`] for an input that could not be opened: the
    /// inputs before it stay applied, and `watch` was told its index.
    pub fn feed_all<R: Read>(
        &mut self,
        inputs: impl IntoIterator<Item = io::Result<R>>,
        watch: &mut impl FeedWatch,
    ) -> Result<FeedSummary, Error> {
        let mut total = FeedSummary::default();
        for (index, input) in inputs.into_iter().enumerate() {
            watch.input_started(index);
            let fed = self.feed(input?, watch)?;
            total.lines += fed.lines;
            total.applied += fed.applied;
            total.dropped += fed.dropped;
            total.rejected += fed.rejected;
            if fed.stopped {
                total.stopped = true;
                break;
            }
        }
        Ok(total)
    }

    /// Every line read, parsed and applied on this thread. `true` when `watch` stopped it.
    fn feed_serial<R: BufRead>(
        &mut self,
        input: &mut R,
        watch: &mut impl FeedWatch,
    ) -> Result<bool, Error> {
        loop {
            let before = self.rejected.len();
            if self.read_line(input)?.is_none() {
                return Ok(false);
            }
            if self.tell(before, watch).is_break() {
                return Ok(true);
            }
        }
    }

    /// Chunks parsed on `workers` threads, applied here in order. Chunks go to the workers
    /// in turn; a worker parses its chunks in the order it gets them, so its results come
    /// back in that order, and `order` says whose result is next. The parsed lines go back
    /// to their worker to be freed, and the chunk's bytes come back here to be filled
    /// again: memory freed on another thread than the one that allocated it costs the
    /// allocator a lock, which both threads would wait on for every event.
    ///
    /// When the next result is not ready, this thread parses a chunk of its own rather than
    /// wait ([`Turn::Here`]): parsing costs more than applying, so with one worker this
    /// thread would otherwise idle while the worker is still on its chunk. Who parses a
    /// chunk changes nothing in what is applied, nor in which order.
    fn feed_parallel<R: BufRead>(
        &mut self,
        input: &mut R,
        workers: usize,
        watch: &mut impl FeedWatch,
    ) -> Result<bool, Error> {
        let (reader, max_event_bytes, chunk_bytes) =
            (self.reader, self.max_event_bytes, self.chunk_bytes.max(1));
        let sizes = (max_event_bytes, chunk_bytes);
        thread::scope(|scope| {
            let mut to_workers: Vec<SyncSender<Job>> = Vec::with_capacity(workers);
            let mut from_workers: Vec<Receiver<Done>> = Vec::with_capacity(workers);
            for _ in 0..workers {
                // Room for every job a worker can have queued, so that sending one never
                // waits: behind the chunk it is parsing, at most `PER_WORKER - 1` chunks and
                // as many lists to free (of chunks before it, applied since).
                let (to_worker, jobs) = sync_channel::<Job>(2 * PER_WORKER);
                let (done, from_worker) = sync_channel(PER_WORKER);
                thread::Builder::new()
                    .name("idgraph-parse".to_owned())
                    .spawn_scoped(scope, move || work(&reader, max_event_bytes, &jobs, &done))?;
                to_workers.push(to_worker);
                from_workers.push(from_worker);
            }
            // Returning drops the channels, which ends the workers before the scope joins
            // them, whichever way the feed ends.
            let limit = PER_WORKER * workers;
            let mut order: VecDeque<Turn> = VecDeque::with_capacity(limit + PARSED_HERE);
            let mut spare: Vec<Vec<u8>> = Vec::with_capacity(limit + 1);
            let mut spare_lines: Vec<Vec<Parsed>> = Vec::new();
            let (mut at_workers, mut here, mut next_worker, mut at_end) = (0, 0, 0, false);
            // A failed read ends the input, but the lines before it are applied first, as
            // `read_line` would have applied them.
            let mut failed = None;
            loop {
                while !at_end && at_workers < limit {
                    let chunk = next_chunk(input, &mut spare, &mut at_end, &mut failed, sizes);
                    if chunk.lines.is_empty() {
                        spare.push(chunk.bytes);
                        continue;
                    }
                    to_workers[next_worker]
                        .send(Job::Parse(chunk))
                        .map_err(|_| worker_gone())?;
                    order.push_back(Turn::Worker(next_worker));
                    next_worker = (next_worker + 1) % workers;
                    at_workers += 1;
                }
                let Some(turn) = order.pop_front() else {
                    return failed.map_or(Ok(false), |error| Err(error.into()));
                };
                let (mut lines, worker) = match turn {
                    Turn::Here(lines) => (lines, None),
                    Turn::Worker(worker) => {
                        let done = match from_workers[worker].try_recv() {
                            Ok(done) => done,
                            Err(TryRecvError::Disconnected) => return Err(worker_gone().into()),
                            Err(TryRecvError::Empty) if !at_end && here < PARSED_HERE => {
                                order.push_front(Turn::Worker(worker));
                                let chunk =
                                    next_chunk(input, &mut spare, &mut at_end, &mut failed, sizes);
                                let mut lines = spare_lines.pop().unwrap_or_default();
                                parse_chunk(&reader, max_event_bytes, &chunk, &mut lines);
                                spare.push(chunk.bytes);
                                if lines.is_empty() {
                                    spare_lines.push(lines);
                                } else {
                                    order.push_back(Turn::Here(lines));
                                    here += 1;
                                    self.chunks_parsed_here += 1;
                                }
                                continue;
                            }
                            Err(TryRecvError::Empty) => {
                                from_workers[worker].recv().map_err(|_| worker_gone())?
                            }
                        };
                        at_workers -= 1;
                        spare.push(done.bytes);
                        (done.lines, Some(worker))
                    }
                };
                let mut stopped = false;
                for line in &lines {
                    let before = self.rejected.len();
                    self.apply_parsed(line)?;
                    if self.tell(before, watch).is_break() {
                        stopped = true;
                        break;
                    }
                }
                match worker {
                    Some(worker) => to_workers[worker]
                        .send(Job::Free(lines))
                        .map_err(|_| worker_gone())?,
                    None => {
                        here -= 1;
                        lines.clear();
                        spare_lines.push(lines);
                    }
                }
                if stopped {
                    return Ok(true);
                }
            }
        })
    }

    /// Tells `watch` of the rejections recorded since `before` and that the line is done.
    fn tell(&self, before: usize, watch: &mut impl FeedWatch) -> ControlFlow<()> {
        let mut flow = ControlFlow::Continue(());
        for record in &self.rejected[before..] {
            if watch.rejected(record).is_break() {
                flow = ControlFlow::Break(());
            }
        }
        if flow.is_continue() {
            watch.line_done(&self.engine);
        }
        flow
    }
}

/// The next chunk of `input`, in a buffer from `spare`: whole lines until it holds at least
/// `chunk_bytes` of `sizes` (`max_event_bytes`, `chunk_bytes`), or the input ends, which sets
/// `at_end`. A line longer than `max_event_bytes` is read no further than
/// [`Replay::read_line`] reads it, and skipped. A failed read ends the input: the chunk holds
/// the whole lines before it, and the error is kept in `failed`.
fn next_chunk<R: BufRead>(
    input: &mut R,
    spare: &mut Vec<Vec<u8>>,
    at_end: &mut bool,
    failed: &mut Option<io::Error>,
    (max_event_bytes, chunk_bytes): (usize, usize),
) -> Chunk {
    let mut chunk = Chunk {
        bytes: spare.pop().unwrap_or_default(),
        lines: Vec::new(),
    };
    match fill_chunk(input, &mut chunk, max_event_bytes, chunk_bytes) {
        Ok(end) => *at_end = end,
        Err(error) => (*at_end, *failed) = (true, Some(error)),
    }
    chunk
}

fn fill_chunk<R: BufRead>(
    input: &mut R,
    chunk: &mut Chunk,
    max_event_bytes: usize,
    chunk_bytes: usize,
) -> io::Result<bool> {
    chunk.bytes.clear();
    chunk
        .bytes
        .reserve(chunk_bytes.saturating_add(chunk_bytes / 8));
    // As in `Replay::read_line`: room for the longest line allowed and its "\r\n".
    let room = u64::try_from(max_event_bytes.saturating_add(2)).unwrap_or(u64::MAX);
    let mut scratch = Vec::new();
    while chunk.bytes.len() < chunk_bytes {
        if take_whole_lines(input, chunk, room, chunk_bytes)? > 0 {
            continue;
        }
        // The next line does not end in what the input holds buffered, or is too long: read
        // it as `Replay::read_line` does.
        let start = chunk.bytes.len();
        let read = read_until_line_break(input, &mut chunk.bytes, room)?;
        if read == 0 {
            return Ok(true);
        }
        if chunk.bytes.last() != Some(&b'\n') && read as u64 == room {
            chunk.bytes.truncate(start);
            skip_line(input, &mut scratch)?;
            chunk.lines.push(Piece::TooLong);
            continue;
        }
        let end = start + strip_line_break(&chunk.bytes[start..]).len();
        chunk.lines.push(Piece::Line { start, end });
    }
    Ok(false)
}

/// Moves the whole lines `input` holds buffered into `chunk`, in one copy, until it holds
/// `chunk_bytes`; stops before a line longer than `room` (with its line break) and before
/// the line that does not end in the buffer. Returns the bytes taken: 0 leaves the next
/// line to [`read_until_line_break`], which reads on past the buffer. Every byte of the input
/// passes here or there, on the thread that applies the events, so a line costs one vector
/// search and no call of its own.
fn take_whole_lines<R: BufRead>(
    input: &mut R,
    chunk: &mut Chunk,
    room: u64,
    chunk_bytes: usize,
) -> io::Result<usize> {
    let window = loop {
        match input.fill_buf() {
            Ok(window) => break window,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    };
    let base = chunk.bytes.len();
    let mut used = 0;
    for at in memchr::memchr_iter(b'\n', window) {
        let line = &window[used..=at];
        if line.len() as u64 > room {
            break;
        }
        let start = base + used;
        chunk.lines.push(Piece::Line {
            start,
            end: start + strip_line_break(line).len(),
        });
        used = at + 1;
        if base + used >= chunk_bytes {
            break;
        }
    }
    chunk.bytes.extend_from_slice(&window[..used]);
    input.consume(used);
    Ok(used)
}

/// What [`Replay::line`] would make of each line of `chunk`, before applying it, added to
/// `lines`.
fn parse_chunk(
    reader: &CaptureReader,
    max_event_bytes: usize,
    chunk: &Chunk,
    lines: &mut Vec<Parsed>,
) {
    lines.extend(chunk.lines.iter().map(|piece| match *piece {
        Piece::Line { start, end } => parse_line(reader, max_event_bytes, &chunk.bytes[start..end]),
        Piece::TooLong => Parsed::too_large(max_event_bytes),
    }));
}

/// A worker ended without being asked to: it panicked, and the scope will say so.
fn worker_gone() -> io::Error {
    io::Error::other("a parse worker stopped")
}

/// One fewer than the cores this process may use: the calling thread applies.
pub(super) fn default_parse_threads() -> usize {
    thread::available_parallelism().map_or(0, |cores| cores.get() - 1)
}
