//! A shared engine in a service's shape: one writer ingesting JSON Lines on one thread (no
//! parse workers, so a reader has the other core) while one reader thread resolves random
//! ids of the stream on a fixed schedule. Prints reader latency percentiles, writer throughput and
//! peak memory for: the writer alone, the writer behind a std `RwLock` (the baseline), and
//! the writer with reader handles (`Engine::into_shared`), with and without a save from a
//! reader in the middle of the ingest; and, as the floor, the same reads with no writer on
//! the finished engine while another thread keeps the second core busy.
//!
//! Run with `cargo bench --features workload --bench service`. Each configuration runs in
//! a child process of its own, so that its peak RSS is its own. What varies:
//! `IDGRAPH_BENCH_EVENTS` (default 1,000,000 realistic events, seed 42, written once to a
//! file in the target directory) and `IDGRAPH_BENCH_BATCH` (events per publish, default
//! 1,000), `IDGRAPH_BENCH_RUNS` (runs of each configuration, default 3). Not a criterion
//! bench: latency percentiles are the figure.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::cast_precision_loss,
    clippy::cast_sign_loss,
    reason = "a measuring binary fails loudly and prints loose ratios"
)]

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use idgraph::{
    Engine, EngineReader, EngineWriter, Event, Project, Shape, Workload, WorkloadConfig,
};

const MODE_VAR: &str = "IDGRAPH_BENCH_SERVICE_MODE";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Alone,
    RwLock,
    Shared,
    SharedWithSave,
    /// No writer: the same reads on the finished engine while another thread spins on the
    /// other core. What this machine gives a reader at best, the floor of the others.
    Floor,
}

impl Mode {
    const ALL: [Mode; 5] = [
        Mode::Alone,
        Mode::RwLock,
        Mode::Shared,
        Mode::SharedWithSave,
        Mode::Floor,
    ];

    fn name(self) -> &'static str {
        match self {
            Mode::Alone => "writer alone",
            Mode::RwLock => "RwLock<Engine>",
            Mode::Shared => "into_shared",
            Mode::SharedWithSave => "into_shared, a save at half",
            Mode::Floor => "no writer, a spinning thread",
        }
    }

    fn parse(name: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.name() == name)
    }
}

fn events() -> u64 {
    std::env::var("IDGRAPH_BENCH_EVENTS").map_or(1_000_000, |v| v.parse().expect("a count"))
}

fn batch() -> usize {
    std::env::var("IDGRAPH_BENCH_BATCH").map_or(1_000, |v| v.parse().expect("a count"))
}

/// The realistic stream as a file, written once.
fn input(events: u64) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target");
    let path = dir.join(format!("service-bench-{events}-seed42.jsonl"));
    if !path.exists() {
        let temp = path.with_extension("tmp");
        let mut out = BufWriter::new(File::create(&temp).unwrap());
        Workload::new(WorkloadConfig {
            seed: 42,
            events,
            shape: Shape::Realistic,
            ..WorkloadConfig::default()
        })
        .write_json_lines(&mut out)
        .unwrap();
        drop(out);
        std::fs::rename(&temp, &path).unwrap();
    }
    path
}

/// The distinct ids of the stream, which the reader picks from.
fn ids(path: &Path) -> Vec<Box<str>> {
    let mut ids: Vec<Box<str>> = BufReader::new(File::open(path).unwrap())
        .lines()
        .map(|l| Event::from_json(&l.unwrap()).unwrap().distinct_id().into())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// What one configuration measured.
struct Figures {
    writer_seconds: f64,
    events: u64,
    /// Reader latencies in nanoseconds, sorted.
    latencies: Vec<u64>,
    /// Each batch's wall time, in microseconds, sorted.
    batches: Vec<u64>,
    /// The batch during which the save ran, in microseconds.
    save_batch: Option<u64>,
    save_seconds: Option<f64>,
    peak_rss_kib: u64,
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A small seeded generator: the reader's choice of ids must not cost more than the read.
struct Pick(u64);

impl Pick {
    fn next(&mut self, below: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % below as u64) as usize
    }
}

/// Reads on a fixed schedule, one every `IDGRAPH_BENCH_READ_EVERY_NS` (default 10 µs), each
/// timed from when it was due, not from when it started: a reader held up by a lock is
/// charged for every read it could not make meanwhile (no coordinated omission). At 1 ms
/// or more between reads it sleeps in between rather than spin.
fn reader_loop(
    ids: &[Box<str>],
    done: &AtomicBool,
    mut latencies: Vec<u64>,
    mut resolve: impl FnMut(&str) -> bool,
) -> Vec<u64> {
    let every = Duration::from_nanos(
        std::env::var("IDGRAPH_BENCH_READ_EVERY_NS").map_or(10_000, |v| v.parse().expect("ns")),
    );
    let mut pick = Pick(0x9e37_79b9_7f4a_7c15);
    let mut found = 0u64;
    let mut due = Instant::now();
    while !done.load(Ordering::Relaxed) {
        if every >= Duration::from_millis(1) {
            // A reader that reads rarely sleeps between reads instead of spinning, so that
            // the writer's figure is the mechanism's own cost, not the spinning core's.
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
        while Instant::now() < due {
            std::hint::spin_loop();
        }
        let id = &ids[pick.next(ids.len())];
        found += u64::from(resolve(id));
        latencies.push(due.elapsed().as_nanos() as u64);
        due += every;
    }
    std::hint::black_box(found);
    latencies.sort_unstable();
    latencies
}

/// Room for the reader's latencies, every page already touched: a first touch of a page
/// faults, which on this virtual machine can take longer than the read it would be charged
/// to. A service's reader keeps no such log, so the bench must not charge it. Every
/// configuration makes one, so that their peak memory compares like with like.
fn latency_log() -> Vec<u64> {
    let mut log = vec![1u64; 1 << 22];
    log.clear();
    log
}

/// The input, a batch of parsed events at a time.
struct Stream {
    lines: std::io::Lines<BufReader<File>>,
    batch: usize,
}

impl Stream {
    fn open(path: &Path) -> Stream {
        Stream {
            lines: BufReader::with_capacity(1 << 20, File::open(path).unwrap()).lines(),
            batch: batch(),
        }
    }

    fn next_batch(&mut self, events: &mut Vec<Event>) -> bool {
        events.clear();
        for line in self.lines.by_ref().take(self.batch) {
            events.push(Event::from_json(&line.unwrap()).unwrap());
        }
        !events.is_empty()
    }
}

/// What the writer's side measured.
#[derive(Default)]
struct Written {
    events: u64,
    batches: Vec<u64>,
    save_batch: Option<usize>,
    save_seconds: Option<f64>,
}

fn run(mode: Mode, path: &Path) -> Figures {
    // Every configuration prepares the same, so that the heap the writer starts from is
    // alike (listing the ids parses the whole input once).
    let ids = Arc::new(ids(path));
    let log = latency_log();
    let done = Arc::new(AtomicBool::new(false));
    let engine = Engine::builder().record_changes(false).build();
    let mut stream = Stream::open(path);
    let start = Instant::now();
    let (written, latencies) = match mode {
        Mode::Alone => {
            std::hint::black_box(&log);
            (write_alone(engine, &mut stream).0, Vec::new())
        }
        Mode::Floor => {
            let (_, engine) = write_alone(engine, &mut stream);
            (
                Written::default(),
                read_beside_a_spinner(&engine, &ids, log),
            )
        }
        Mode::RwLock => {
            let shared = Arc::new(RwLock::new(engine));
            let reader = {
                let (shared, ids, done) =
                    (Arc::clone(&shared), Arc::clone(&ids), Arc::clone(&done));
                std::thread::spawn(move || {
                    reader_loop(&ids, &done, log, |id| {
                        shared
                            .read()
                            .unwrap()
                            .resolve(&Project::Default, id)
                            .is_some()
                    })
                })
            };
            let written = write_locked(&shared, &mut stream);
            done.store(true, Ordering::Relaxed);
            (written, reader.join().unwrap())
        }
        Mode::Shared | Mode::SharedWithSave => {
            let (writer, handle) = engine.into_shared(Vec::new());
            let reader = {
                let (handle, ids, done) = (handle.clone(), Arc::clone(&ids), Arc::clone(&done));
                std::thread::spawn(move || {
                    reader_loop(&ids, &done, log, |id| {
                        handle.read().resolve(&Project::Default, id).is_some()
                    })
                })
            };
            let written = write_shared(writer, &handle, &mut stream, mode, path);
            done.store(true, Ordering::Relaxed);
            (written, reader.join().unwrap())
        }
    };
    let writer_seconds = start.elapsed().as_secs_f64();
    let Written {
        events,
        mut batches,
        save_batch,
        save_seconds,
    } = written;
    let save_batch = save_batch.map(|i| batches[i]);
    batches.sort_unstable();
    Figures {
        writer_seconds,
        events,
        latencies,
        batches,
        save_batch,
        save_seconds,
        peak_rss_kib: peak_rss_kib(),
    }
}

fn write_alone(mut engine: Engine, stream: &mut Stream) -> (Written, Engine) {
    let (mut written, mut parsed) = (Written::default(), Vec::new());
    while stream.next_batch(&mut parsed) {
        let at = Instant::now();
        for event in &parsed {
            engine.apply(event).unwrap();
        }
        written.events += parsed.len() as u64;
        written.batches.push(at.elapsed().as_micros() as u64);
    }
    (written, engine)
}

/// The floor's reads: five seconds of them on the finished engine, while a second thread
/// spins on the other core as the writer would keep it busy.
fn read_beside_a_spinner(engine: &Engine, ids: &[Box<str>], log: Vec<u64>) -> Vec<u64> {
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                std::hint::spin_loop();
            }
        });
        let reader = scope.spawn(|| {
            reader_loop(ids, &done, log, |id| {
                engine.resolve(&Project::Default, id).is_some()
            })
        });
        std::thread::sleep(Duration::from_secs(5));
        done.store(true, Ordering::Relaxed);
        reader.join().unwrap()
    })
}

fn write_locked(shared: &RwLock<Engine>, stream: &mut Stream) -> Written {
    let (mut written, mut parsed) = (Written::default(), Vec::new());
    while stream.next_batch(&mut parsed) {
        let at = Instant::now();
        let mut engine = shared.write().unwrap();
        for event in &parsed {
            engine.apply(event).unwrap();
        }
        drop(engine);
        written.events += parsed.len() as u64;
        written.batches.push(at.elapsed().as_micros() as u64);
    }
    written
}

fn write_shared(
    mut writer: EngineWriter,
    handle: &EngineReader,
    stream: &mut Stream,
    mode: Mode,
    path: &Path,
) -> Written {
    let (mut written, mut parsed) = (Written::default(), Vec::new());
    let half = events() / 2;
    let mut saver: Option<std::thread::JoinHandle<f64>> = None;
    while stream.next_batch(&mut parsed) {
        if mode == Mode::SharedWithSave && saver.is_none() && written.events >= half {
            saver = Some(save_in_background(handle.clone(), path));
            written.save_batch = Some(written.batches.len());
        }
        let at = Instant::now();
        for event in parsed.drain(..) {
            writer.apply(event).unwrap();
        }
        written.events = writer.engine().counters().events;
        writer.set_position(written.events.to_string().as_bytes());
        writer.publish();
        written.batches.push(at.elapsed().as_micros() as u64);
    }
    while !writer.publish() {
        std::thread::sleep(Duration::from_millis(1));
    }
    if let Some(saver) = saver {
        written.save_seconds = Some(saver.join().unwrap());
    }
    written
}

fn save_in_background(reader: EngineReader, input: &Path) -> std::thread::JoinHandle<f64> {
    let path = input.with_extension("snap");
    std::thread::spawn(move || {
        let start = Instant::now();
        reader.save_to_path(&path).unwrap();
        let seconds = start.elapsed().as_secs_f64();
        std::fs::remove_file(&path).unwrap();
        seconds
    })
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((sorted.len() as f64) * p).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// One line for the parent: fields separated by spaces.
fn report(figures: &Figures) -> String {
    let l = &figures.latencies;
    let b = &figures.batches;
    format!(
        "{} {:.3} {} {} {} {} {} {} {} {} {} {} {:.4}",
        figures.events,
        figures.writer_seconds,
        l.len(),
        percentile(l, 0.5),
        percentile(l, 0.99),
        percentile(l, 0.999),
        l.last().copied().unwrap_or(0),
        percentile(b, 0.5),
        b.last().copied().unwrap_or(0),
        figures.save_batch.unwrap_or(0),
        figures.peak_rss_kib,
        figures.batches.len(),
        figures.save_seconds.unwrap_or(0.0),
    )
}

fn runs() -> usize {
    std::env::var("IDGRAPH_BENCH_RUNS").map_or(3, |v| v.parse().expect("a count"))
}

/// One configuration's figures, in a child process of its own.
fn run_child(mode: Mode) -> Vec<f64> {
    let out = Command::new(std::env::current_exe().unwrap())
        .env(MODE_VAR, mode.name())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect()
}

/// The median, least and most of one figure over the runs.
fn spread(values: impl Iterator<Item = f64>) -> (f64, f64, f64) {
    let mut values: Vec<f64> = values.collect();
    values.sort_by(f64::total_cmp);
    (
        values[values.len() / 2],
        values[0],
        values[values.len() - 1],
    )
}

fn main() {
    let events = events();
    let path = input(events);
    if let Ok(mode) = std::env::var(MODE_VAR) {
        let mode = Mode::parse(&mode).expect("a mode this binary names");
        println!("{}", report(&run(mode, &path)));
        return;
    }
    let runs = runs();
    println!(
        "{events} realistic events (seed 42, {} bytes), batches of {}, one writer thread and one reader thread; \
         medians of {runs} runs of each configuration, taken in turn (min-max in brackets)\n",
        std::fs::metadata(&path).unwrap().len(),
        batch()
    );
    // The configurations take turns, so that a slow spell of this shared machine falls on
    // all of them rather than on one.
    let mut figures: Vec<Vec<Vec<f64>>> = vec![Vec::new(); Mode::ALL.len()];
    for _ in 0..runs {
        for (i, mode) in Mode::ALL.into_iter().enumerate() {
            figures[i].push(run_child(mode));
        }
    }
    println!(
        "| configuration | writer ev/s | vs alone | reads | read p50 | p99 | p99.9 | max | batch p50 | batch max | save's batch | save | peak RSS |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let rate_of = |f: &Vec<f64>| if f[0] == 0.0 { 0.0 } else { f[0] / f[1] };
    let alone_rate = spread(figures[0].iter().map(rate_of)).0;
    for (mode, runs) in Mode::ALL.into_iter().zip(&figures) {
        let column = |at: usize| spread(runs.iter().map(|f| f[at]));
        let (rate, lo, hi) = spread(runs.iter().map(rate_of));
        let (rate_text, ratio_text) = if rate == 0.0 {
            ("-".to_owned(), "-".to_owned())
        } else {
            (
                format!("{rate:.0} [{lo:.0}-{hi:.0}]"),
                format!("{:.2}", rate / alone_rate),
            )
        };
        let us = |ns: f64| format!("{:.1} µs", ns / 1000.0);
        let us_spread = |at: usize| {
            let (m, lo, hi) = column(at);
            if m == 0.0 {
                "-".to_owned()
            } else {
                format!("{} [{:.1}-{:.1}]", us(m), lo / 1000.0, hi / 1000.0)
            }
        };
        let reads = column(2).0;
        let ms_or_dash = |value: f64, scale: f64| {
            if value == 0.0 {
                "-".to_owned()
            } else {
                format!("{:.1} ms", value * scale)
            }
        };
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} MB |",
            mode.name(),
            rate_text,
            ratio_text,
            if reads == 0.0 {
                "-".to_owned()
            } else {
                format!("{:.0}k", reads / 1e3)
            },
            us_spread(3),
            us_spread(4),
            us_spread(5),
            us_spread(6),
            ms_or_dash(column(7).0, 1e-3),
            ms_or_dash(column(8).0, 1e-3),
            ms_or_dash(column(9).0, 1e-3),
            ms_or_dash(column(12).0, 1e3),
            column(10).0 / 1024.0,
        );
    }
}
