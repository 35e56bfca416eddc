//! A JetStream cluster and worker processes on loopback, for the failover test and the
//! bench: every process is killed when its guard drops.

#![allow(dead_code, reason = "the test and the bench each use part of it")]

use std::fmt::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The events of several seeded workloads, interleaved one by one, as a capture endpoint
/// sees the projects' traffic.
pub fn interleaved(
    configs: impl IntoIterator<Item = idgraph::WorkloadConfig>,
) -> Vec<idgraph::Event> {
    let mut streams: Vec<idgraph::Workload> =
        configs.into_iter().map(idgraph::Workload::new).collect();
    let mut events = Vec::new();
    loop {
        let before = events.len();
        events.extend(streams.iter_mut().filter_map(Iterator::next));
        if events.len() == before {
            return events;
        }
    }
}

/// The nats-server binary, if installed.
pub fn nats_server() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|dir| dir.join("nats-server"))
        .find(|candidate| candidate.is_file())
}

/// Whether a missing nats-server fails the run instead of skipping it.
pub fn nats_required() -> bool {
    std::env::var("IDGRAPH_NATS_REQUIRED").is_ok_and(|v| v == "1")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on loopback")
}

/// A child process, killed (SIGKILL) and reaped on drop.
pub struct Guard(Option<Child>);

impl Guard {
    pub fn kill(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits for the exit, up to `patience` (then SIGKILL).
    pub fn terminate(&mut self, patience: Duration) {
        if let Some(child) = &mut self.0 {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let deadline = std::time::Instant::now() + patience;
            while std::time::Instant::now() < deadline {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    self.0 = None;
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        self.kill();
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.kill();
    }
}

fn spawn(command: &mut Command, log: &Path) -> Guard {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("a log file");
    let child = command
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("a log file"))
        .stderr(log)
        .spawn()
        .expect("starting a process");
    Guard(Some(child))
}

struct Node {
    client_port: u16,
    cluster_port: u16,
    guard: Guard,
}

/// Three (or more) nats-server processes with JetStream, routed into one cluster.
pub struct Cluster {
    binary: PathBuf,
    pub dir: tempfile::TempDir,
    nodes: Vec<Node>,
}

impl Cluster {
    /// Starts `size` nodes; returns once they are started (not yet once JetStream has
    /// elected a meta leader: see `wait_for_jetstream`).
    pub fn start(binary: PathBuf, size: usize) -> Cluster {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let ports: Vec<(u16, u16)> = (0..size).map(|_| (free_port(), free_port())).collect();
        let mut cluster = Cluster {
            binary,
            dir,
            nodes: Vec::new(),
        };
        for (client_port, cluster_port) in ports.iter().copied() {
            cluster.nodes.push(Node {
                client_port,
                cluster_port,
                guard: Guard(None),
            });
        }
        for index in 0..size {
            cluster.start_node(index);
        }
        cluster
    }

    /// (Re)starts node `index` with its ports and store.
    pub fn start_node(&mut self, index: usize) {
        let routes: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("nats://127.0.0.1:{}", n.cluster_port))
            .collect();
        let node = &self.nodes[index];
        let store = self.dir.path().join(format!("node{index}"));
        let config = self.dir.path().join(format!("node{index}.conf"));
        // Dumps of a partition can pass the default 1 MiB limit of a message.
        std::fs::write(&config, "max_payload: 8388608\n").expect("a config file");
        let mut command = Command::new(&self.binary);
        command
            .arg("-c")
            .arg(&config)
            .args(["-a", "127.0.0.1", "-p", &node.client_port.to_string()])
            .args(["-n", &format!("node{index}"), "-js", "-sd"])
            .arg(&store)
            .args(["--cluster_name", "idgraph-test"])
            .args([
                "--cluster",
                &format!("nats://127.0.0.1:{}", node.cluster_port),
            ])
            .args(["--routes", &routes.join(",")]);
        let guard = spawn(&mut command, &self.log(&format!("node{index}")));
        self.nodes[index].guard = guard;
    }

    /// Kills node `index` (SIGKILL).
    pub fn stop_node(&mut self, index: usize) {
        self.nodes[index].guard.kill();
    }

    /// The client URL of one node.
    pub fn url(&self, index: usize) -> String {
        format!("nats://127.0.0.1:{}", self.nodes[index].client_port)
    }

    /// Every node's client URL, separated by commas.
    pub fn urls(&self) -> String {
        (0..self.nodes.len())
            .map(|i| self.url(i))
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn log(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.log"))
    }

    /// The tail of every log, for a failure message.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        let mut entries: Vec<_> = std::fs::read_dir(self.dir.path())
            .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        entries.sort();
        for path in entries {
            if path.extension().is_some_and(|e| e == "log") {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(15).collect();
                let _ = writeln!(out, "--- {}", path.display());
                for line in tail.into_iter().rev() {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        out
    }

    /// Starts a worker process.
    pub fn worker(&self, prefix: &str, name: &str, extra: &[&str]) -> Guard {
        let mut command = Command::new(env!("CARGO_BIN_EXE_idgraph-worker"));
        command
            .args([
                "run",
                "--nats",
                &self.urls(),
                "--prefix",
                prefix,
                "--name",
                name,
            ])
            .args(extra);
        // More arguments for every worker, to provoke the failure paths (lower timeouts).
        if let Some(more) = std::env::var_os("IDGRAPH_WORKER_ARGS") {
            command.args(more.to_string_lossy().split_whitespace());
        }
        spawn(&mut command, &self.log(name))
    }
}

/// Waits until JetStream answers account requests through `client` (the cluster has a
/// meta leader).
pub async fn wait_for_jetstream(client: &async_nats::Client, patience: Duration) {
    // A raw request: the client's `query_account` cannot parse a 2.9 server's answer.
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        let answer = client.request("$JS.API.INFO", bytes::Bytes::new()).await;
        if answer.is_ok_and(|a| !String::from_utf8_lossy(&a.payload).contains("\"error\"")) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "JetStream had no meta leader after {patience:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
