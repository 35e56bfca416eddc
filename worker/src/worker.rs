//! A worker process: heartbeats, takes and renews leases, balances partitions with the
//! other live workers, and runs one [`Partition`] task per partition it holds.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::kv;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::error::{Error, Result, nats};
use crate::lease::{self, Lease, LeaseValue, Renewal};
use crate::names::{heartbeat_key, lease_key};
use crate::partition::{Partition, Saving, Stop};
use crate::retry::Patience;
use crate::setup::Deployment;

/// A worker's settings.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// The worker's name, unique among live workers: its heartbeat key and the owner
    /// named in its leases.
    pub name: String,
    /// When partitions save and how they batch.
    pub saving: Saving,
    /// How long calls to NATS may take, and partitions may go without progress.
    pub patience: Patience,
}

impl WorkerConfig {
    /// Whether the settings are usable: checked before connecting, so that a bad name
    /// fails at once rather than after NATS answers.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a name that is not a NATS token, or a zero duration.
    pub fn check(&self) -> Result<()> {
        let name_ok = !self.name.is_empty()
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !name_ok {
            return Err(Error::Config(format!(
                "worker name {:?}: use letters, digits, '_' and '-'",
                self.name
            )));
        }
        let patience = &self.patience;
        if [patience.request, patience.stall, patience.give_up]
            .iter()
            .any(Duration::is_zero)
        {
            return Err(Error::Config(format!("zero durations in {patience:?}")));
        }
        Ok(())
    }
}

struct Owned {
    lease: Arc<Lease>,
    stop: watch::Sender<Option<Stop>>,
    task: JoinHandle<Result<()>>,
    releasing: bool,
    /// When the task was asked to stop.
    stopping_since: Option<Instant>,
}

impl Owned {
    fn stop(&mut self) {
        self.releasing = true;
        self.stopping_since.get_or_insert_with(Instant::now);
        let _ = self.stop.send(Some(Stop::Release));
    }
}

/// One worker.
pub struct Worker {
    deployment: Deployment,
    client: async_nats::Client,
    config: WorkerConfig,
    owned: BTreeMap<u32, Owned>,
}

impl Worker {
    /// A worker that holds nothing yet.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a name that is not a NATS token.
    pub fn new(
        client: async_nats::Client,
        deployment: Deployment,
        config: WorkerConfig,
    ) -> Result<Worker> {
        config.check()?;
        Ok(Worker {
            deployment,
            client,
            config,
            owned: BTreeMap::new(),
        })
    }

    /// Runs until `shutdown` completes, then stops every partition (each saves) and
    /// releases its leases. The heartbeat is left to expire: deleting it would leave a
    /// marker under the same subject, listed as live until it expires all the same.
    ///
    /// # Errors
    ///
    /// None so far: NATS failures are retried at the next tick.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) -> Result<()> {
        let mut ticks = tokio::time::interval(self.deployment.lease_ttl / 4);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = ticks.tick() => self.tick().await,
                () = &mut shutdown => break,
            }
        }
        for owned in self.owned.values_mut() {
            owned.stop();
        }
        while !self.owned.is_empty() {
            self.renew_and_reap().await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    /// How long one call to the bucket may take in a tick: a quarter of the lease's
    /// life, so that a slow answer cannot hold the renewals of the other leases.
    fn patience(&self) -> Duration {
        self.deployment.lease_ttl / 4
    }

    async fn tick(&mut self) {
        let heartbeat = tokio::time::timeout(
            self.patience(),
            self.deployment
                .leases
                .put(heartbeat_key(&self.config.name), bytes::Bytes::new()),
        )
        .await;
        self.renew_and_reap().await;
        if matches!(heartbeat, Ok(Ok(_))) {
            match tokio::time::timeout(self.patience() * 2, self.balance()).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => eprintln!("{}: balancing: {error}", self.config.name),
                Err(_) => eprintln!("{}: balancing: timed out", self.config.name),
            }
        }
    }

    /// How long a partition asked to stop may take (its last save included) before its
    /// task is aborted.
    fn stop_patience(&self) -> Duration {
        self.config.patience.request * 8
    }

    /// Renews every lease held, all at once; stops a partition whose lease is lost;
    /// aborts a partition that does not stop in time; forgets a partition whose task
    /// ended, releasing its lease if it is still held.
    async fn renew_and_reap(&mut self) {
        let bucket = self.deployment.leases.clone();
        let patience = self.patience();
        let stop_patience = self.stop_patience();
        let name = &self.config.name;
        // A lease known lost is not renewed even while its task ends: renewing it would
        // succeed as long as the bucket still has this worker's value, and a task that
        // does not end would keep the partition from everyone.
        let renewals = self
            .owned
            .values()
            .filter(|owned| !owned.task.is_finished() && !owned.lease.is_lost())
            .map(|owned| {
                let lease = Arc::clone(&owned.lease);
                let bucket = &bucket;
                async move {
                    let renewal =
                        tokio::time::timeout(patience, lease::renew(bucket, &lease, name))
                            .await
                            .unwrap_or(Renewal::Unknown);
                    (lease.partition, renewal)
                }
            });
        let renewals = futures_util::future::join_all(renewals).await;
        for (partition, renewal) in renewals {
            let Some(owned) = self.owned.get_mut(&partition) else {
                continue;
            };
            let lost = match renewal {
                Renewal::Renewed => false,
                Renewal::Lost => true,
                Renewal::Unknown => !owned.lease.is_held(),
            };
            if lost && !owned.releasing {
                eprintln!("{name}: lost the lease of partition {partition}");
            }
            if lost {
                owned.lease.lose();
                owned.stop();
            }
        }
        for (partition, owned) in &mut self.owned {
            if owned
                .stopping_since
                .is_some_and(|since| since.elapsed() >= stop_patience)
                && !owned.task.is_finished()
            {
                eprintln!(
                    "{name}: partition {partition} did not stop in {stop_patience:?}: aborted"
                );
                owned.task.abort();
            }
        }
        let ended: Vec<u32> = self
            .owned
            .iter()
            .filter(|(_, owned)| owned.task.is_finished())
            .map(|(&partition, _)| partition)
            .collect();
        for partition in ended {
            let Some(owned) = self.owned.remove(&partition) else {
                continue;
            };
            match owned.task.await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => eprintln!("{name}: partition {partition}: {error}"),
                Err(error) => eprintln!("{name}: partition {partition}: {error}"),
            }
            if owned.lease.is_held() {
                let _ = tokio::time::timeout(patience, lease::release(&bucket, &owned.lease)).await;
            }
        }
    }

    /// Takes free partitions up to this worker's share, and gives up what is over it.
    ///
    /// With `live` workers, nobody keeps more than ceil(P / live); a worker takes a free
    /// partition while it holds fewer than floor(P / live), or fewer than ceil(P / live)
    /// when no live worker holds fewer than it does; when nothing is free and a live
    /// worker holds fewer than floor(P / live), one holding more gives one up.
    async fn balance(&mut self) -> Result<()> {
        let bucket = self.deployment.leases.clone();
        let partitions = self.deployment.partitions;
        let live = lease::live_workers(&self.deployment).await?;
        let workers = u32::try_from(live.len().max(1)).unwrap_or(u32::MAX);
        let (floor, ceil) = (partitions / workers, partitions.div_ceil(workers));
        let mut held: HashMap<String, u32> = live.iter().map(|w| (w.clone(), 0)).collect();
        let mut free = Vec::new();
        let entries = futures_util::future::join_all(
            (0..partitions).map(|partition| bucket.entry(lease_key(partition))),
        )
        .await;
        for (partition, entry) in (0..partitions).zip(entries) {
            let owner = entry
                .map_err(nats(format!("reading lease {partition}")))?
                .filter(|e| e.operation == kv::Operation::Put)
                .and_then(|e| LeaseValue::decode(&e.value))
                .map(|v| v.worker)
                .filter(|w| !w.is_empty());
            match owner {
                Some(owner) => *held.entry(owner).or_default() += 1,
                None if !self.owned.contains_key(&partition) => free.push(partition),
                None => {}
            }
        }
        let mine =
            u32::try_from(self.owned.values().filter(|o| !o.releasing).count()).unwrap_or(u32::MAX);
        let fewest = live
            .iter()
            .map(|w| held.get(w).copied().unwrap_or(0))
            .min()
            .unwrap_or(0);
        if mine > ceil {
            self.release_some(mine - ceil);
        } else if free.is_empty() && mine > floor && fewest < floor {
            self.release_some(1);
        } else if !free.is_empty() && (mine < floor || (mine < ceil && fewest >= mine)) {
            // Start at a place of this worker's own, so that workers joining together
            // try different partitions first.
            let start = crate::names::partition_of(
                &idgraph::Project::Token(self.config.name.as_str().into()),
                partitions,
            );
            free.sort_by_key(|&p| (p + partitions - start) % partitions);
            let want = if mine < floor { floor } else { ceil } - mine;
            let mut taken = 0;
            for partition in free {
                if taken == want {
                    break;
                }
                if let Some(lease) = lease::take(
                    &bucket,
                    partition,
                    &self.config.name,
                    self.deployment.lease_ttl,
                )
                .await?
                {
                    self.start(lease);
                    taken += 1;
                }
            }
        }
        Ok(())
    }

    fn release_some(&mut self, count: u32) {
        let extras: Vec<u32> = self
            .owned
            .iter()
            .rev()
            .filter(|(_, o)| !o.releasing)
            .map(|(&p, _)| p)
            .take(count as usize)
            .collect();
        for partition in extras {
            if let Some(owned) = self.owned.get_mut(&partition) {
                owned.stop();
            }
        }
    }

    fn start(&mut self, lease: Arc<Lease>) {
        let (stop, stopped) = watch::channel(None);
        let partition = Partition {
            deployment: self.deployment.clone(),
            client: self.client.clone(),
            worker: self.config.name.clone(),
            lease: Arc::clone(&lease),
            saving: self.config.saving,
            patience: self.config.patience,
            stop: stopped,
        };
        let number = lease.partition;
        self.owned.insert(
            number,
            Owned {
                lease,
                stop,
                task: tokio::spawn(partition.run()),
                releasing: false,
                stopping_since: None,
            },
        );
    }
}
