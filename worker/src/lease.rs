//! Leases on partitions, kept in a JetStream key-value bucket.
//!
//! Who owns a partition is decided by the bucket's stream alone: a lease is taken by
//! `create` (the key must have no value, revision 0) or by `update` on the revision of a
//! released value, and renewed by `update` on the revision its holder last wrote. The
//! bucket's `max_age` removes a value its holder stopped renewing, on the stream leader's
//! clock, after which a `create` succeeds again. Two workers can never both succeed on
//! the same revision, so at most one holds a partition's latest value.
//!
//! A holder that cannot reach the bucket cannot know whether its lease has expired, so it
//! also keeps a local deadline: the time it sent its last successful renewal plus 3/4 of
//! the time to live. That clock decides nothing about ownership; it only makes a cut-off
//! holder stop before anyone could have taken its partition.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use async_nats::jetstream::kv;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::error::{Result, nats};
use futures_util::TryStreamExt;

use crate::names::lease_key;
use crate::setup::Deployment;

/// What a lease key holds: the owner (empty once released) and how far it got.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseValue {
    /// The owning worker's name; empty when released.
    pub worker: String,
    /// The stream sequence of the last event its engine applied.
    pub applied: u64,
}

impl LeaseValue {
    pub(crate) fn encode(&self) -> Bytes {
        Bytes::from(serde_json::to_vec(self).unwrap_or_default())
    }

    pub(crate) fn decode(bytes: &[u8]) -> Option<LeaseValue> {
        serde_json::from_slice(bytes).ok()
    }
}

/// One held lease, shared by the worker's loop (which renews it) and the partition's
/// engine task (which checks it before each batch and save).
#[derive(Debug)]
pub(crate) struct Lease {
    pub(crate) partition: u32,
    /// The revision last written by this holder.
    revision: AtomicU64,
    /// Cleared once the lease is known lost; never set again.
    held: AtomicBool,
    /// Local cut-off, in milliseconds after `base`.
    deadline_ms: AtomicU64,
    base: Instant,
    /// The engine's last applied stream sequence, reported at each renewal.
    pub(crate) applied: AtomicU64,
    ttl: Duration,
}

impl Lease {
    fn new(partition: u32, revision: u64, sent: Instant, applied: u64, ttl: Duration) -> Lease {
        let lease = Lease {
            partition,
            revision: AtomicU64::new(revision),
            held: AtomicBool::new(true),
            deadline_ms: AtomicU64::new(0),
            base: sent,
            applied: AtomicU64::new(applied),
            ttl,
        };
        lease.extend(sent);
        lease
    }

    fn extend(&self, sent: Instant) {
        let until = sent + self.ttl * 3 / 4;
        let ms = until.saturating_duration_since(self.base).as_millis();
        self.deadline_ms
            .store(u64::try_from(ms).unwrap_or(u64::MAX), Ordering::Release);
    }

    /// Whether this worker may still apply and save: not known lost, and within the
    /// local cut-off.
    pub(crate) fn is_held(&self) -> bool {
        let now = Instant::now()
            .saturating_duration_since(self.base)
            .as_millis();
        self.held.load(Ordering::Acquire)
            && u64::try_from(now).unwrap_or(u64::MAX) < self.deadline_ms.load(Ordering::Acquire)
    }

    /// Whether the lease is known lost (or released): it must not be renewed again, even
    /// if the bucket still holds this worker's value, so that a partition whose task is
    /// still ending cannot keep it from the others.
    pub(crate) fn is_lost(&self) -> bool {
        !self.held.load(Ordering::Acquire)
    }

    pub(crate) fn lose(&self) {
        self.held.store(false, Ordering::Release);
    }

    pub(crate) fn revision(&self) -> u64 {
        self.revision.load(Ordering::Acquire)
    }

    /// Asks the bucket whether the key's value is still ours, before a save. Reads may be
    /// answered by any replica (the bucket allows direct gets), so a value older than the
    /// one this holder wrote proves nothing and leaves the answer to [`Lease::is_held`];
    /// a value at least as new that names another worker (or none) means the lease is
    /// lost.
    pub(crate) async fn confirm(&self, bucket: &kv::Store, worker: &str) -> Result<bool> {
        let entry = bucket
            .entry(lease_key(self.partition))
            .await
            .map_err(nats(format!("reading lease {}", self.partition)))?;
        let taken = entry.is_some_and(|entry| {
            entry.revision >= self.revision()
                && (entry.operation != kv::Operation::Put
                    || LeaseValue::decode(&entry.value).is_none_or(|v| v.worker != worker))
        });
        if taken {
            self.lose();
        }
        Ok(self.is_held())
    }
}

/// What became of a renewal.
pub(crate) enum Renewal {
    Renewed,
    /// Another worker holds it now (or it expired and was released): stop at once.
    Lost,
    /// The bucket did not answer; the local deadline still decides.
    Unknown,
}

/// Tries to take a partition: `create` when the key has no value, `update` on the
/// revision of a released one. `None` when someone else holds it or got it first.
pub(crate) async fn take(
    bucket: &kv::Store,
    partition: u32,
    worker: &str,
    ttl: Duration,
) -> Result<Option<Arc<Lease>>> {
    let key = lease_key(partition);
    let entry = bucket
        .entry(key.clone())
        .await
        .map_err(nats(format!("reading lease {partition}")))?;
    let current = entry.as_ref().and_then(|e| match e.operation {
        kv::Operation::Put => LeaseValue::decode(&e.value).map(|v| (e.revision, v)),
        kv::Operation::Delete | kv::Operation::Purge => None,
    });
    if current.as_ref().is_some_and(|(_, v)| !v.worker.is_empty()) {
        return Ok(None);
    }
    let applied = current.as_ref().map_or(0, |(_, v)| v.applied);
    let value = LeaseValue {
        worker: worker.to_owned(),
        applied,
    }
    .encode();
    let sent = Instant::now();
    let written = match &current {
        None => bucket.create(&key, value).await.map_err(|e| e.to_string()),
        Some((revision, _)) => bucket
            .update(&key, value, *revision)
            .await
            .map_err(|e| e.to_string()),
    };
    Ok(written
        .ok()
        .map(|revision| Arc::new(Lease::new(partition, revision, sent, applied, ttl))))
}

/// Renews a held lease with the engine's progress.
pub(crate) async fn renew(bucket: &kv::Store, lease: &Lease, worker: &str) -> Renewal {
    let value = LeaseValue {
        worker: worker.to_owned(),
        applied: lease.applied.load(Ordering::Acquire),
    };
    let sent = Instant::now();
    match bucket
        .update(lease_key(lease.partition), value.encode(), lease.revision())
        .await
    {
        Ok(revision) => {
            lease.revision.store(revision, Ordering::Release);
            lease.extend(sent);
            Renewal::Renewed
        }
        Err(error) if error.kind() == kv::UpdateErrorKind::WrongLastRevision => {
            resync(bucket, lease, worker).await
        }
        Err(_) => Renewal::Unknown,
    }
}

/// After a renewal was refused for its revision: a renewal whose answer was lost may have
/// been stored. Only this worker writes its own name into a lease it holds, so a latest
/// value naming it is its own, and the lease is still held at that revision.
async fn resync(bucket: &kv::Store, lease: &Lease, worker: &str) -> Renewal {
    match bucket.entry(lease_key(lease.partition)).await {
        Ok(Some(entry))
            if entry.operation == kv::Operation::Put
                && entry.revision > lease.revision()
                && LeaseValue::decode(&entry.value).is_some_and(|v| v.worker == worker) =>
        {
            lease.revision.store(entry.revision, Ordering::Release);
            // Not extended: the time that value was sent is not known here; the next
            // renewal extends it.
            Renewal::Unknown
        }
        Ok(_) => {
            lease.lose();
            Renewal::Lost
        }
        Err(_) => Renewal::Unknown,
    }
}

/// The workers with a heartbeat in the bucket, sorted: the subjects of the bucket's
/// stream under `worker.`, in one request (listing the bucket's keys would create a
/// consumer each time).
pub(crate) async fn live_workers(deployment: &Deployment) -> Result<Vec<String>> {
    let bucket = deployment.names.leases();
    let filter = format!("$KV.{bucket}.worker.*");
    let prefix = format!("$KV.{bucket}.worker.");
    let mut subjects = deployment
        .lease_stream
        .info_with_subjects(&filter)
        .await
        .map_err(nats("listing heartbeats"))?;
    let mut live = Vec::new();
    while let Some((subject, _)) = subjects
        .try_next()
        .await
        .map_err(nats("listing heartbeats"))?
    {
        if let Some(name) = subject.strip_prefix(&prefix) {
            live.push(name.to_owned());
        }
    }
    live.sort();
    Ok(live)
}

/// Gives a lease up after its engine stopped: the value keeps the progress, with no
/// owner, so that the next owner can take it at once instead of waiting for expiry.
pub(crate) async fn release(bucket: &kv::Store, lease: &Lease) {
    lease.lose();
    let value = LeaseValue {
        worker: String::new(),
        applied: lease.applied.load(Ordering::Acquire),
    };
    // A failed release only means the next owner waits for the expiry.
    let _ = bucket
        .update(lease_key(lease.partition), value.encode(), lease.revision())
        .await;
}
