//! Who owns what, how far each partition got, and how far behind the stream it is.

use std::fmt;

use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
use async_nats::jetstream::{kv, stream};
use serde::Serialize;

use crate::error::{Result, nats};
use crate::lease::LeaseValue;
use crate::names::lease_key;
use crate::retry::{Patience, within};
use crate::setup::Deployment;

/// One partition's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PartitionStatus {
    /// The partition.
    pub partition: u32,
    /// The worker holding its lease, if any.
    pub owner: Option<String>,
    /// The stream sequence of the last event its engine applied, as last reported.
    pub applied: u64,
    /// The stream sequence of the partition's last event (0 when it has none).
    pub last: u64,
    /// The partition's events after `applied`; `None` when not counted
    /// ([`Status::read_progress`]).
    pub lag: Option<u64>,
}

/// The whole deployment's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Status {
    /// The stream's last sequence.
    pub stream_last: u64,
    /// Live workers (with a heartbeat), sorted.
    pub workers: Vec<String>,
    /// Every partition, in order.
    pub partitions: Vec<PartitionStatus>,
}

impl Status {
    /// Reads it: the leases, the stream, and for a partition behind, a count of its
    /// events after the applied one (an ephemeral consumer's pending count).
    ///
    /// # Errors
    ///
    /// [`crate::Error::Nats`] when the stream or the bucket does not answer in time.
    pub async fn read(deployment: &Deployment) -> Result<Status> {
        Status::read_with(deployment, true).await
    }

    /// As [`Status::read`] without the lag, which costs a consumer per partition behind
    /// (each one a proposal to the cluster's meta leader): for polling.
    ///
    /// # Errors
    ///
    /// As [`Status::read`].
    pub async fn read_progress(deployment: &Deployment) -> Result<Status> {
        Status::read_with(deployment, false).await
    }

    async fn read_with(deployment: &Deployment, count_lag: bool) -> Result<Status> {
        let patience = Patience::default().request;
        let mut stream = deployment.stream.clone();
        let stream_last = within(patience, "reading the stream", stream.info())
            .await?
            .state
            .last_sequence;
        let workers = tokio::time::timeout(patience, crate::lease::live_workers(deployment))
            .await
            .map_err(nats("listing heartbeats"))??;
        let mut partitions = Vec::new();
        for partition in 0..deployment.partitions {
            let lease = within(
                patience,
                format!("reading lease {partition}"),
                deployment.leases.entry(lease_key(partition)),
            )
            .await?
            .filter(|e| e.operation == kv::Operation::Put)
            .and_then(|e| LeaseValue::decode(&e.value))
            .unwrap_or_default();
            let subject = deployment.names.events(partition);
            let last = match tokio::time::timeout(
                patience,
                stream.get_last_raw_message_by_subject(&subject),
            )
            .await
            .map_err(nats(format!("reading the last event of {subject}")))?
            {
                Ok(message) => message.sequence,
                Err(error) if error.kind() == stream::LastRawMessageErrorKind::NoMessageFound => 0,
                Err(error) => {
                    return Err(nats(format!("reading the last event of {subject}"))(error));
                }
            };
            let lag = if !count_lag {
                None
            } else if last > lease.applied {
                Some(pending_after(deployment, &subject, lease.applied, patience).await?)
            } else {
                Some(0)
            };
            partitions.push(PartitionStatus {
                partition,
                owner: Some(lease.worker).filter(|w| !w.is_empty()),
                applied: lease.applied,
                last,
                lag,
            });
        }
        Ok(Status {
            stream_last,
            workers,
            partitions,
        })
    }

    /// Whether every partition has applied its last event and has an owner.
    pub fn caught_up(&self) -> bool {
        self.partitions
            .iter()
            .all(|p| p.owner.is_some() && p.applied >= p.last)
    }
}

async fn pending_after(
    deployment: &Deployment,
    subject: &str,
    applied: u64,
    patience: std::time::Duration,
) -> Result<u64> {
    let consumer = within(
        patience,
        format!("counting the events of {subject}"),
        deployment.stream.create_consumer(pull::Config {
            filter_subject: subject.to_owned(),
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: applied + 1,
            },
            ack_policy: AckPolicy::None,
            memory_storage: true,
            num_replicas: 1,
            inactive_threshold: std::time::Duration::from_secs(5),
            ..Default::default()
        }),
    )
    .await?;
    let info = consumer.cached_info();
    let pending = info.num_pending;
    let _ = tokio::time::timeout(patience, deployment.stream.delete_consumer(&info.name)).await;
    Ok(pending)
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "stream last sequence {}; live workers: {}",
            self.stream_last,
            if self.workers.is_empty() {
                "none".to_owned()
            } else {
                self.workers.join(", ")
            }
        )?;
        writeln!(
            f,
            "partition  owner             applied       last        lag"
        )?;
        for p in &self.partitions {
            writeln!(
                f,
                "{:>9}  {:<16}  {:>8}  {:>9}  {:>9}",
                p.partition,
                p.owner.as_deref().unwrap_or("-"),
                p.applied,
                p.last,
                p.lag.map_or_else(|| "-".to_owned(), |lag| lag.to_string())
            )?;
        }
        Ok(())
    }
}
