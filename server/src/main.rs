//! `idgraph-server`: PostHog's capture endpoint in front of an idgraph engine, so that the
//! real posthog-js and posthog-node SDKs can send to it, and `GET /persons/{distinct_id}`
//! to read the persons PostHog would make of what they sent.
//!
//! One writer thread owns the engine and applies every request; handlers read from the
//! state it publishes. The graph is restored from `--snapshot` on start and saved to it on
//! a timer and when the process is told to stop (SIGTERM, SIGINT).

#![forbid(unsafe_code)]

mod app;
mod decode;
mod writer;

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use idgraph::{CaptureReader, Engine, EngineReader};
use tokio::sync::{mpsc, watch};

use crate::app::AppState;
use crate::writer::Job;

/// PostHog's capture endpoint in front of an idgraph engine.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Address to listen on; port 0 picks a free port. The address bound is printed on
    /// stdout as `listening on ADDR`.
    #[arg(long, default_value = "127.0.0.1:8000")]
    listen: SocketAddr,
    /// Snapshot file: restored on start if it exists, saved on the timer and on SIGTERM or
    /// SIGINT. Without it the graph lives in memory only.
    #[arg(long)]
    snapshot: Option<PathBuf>,
    /// Seconds between saves of the snapshot (only when something changed); 0 saves only
    /// on stop.
    #[arg(long, default_value_t = 60)]
    snapshot_every: u64,
    /// Validate distinct ids as capture does: NUL becomes U+FFFD, ids are cut to 200
    /// characters, and capture v1's refusal list rejects the request.
    #[arg(long)]
    capture_validation: bool,
    /// The largest request body taken, before and after decompression, in bytes.
    #[arg(long, default_value_t = CaptureReader::DEFAULT_MAX_BODY_BYTES)]
    max_body_bytes: usize,
    /// Requests queued for the writer before senders wait.
    #[arg(long, default_value_t = 1024)]
    queue: usize,
    /// Seconds that requests still open when told to stop may take to finish; the server
    /// then stops without them (they are not applied) and saves.
    #[arg(long, default_value_t = 10)]
    shutdown_grace: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("idgraph-server: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("idgraph-server: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The engine and its position (events applied) from the snapshot, or a new engine when
/// the file does not exist. A file that exists and does not load is an error: starting
/// empty would overwrite it at the next save.
fn restore(path: Option<&Path>) -> Result<(Engine, u64), String> {
    let Some(path) = path.filter(|path| path.exists()) else {
        return Ok((Engine::new(), 0));
    };
    let snapshot = Engine::load_from_path(path)
        .map_err(|error| format!("cannot restore {}: {error}", path.display()))?;
    let applied = <[u8; 8]>::try_from(snapshot.position.as_slice()).map_or(0, u64::from_le_bytes);
    eprintln!(
        "idgraph-server: restored {} ({} persons, {applied} events)",
        path.display(),
        snapshot.engine.stats().persons
    );
    Ok((snapshot.engine, applied))
}

async fn run(args: Args) -> Result<(), String> {
    let (engine, applied) = restore(args.snapshot.as_deref())?;
    let (engine_writer, reader) = engine.into_shared(applied.to_le_bytes().to_vec());
    let (jobs, queue) = mpsc::channel(args.queue.max(1));
    let writer_thread = writer::spawn(engine_writer, applied, queue)
        .map_err(|error| format!("cannot start the writer thread: {error}"))?;

    let mut capture = CaptureReader::new();
    capture
        .capture_validation(args.capture_validation)
        .max_body_bytes(args.max_body_bytes);
    let state = AppState {
        jobs: jobs.clone(),
        reader: reader.clone(),
        capture,
        max_body_bytes: args.max_body_bytes,
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|error| format!("cannot listen on {}: {error}", args.listen))?;
    let bound = listener
        .local_addr()
        .map_err(|error| format!("cannot read the bound address: {error}"))?;
    // Scripts and tests read the port from this line.
    println!("listening on {bound}");

    let (stop_timer, stopped) = watch::channel(false);
    let timer = match (&args.snapshot, args.snapshot_every) {
        (Some(path), every) if every > 0 => Some(tokio::spawn(save_every(
            reader.clone(),
            path.clone(),
            Duration::from_secs(every),
            stopped,
        ))),
        _ => None,
    };

    let (signalled, signal_seen) = watch::channel(false);
    let writer_gone = jobs.clone();
    let serve = axum::serve(listener, app::router(state))
        .with_graceful_shutdown(async move {
            // A writer that died (a panic) leaves nothing to apply requests: stop, rather
            // than answer 503 and serve reads that never move.
            tokio::select! {
                () = stop_signal() => eprintln!("idgraph-server: stopping"),
                () = writer_gone.closed() => eprintln!("idgraph-server: the writer stopped; stopping"),
            }
            let _ = signalled.send(true);
        })
        .into_future();
    let grace = Duration::from_secs(args.shutdown_grace);
    let served = tokio::select! {
        served = serve => served,
        () = grace_over(signal_seen, grace) => {
            eprintln!("idgraph-server: requests still open after {grace:?}; stopping without them");
            Ok(())
        }
    };
    // Every handler has answered; the writer publishes what it has and stops.
    let _ = jobs.send(Job::Stop).await;
    drop(jobs);
    let _ = stop_timer.send(true);
    if let Some(timer) = timer {
        let _ = timer.await;
    }
    let writer_ended = match tokio::task::spawn_blocking(move || writer_thread.join()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err("the writer thread panicked".to_owned()),
        Err(error) => Err(format!("the writer thread did not stop: {error}")),
    };
    // Even after a panic the published state is whole batches with their position, so it
    // is saved: a restart goes on from there.
    if let Some(path) = &args.snapshot {
        save(&reader, path.clone()).await?;
        eprintln!("idgraph-server: saved {}", path.display());
    }
    writer_ended?;
    served.map_err(|error| format!("serving failed: {error}"))
}

/// Saves the published state off the runtime's threads.
async fn save(reader: &EngineReader, path: PathBuf) -> Result<(), String> {
    let reader = reader.clone();
    tokio::task::spawn_blocking(move || {
        reader
            .save_to_path(&path)
            .map(drop)
            .map_err(|error| format!("cannot save {}: {error}", path.display()))
    })
    .await
    .map_err(|error| format!("the save did not finish: {error}"))?
}

/// Saves every `every` while the published position moves, until told to stop.
async fn save_every(
    reader: EngineReader,
    path: PathBuf,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut saved = reader.read().position().to_vec();
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.changed() => return,
        }
        let position = reader.read().position().to_vec();
        if position == saved {
            continue;
        }
        match save(&reader, path.clone()).await {
            Ok(()) => saved = position,
            Err(message) => eprintln!("idgraph-server: {message}"),
        }
    }
}

/// Resolves `grace` after the stop signal (never, if the watch is dropped unsignalled).
async fn grace_over(mut signal_seen: watch::Receiver<bool>, grace: Duration) {
    if signal_seen.wait_for(|seen| *seen).await.is_err() {
        std::future::pending::<()>().await;
    }
    tokio::time::sleep(grace).await;
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
async fn stop_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
