//! The `idgraph` command line (docs/contract.md §2).
//!
//! Exit status: 0 success, 1 input or data error, 2 usage error (clap's own). A reader of
//! standard output that stops early (`idgraph dump s.idg | head`) ends the command quietly
//! with status 0, as if it had read on: that is the reader's choice, and whatever the
//! command writes to files (a snapshot) is written before its output. Any other failed
//! write to standard output is one message on stderr and status 1. A diagnostic that cannot
//! be written to stderr is dropped and costs the command nothing.

use std::fs::{self, File};
use std::io::{self, IsTerminal, Read, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand, ValueEnum};
use idgraph::{
    Dump, Engine, FeedWatch, Project, RejectedRecord, Replay, ReplayBuilder, Shape, WarningKind,
    Workload, WorkloadConfig,
};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

#[cfg(not(target_env = "msvc"))]
#[path = "idgraph/allocator.rs"]
mod allocator;

/// jemalloc for small blocks, the system's allocator for large ones (`allocator.rs`).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: allocator::CommandAllocator = allocator::CommandAllocator;

/// The exit statuses, as `idgraph --help` tells them.
const EXIT_STATUS: &str = "Exit status: 0 success, also when the reader of standard output \
stops early (`| head`); 1 input or data error, or standard output cannot be written; 2 usage \
error.";

/// An embedded identity graph engine with PostHog's person semantics.
#[derive(Parser)]
#[command(name = "idgraph", version, about, after_help = EXIT_STATUS)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Ingests events, in order, into a fresh graph and prints the JSON dump.
    Replay {
        #[command(flatten)]
        options: ReadOptions,
        /// JSON Lines files of events; `-` reads standard input.
        #[arg(required = true)]
        events: Vec<PathBuf>,
    },
    /// Ingests events (on top of a snapshot when given) and writes a snapshot.
    Ingest {
        #[command(flatten)]
        options: ReadOptions,
        /// JSON Lines files of events; `-` reads standard input.
        #[arg(required = true)]
        events: Vec<PathBuf>,
        /// Where to write the snapshot (atomically).
        #[arg(long)]
        snapshot: PathBuf,
        /// A snapshot to start from; its options are kept.
        #[arg(long)]
        from: Option<PathBuf>,
    },
    /// Prints the JSON dump of a snapshot.
    Dump {
        /// The snapshot.
        snapshot: PathBuf,
    },
    /// Prints each distinct id's person and all its distinct ids, as JSON lines.
    Resolve {
        /// The snapshot.
        snapshot: PathBuf,
        /// The distinct ids.
        #[arg(required = true)]
        ids: Vec<String>,
        #[command(flatten)]
        project: ProjectArg,
    },
    /// Explains why two distinct ids are (or are not) the same person.
    Explain {
        /// The snapshot.
        snapshot: PathBuf,
        /// One id.
        id_a: String,
        /// The other id.
        id_b: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        project: ProjectArg,
    },
    /// Removes the link(s) made directly between two ids and writes the result.
    Unlink {
        /// The snapshot.
        snapshot: PathBuf,
        /// One id.
        id_a: String,
        /// The other id.
        id_b: String,
        /// Where to write the new snapshot.
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        project: ProjectArg,
    },
    /// Counts, and the distribution of distinct ids per person.
    Stats {
        /// The snapshot.
        snapshot: PathBuf,
    },
    /// Writes a realistic synthetic event stream (JSON Lines) to standard output.
    Generate {
        /// How many events.
        #[arg(long)]
        events: u64,
        /// The seed: the same seed gives the same bytes.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The shape of the stream.
        #[arg(long, value_enum, default_value_t = ShapeArg::Realistic)]
        shape: ShapeArg,
    },
    /// Generates a workload in memory, ingests it, and prints the summary.
    Demo {
        /// How many events.
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        /// The seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[command(flatten)]
        options: ReadOptions,
    },
}

/// The workload shapes, as command-line values.
#[derive(Clone, Copy, ValueEnum)]
enum ShapeArg {
    Realistic,
    GiantPerson,
    AliasChains,
    Singletons,
    IllegalIds,
}

impl From<ShapeArg> for Shape {
    fn from(shape: ShapeArg) -> Shape {
        match shape {
            ShapeArg::Realistic => Shape::Realistic,
            ShapeArg::GiantPerson => Shape::GiantPerson,
            ShapeArg::AliasChains => Shape::AliasChains,
            ShapeArg::Singletons => Shape::Singletons,
            ShapeArg::IllegalIds => Shape::IllegalIds,
        }
    }
}

/// The project, by one of two spellings: a token can read as a number ("123"), and must
/// still be told from team 123.
#[derive(Args)]
struct ProjectArg {
    /// The project by its numeric team id (an event's `team_id`), or `default`. A value that
    /// is not a number is taken as a token, as `--token` would.
    #[arg(long, default_value = "default", value_name = "TEAM_ID")]
    team: String,
    /// The project by its token (an event's `token` or `api_key`), even one that reads as
    /// a number.
    #[arg(long, conflicts_with = "team")]
    token: Option<String>,
}

impl ProjectArg {
    fn project(&self) -> Project {
        if let Some(token) = &self.token {
            return Project::Token(token.as_str().into());
        }
        match self.team.as_str() {
            "default" => Project::Default,
            team => team
                .parse()
                .map_or_else(|_| Project::Token(team.into()), Project::Team),
        }
    }
}

/// The options of every command that reads events (`replay`, `ingest`, `demo`), owned
/// here once so that each means the same on all three. Command-line switches are
/// naturally one bool each.
#[allow(clippy::struct_excessive_bools)]
#[derive(Args)]
struct ReadOptions {
    /// Stop at the first rejected line or event with exit status 1.
    #[arg(long)]
    strict: bool,
    /// Do not lift event properties ($browser, utm_source, ...) into person properties.
    #[arg(long)]
    no_lift: bool,
    /// Persist changes of churn-filtered keys ($current_url, $browser, ...) too.
    #[arg(long)]
    keep_churn: bool,
    /// Validate as capture does: reject events whose distinct_id PostHog's capture v1
    /// endpoint refuses (user, system, anonymous-user, ...), replace NUL in ids, cut them to
    /// 200 characters.
    #[arg(long)]
    capture_validation: bool,
    /// Reject a line longer than this, without reading it into memory. The default is
    /// PostHog capture's limit on one event.
    #[arg(long, value_name = "BYTES", default_value_t = Replay::DEFAULT_MAX_EVENT_BYTES)]
    max_event_bytes: usize,
}

impl ReadOptions {
    /// The library's options value, which builds the engine and the replay.
    fn builder(&self) -> ReplayBuilder {
        let mut builder = Replay::builder();
        builder
            .lift_properties(!self.no_lift)
            .filter_churn(!self.keep_churn)
            // Nobody follows the change feed of a command-line run.
            .record_changes(false)
            .capture_validation(self.capture_validation)
            .max_event_bytes(self.max_event_bytes);
        builder
    }

    /// The rules in effect, in words: PostHog's, and what the options change of them.
    fn rules(&self) -> String {
        let mut rules = String::from("PostHog's rules");
        for (on, words) in [
            (self.no_lift, ", without lifting"),
            (self.keep_churn, ", keeping churn"),
            (self.capture_validation, ", with capture validation"),
        ] {
            if on {
                rules.push_str(words);
            }
        }
        rules
    }
}

/// Why a command stopped early.
#[derive(Debug)]
enum Failure {
    /// Exit status 1, with this message on stderr.
    Message(String),
    /// The reader of standard output has gone (a closed pipe): the command stops quietly,
    /// with status 0.
    OutputClosed,
}

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure::Message(e.to_string())
    }
}

/// A failed write to standard output. A closed pipe is the reader's choice, as for any Unix
/// tool, so it stops the command quietly; anything else (a full disk) is an error.
#[allow(clippy::needless_pass_by_value, reason = "the shape `map_err` takes")]
fn stdout_failure(error: io::Error) -> Failure {
    if error.kind() == io::ErrorKind::BrokenPipe {
        Failure::OutputClosed
    } else {
        Failure::Message(format!("standard output: {error}"))
    }
}

/// `writeln!` to standard output, turning a failed write into a [`Failure`] (see
/// [`stdout_failure`]) where `println!` would panic.
macro_rules! say {
    ($out:expr) => {
        writeln!($out).map_err(stdout_failure)?
    };
    ($out:expr, $($arg:tt)*) => {
        writeln!($out, $($arg)*).map_err(stdout_failure)?
    };
}

/// Standard output, buffered; its writes go through [`say!`] and end with [`finish`].
fn stdout() -> io::BufWriter<io::StdoutLock<'static>> {
    io::BufWriter::new(io::stdout().lock())
}

/// Flushes standard output, so that a failed write is seen here and not lost at exit.
fn finish(mut out: impl Write) -> Result<(), Failure> {
    out.flush().map_err(stdout_failure)
}

/// Writes a diagnostic to stderr. One that cannot be written (stderr closed, or on a full
/// disk) is dropped: it could not be reported either, and it must not cost the command its
/// work, as the panic of `eprintln!` would (before a snapshot is written, say).
fn diagnose(message: std::fmt::Arguments<'_>) {
    let _ = io::stderr().write_fmt(message);
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Replay { options, events } => replay(&options, &events),
        Command::Ingest {
            options,
            events,
            snapshot,
            from,
        } => ingest(&options, &events, &snapshot, from.as_deref()),
        Command::Dump { snapshot } => load(&snapshot).and_then(|engine| print_json(&engine.dump())),
        Command::Resolve {
            snapshot,
            ids,
            project,
        } => resolve(&snapshot, &ids, &project.project()),
        Command::Explain {
            snapshot,
            id_a,
            id_b,
            json,
            project,
        } => explain(&snapshot, &id_a, &id_b, json, &project.project()),
        Command::Unlink {
            snapshot,
            id_a,
            id_b,
            out,
            project,
        } => unlink(&snapshot, &id_a, &id_b, &out, &project.project()),
        Command::Stats { snapshot } => stats(&snapshot),
        Command::Generate {
            events,
            seed,
            shape,
        } => generate(events, seed, shape.into()),
        Command::Demo {
            events,
            seed,
            options,
        } => demo(events, seed, &options),
    };
    match result {
        Ok(()) | Err(Failure::OutputClosed) => ExitCode::SUCCESS,
        Err(Failure::Message(message)) => {
            diagnose(format_args!("idgraph: {message}\n"));
            ExitCode::from(1)
        }
    }
}

fn replay(options: &ReadOptions, files: &[PathBuf]) -> Result<(), Failure> {
    let mut replay = options.builder().build();
    feed(
        &mut replay,
        files,
        options.strict,
        &mut Progress::for_terminal(files),
    )?;
    if replay.dropped() > 0 {
        diagnose(format_args!(
            "{} $performance_event event(s) dropped, as capture drops them\n",
            replay.dropped()
        ));
    }
    something_applied(&replay)?;
    let dump: Dump = replay.finish();
    print_json(&dump)
}

/// An input of which every line or event was rejected is an error, not an empty success.
fn something_applied(replay: &Replay) -> Result<(), Failure> {
    if replay.applied() == 0 && !replay.rejected().is_empty() {
        return Err(Failure::Message(format!(
            "nothing applied: {} rejected, no event applied",
            replay.rejected().len()
        )));
    }
    Ok(())
}

fn print_json(value: &impl serde::Serialize) -> Result<(), Failure> {
    let mut out = stdout();
    serde_json::to_writer(&mut out, value).map_err(|e| stdout_failure(e.into()))?;
    say!(out);
    finish(out)
}

/// Loads a snapshot; the error names the file and what is wrong with it.
fn load(path: &Path) -> Result<Engine, Failure> {
    Engine::load_from_path(path)
        .map(|snapshot| snapshot.engine)
        .map_err(|e| Failure::Message(format!("{}: {e}", path.display())))
}

fn ingest(
    options: &ReadOptions,
    files: &[PathBuf],
    out: &Path,
    from: Option<&Path>,
) -> Result<(), Failure> {
    let mut replay = match from {
        Some(path) => options.builder().build_on(load(path)?),
        None => options.builder().build(),
    };
    let started = Instant::now();
    feed(
        &mut replay,
        files,
        options.strict,
        &mut Progress::for_terminal(files),
    )?;
    let elapsed = started.elapsed();
    something_applied(&replay)?;
    // The position records where the input ended, for a caller that resumes from it.
    let position = match files.last() {
        Some(file) => format!("{}:{}", display_name(file), replay.line_number()),
        None => String::new(),
    };
    replay
        .engine()
        .save_to_path(out, position.as_bytes())
        .map_err(|e| Failure::Message(format!("{}: {e}", out.display())))?;
    let mut stdout = stdout();
    print_summary(&mut stdout, &replay, elapsed)?;
    say!(stdout, "snapshot   {}", out.display());
    finish(stdout)
}

fn resolve(path: &Path, ids: &[String], project: &Project) -> Result<(), Failure> {
    let engine = load(path)?;
    let mut out = stdout();
    for id in ids {
        let line = match engine.resolve(project, id) {
            Some(person) => serde_json::json!({
                "distinct_id": id,
                "person": person.uuid().hyphenated().to_string(),
                "distinct_ids": person.sorted_distinct_ids(),
            }),
            None => serde_json::json!({"distinct_id": id, "person": null}),
        };
        serde_json::to_writer(&mut out, &line).map_err(|e| stdout_failure(e.into()))?;
        say!(out);
    }
    finish(out)
}

fn explain(path: &Path, a: &str, b: &str, json: bool, project: &Project) -> Result<(), Failure> {
    let engine = load(path)?;
    let why = engine.explain(project, a, b);
    if json {
        return print_json(&why);
    }
    let mut out = stdout();
    if why.same_person {
        say!(out, "{a} and {b} are the same person");
        if why.chain.is_empty() {
            say!(out, "  (the same distinct id)");
        }
        for step in &why.chain {
            let uuid = step
                .event
                .uuid
                .map(|u| format!(", uuid {u}"))
                .unwrap_or_default();
            say!(
                out,
                "  {} <- {}  by {} ({}), event #{} at {}{uuid}",
                step.target,
                step.source,
                step.kind.as_str(),
                step.effect.as_str(),
                step.event.ordinal,
                step.event.timestamp,
            );
        }
    } else {
        say!(out, "{a} and {b} are not the same person");
        for step in &why.refused {
            say!(
                out,
                "  refused: {} <- {}  by {}: {}, event #{} at {}",
                step.target,
                step.source,
                step.kind.as_str(),
                step.reason.as_str(),
                step.event.ordinal,
                step.event.timestamp,
            );
        }
    }
    finish(out)
}

fn unlink(path: &Path, a: &str, b: &str, out: &Path, project: &Project) -> Result<(), Failure> {
    let mut engine = load(path)?;
    let unlinked = engine.unlink(project, a, b)?;
    engine
        .save_to_path(out, b"")
        .map_err(|e| Failure::Message(format!("{}: {e}", out.display())))?;
    let mut stdout = stdout();
    match unlinked.split_off {
        Some(uuid) => say!(
            stdout,
            "removed {} link(s); {a} and {b} are now separate persons ({} kept, {uuid} split off)",
            unlinked.links_removed,
            unlinked.kept
        ),
        None => say!(
            stdout,
            "removed {} link(s); other links still join {a} and {b}",
            unlinked.links_removed
        ),
    }
    finish(stdout)
}

fn stats(path: &Path) -> Result<(), Failure> {
    let engine = load(path)?;
    let stats = engine.stats();
    let mut out = stdout();
    say!(out, "projects   {:>12}", stats.projects);
    say!(out, "persons    {:>12}", stats.persons);
    say!(
        out,
        "ids        {:>12}  (with a person)",
        stats.distinct_ids
    );
    say!(out, "personless {:>12}", stats.personless_distinct_ids);
    say!(out, "groups     {:>12}", stats.groups);
    say!(out, "events     {:>12}", engine.counters().events);
    say!(out, "merges     {:>12}", engine.counters().merges);
    say!(out, "\ndistinct ids per person:");
    let buckets: [(usize, usize, &str); 7] = [
        (1, 1, "1"),
        (2, 2, "2"),
        (3, 5, "3-5"),
        (6, 10, "6-10"),
        (11, 100, "11-100"),
        (101, 1000, "101-1000"),
        (1001, usize::MAX, ">1000"),
    ];
    let mut counts = [0usize; 7];
    let mut largest = 0;
    for person in engine.persons() {
        let ids = person.distinct_ids().count();
        largest = largest.max(ids);
        if let Some(i) = buckets
            .iter()
            .position(|(lo, hi, _)| (*lo..=*hi).contains(&ids))
        {
            counts[i] += 1;
        }
    }
    for ((_, _, label), count) in buckets.iter().zip(counts) {
        say!(out, "  {label:>9}  {count:>12}");
    }
    say!(out, "  largest    {largest:>12}");
    finish(out)
}

fn generate(events: u64, seed: u64, shape: Shape) -> Result<(), Failure> {
    let mut out = stdout();
    let config = WorkloadConfig {
        seed,
        events,
        shape,
        ..WorkloadConfig::default()
    };
    Workload::new(config)
        .write_json_lines(&mut out)
        .map_err(stdout_failure)?;
    finish(out)
}

fn demo(events: u64, seed: u64, options: &ReadOptions) -> Result<(), Failure> {
    let mut out = stdout();
    say!(
        out,
        "idgraph demo: {events} generated events (seed {seed}), {}\n",
        options.rules()
    );
    // Shown before the work it announces.
    out.flush().map_err(stdout_failure)?;
    let started = Instant::now();
    let mut lines = Vec::new();
    let config = WorkloadConfig {
        seed,
        events,
        ..WorkloadConfig::default()
    };
    Workload::new(config).write_json_lines(&mut lines)?;
    say!(
        out,
        "generated  {:>12} bytes of JSON Lines in {:.2} s",
        lines.len(),
        started.elapsed().as_secs_f64()
    );
    out.flush().map_err(stdout_failure)?;
    let mut replay = options.builder().build();
    let started = Instant::now();
    feed_named(
        &mut replay,
        &["<generated>".to_owned()],
        [Ok(&lines[..])],
        options.strict,
        &mut Progress::off(),
    )?;
    let elapsed = started.elapsed();
    something_applied(&replay)?;
    print_summary(&mut out, &replay, elapsed)?;
    finish(out)
}

/// The summary of `ingest` and `demo`: counts, warnings by type, speed.
fn print_summary(out: &mut impl Write, replay: &Replay, elapsed: Duration) -> Result<(), Failure> {
    let engine = replay.engine();
    let stats = engine.stats();
    let counters = engine.counters();
    say!(out, "events     {:>12}", counters.events);
    say!(out, "rejected   {:>12}", replay.rejected().len());
    say!(
        out,
        "dropped    {:>12}  ($performance_event, as capture drops it)",
        replay.dropped()
    );
    say!(out, "persons    {:>12}", stats.persons);
    say!(
        out,
        "ids        {:>12}  (with a person)",
        stats.distinct_ids
    );
    say!(
        out,
        "personless {:>12}  (ids seen only without person processing)",
        stats.personless_distinct_ids
    );
    say!(out, "groups     {:>12}", stats.groups);
    say!(out, "merges     {:>12}", counters.merges);
    let warnings = warning_counts(engine);
    if warnings.is_empty() {
        say!(out, "warnings   {:>12}", 0);
    }
    for (kind, count) in warnings {
        say!(out, "warnings   {count:>12}  {kind}");
    }
    say!(
        out,
        "ingested in {:.2} s: {:.0} events/s (parse + apply)",
        elapsed.as_secs_f64(),
        rate(counters.events, elapsed)
    );
    Ok(())
}

/// A file's name as error messages show it.
fn display_name(path: &Path) -> String {
    if path == Path::new("-") {
        "<stdin>".to_owned()
    } else {
        path.display().to_string()
    }
}

fn open(path: &Path) -> io::Result<Box<dyn Read>> {
    if path == Path::new("-") {
        Ok(Box::new(io::stdin()))
    } else {
        File::open(path).map(|f| Box::new(f) as Box<dyn Read>)
    }
}

/// Feeds every line of every file to `replay`, each file opened when its turn comes. A
/// file or standard input that starts as gzip is decompressed as it is read.
fn feed(
    replay: &mut Replay,
    files: &[PathBuf],
    strict: bool,
    progress: &mut Progress,
) -> Result<(), Failure> {
    let names: Vec<String> = files.iter().map(|f| display_name(f)).collect();
    let read = progress.bytes();
    let inputs = files.iter().map(|path| {
        open(path).map(|inner| Counted {
            inner,
            read: Arc::clone(&read),
        })
    });
    feed_named(replay, &names, inputs, strict, progress)
}

/// Feeds the inputs in order (`Replay::feed_all`), reporting rejected lines on stderr by
/// the input's name.
fn feed_named<R: Read>(
    replay: &mut Replay,
    names: &[String],
    inputs: impl IntoIterator<Item = io::Result<R>>,
    strict: bool,
    progress: &mut Progress,
) -> Result<(), Failure> {
    let mut watch = Watch {
        names,
        current: 0,
        strict,
        first: None,
        progress,
    };
    let fed = replay.feed_all(inputs, &mut watch);
    let name = names.get(watch.current).map_or("", String::as_str);
    match fed {
        Ok(fed) if fed.stopped => {
            let place = watch.first.unwrap_or_default();
            Err(Failure::Message(format!("{place}: stopping (--strict)")))
        }
        Ok(_) => {
            progress.finish(replay.engine());
            Ok(())
        }
        Err(idgraph::Error::Io(e)) => Err(Failure::Message(format!("{name}: {e}"))),
        Err(e) => Err(e.into()),
    }
}

/// Reports rejected lines on stderr as they are applied, each with its input's name,
/// stops at the first with `--strict`, and moves the progress bar.
struct Watch<'a> {
    names: &'a [String],
    /// The input being read.
    current: usize,
    strict: bool,
    /// Where the first rejection of a stopping line was, for the message.
    first: Option<String>,
    progress: &'a mut Progress,
}

impl FeedWatch for Watch<'_> {
    fn input_started(&mut self, index: usize) {
        self.current = index;
    }

    fn rejected(&mut self, record: &RejectedRecord) -> ControlFlow<()> {
        let name = self.names.get(self.current).map_or("", String::as_str);
        let place = match record.index {
            Some(index) => format!("{name}:{}[{index}]", record.line),
            None => format!("{name}:{}", record.line),
        };
        self.progress.suspend(|| {
            diagnose(format_args!("{place}: rejected: {}\n", record.reason));
        });
        if !self.strict {
            return ControlFlow::Continue(());
        }
        self.first.get_or_insert(place);
        ControlFlow::Break(())
    }

    fn line_done(&mut self, engine: &Engine) {
        self.progress.tick(engine);
    }
}

/// The progress bar of `ingest` and `replay` on stderr (indicatif): bytes read of the
/// input (of the files as stored, so compressed bytes for gzip), events and events/s. Only
/// when stderr is a terminal: a log or a pipe gets no bar.
struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
    /// Bytes read so far, shared with the readers of the inputs.
    read: Arc<AtomicU64>,
}

impl Progress {
    fn off() -> Progress {
        Progress {
            bar: None,
            started: Instant::now(),
            read: Arc::default(),
        }
    }

    /// A bar over `files`, sized by the regular files among them, when stderr is a
    /// terminal.
    fn for_terminal(files: &[PathBuf]) -> Progress {
        if !io::stderr().is_terminal() {
            return Progress::off();
        }
        let sizes: Option<u64> = files
            .iter()
            .map(|f| {
                fs::metadata(f)
                    .ok()
                    .filter(fs::Metadata::is_file)
                    .map(|m| m.len())
            })
            .sum();
        let bar = match sizes {
            Some(total) => ProgressBar::new(total).with_style(
                ProgressStyle::with_template(
                    "{bar:16} {bytes}/{total_bytes} {binary_bytes_per_sec} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            ),
            // A pipe or standard input has no size to fill a bar against.
            None => ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("{spinner} {bytes} {binary_bytes_per_sec} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            ),
        };
        bar.set_draw_target(ProgressDrawTarget::stderr_with_hz(10));
        Progress {
            bar: Some(bar),
            ..Progress::off()
        }
    }

    /// The count the inputs' readers add to.
    fn bytes(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.read)
    }

    fn tick(&mut self, engine: &Engine) {
        let Some(bar) = &self.bar else { return };
        let events = engine.counters().events;
        // Formatting the message every event would cost more than the event.
        if !events.is_multiple_of(4096) {
            return;
        }
        bar.set_position(self.read.load(Ordering::Relaxed));
        let rate = rate(events, self.started.elapsed());
        bar.set_message(format!("{events} events, {rate:.0} events/s"));
    }

    /// Runs `f` (which writes to stderr) with the bar out of the way.
    fn suspend(&self, f: impl FnOnce()) {
        match &self.bar {
            Some(bar) => bar.suspend(f),
            None => f(),
        }
    }

    /// Leaves the last state of the bar on the terminal.
    fn finish(&self, engine: &Engine) {
        if let Some(bar) = &self.bar {
            bar.set_position(self.read.load(Ordering::Relaxed));
            let events = engine.counters().events;
            let rate = rate(events, self.started.elapsed());
            bar.finish_with_message(format!("{events} events, {rate:.0} events/s"));
        }
    }
}

/// A reader that adds what it reads to a shared count, for the progress bar.
struct Counted<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

#[allow(clippy::cast_precision_loss, reason = "a rate for people to read")]
fn rate(events: u64, elapsed: Duration) -> f64 {
    events as f64 / elapsed.as_secs_f64().max(1e-9)
}

fn warning_counts(engine: &Engine) -> Vec<(&'static str, u64)> {
    WarningKind::ALL
        .iter()
        .map(|k| (k.as_str(), engine.counters().warnings_of(*k)))
        .filter(|(_, n)| *n > 0)
        .collect()
}
