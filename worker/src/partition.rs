//! One owned partition: its engine, restored from the latest snapshot, fed by the
//! partition's events in stream order, published per batch, saved now and then, and
//! answering queries from its reader handle.
//!
//! Exactly once: the engine's position is the stream sequence of the last event it
//! applied, a snapshot stores it, the consumer starts after it, and an event at or below
//! it is skipped. The state is a function of the log's prefix up to the position (an
//! event without a time takes the time the stream stored it, never a clock), so any
//! snapshot, even one a worker that had just lost its lease managed to write, is a state
//! some owner passed through, and resuming after its position gives the same engine.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_nats::jetstream::consumer::{DeliverPolicy, pull};
use async_nats::jetstream::object_store;
use futures_util::{FutureExt, StreamExt};
use idgraph::{Engine, EngineReader, EngineWriter, Event, Timestamp};
use tokio::io::AsyncReadExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::error::{Error, Result, nats};
use crate::lease::Lease;
use crate::names::snapshot_object;
use crate::query;
use crate::setup::Deployment;

/// When a partition's engine saves, and how large its batches are.
#[derive(Clone, Copy, Debug)]
pub struct Saving {
    /// Save after this many events since the last save. Default 20,000.
    pub every_events: u64,
    /// Save this long after the last save, if anything was applied since. Default 10 s.
    pub every: Duration,
    /// The most events applied before a publish. Default 1,000: a reader waits at most
    /// one batch for an event the partition has received.
    pub batch: usize,
}

impl Default for Saving {
    fn default() -> Saving {
        Saving {
            every_events: 20_000,
            every: Duration::from_secs(10),
            batch: 1_000,
        }
    }
}

/// Why a partition's task ended without error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// Asked to stop: saves first.
    Release,
}

pub(crate) struct Partition {
    pub(crate) deployment: Deployment,
    pub(crate) client: async_nats::Client,
    pub(crate) worker: String,
    pub(crate) lease: Arc<Lease>,
    pub(crate) saving: Saving,
    pub(crate) stop: watch::Receiver<Option<Stop>>,
}

/// The engine's state as the loop sees it.
struct Running {
    writer: EngineWriter,
    reader: EngineReader,
    /// Stream sequence of the last event applied.
    applied: u64,
    since_save: u64,
    last_save: Instant,
    saving: Option<JoinHandle<Result<()>>>,
}

impl Partition {
    /// Runs until asked to stop (saving first) or until the lease is lost (saving
    /// nothing more).
    pub(crate) async fn run(mut self) -> Result<()> {
        let partition = self.lease.partition;
        let (engine, applied) = self.restore().await?;
        let (writer, reader) = engine.into_shared(applied.to_string().into_bytes());
        self.lease.applied.store(applied, Ordering::Release);
        let queries = tokio::spawn(query::serve(
            self.client.clone(),
            self.deployment.names.clone(),
            partition,
            reader.clone(),
        ));
        let mut state = Running {
            writer,
            reader,
            applied,
            since_save: 0,
            last_save: Instant::now(),
            saving: None,
        };
        let outcome = self.consume(&mut state).await;
        queries.abort();
        if let Some(save) = state.saving.take() {
            let _ = save.await;
        }
        match outcome {
            Ok(Stop::Release) if state.since_save > 0 && self.lease.is_held() => {
                self.save(&mut state).await?;
                match state.saving.take() {
                    Some(save) => save.await.unwrap_or(Ok(())),
                    None => Ok(()),
                }
            }
            Ok(Stop::Release) => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// The latest snapshot's engine and position, or an empty engine at 0.
    async fn restore(&self) -> Result<(Engine, u64)> {
        let partition = self.lease.partition;
        let name = snapshot_object(partition);
        let mut object = match self.deployment.snapshots.get(&name).await {
            Ok(object) => object,
            Err(error) if error.kind() == object_store::GetErrorKind::NotFound => {
                return Ok((Engine::new(), 0));
            }
            Err(error) => return Err(nats(format!("reading snapshot {name}"))(error)),
        };
        let mut bytes = Vec::new();
        object
            .read_to_end(&mut bytes)
            .await
            .map_err(nats(format!("reading snapshot {name}")))?;
        let snapshot = tokio::task::spawn_blocking(move || Engine::load_from_bytes(&bytes))
            .await
            .map_err(nats("loading a snapshot"))?
            .map_err(|source| Error::Snapshot { partition, source })?;
        let position = std::str::from_utf8(&snapshot.position)
            .ok()
            .and_then(|p| p.parse::<u64>().ok())
            .ok_or_else(|| Error::Config(format!("snapshot {name} has no stream sequence")))?;
        Ok((snapshot.engine, position))
    }

    /// Reads the partition's events after `state.applied` until stopped, recreating the
    /// consumer when it fails (a node restarted, a leader moved).
    async fn consume(&mut self, state: &mut Running) -> Result<Stop> {
        loop {
            match self.consume_from(state).await {
                Ok(stop) => return Ok(stop),
                Err(error @ Error::LeaseLost(_)) => return Err(error),
                Err(_) => {
                    if let Some(stop) = *self.stop.borrow() {
                        return Ok(stop);
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            }
        }
    }

    async fn consume_from(&mut self, state: &mut Running) -> Result<Stop> {
        let partition = self.lease.partition;
        let subject = self.deployment.names.events(partition);
        let consumer = self
            .deployment
            .stream
            .create_consumer(pull::OrderedConfig {
                filter_subject: subject.clone(),
                deliver_policy: DeliverPolicy::ByStartSequence {
                    start_sequence: state.applied + 1,
                },
                ..Default::default()
            })
            .await
            .map_err(nats(format!("creating a consumer on {subject}")))?;
        let mut messages = consumer
            .messages()
            .await
            .map_err(nats(format!("reading {subject}")))?;
        let mut batch = Vec::with_capacity(self.saving.batch);
        loop {
            let mut wait = self.saving.every.saturating_sub(state.last_save.elapsed());
            if state.writer.unpublished() > 0 {
                // A save held the published state when the last batch came: publish it
                // soon even if no other event comes.
                wait = wait.min(Duration::from_millis(50));
            }
            tokio::select! {
                changed = self.stop.changed() => {
                    if let Some(stop) = *self.stop.borrow() {
                        return Ok(stop);
                    }
                    if changed.is_err() {
                        return Ok(Stop::Release);
                    }
                }
                () = tokio::time::sleep(wait) => {
                    if state.writer.unpublished() > 0 && self.lease.is_held() {
                        state.writer.publish();
                    }
                    if state.last_save.elapsed() >= self.saving.every {
                        if state.since_save > 0 {
                            self.save(state).await?;
                        } else {
                            state.last_save = Instant::now();
                        }
                    }
                }
                first = messages.next() => {
                    let first = first
                        .ok_or_else(|| Error::Config(format!("{subject}: consumer closed")))?
                        .map_err(nats(format!("reading {subject}")))?;
                    batch.push(first);
                    while batch.len() < self.saving.batch {
                        match messages.next().now_or_never() {
                            Some(Some(Ok(message))) => batch.push(message),
                            _ => break,
                        }
                    }
                    let applied = self.apply(state, &mut batch)?;
                    if applied > 0 && state.since_save >= self.saving.every_events {
                        self.save(state).await?;
                    }
                }
            }
        }
    }

    /// Applies a batch and publishes it, if the lease is still held before and after.
    fn apply(
        &self,
        state: &mut Running,
        batch: &mut Vec<async_nats::jetstream::Message>,
    ) -> Result<u64> {
        let partition = self.lease.partition;
        if !self.lease.is_held() {
            return Err(Error::LeaseLost(partition));
        }
        let mut applied = 0;
        for message in batch.drain(..) {
            let Ok(info) = message.info() else { continue };
            let sequence = info.stream_sequence;
            if sequence <= state.applied {
                continue;
            }
            let stored = Timestamp::from_unix_micros(
                i64::try_from(info.published.unix_timestamp_nanos() / 1000).unwrap_or(0),
            );
            // The publisher wrote it; a payload that is not an event is skipped, as a
            // replay skips a bad line, and counts as applied so that it is not read again.
            if let Ok(mut event) = Event::from_json_slice(&message.payload) {
                if event.timestamp().is_none() {
                    event = event.with_timestamp(stored);
                }
                // An engine at its capacity refuses the event and changes nothing.
                let _ = state.writer.apply(event);
            }
            state.applied = sequence;
            applied += 1;
        }
        if applied == 0 {
            return Ok(0);
        }
        if !self.lease.is_held() {
            return Err(Error::LeaseLost(partition));
        }
        state
            .writer
            .set_position(state.applied.to_string().as_bytes());
        state.writer.publish();
        state.since_save += applied;
        self.lease.applied.store(state.applied, Ordering::Release);
        Ok(applied)
    }

    /// Starts a save of the published state unless one is running: encoded on a blocking
    /// thread from a held view (the writer goes on), stored only while the lease is ours.
    async fn save(&self, state: &mut Running) -> Result<()> {
        if let Some(running) = &state.saving {
            if !running.is_finished() {
                return Ok(());
            }
            if let Some(done) = state.saving.take() {
                done.await.map_err(nats("saving a snapshot"))??;
            }
        }
        // Publishing is deferred while a save holds a view, so the published state may
        // be behind the writer's: publish now, so that the save has everything.
        state.writer.publish();
        state.since_save = 0;
        state.last_save = Instant::now();
        let view = state.reader.hold();
        let lease = Arc::clone(&self.lease);
        let deployment = self.deployment.clone();
        let worker = self.worker.clone();
        state.saving = Some(tokio::spawn(async move {
            let partition = lease.partition;
            let bytes = tokio::task::spawn_blocking(move || view.save_to_vec(view.position()))
                .await
                .map_err(nats("encoding a snapshot"))?
                .map_err(|source| Error::Snapshot { partition, source })?;
            if !lease.confirm(&deployment.leases, &worker).await? {
                return Err(Error::LeaseLost(partition));
            }
            let name = snapshot_object(partition);
            deployment
                .snapshots
                .put(name.as_str(), &mut bytes.as_slice())
                .await
                .map_err(nats(format!("storing snapshot {name}")))?;
            Ok(())
        }));
        Ok(())
    }
}
