//! The one thread that changes the engine. Requests come in on a channel; the thread
//! takes what is queued as one batch, applies every event in order, publishes, and only
//! then answers each request, so a client that got its 200 reads its own writes.

use std::thread::{self, JoinHandle};
use std::time::Duration;

use idgraph::Event;
use tokio::sync::{mpsc, oneshot};

use idgraph::EngineWriter;

/// At most this many requests go into one batch, so that the first of them is not kept
/// waiting behind an unbounded queue.
const MAX_BATCH_REQUESTS: usize = 256;

/// How long the thread waits before trying again when a publish was deferred (a save
/// holds the published state).
const PUBLISH_RETRY: Duration = Duration::from_millis(1);

/// What a request asks of the writer.
pub enum Job {
    /// Apply these events, in order, then answer.
    Apply {
        events: Vec<Event>,
        reply: oneshot::Sender<Applied>,
    },
    /// Publish what is applied, answer what waits, and stop.
    Stop,
}

/// The answer to [`Job::Apply`]: every event was applied and is published, or the first
/// one the engine could not apply (by its index in the request) and why. Events before it
/// are applied.
pub type Applied = Result<(), (usize, String)>;

/// The writer thread, and the position it counts: the number of events applied since the
/// engine was new, as 8 little-endian bytes.
pub fn spawn(
    mut writer: EngineWriter,
    mut applied: u64,
    mut jobs: mpsc::Receiver<Job>,
) -> std::io::Result<JoinHandle<()>> {
    thread::Builder::new()
        .name("idgraph-writer".into())
        .spawn(move || {
            let mut waiting: Vec<(oneshot::Sender<Applied>, Applied)> = Vec::new();
            // Applied but not yet published (a publish was deferred).
            let mut dirty = false;
            let mut stopping = false;
            loop {
                let idle = !dirty && waiting.is_empty();
                if idle && stopping {
                    return;
                }
                // Block for work only when nothing waits for a publish.
                let first = if idle {
                    match jobs.blocking_recv() {
                        Some(job) => Some(job),
                        None => return,
                    }
                } else {
                    jobs.try_recv().ok()
                };
                let mut batch: Vec<Job> = first.into_iter().collect();
                while batch.len() < MAX_BATCH_REQUESTS {
                    match jobs.try_recv() {
                        Ok(job) => batch.push(job),
                        Err(_) => break,
                    }
                }
                for job in batch {
                    match job {
                        Job::Apply { events, reply } => {
                            let result = apply_all(&mut writer, events, &mut applied);
                            waiting.push((reply, result));
                            dirty = true;
                        }
                        Job::Stop => stopping = true,
                    }
                }
                if !dirty {
                    continue;
                }
                writer.set_position(&applied.to_le_bytes());
                if writer.publish() {
                    dirty = false;
                    for (reply, result) in waiting.drain(..) {
                        // The client may have gone away; its events are applied anyway.
                        let _ = reply.send(result);
                    }
                } else {
                    thread::sleep(PUBLISH_RETRY);
                }
            }
        })
}

fn apply_all(writer: &mut EngineWriter, events: Vec<Event>, applied: &mut u64) -> Applied {
    for (index, event) in events.into_iter().enumerate() {
        writer
            .apply(event)
            .map_err(|error| (index, error.to_string()))?;
        *applied += 1;
    }
    Ok(())
}
