//! `idgraph-worker`: publish events to a JetStream deployment, run a worker, show status,
//! resolve an id.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use idgraph::Project;
use idgraph_worker::{
    Deployment, Error, Layout, Names, Patience, Publisher, Router, Saving, Status, Worker,
    WorkerConfig,
};

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[derive(Parser)]
#[command(
    version,
    about = "idgraph engines on NATS JetStream, one per partition of the event stream"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct Target {
    /// NATS server URLs, separated by commas.
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    nats: String,
    /// The prefix of the stream, buckets and subjects.
    #[arg(long, default_value = "idgraph")]
    prefix: String,
}

#[derive(Args)]
struct Create {
    /// Partitions of the stream, when it is created (fixed from then on).
    #[arg(long)]
    partitions: Option<u32>,
    /// Replicas of the stream and buckets, when they are created.
    #[arg(long, default_value_t = 1)]
    replicas: usize,
    /// Seconds a lease lives without renewal, when the bucket is created.
    #[arg(long, default_value_t = 4)]
    lease_ttl: u64,
}

#[derive(Subcommand)]
enum Command {
    /// Creates the stream and buckets if they are missing.
    Setup {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        create: Create,
    },
    /// Publishes every event of the files (JSON Lines, each line an event, an array or a
    /// batch envelope; gzip or not) to its project's partition.
    Publish {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        create: Create,
        /// Each file is one request body instead of JSON Lines.
        #[arg(long)]
        body: bool,
        /// The input files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Runs a worker until SIGINT or SIGTERM, then saves and releases its partitions.
    Run {
        #[command(flatten)]
        target: Target,
        /// This worker's name, unique among the live ones.
        #[arg(long)]
        name: String,
        /// Save a partition after this many events.
        #[arg(long, default_value_t = Saving::default().every_events)]
        snapshot_events: u64,
        /// Save a partition this many seconds after its last save.
        #[arg(long, default_value_t = Saving::default().every.as_secs())]
        snapshot_secs: u64,
        /// Milliseconds one request to NATS may take.
        #[arg(long, default_value_t = millis(Patience::default().request))]
        request_timeout_ms: u64,
        /// Milliseconds a partition may read nothing while its subject has events after
        /// the last one applied, before its consumer is recreated.
        #[arg(long, default_value_t = millis(Patience::default().stall))]
        stall_ms: u64,
        /// Milliseconds a partition may go without progress before it releases its lease.
        #[arg(long, default_value_t = millis(Patience::default().give_up))]
        give_up_ms: u64,
    },
    /// Shows each partition's owner, applied sequence and lag.
    Status {
        #[command(flatten)]
        target: Target,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Prints the person of an id, from its partition's owner.
    Resolve {
        #[command(flatten)]
        target: Target,
        /// A numeric team id.
        #[arg(long, conflicts_with = "token")]
        team: Option<u64>,
        /// A project token.
        #[arg(long)]
        token: Option<String>,
        /// The distinct id.
        distinct_id: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("idgraph-worker: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("idgraph-worker: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn deployment(
    target: &Target,
    create: Option<&Create>,
) -> idgraph_worker::Result<(async_nats::Client, Deployment)> {
    let client = idgraph_worker::connect(&target.nats).await?;
    let jetstream = async_nats::jetstream::new(client.clone());
    let names = Names::new(&target.prefix)?;
    let deployment = match create {
        Some(create) => {
            let mut layout = Layout {
                replicas: create.replicas,
                lease_ttl: Duration::from_secs(create.lease_ttl),
                ..Layout::default()
            };
            match create.partitions {
                Some(partitions) => layout.partitions = partitions,
                // Without --partitions, an existing stream keeps its own count.
                None => {
                    if let Ok(existing) = Deployment::open(jetstream.clone(), names.clone()).await {
                        return Ok((client, existing));
                    }
                }
            }
            Deployment::create(jetstream, names, &layout).await?
        }
        None => Deployment::open(jetstream, names).await?,
    };
    Ok((client, deployment))
}

async fn run(command: Command) -> idgraph_worker::Result<()> {
    match command {
        Command::Setup { target, create } => {
            let (_, deployment) = deployment(&target, Some(&create)).await?;
            println!(
                "stream {} with {} partitions; leases live {:?}",
                deployment.names.stream(),
                deployment.partitions,
                deployment.lease_ttl
            );
        }
        Command::Publish {
            target,
            create,
            body,
            files,
        } => {
            let (_, deployment) = deployment(&target, Some(&create)).await?;
            let mut publisher = Publisher::new(&deployment);
            for file in files {
                let summary = publisher.publish_file(&file, body).await?;
                eprintln!(
                    "{}: {} events published, {} dropped, {} rejected",
                    file.display(),
                    summary.events,
                    summary.dropped,
                    summary.rejected
                );
            }
        }
        Command::Run {
            target,
            name,
            snapshot_events,
            snapshot_secs,
            request_timeout_ms,
            stall_ms,
            give_up_ms,
        } => {
            let config = WorkerConfig {
                name,
                saving: Saving {
                    every_events: snapshot_events,
                    every: Duration::from_secs(snapshot_secs),
                    ..Saving::default()
                },
                patience: Patience {
                    request: Duration::from_millis(request_timeout_ms),
                    stall: Duration::from_millis(stall_ms),
                    give_up: Duration::from_millis(give_up_ms),
                },
            };
            config.check()?;
            let shutdown = shutdown();
            tokio::pin!(shutdown);
            let opened = tokio::select! {
                opened = open_for_ever(&target, &config) => opened?,
                () = &mut shutdown => return Ok(()),
            };
            let (client, deployment) = opened;
            Worker::new(client, deployment, config)?
                .run(shutdown)
                .await?;
        }
        Command::Status { target, json } => {
            let (_, deployment) = deployment(&target, None).await?;
            let status = Status::read(&deployment).await?;
            if json {
                println!("{}", serde_json::to_string(&status).unwrap_or_default());
            } else {
                print!("{status}");
            }
        }
        Command::Resolve {
            target,
            team,
            token,
            distinct_id,
        } => {
            let (client, deployment) = deployment(&target, None).await?;
            let project = match (team, token) {
                (Some(team), _) => Project::Team(team),
                (None, Some(token)) => Project::Token(token.into()),
                (None, None) => Project::Default,
            };
            let person = Router::new(client, &deployment)
                .resolve(&project, &distinct_id)
                .await?;
            println!("{}", serde_json::to_string(&person).unwrap_or_default());
        }
    }
    Ok(())
}

/// Connects and opens the deployment, retrying with a growing delay (up to 5 s) while it
/// fails for any reason but a configuration error: a worker started while a node is down
/// or leaders are being elected waits for them. The first failure is logged, then one
/// every 10 s.
async fn open_for_ever(
    target: &Target,
    config: &WorkerConfig,
) -> idgraph_worker::Result<(async_nats::Client, Deployment)> {
    let names = Names::new(&target.prefix)?;
    let client = idgraph_worker::connect(&target.nats).await?;
    let jetstream = async_nats::jetstream::new(client.clone());
    let mut delay = Duration::from_millis(250);
    let mut failures = 0_u64;
    let mut logged: Option<tokio::time::Instant> = None;
    loop {
        let opened = match tokio::time::timeout(
            config.patience.request * 3,
            Deployment::open(jetstream.clone(), names.clone()),
        )
        .await
        {
            Ok(opened) => opened,
            Err(elapsed) => Err(Error::Nats {
                context: "opening the deployment".into(),
                source: Box::new(elapsed),
            }),
        };
        match opened {
            Ok(deployment) => {
                if failures > 0 {
                    eprintln!(
                        "{}: opened the deployment after {failures} failures",
                        config.name
                    );
                }
                return Ok((client, deployment));
            }
            Err(error @ Error::Config(_)) => return Err(error),
            Err(error) => {
                failures += 1;
                if logged.is_none_or(|at| at.elapsed() >= Duration::from_secs(10)) {
                    eprintln!(
                        "{}: opening the deployment (retrying): {error}",
                        config.name
                    );
                    logged = Some(tokio::time::Instant::now());
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let Ok(mut terminate) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            let _ = interrupt.await;
            return;
        };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
