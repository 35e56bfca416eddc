//! Times one snapshot load and one copy of the snapshot's bytes into new memory, in a process
//! that has done nothing else: how a service restoring its graph at start meets them, every
//! page new to it. The criterion bench (`benches/snapshot.rs`) times many loads in one
//! process instead, where memory freed by one load can serve the next.
//!
//! `cargo run --release --example restore_timing -- FILE [bytes|read|path]` loads `FILE`
//! with `Engine::load_from_bytes` (the default), `Engine::load` from a slice, or
//! `Engine::load_from_path`, after reading it whole for the copy. It prints the copy's
//! milliseconds, the load's and the copy's time divided by the load's: 0.5 is a load at half
//! the copy's speed. One process gives one sample; run it many times and take the median.
//!
//! A file to time: `idgraph ingest events.jsonl --snapshot FILE`, on events from
//! `idgraph generate --events 1000000`.

use std::error::Error;
use std::time::Instant;

use idgraph::Engine;

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or("usage: restore_timing FILE [bytes|read|path]")?;
    let how = args.next().unwrap_or_else(|| "bytes".to_owned());
    let bytes = std::fs::read(&path)?;

    let start = Instant::now();
    let engine = match how.as_str() {
        "bytes" => Engine::load_from_bytes(&bytes)?.engine,
        "read" => Engine::load_from(&bytes[..])?.engine,
        "path" => Engine::load_from_path(&path)?.engine,
        other => return Err(format!("unknown way to load: {other}").into()),
    };
    let load = start.elapsed().as_secs_f64() * 1e3;

    // The copy comes second, so that the load meets no memory the copy freed.
    let start = Instant::now();
    let mut copy = Vec::with_capacity(bytes.len());
    copy.extend_from_slice(std::hint::black_box(&bytes));
    let copied = start.elapsed().as_secs_f64() * 1e3;

    std::hint::black_box((&engine, &copy));
    println!("{copied:.2} {load:.2} {:.3}", copied / load);
    Ok(())
}
