//! The stream, the leases bucket and the snapshot store of a deployment: created once, with
//! the partition count fixed in the stream, then opened by every process.

use std::time::Duration;

use async_nats::jetstream::{self, kv, object_store, stream};

use crate::error::{Error, Result, nats};
use crate::names::Names;

/// How a deployment is created. Ignored when it exists, except that a different partition
/// count is an error (it would move projects to other partitions).
#[derive(Clone, Debug)]
pub struct Layout {
    /// Partitions of the event stream. Default 6: every count of workers up to 3 divides
    /// it, so 1, 2 or 3 workers share it evenly.
    pub partitions: u32,
    /// Replicas of the stream and of both buckets. Default 1; 3 for a cluster that must
    /// survive losing a node.
    pub replicas: usize,
    /// How long a lease or a heartbeat lives without renewal: the bucket's `max_age`, so
    /// that the stream's leader, not a worker's clock, decides expiry. Default 4 s: a
    /// dead worker's partitions wait that long, and workers renew every quarter of it.
    pub lease_ttl: Duration,
}

impl Default for Layout {
    fn default() -> Layout {
        Layout {
            partitions: 6,
            replicas: 1,
            lease_ttl: Duration::from_secs(4),
        }
    }
}

/// The stream's description carries the partition count: a 2.9 server has no stream
/// metadata, and the count must live with the stream it partitions.
const PARTITIONS_TAG: &str = "idgraph events; partitions=";

/// An open deployment: its names, handles on its stream and buckets, and its layout.
#[derive(Clone)]
pub struct Deployment {
    /// The names.
    pub names: Names,
    /// The JetStream context.
    pub jetstream: jetstream::Context,
    /// The event stream.
    pub stream: stream::Stream,
    /// Leases and heartbeats.
    pub leases: kv::Store,
    /// The stream behind `leases`, to list the live heartbeats in one request.
    pub lease_stream: stream::Stream,
    /// Snapshots, one object per partition.
    pub snapshots: object_store::ObjectStore,
    /// Partitions of the stream.
    pub partitions: u32,
    /// Time to live of a lease.
    pub lease_ttl: Duration,
}

impl Deployment {
    /// Opens the deployment under `names`, creating what is missing with `layout`.
    ///
    /// # Errors
    ///
    /// [`Error::Nats`] when JetStream does not answer or refuses a configuration;
    /// [`Error::Config`] when the stream exists with another partition count.
    pub async fn create(
        jetstream: jetstream::Context,
        names: Names,
        layout: &Layout,
    ) -> Result<Deployment> {
        if layout.partitions == 0 {
            return Err(Error::Config(
                "a stream needs at least one partition".into(),
            ));
        }
        let stream = jetstream
            .get_or_create_stream(stream::Config {
                name: names.stream(),
                description: Some(format!("{PARTITIONS_TAG}{}", layout.partitions)),
                subjects: vec![names.stream_subjects()],
                num_replicas: layout.replicas,
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(nats(format!("creating stream {}", names.stream())))?;
        let partitions = partitions_of(&stream)?;
        if partitions != layout.partitions {
            return Err(Error::Config(format!(
                "stream {} has {partitions} partitions, not {}",
                names.stream(),
                layout.partitions
            )));
        }
        if jetstream.get_key_value(names.leases()).await.is_err() {
            // The key-value stream made by hand: the client's `create_key_value` first
            // reads the account's info, which it cannot parse from a 2.9 server (it
            // requires fields 2.10 added). The configuration is the client's own for a
            // bucket (kv_to_stream_config in async-nats 0.51).
            jetstream
                .get_or_create_stream(stream::Config {
                    name: format!("KV_{}", names.leases()),
                    subjects: vec![format!("$KV.{}.>", names.leases())],
                    max_messages_per_subject: 1,
                    max_age: layout.lease_ttl,
                    storage: stream::StorageType::File,
                    allow_rollup: true,
                    deny_delete: true,
                    allow_direct: true,
                    num_replicas: layout.replicas,
                    discard: stream::DiscardPolicy::New,
                    ..Default::default()
                })
                .await
                .map_err(nats(format!("creating bucket {}", names.leases())))?;
        }
        if jetstream.get_object_store(names.snapshots()).await.is_err() {
            jetstream
                .create_object_store(object_store::Config {
                    bucket: names.snapshots(),
                    num_replicas: layout.replicas,
                    storage: stream::StorageType::File,
                    ..Default::default()
                })
                .await
                .map_err(nats(format!("creating object store {}", names.snapshots())))?;
        }
        Deployment::open(jetstream, names).await
    }

    /// Opens a deployment that exists.
    ///
    /// # Errors
    ///
    /// [`Error::Nats`] when the stream or a bucket is missing or JetStream does not
    /// answer; [`Error::Config`] when the stream was not made by [`Deployment::create`].
    pub async fn open(jetstream: jetstream::Context, names: Names) -> Result<Deployment> {
        let stream = jetstream
            .get_stream(names.stream())
            .await
            .map_err(nats(format!("opening stream {}", names.stream())))?;
        let partitions = partitions_of(&stream)?;
        let leases = jetstream
            .get_key_value(names.leases())
            .await
            .map_err(nats(format!("opening bucket {}", names.leases())))?;
        let lease_ttl = leases
            .status()
            .await
            .map_err(nats(format!("reading bucket {}", names.leases())))?
            .max_age();
        if lease_ttl.is_zero() {
            return Err(Error::Config(format!(
                "bucket {} has no max_age: leases would never expire",
                names.leases()
            )));
        }
        let lease_stream = jetstream
            .get_stream(format!("KV_{}", names.leases()))
            .await
            .map_err(nats(format!("opening bucket {}", names.leases())))?;
        let snapshots = jetstream
            .get_object_store(names.snapshots())
            .await
            .map_err(nats(format!("opening object store {}", names.snapshots())))?;
        Ok(Deployment {
            names,
            jetstream,
            stream,
            leases,
            lease_stream,
            snapshots,
            partitions,
            lease_ttl,
        })
    }

    /// Waits until JetStream answers and opens (or creates) the deployment, retrying
    /// while a cluster elects its leaders, up to `patience`.
    ///
    /// # Errors
    ///
    /// The last error once `patience` has passed.
    pub async fn create_when_ready(
        jetstream: jetstream::Context,
        names: Names,
        layout: &Layout,
        patience: Duration,
    ) -> Result<Deployment> {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            match Deployment::create(jetstream.clone(), names.clone(), layout).await {
                Ok(deployment) => return Ok(deployment),
                Err(error @ Error::Config(_)) => return Err(error),
                Err(error) if tokio::time::Instant::now() >= deadline => return Err(error),
                Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
    }
}

fn partitions_of(stream: &stream::Stream) -> Result<u32> {
    let info = stream.cached_info();
    info.config
        .description
        .as_deref()
        .and_then(|d| d.strip_prefix(PARTITIONS_TAG))
        .and_then(|n| n.parse::<u32>().ok())
        .filter(|&n| n > 0)
        .ok_or_else(|| {
            Error::Config(format!(
                "stream {} does not say its partition count (description {:?})",
                info.config.name, info.config.description
            ))
        })
}
