//! Patience with the network: every call to NATS bounded by a timeout, retries with a
//! growing delay, and complaints logged a bounded number of times.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::error::{Result, nats};

/// How long a worker waits for NATS before it counts a call as failed, and how long a
/// partition may go without progress before it is restarted and then given up.
#[derive(Clone, Copy, Debug)]
pub struct Patience {
    /// One request (a lease read, a consumer's creation, a chunk of a snapshot).
    /// Default 10 s.
    pub request: Duration,
    /// A partition that has received nothing for this long while its subject has events
    /// after the last one it applied recreates its consumer. Default 5 s.
    pub stall: Duration,
    /// A partition that has made no progress for this long (no event applied, no check
    /// that nothing is pending, no restore), through retries, ends and releases its lease
    /// so that it starts afresh, in this worker or another. Default 30 s.
    pub give_up: Duration,
}

impl Default for Patience {
    fn default() -> Patience {
        Patience {
            request: Duration::from_secs(10),
            stall: Duration::from_secs(5),
            give_up: Duration::from_secs(30),
        }
    }
}

/// `future` within `patience`; a timeout is an [`crate::Error::Nats`] saying what was done.
pub(crate) async fn within<T, E>(
    patience: Duration,
    context: impl Display,
    future: impl Future<Output = std::result::Result<T, E>>,
) -> Result<T>
where
    E: std::error::Error + Send + Sync + 'static,
{
    match tokio::time::timeout(patience, future).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(nats(context)(error)),
        Err(elapsed) => Err(nats(context)(elapsed)),
    }
}

/// Delays between retries: 250 ms doubling up to a cap, with a little jitter so that
/// workers failing together do not retry together.
#[derive(Debug)]
pub(crate) struct Backoff {
    next: Duration,
    cap: Duration,
}

impl Backoff {
    pub(crate) fn new(cap: Duration) -> Backoff {
        Backoff {
            next: Duration::from_millis(250),
            cap,
        }
    }

    /// The next delay.
    pub(crate) fn delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.cap);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        // Up to a quarter more.
        delay + delay.mul_f64(f64::from(nanos % 1000) / 4000.0)
    }

    pub(crate) fn reset(&mut self) {
        self.next = Duration::from_millis(250);
    }
}

/// One kind of failure, logged when it first happens, then at most every 10 s with the
/// count of failures in between, and once when it stops.
#[derive(Debug)]
pub(crate) struct Complaint {
    what: String,
    failing_since: Option<Instant>,
    logged: Option<Instant>,
    unlogged: u64,
}

const LOG_EVERY: Duration = Duration::from_secs(10);

impl Complaint {
    pub(crate) fn new(what: impl Into<String>) -> Complaint {
        Complaint {
            what: what.into(),
            failing_since: None,
            logged: None,
            unlogged: 0,
        }
    }

    pub(crate) fn failed(&mut self, error: &dyn Display) {
        let now = Instant::now();
        self.failing_since.get_or_insert(now);
        if self.logged.is_some_and(|at| now - at < LOG_EVERY) {
            self.unlogged += 1;
            return;
        }
        if self.unlogged > 0 {
            eprintln!(
                "{}: {error} (and {} more failures)",
                self.what, self.unlogged
            );
        } else {
            eprintln!("{}: {error}", self.what);
        }
        self.logged = Some(now);
        self.unlogged = 0;
    }

    pub(crate) fn recovered(&mut self) {
        if let Some(since) = self.failing_since.take() {
            eprintln!("{}: recovered after {:.1?}", self.what, since.elapsed());
        }
        self.logged = None;
        self.unlogged = 0;
    }
}

/// A spawned task aborted when this handle drops.
#[derive(Debug)]
pub(crate) struct AbortOnDrop<T>(pub(crate) tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
