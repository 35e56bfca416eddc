//! The `idgraph` command line (docs/contract.md §2).
//!
//! Exit status: 0 success, 1 input or data error, 2 usage error (clap's own).

use std::fs::File;
use std::io::{self, BufRead, BufReader, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand, ValueEnum};
use idgraph::{
    Dump, Engine, LineStatus, Project, Replay, Shape, WarningKind, Workload, WorkloadConfig,
};

/// An embedded identity graph engine with PostHog's person semantics.
#[derive(Parser)]
#[command(name = "idgraph", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Ingests events, in order, into a fresh graph and prints the JSON dump.
    Replay {
        #[command(flatten)]
        options: IngestOptions,
        /// JSON Lines files of events; `-` reads standard input.
        #[arg(required = true)]
        events: Vec<PathBuf>,
    },
    /// Ingests events (on top of a snapshot when given) and writes a snapshot.
    Ingest {
        #[command(flatten)]
        options: IngestOptions,
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

#[derive(Args)]
struct ProjectArg {
    /// The project: a team id, a token, or `default`.
    #[arg(long, default_value = "default")]
    team: String,
}

impl ProjectArg {
    fn project(&self) -> Project {
        match self.team.as_str() {
            "default" => Project::Default,
            team => team
                .parse()
                .map_or_else(|_| Project::Token(team.into()), Project::Team),
        }
    }
}

/// Command-line switches are naturally one bool each.
#[allow(clippy::struct_excessive_bools)]
#[derive(Args)]
struct IngestOptions {
    /// Stop at the first rejected line with exit status 1.
    #[arg(long)]
    strict: bool,
    /// Do not lift event properties ($browser, utm_source, ...) into person properties.
    #[arg(long)]
    no_lift: bool,
    /// Persist changes of churn-filtered keys ($current_url, $browser, ...) too.
    #[arg(long)]
    keep_churn: bool,
    /// Reject lines whose distinct_id PostHog's capture v1 endpoint refuses (user, system,
    /// anonymous-user, ...), as capture would.
    #[arg(long)]
    capture_validation: bool,
}

impl IngestOptions {
    fn engine(&self) -> Engine {
        Engine::builder()
            .lift_properties(!self.no_lift)
            .filter_churn(!self.keep_churn)
            // Nobody follows the change feed of a command-line run.
            .record_changes(false)
            .build()
    }
}

/// A failure that ends the command with exit status 1.
#[derive(Debug)]
struct Failure(String);

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure(e.to_string())
    }
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
        Command::Demo { events, seed } => demo(events, seed),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(message)) => {
            eprintln!("idgraph: {message}");
            ExitCode::from(1)
        }
    }
}

fn replay(options: &IngestOptions, files: &[PathBuf]) -> Result<(), Failure> {
    let mut replay = Replay::new(options.engine()).capture_validation(options.capture_validation);
    feed(&mut replay, files, options.strict, &mut Progress::off())?;
    let dump: Dump = replay.finish();
    print_json(&dump)
}

fn print_json(value: &impl serde::Serialize) -> Result<(), Failure> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    serde_json::to_writer(&mut out, value)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

/// Loads a snapshot; the error names the file and what is wrong with it.
fn load(path: &Path) -> Result<Engine, Failure> {
    Engine::load_from_path(path)
        .map(|snapshot| snapshot.engine)
        .map_err(|e| Failure(format!("{}: {e}", path.display())))
}

fn ingest(
    options: &IngestOptions,
    files: &[PathBuf],
    out: &Path,
    from: Option<&Path>,
) -> Result<(), Failure> {
    let engine = match from {
        Some(path) => load(path)?,
        None => options.engine(),
    };
    let mut replay = Replay::new(engine);
    let started = Instant::now();
    feed(
        &mut replay,
        files,
        options.strict,
        &mut Progress::for_terminal(),
    )?;
    let elapsed = started.elapsed();
    // The position records where the input ended, for a caller that resumes from it.
    let position = match files.last() {
        Some(file) => format!("{}:{}", display_name(file), replay.line_number()),
        None => String::new(),
    };
    replay
        .engine()
        .save_to_path(out, position.as_bytes())
        .map_err(|e| Failure(format!("{}: {e}", out.display())))?;
    print_summary(&replay, elapsed);
    println!("snapshot   {}", out.display());
    Ok(())
}

fn resolve(path: &Path, ids: &[String], project: &Project) -> Result<(), Failure> {
    let engine = load(path)?;
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    for id in ids {
        let line = match engine.resolve(project, id) {
            Some(person) => serde_json::json!({
                "distinct_id": id,
                "person": person.uuid().hyphenated().to_string(),
                "distinct_ids": person.sorted_distinct_ids(),
            }),
            None => serde_json::json!({"distinct_id": id, "person": null}),
        };
        serde_json::to_writer(&mut out, &line)?;
        writeln!(out)?;
    }
    out.flush()?;
    Ok(())
}

fn explain(path: &Path, a: &str, b: &str, json: bool, project: &Project) -> Result<(), Failure> {
    let engine = load(path)?;
    let why = engine.explain(project, a, b);
    if json {
        return print_json(&why);
    }
    if why.same_person {
        println!("{a} and {b} are the same person");
        if why.chain.is_empty() {
            println!("  (the same distinct id)");
        }
        for step in &why.chain {
            let uuid = step
                .event
                .uuid
                .map(|u| format!(", uuid {u}"))
                .unwrap_or_default();
            println!(
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
        println!("{a} and {b} are not the same person");
        for step in &why.refused {
            println!(
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
    Ok(())
}

fn unlink(path: &Path, a: &str, b: &str, out: &Path, project: &Project) -> Result<(), Failure> {
    let mut engine = load(path)?;
    let unlinked = engine.unlink(project, a, b)?;
    engine
        .save_to_path(out, b"")
        .map_err(|e| Failure(format!("{}: {e}", out.display())))?;
    match unlinked.split_off {
        Some(uuid) => println!(
            "removed {} link(s); {a} and {b} are now separate persons ({} kept, {uuid} split off)",
            unlinked.links_removed, unlinked.kept
        ),
        None => println!(
            "removed {} link(s); other links still join {a} and {b}",
            unlinked.links_removed
        ),
    }
    Ok(())
}

fn stats(path: &Path) -> Result<(), Failure> {
    let engine = load(path)?;
    let stats = engine.stats();
    println!("projects   {:>12}", stats.projects);
    println!("persons    {:>12}", stats.persons);
    println!("ids        {:>12}  (with a person)", stats.distinct_ids);
    println!("personless {:>12}", stats.personless_distinct_ids);
    println!("groups     {:>12}", stats.groups);
    println!("events     {:>12}", engine.counters().events);
    println!("merges     {:>12}", engine.counters().merges);
    println!("\ndistinct ids per person:");
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
        println!("  {label:>9}  {count:>12}");
    }
    println!("  largest    {largest:>12}");
    Ok(())
}

fn generate(events: u64, seed: u64, shape: Shape) -> Result<(), Failure> {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let config = WorkloadConfig {
        seed,
        events,
        shape,
        ..WorkloadConfig::default()
    };
    match Workload::new(config).write_json_lines(&mut out) {
        // A closed pipe (`idgraph generate ... | head`) is the reader's choice, not an error.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other.map(|_| ()).map_err(Failure::from),
    }
}

fn demo(events: u64, seed: u64) -> Result<(), Failure> {
    println!("idgraph demo: {events} generated events (seed {seed}), PostHog's rules\n");
    let started = Instant::now();
    let mut lines = Vec::new();
    let config = WorkloadConfig {
        seed,
        events,
        ..WorkloadConfig::default()
    };
    Workload::new(config).write_json_lines(&mut lines)?;
    println!(
        "generated  {:>12} bytes of JSON Lines in {:.2} s",
        lines.len(),
        started.elapsed().as_secs_f64()
    );
    let mut replay = Replay::new(Engine::builder().record_changes(false).build());
    let started = Instant::now();
    for line in lines.split(|&b| b == b'\n') {
        replay.line(line)?;
    }
    let elapsed = started.elapsed();
    print_summary(&replay, elapsed);
    Ok(())
}

/// The summary of `ingest` and `demo`: counts, warnings by type, speed.
fn print_summary(replay: &Replay, elapsed: Duration) {
    let engine = replay.engine();
    let stats = engine.stats();
    let counters = engine.counters();
    println!("events     {:>12}", counters.events);
    println!("rejected   {:>12}", replay.rejected().len());
    println!("persons    {:>12}", stats.persons);
    println!("ids        {:>12}  (with a person)", stats.distinct_ids);
    println!(
        "personless {:>12}  (ids seen only without person processing)",
        stats.personless_distinct_ids
    );
    println!("groups     {:>12}", stats.groups);
    println!("merges     {:>12}", counters.merges);
    let warnings = warning_counts(engine);
    if warnings.is_empty() {
        println!("warnings   {:>12}", 0);
    }
    for (kind, count) in warnings {
        println!("warnings   {count:>12}  {kind}");
    }
    println!(
        "ingested in {:.2} s: {:.0} events/s (parse + apply, one core)",
        elapsed.as_secs_f64(),
        rate(counters.events, elapsed)
    );
}

/// A file's name as error messages show it.
fn display_name(path: &Path) -> String {
    if path == Path::new("-") {
        "<stdin>".to_owned()
    } else {
        path.display().to_string()
    }
}

fn open(path: &Path) -> Result<Box<dyn Read>, Failure> {
    if path == Path::new("-") {
        Ok(Box::new(io::stdin()))
    } else {
        File::open(path)
            .map(|f| Box::new(f) as Box<dyn Read>)
            .map_err(|e| Failure(format!("{}: {e}", path.display())))
    }
}

/// Feeds every line of every file to `replay`, reporting rejected lines on stderr.
fn feed(
    replay: &mut Replay,
    files: &[PathBuf],
    strict: bool,
    progress: &mut Progress,
) -> Result<(), Failure> {
    let mut line = Vec::with_capacity(1 << 16);
    for path in files {
        let name = display_name(path);
        let mut reader = BufReader::with_capacity(1 << 20, open(path)?);
        replay.start_file();
        loop {
            line.clear();
            let read = reader
                .read_until(b'\n', &mut line)
                .map_err(|e| Failure(format!("{name}: {e}")))?;
            if read == 0 {
                break;
            }
            let text = line.strip_suffix(b"\n").unwrap_or(&line);
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            if let LineStatus::Rejected(reason) = replay.line(text)? {
                eprintln!("{name}:{}: rejected: {reason}", replay.line_number());
                if strict {
                    return Err(Failure(format!(
                        "{name}:{}: stopping (--strict)",
                        replay.line_number()
                    )));
                }
            }
            progress.tick(replay.engine());
        }
    }
    progress.finish();
    Ok(())
}

/// A progress line on stderr, only when stderr is a terminal.
struct Progress {
    on: bool,
    started: Instant,
    last: Instant,
}

impl Progress {
    fn off() -> Progress {
        let now = Instant::now();
        Progress {
            on: false,
            started: now,
            last: now,
        }
    }

    fn for_terminal() -> Progress {
        Progress {
            on: io::stderr().is_terminal(),
            ..Progress::off()
        }
    }

    fn tick(&mut self, engine: &Engine) {
        if !self.on {
            return;
        }
        let events = engine.counters().events;
        // Checking the clock every event would cost more than the event.
        if !events.is_multiple_of(4096) || self.last.elapsed() < Duration::from_millis(200) {
            return;
        }
        self.last = Instant::now();
        let rate = rate(events, self.started.elapsed());
        eprint!("\r{events} events, {rate:.0} events/s   ");
    }

    fn finish(&self) {
        if self.on {
            eprintln!();
        }
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
