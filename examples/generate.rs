//! Writes a seeded, realistic stream of events as JSON Lines to stdout.
//!
//! `cargo run --example generate --features workload [EVENTS [SEED]]` (default 1,000 events,
//! seed 0). The same arguments always print the same bytes.

use std::io::{self, Write};

use idgraph::{Shape, Workload, WorkloadConfig};

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut number = |default: u64| {
        args.next().map_or(Ok(default), |arg| {
            arg.parse::<u64>().map_err(io::Error::other)
        })
    };
    let events = number(1_000)?;
    let seed = number(0)?;
    let config = WorkloadConfig {
        seed,
        events,
        shape: Shape::Realistic,
        ..WorkloadConfig::default()
    };
    let mut stdout = io::stdout().lock();
    let written = Workload::new(config)
        .write_json_lines(&mut stdout)
        .and_then(|_| stdout.flush());
    // `generate | head` closing the pipe early is not a failure.
    match written {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}
