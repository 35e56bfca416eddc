//! Events into the stream: each to its project's partition, in input order within a
//! partition, each acknowledged by the stream before the partition's next is sent.

use std::io::BufRead;
use std::path::Path;
use std::time::Duration;

use async_nats::jetstream::context::PublishAckFuture;
use async_nats::jetstream::message::PublishMessage;
use bytes::Bytes;
use idgraph::{Arrival, CaptureReader, Captured, Event, Input, write_event_json};

use crate::error::{Error, Result, nats};
use crate::names::partition_of;
use crate::setup::Deployment;

/// How long one event may be retried (a node down, leaders being elected) before
/// publishing gives up.
const RETRY_FOR: Duration = Duration::from_mins(1);

/// Publishes events to a deployment's stream.
///
/// Order: a partition has at most one event in flight, so the stream stores a partition's
/// events in the order they were given even when a publish is lost and sent again (a
/// window of several could store the second and lose the first). Partitions are in
/// flight together, so a stream of interleaved projects keeps as many acks pending as it
/// has partitions. Duplicates: each event carries a message id (`Nats-Msg-Id`, this
/// publisher's run id and the event's number), so an event sent again after a lost ack
/// is stored once within the stream's duplicate window (2 minutes by default).
pub struct Publisher {
    deployment: Deployment,
    run: String,
    sent: u64,
    /// Per partition, the event in flight: its message id, payload and ack.
    in_flight: Vec<Option<InFlight>>,
    buffer: Vec<u8>,
}

struct InFlight {
    id: String,
    subject: String,
    payload: Bytes,
    ack: PublishAckFuture,
}

/// What a publish of some input did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Published {
    /// Events stored in the stream.
    pub events: u64,
    /// Events capture drops (`$performance_event`).
    pub dropped: u64,
    /// Lines or events that are not events.
    pub rejected: u64,
}

impl Publisher {
    /// A publisher on the deployment's stream.
    pub fn new(deployment: &Deployment) -> Publisher {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        Publisher {
            deployment: deployment.clone(),
            run: format!("{}-{nanos:x}", std::process::id()),
            sent: 0,
            in_flight: (0..deployment.partitions).map(|_| None).collect(),
            buffer: Vec::with_capacity(512),
        }
    }

    /// Sends one event to its partition, after the partition's previous event is stored.
    ///
    /// # Errors
    ///
    /// [`Error::Nats`] when the previous event of the partition could not be stored
    /// within a minute of retries.
    pub async fn publish(&mut self, event: &Event) -> Result<()> {
        let partition = partition_of(event.project(), self.deployment.partitions);
        let slot = partition as usize;
        if let Some(previous) = self.in_flight.get_mut(slot).and_then(Option::take) {
            self.settle(previous).await?;
        }
        self.buffer.clear();
        write_event_json(event, &mut self.buffer).map_err(|e| Error::Input {
            path: "event".into(),
            source: e,
        })?;
        // The line break write_event_json ends with is not part of the event.
        let payload = Bytes::copy_from_slice(self.buffer.trim_ascii_end());
        self.sent += 1;
        let id = format!("{}-{}", self.run, self.sent);
        let subject = self.deployment.names.events(partition);
        let ack = self.send(&subject, &id, payload.clone()).await?;
        if let Some(place) = self.in_flight.get_mut(slot) {
            *place = Some(InFlight {
                id,
                subject,
                payload,
                ack,
            });
        }
        Ok(())
    }

    /// Waits until every event sent is stored.
    ///
    /// # Errors
    ///
    /// As [`Publisher::publish`].
    pub async fn flush(&mut self) -> Result<()> {
        let pending: Vec<InFlight> = self.in_flight.iter_mut().filter_map(Option::take).collect();
        for in_flight in pending {
            self.settle(in_flight).await?;
        }
        Ok(())
    }

    /// Publishes every event of one input (a file's bytes, gzip or not): each line as
    /// capture reads a request body (docs/contract.md §1 and §1.1), or, with `whole_body`,
    /// the whole input as one body. Waits until all are stored.
    ///
    /// # Errors
    ///
    /// [`Error::Input`] when the input cannot be read; otherwise as
    /// [`Publisher::publish`].
    pub async fn publish_input(
        &mut self,
        name: &str,
        input: impl std::io::Read,
        whole_body: bool,
    ) -> Result<Published> {
        let input_error = |source| Error::Input {
            path: name.to_owned(),
            source,
        };
        let mut input = Input::new(std::io::BufReader::new(input)).map_err(input_error)?;
        let reader = CaptureReader::new();
        let mut summary = Published::default();
        let mut line = Vec::new();
        loop {
            line.clear();
            let read = if whole_body {
                std::io::Read::read_to_end(&mut input, &mut line)
            } else {
                input.read_until(b'\n', &mut line)
            }
            .map_err(input_error)?;
            if read == 0 {
                break;
            }
            let body = line.trim_ascii();
            if body.is_empty() {
                continue;
            }
            match reader.read(body, Arrival::Saved) {
                Err(_) => summary.rejected += 1,
                Ok(request) => {
                    for captured in request {
                        match captured {
                            Captured::Event(event) => {
                                self.publish(&event).await?;
                                summary.events += 1;
                            }
                            Captured::Dropped => summary.dropped += 1,
                            Captured::Rejected(_) => summary.rejected += 1,
                        }
                    }
                }
            }
            if whole_body {
                break;
            }
        }
        self.flush().await?;
        Ok(summary)
    }

    /// [`Publisher::publish_input`] of a file.
    ///
    /// # Errors
    ///
    /// As [`Publisher::publish_input`].
    pub async fn publish_file(&mut self, path: &Path, whole_body: bool) -> Result<Published> {
        let name = path.display().to_string();
        let file = std::fs::File::open(path).map_err(|source| Error::Input {
            path: name.clone(),
            source,
        })?;
        self.publish_input(&name, file, whole_body).await
    }

    async fn send(&self, subject: &str, id: &str, payload: Bytes) -> Result<PublishAckFuture> {
        self.deployment
            .jetstream
            .send_publish(
                subject.to_owned(),
                PublishMessage::build().payload(payload).message_id(id),
            )
            .await
            .map_err(nats(format!("publishing to {subject}")))
    }

    /// Waits for an event's ack, sending it again (same message id) until the stream
    /// stores it or [`RETRY_FOR`] has passed.
    async fn settle(&self, in_flight: InFlight) -> Result<()> {
        let deadline = tokio::time::Instant::now() + RETRY_FOR;
        let mut ack = in_flight.ack;
        loop {
            let Err(error) = ack.await else {
                return Ok(());
            };
            if tokio::time::Instant::now() >= deadline {
                return Err(nats(format!("publishing to {}", in_flight.subject))(error));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            ack = loop {
                match self
                    .send(&in_flight.subject, &in_flight.id, in_flight.payload.clone())
                    .await
                {
                    Ok(ack) => break ack,
                    Err(error) if tokio::time::Instant::now() >= deadline => return Err(error),
                    Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            };
        }
    }
}
