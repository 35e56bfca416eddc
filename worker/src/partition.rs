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
use async_nats::jetstream::{object_store, stream};
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
use crate::retry::{AbortOnDrop, Backoff, Complaint, Patience, within};
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
    pub(crate) patience: Patience,
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
    /// When the partition last moved on: restored, applied an event, or found that its
    /// subject has nothing after the last event applied.
    progress: Instant,
    /// Failed saves, logged boundedly.
    save_failures: Complaint,
}

impl Partition {
    /// Runs until asked to stop (saving first), until the lease is lost (saving nothing
    /// more), or until it has made no progress for [`Patience::give_up`] (an error: the
    /// worker then releases the lease, so that the partition starts afresh).
    pub(crate) async fn run(mut self) -> Result<()> {
        let partition = self.lease.partition;
        let Some((engine, applied)) = self.restore_retrying().await? else {
            return Ok(());
        };
        let (writer, reader) = engine.into_shared(applied.to_string().into_bytes());
        self.lease.applied.store(applied, Ordering::Release);
        // Aborted when the partition stops, however it stops.
        let queries = AbortOnDrop(tokio::spawn(query::serve(
            self.client.clone(),
            self.deployment.names.clone(),
            partition,
            reader.clone(),
            format!("{}: partition {partition}", self.worker),
            self.patience,
        )));
        let mut state = Running {
            writer,
            reader,
            applied,
            since_save: 0,
            last_save: Instant::now(),
            saving: None,
            progress: Instant::now(),
            save_failures: Complaint::new(format!(
                "{}: partition {partition}: saving",
                self.worker
            )),
        };
        let outcome = self.consume(&mut state).await;
        drop(queries);
        // A save is bounded by its own timeouts.
        if let Some(save) = state.saving.take() {
            let _ = settle(&mut state, save.await);
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

    /// Whether a stop was asked for (or the worker is gone).
    fn stopped(&self) -> bool {
        self.stop.borrow().is_some() || self.stop.has_changed().is_err()
    }

    /// Waits `delay`, or less if asked to stop; whether asked to stop.
    async fn pause(&mut self, delay: Duration) -> bool {
        let deadline = tokio::time::sleep(delay);
        tokio::pin!(deadline);
        loop {
            if self.stopped() {
                return true;
            }
            tokio::select! {
                () = &mut deadline => return self.stopped(),
                changed = self.stop.changed() => {
                    if changed.is_err() {
                        return true;
                    }
                }
            }
        }
    }

    /// [`Partition::restore`], retried while it fails for a reason other than the
    /// snapshot's content, up to [`Patience::give_up`]; `None` when asked to stop first.
    async fn restore_retrying(&mut self) -> Result<Option<(Engine, u64)>> {
        let partition = self.lease.partition;
        let started = Instant::now();
        let mut backoff = Backoff::new(Duration::from_secs(5));
        let mut complaint =
            Complaint::new(format!("{}: partition {partition}: restoring", self.worker));
        loop {
            let attempt = {
                let mut stop = self.stop.clone();
                tokio::select! {
                    attempt = self.restore() => attempt,
                    _ = stop.wait_for(Option::is_some) => return Ok(None),
                }
            };
            match attempt {
                Ok(restored) => {
                    complaint.recovered();
                    return Ok(Some(restored));
                }
                // Reading again gives the same bytes.
                Err(error @ (Error::Snapshot { .. } | Error::Config(_))) => return Err(error),
                Err(error) if started.elapsed() >= self.patience.give_up => {
                    return Err(Error::Stalled {
                        partition,
                        reason: format!("restoring for {:.1?}: {error}", started.elapsed()),
                    });
                }
                Err(error) => {
                    complaint.failed(&error);
                    if self.pause(backoff.delay()).await {
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// The latest snapshot's engine and position, or an empty engine at 0. Each request,
    /// and each chunk read, is bounded by [`Patience::request`]: the object store reads
    /// through a consumer of its own, which can wait for ever on a node that went away.
    async fn restore(&self) -> Result<(Engine, u64)> {
        let partition = self.lease.partition;
        let name = snapshot_object(partition);
        let patience = self.patience.request;
        let context = || format!("reading snapshot {name}");
        let mut object = match tokio::time::timeout(patience, self.deployment.snapshots.get(&name))
            .await
            .map_err(nats(context()))?
        {
            Ok(object) => object,
            Err(error) if error.kind() == object_store::GetErrorKind::NotFound => {
                return Ok((Engine::new(), 0));
            }
            Err(error) => return Err(nats(context())(error)),
        };
        let size = object.info().size.min(64 << 20);
        let mut bytes = Vec::with_capacity(size);
        let mut chunk = vec![0; 256 * 1024];
        loop {
            let read = within(patience, context(), object.read(&mut chunk)).await?;
            if read == 0 {
                break;
            }
            bytes.extend_from_slice(chunk.get(..read).unwrap_or_default());
        }
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
    /// consumer when it fails or stalls (a node restarted, a leader moved), and giving up
    /// after [`Patience::give_up`] without progress.
    async fn consume(&mut self, state: &mut Running) -> Result<Stop> {
        let partition = self.lease.partition;
        let mut backoff = Backoff::new(Duration::from_secs(2));
        let mut complaint = Complaint::new(format!(
            "{}: partition {partition}: reading events",
            self.worker
        ));
        loop {
            let tried = Instant::now();
            let error = match self.consume_from(state, &mut complaint).await {
                Ok(stop) => return Ok(stop),
                Err(error @ Error::LeaseLost(_)) => return Err(error),
                Err(error) => error,
            };
            if let Some(stop) = *self.stop.borrow() {
                return Ok(stop);
            }
            if state.progress.elapsed() >= self.patience.give_up {
                return Err(Error::Stalled {
                    partition,
                    reason: format!(
                        "no progress after {} for {:.1?}: {error}",
                        state.applied,
                        state.progress.elapsed()
                    ),
                });
            }
            complaint.failed(&error);
            if state.progress > tried {
                backoff.reset();
            }
            if self.pause(backoff.delay()).await {
                return Ok(self.stop.borrow().unwrap_or(Stop::Release));
            }
        }
    }

    /// The stream sequence of the partition's last event, 0 when it has none.
    async fn last_sequence(&self, stream: &stream::Stream) -> Result<u64> {
        let subject = self.deployment.names.events(self.lease.partition);
        match tokio::time::timeout(
            self.patience.request,
            stream.get_last_raw_message_by_subject(&subject),
        )
        .await
        .map_err(nats(format!("reading the last event of {subject}")))?
        {
            Ok(message) => Ok(message.sequence),
            Err(error) if error.kind() == stream::LastRawMessageErrorKind::NoMessageFound => Ok(0),
            Err(error) => Err(nats(format!("reading the last event of {subject}"))(error)),
        }
    }

    async fn consume_from(
        &mut self,
        state: &mut Running,
        complaint: &mut Complaint,
    ) -> Result<Stop> {
        let partition = self.lease.partition;
        let subject = self.deployment.names.events(partition);
        let stream = self.deployment.stream.clone();
        let consumer = within(
            self.patience.request,
            format!("creating a consumer on {subject}"),
            stream.create_consumer(pull::OrderedConfig {
                filter_subject: subject.clone(),
                deliver_policy: DeliverPolicy::ByStartSequence {
                    start_sequence: state.applied + 1,
                },
                ..Default::default()
            }),
        )
        .await?;
        let consumer_name = consumer.cached_info().name.clone();
        let mut messages = within(
            self.patience.request,
            format!("reading {subject}"),
            consumer.messages(),
        )
        .await?;
        let outcome = self
            .read_messages(state, &mut messages, &subject, complaint)
            .await;
        drop(messages);
        if outcome.is_err() {
            // Best effort: an ordered consumer also goes away by itself once inactive.
            let _ = tokio::time::timeout(
                self.patience.request,
                stream.delete_consumer(&consumer_name),
            )
            .await;
        }
        outcome
    }

    async fn read_messages(
        &mut self,
        state: &mut Running,
        messages: &mut pull::Ordered,
        subject: &str,
        complaint: &mut Complaint,
    ) -> Result<Stop> {
        let stream = self.deployment.stream.clone();
        let mut batch = Vec::with_capacity(self.saving.batch);
        // When a message last came, or when the stream last said there was none to come.
        let mut quiet_since = Instant::now();
        loop {
            let mut wait = self.saving.every.saturating_sub(state.last_save.elapsed());
            if state.writer.unpublished() > 0 {
                // A save held the published state when the last batch came: publish it
                // soon even if no other event comes.
                wait = wait.min(Duration::from_millis(50));
            }
            wait = wait.min(self.patience.stall.saturating_sub(quiet_since.elapsed()));
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
                    if quiet_since.elapsed() >= self.patience.stall {
                        // Nothing came for a while: fine if nothing is there, a stalled
                        // consumer otherwise (its own recovery waits for two idle
                        // heartbeats of 15 s, then retries every 10 s).
                        let last = match self.last_sequence(&stream).await {
                            Ok(last) => last,
                            // Unknown: the consumer may be fine; asked again after
                            // another stall's time, unless that is too long already.
                            Err(error) if state.progress.elapsed() < self.patience.give_up => {
                                complaint.failed(&error);
                                quiet_since = Instant::now();
                                continue;
                            }
                            Err(error) => return Err(error),
                        };
                        if last > state.applied {
                            return Err(Error::Stalled {
                                partition: self.lease.partition,
                                reason: format!(
                                    "nothing read from {subject} for {:.1?}, at {} of {last}",
                                    quiet_since.elapsed(),
                                    state.applied
                                ),
                            });
                        }
                        quiet_since = Instant::now();
                        state.progress = Instant::now();
                        complaint.recovered();
                    }
                }
                first = messages.next() => {
                    let first = first
                        .ok_or_else(|| Error::Config(format!("{subject}: consumer closed")))?
                        .map_err(nats(format!("reading {subject}")))?;
                    quiet_since = Instant::now();
                    batch.push(first);
                    while batch.len() < self.saving.batch {
                        match messages.next().now_or_never() {
                            Some(Some(Ok(message))) => batch.push(message),
                            _ => break,
                        }
                    }
                    let applied = self.apply(state, &mut batch)?;
                    if applied > 0 {
                        state.progress = Instant::now();
                        complaint.recovered();
                        if state.since_save >= self.saving.every_events {
                            self.save(state).await?;
                        }
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
                settle(state, done.await)?;
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
        let patience = self.patience.request;
        state.saving = Some(tokio::spawn(async move {
            let partition = lease.partition;
            let bytes = tokio::task::spawn_blocking(move || view.save_to_vec(view.position()))
                .await
                .map_err(nats("encoding a snapshot"))?
                .map_err(|source| Error::Snapshot { partition, source })?;
            let confirmed =
                tokio::time::timeout(patience, lease.confirm(&deployment.leases, &worker))
                    .await
                    .map_err(nats(format!("reading lease {partition}")))??;
            if !confirmed {
                return Err(Error::LeaseLost(partition));
            }
            let name = snapshot_object(partition);
            // Chunk by chunk, each acknowledged: a larger bound than one request's.
            within(
                patience * 6,
                format!("storing snapshot {name}"),
                deployment
                    .snapshots
                    .put(name.as_str(), &mut bytes.as_slice()),
            )
            .await?;
            Ok(())
        }));
        Ok(())
    }
}

/// What a finished save means for the loop: a lost lease stops it; any other failure is
/// logged and the next save tries again (everything is applied since the last stored one).
fn settle(
    state: &mut Running,
    outcome: std::result::Result<Result<()>, tokio::task::JoinError>,
) -> Result<()> {
    match outcome {
        Ok(Ok(())) => state.save_failures.recovered(),
        Ok(Err(error @ Error::LeaseLost(_))) => return Err(error),
        Ok(Err(error)) => {
            state.save_failures.failed(&error);
            state.since_save = state.since_save.max(1);
        }
        Err(error) => {
            state.save_failures.failed(&error);
            state.since_save = state.since_save.max(1);
        }
    }
    Ok(())
}
