//! Figures for issue 17 on a 3-node JetStream cluster on loopback (3 replicas): applying
//! throughput with 1, 2 and 3 workers against one in-process engine on the same stream,
//! takeover time from a worker's kill -9 to its partition applying again, and the time an
//! event takes to be visible through `resolve` under a steady publish rate. Prints the
//! figures; not a timed test. `cargo bench -p idgraph-worker --bench cluster`.
//! Inputs come from fixed seeds; `BENCH_EVENTS_PER_PROJECT` sizes the stream (default
//! 15,000 per project, 6 projects).

#![allow(clippy::expect_used, reason = "a bench: a failed step ends it")]
#![allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::too_many_lines,
    reason = "figures printed from counts and times"
)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use idgraph::{Engine, Event, Project, WorkloadConfig, write_event_json};
use idgraph_worker::{Deployment, Layout, Names, Publisher, Router, Status, partition_of};
use support::{Cluster, Guard, interleaved, nats_server, wait_for_jetstream};

const PROJECTS: u64 = 6;
const PARTITIONS: u32 = 6;

fn events(per_project: u64, seed: u64) -> Vec<Event> {
    interleaved((0..PROJECTS).map(|i| WorkloadConfig {
        seed: seed + i,
        events: per_project,
        project: Project::Team(100 + i),
        ..WorkloadConfig::default()
    }))
}

async fn wait_for(deployment: &Deployment, done: impl Fn(&Status) -> bool) -> Status {
    loop {
        if let Ok(status) = Status::read_progress(deployment).await
            && done(&status)
        {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn start_workers(cluster: &Cluster, prefix: &str, count: usize, run: usize) -> Vec<Guard> {
    (0..count)
        .map(|i| cluster.worker(prefix, &format!("r{run}w{i}"), &["--snapshot-secs", "1"]))
        .collect()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let Some(binary) = nats_server() else {
        eprintln!("skipped: nats-server is not installed");
        return;
    };
    let per_project = std::env::var("BENCH_EVENTS_PER_PROJECT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15_000);
    let cluster = Cluster::start(binary, 3);
    let client = idgraph_worker::connect(&cluster.url(0))
        .await
        .expect("connecting");
    wait_for_jetstream(&client, Duration::from_secs(30)).await;
    let events = events(per_project, 1);
    let total = events.len() as u64;

    // One in-process engine, parsing the same JSON payloads the workers read.
    let payloads: Vec<Vec<u8>> = events
        .iter()
        .map(|e| {
            let mut line = Vec::new();
            write_event_json(e, &mut line).expect("an event prints");
            line
        })
        .collect();
    let started = Instant::now();
    let mut engine = Engine::new();
    for payload in &payloads {
        engine
            .apply(&Event::from_json_slice(payload).expect("an event"))
            .expect("applies");
    }
    let alone = started.elapsed();
    println!(
        "in-process engine: {total} events in {:.2} s = {:.0} events/s",
        alone.as_secs_f64(),
        total as f64 / alone.as_secs_f64()
    );

    for workers in 1..=3 {
        let prefix = format!("bench{workers}");
        let deployment = Deployment::create_when_ready(
            async_nats::jetstream::new(client.clone()),
            Names::new(&prefix).expect("a prefix"),
            &Layout {
                partitions: PARTITIONS,
                replicas: 3,
                ..Layout::default()
            },
            Duration::from_secs(30),
        )
        .await
        .expect("a deployment");
        let started = Instant::now();
        let mut publisher = Publisher::new(&deployment);
        for event in &events {
            publisher.publish(event).await.expect("publishing");
        }
        publisher.flush().await.expect("publishing");
        let publish_time = started.elapsed();
        if workers == 1 {
            println!(
                "publish (3 replicas, one ack in flight per partition): {total} events in {:.2} s = {:.0} events/s",
                publish_time.as_secs_f64(),
                total as f64 / publish_time.as_secs_f64()
            );
        }
        let started = Instant::now();
        let guards = start_workers(&cluster, &prefix, workers, 0);
        let owned = wait_for(&deployment, |s| {
            s.partitions.iter().all(|p| p.owner.is_some())
        })
        .await;
        let owned_after = started.elapsed();
        let _ = owned;
        wait_for(&deployment, |s| s.stream_last == total && s.caught_up()).await;
        let done = started.elapsed();
        let applying = done.saturating_sub(owned_after);
        println!(
            "{workers} worker(s): every partition owned after {:.2} s, all {total} events applied after {:.2} s: {:.0} events/s from the first lease",
            owned_after.as_secs_f64(),
            done.as_secs_f64(),
            total as f64 / applying.as_secs_f64().max(1e-3)
        );
        if workers == 3 {
            takeover(&cluster, &deployment, guards, &client).await;
        } else {
            drop(guards);
        }
    }
}

/// Kills the owner of one partition and times its partition's next event being applied;
/// then measures visibility under a steady rate with the remaining workers and a new one.
async fn takeover(
    cluster: &Cluster,
    deployment: &Deployment,
    mut guards: Vec<Guard>,
    client: &async_nats::Client,
) {
    // Let every partition save a snapshot of the whole stream.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let status = Status::read(deployment).await.expect("status");
    let partition = 0;
    let owner = status.partitions[partition]
        .owner
        .clone()
        .expect("an owner");
    let project = (0..10_000)
        .map(Project::Team)
        .find(|p| partition_of(p, PARTITIONS) == partition as u32)
        .expect("a project in the partition");
    let snapshot = deployment
        .snapshots
        .info(format!("partition-{partition}"))
        .await
        .map_or(0, |i| i.size);
    let index = owner
        .rsplit('w')
        .next()
        .and_then(|i| i.parse::<usize>().ok())
        .expect("a worker index");
    let killed = Instant::now();
    guards[index].kill();
    let mut publisher = Publisher::new(deployment);
    publisher
        .publish(&Event::new("$pageview", "after-the-kill").with_project(project))
        .await
        .expect("publishing");
    publisher.flush().await.expect("publishing");
    let last = Status::read(deployment).await.expect("status").partitions[partition].last;
    wait_for(deployment, |s| {
        let p = &s.partitions[partition];
        p.applied >= last && p.owner.as_deref() != Some(owner.as_str())
    })
    .await;
    println!(
        "takeover: partition {partition} (snapshot {snapshot} bytes) applying again {:.2} s after its owner's kill -9 (lease time to live 4 s)",
        killed.elapsed().as_secs_f64()
    );
    guards[index] = cluster.worker(deployment.names.prefix(), "late", &[]);

    // Steady rate: a probe event every 100 events, timed from its ack to resolve seeing it.
    let rate = 2_000.0;
    let router = Router::new(client.clone(), deployment);
    let fresh = events(2_000, 99);
    let mut latencies = Vec::new();
    let started = Instant::now();
    for (i, event) in fresh.iter().enumerate() {
        let due = started + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
        publisher.publish(event).await.expect("publishing");
        if i % 100 == 0 {
            let id = format!("probe-{i}");
            let probe = Event::new("$pageview", id.as_str()).with_project(event.project().clone());
            publisher.publish(&probe).await.expect("publishing");
            publisher.flush().await.expect("publishing");
            let sent = Instant::now();
            let router = router.clone();
            let project = event.project().clone();
            latencies.push(tokio::spawn(async move {
                loop {
                    if let Ok(Some(_)) = router.resolve(&project, &id).await {
                        return sent.elapsed();
                    }
                    if sent.elapsed() > Duration::from_secs(30) {
                        return sent.elapsed();
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }));
        }
    }
    publisher.flush().await.expect("publishing");
    let achieved = fresh.len() as f64 / started.elapsed().as_secs_f64();
    let mut seen = Vec::new();
    for latency in latencies {
        seen.push(latency.await.expect("a probe"));
    }
    seen.sort();
    let at = |q: f64| seen[((seen.len() - 1) as f64 * q) as usize].as_secs_f64() * 1000.0;
    println!(
        "steady rate {achieved:.0} events/s with 3 workers: an event is visible through resolve {:.1} ms after its ack (median), {:.1} ms (p90), {:.1} ms (max) over {} probes",
        at(0.5),
        at(0.9),
        at(1.0),
        seen.len()
    );
}
