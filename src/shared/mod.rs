//! One writer and any number of readers that never wait for it.
//!
//! A service that must answer "who is this id" on every request cannot put the engine
//! behind a lock: a batch of writes would hold every reader for its whole length. Here
//! there are two copies of the engine. Readers see the *published* one, reached through an
//! [`arc_swap::ArcSwap`], so taking a view is a few atomic operations and never blocks. The
//! writer applies to its own copy and keeps the batch's operations in a log; publishing
//! swaps its copy in for the readers and brings the other copy up to date by replaying the
//! log on it, after the last reader of that copy has let go.
//!
//! Why two copies and a replay, measured against the alternatives (BENCHMARKS.md,
//! "Readers beside the writer"): cloning the engine at each publish costs time in the size
//! of the whole graph, not of the batch; persistent or copy-on-write structures would
//! change every part of the graph's storage and slow the single-threaded path everyone
//! pays for. The replay costs the apply of the batch's events that changed the graph once
//! more (the parse is not repeated, and an event that changed only the counters is logged
//! as the counters), and memory is two engines plus one batch of events.
//!
//! ```
//! use idgraph::{Engine, Event, Project};
//!
//! let (mut writer, reader) = Engine::new().into_shared(Vec::new());
//! writer.apply(Event::new("$identify", "user_1").with_property("$anon_distinct_id", "anon_1"))?;
//! // Not yet published: readers still see the empty engine.
//! assert!(reader.read().resolve(&Project::Default, "anon_1").is_none());
//! writer.set_position(b"1");
//! assert!(writer.publish());
//!
//! // A reader handle is cheap to clone and can move to any thread.
//! let on_another_thread = reader.clone();
//! std::thread::spawn(move || {
//!     let view = on_another_thread.read();
//!     let person = view.resolve(&Project::Default, "anon_1").expect("published");
//!     assert_eq!(person.sorted_distinct_ids(), ["anon_1", "user_1"]);
//!     assert_eq!(view.position(), b"1");
//! })
//! .join()
//! .expect("the reader thread");
//! # Ok::<(), idgraph::Error>(())
//! ```

mod published;
mod reader;
mod writer;

pub use reader::{EngineReader, HeldView, ReadView};
pub use writer::EngineWriter;
