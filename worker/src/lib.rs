//! idgraph engines on NATS JetStream: one engine per partition of the event stream, owned
//! by whichever worker holds the partition's lease, restored from its latest snapshot
//! and fed from the stream, so that a worker's death loses nothing and applies nothing
//! twice.
//!
//! - [`Deployment`]: the stream `<prefix>-events` (subjects `<prefix>.events.<partition>`),
//!   the key-value bucket `<prefix>-leases` and the object store `<prefix>-snapshots`.
//! - [`Publisher`]: events to their project's partition ([`partition_of`]).
//! - [`Worker`]: leases, balancing, and per partition an engine ([`idgraph::Engine`])
//!   applying the partition's events in stream order.
//! - [`Router`]: `resolve` and `dump` requests to a partition's owner.
//! - [`Status`]: owners, applied sequences and lag.
//!
//! Only what a NATS 2.9 server has is used: one filter subject per consumer, no subject
//! transforms, no per-message TTL (leases expire by the bucket's `max_age`).
#![forbid(unsafe_code)]

mod error;
mod lease;
mod names;
mod partition;
mod publish;
mod query;
mod retry;
mod setup;
mod status;
mod worker;

pub use error::{Error, Result};
pub use lease::LeaseValue;
pub use names::{Names, partition_of};
pub use partition::Saving;
pub use publish::{Published, Publisher};
pub use query::{PartitionDump, PersonReply, Router};
pub use retry::Patience;
pub use setup::{Deployment, Layout};
pub use status::{PartitionStatus, Status};
pub use worker::{Worker, WorkerConfig};

/// Connects to a NATS server or cluster (`nats://a:4222,nats://b:4222`), reconnecting for
/// ever when the connection drops.
///
/// # Errors
///
/// [`Error::Nats`] when no server answers.
pub async fn connect(urls: &str) -> Result<async_nats::Client> {
    let servers: Vec<async_nats::ServerAddr> = urls
        .split(',')
        .map(|u| u.trim().parse())
        .collect::<std::result::Result<_, _>>()
        .map_err(error::nats(format!("server addresses {urls:?}")))?;
    async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connect(servers)
        .await
        .map_err(error::nats(format!("connecting to {urls}")))
}
