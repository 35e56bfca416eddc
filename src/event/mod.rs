//! Input and output of events: the event model, the JSON value model, and reading and
//! writing events as JSON.

mod model;
mod reader;
mod value;
mod writer;

pub use model::{Event, EventKind, Project, Timestamp};
pub use value::{Number, Value};
pub use writer::write_event_json;
#[cfg(feature = "workload")]
pub(crate) use writer::{Line, write_line};

#[cfg(test)]
mod tests;
