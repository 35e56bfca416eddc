//! The failover test of issue 17: a 3-node JetStream cluster on loopback, 3 workers, a
//! multi-project stream published while one worker is killed (-9) and one NATS node is
//! stopped; at the end, every project's persons, gathered from the workers, equal one
//! engine's replay of the same events, byte for byte.

#![allow(clippy::expect_used, reason = "a test: a failed step is a failed test")]

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use idgraph::{Dump, Engine, Event, Project, WorkloadConfig};
use idgraph_worker::{Deployment, Layout, Names, Publisher, Router, Status};
use support::{Cluster, interleaved, nats_required, nats_server, wait_for_jetstream};

const PREFIX: &str = "failover";
const PROJECTS: u64 = 4;
const EVENTS_PER_PROJECT: u64 = 3_000;

/// The projects' events, interleaved one by one, as a capture endpoint would see them.
fn events() -> Vec<Event> {
    interleaved((0..PROJECTS).map(|i| WorkloadConfig {
        seed: 17 + i,
        events: EVENTS_PER_PROJECT,
        project: if i == 0 {
            Project::Default
        } else if i == 1 {
            Project::Team(2)
        } else {
            Project::Token(format!("phc_project_{i}").into())
        },
        ..WorkloadConfig::default()
    }))
}

/// Every partition's dump merged into one, in the dump's own order.
fn merged(dumps: Vec<Dump>) -> Dump {
    let (mut persons, mut personless, mut groups) = (Vec::new(), Vec::new(), Vec::new());
    for dump in dumps {
        persons.extend(dump.persons);
        personless.extend(dump.personless_distinct_ids);
        groups.extend(dump.groups);
    }
    Dump::new(persons, personless, groups)
}

async fn publish(publisher: &mut Publisher, events: &[Event]) {
    for event in events {
        publisher.publish(event).await.expect("publishing");
    }
    publisher.flush().await.expect("publishing");
}

async fn wait_until(
    cluster: &Cluster,
    deployment: &Deployment,
    what: &str,
    patience: Duration,
    done: impl Fn(&Status) -> bool,
) -> Status {
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        // Without the lag, which costs a consumer per partition behind at each poll.
        if let Ok(status) = Status::read_progress(deployment).await {
            if done(&status) {
                return status;
            }
            if tokio::time::Instant::now() >= deadline {
                let status = Status::read(deployment).await.unwrap_or(status);
                panic!(
                    "{what}: not after {patience:?}\n{status}\n{}",
                    cluster.logs()
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every partition's dump, once it has applied the partition's last event.
async fn gather(cluster: &Cluster, router: &Router, status: &Status) -> Dump {
    let mut dumps = Vec::new();
    for partition in &status.partitions {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let dump = loop {
            match router.dump(partition.partition).await {
                Ok(dump) if dump.applied >= partition.last => break dump,
                _ => {
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "no dump of partition {} at {}\n{}",
                        partition.partition,
                        partition.last,
                        cluster.logs()
                    );
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        };
        assert_eq!(dump.partition, partition.partition);
        dumps.push(dump.dump);
    }
    merged(dumps)
}

/// One engine's replay of the same events.
fn replayed(events: &[Event]) -> Dump {
    let mut engine = Engine::new();
    for event in events {
        engine.apply(event).expect("the generated events apply");
    }
    engine.dump()
}

/// One cluster at a time: two would share the machine's two cores.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_loses_nothing_and_applies_nothing_twice() {
    Box::pin(failover(&[])).await;
}

/// The same with workers whose patience is short, so that consumers are recreated as
/// stalled, restores time out and partitions are given up and taken again while the
/// cluster recovers: none of it may lose or repeat an event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_with_impatient_workers() {
    Box::pin(failover(&[
        "--stall-ms",
        "1000",
        "--request-timeout-ms",
        "1500",
        "--give-up-ms",
        "5000",
    ]))
    .await;
}

async fn failover(patience: &[&str]) {
    let _alone = ONE_AT_A_TIME.lock().await;
    let Some(binary) = nats_server() else {
        assert!(
            !nats_required(),
            "IDGRAPH_NATS_REQUIRED=1 but nats-server is not installed"
        );
        eprintln!("skipped: nats-server is not installed (apt-get install nats-server)");
        return;
    };
    let mut cluster = Cluster::start(binary, 3);
    // The test's own connection is to node 0, which stays up.
    let client = idgraph_worker::connect(&cluster.url(0))
        .await
        .expect("connecting");
    wait_for_jetstream(&client, Duration::from_secs(30)).await;
    let layout = Layout {
        partitions: 6,
        replicas: 3,
        lease_ttl: Duration::from_secs(3),
    };
    let deployment = Deployment::create_when_ready(
        async_nats::jetstream::new(client.clone()),
        Names::new(PREFIX).expect("a prefix"),
        &layout,
        Duration::from_secs(30),
    )
    .await
    .expect("creating the stream and buckets");

    let mut saving = vec!["--snapshot-events", "500", "--snapshot-secs", "1"];
    saving.extend_from_slice(patience);
    let mut workers: Vec<_> = (0..3)
        .map(|i| cluster.worker(PREFIX, &format!("w{i}"), &saving))
        .collect();
    wait_until(
        &cluster,
        &deployment,
        "every partition owned",
        Duration::from_mins(1),
        |s| s.partitions.iter().all(|p| p.owner.is_some()) && s.workers.len() == 3,
    )
    .await;

    let events = events();
    let third = events.len() / 3;
    let mut publisher = Publisher::new(&deployment);
    publish(&mut publisher, &events[..third]).await;
    // Mid-stream: a worker dies without saving or releasing anything.
    workers[1].kill();
    publish(&mut publisher, &events[third..2 * third]).await;
    // A NATS node goes away; some leaders were on it, and some workers were connected
    // to it.
    cluster.stop_node(2);
    publish(&mut publisher, &events[2 * third..]).await;
    workers[1] = cluster.worker(PREFIX, "w1", &saving);
    tokio::time::sleep(Duration::from_secs(3)).await;
    cluster.start_node(2);

    let total = events.len() as u64;
    let status = wait_until(
        &cluster,
        &deployment,
        "every event applied",
        Duration::from_mins(2),
        |s| s.stream_last == total && s.caught_up(),
    )
    .await;
    eprintln!(
        "{}",
        Status::read(&deployment).await.unwrap_or(status.clone())
    );
    let gathered = gather(&cluster, &Router::new(client.clone(), &deployment), &status).await;

    let expected = replayed(&events);
    let projects: BTreeSet<&str> = expected.persons.iter().map(|p| p.team.as_str()).collect();
    assert_eq!(projects.len() as u64, PROJECTS, "every project has persons");
    let json = |dump: &Dump| serde_json::to_string(dump).expect("a dump prints");
    assert_eq!(json(&gathered), json(&expected));

    for mut worker in workers {
        worker.terminate(Duration::from_secs(10));
    }
    if std::env::var_os("IDGRAPH_TEST_LOGS").is_some() {
        eprintln!("{}", cluster.logs());
    }
}
