//! Input and output of events: the event model, the JSON value model, and reading and
//! writing events as JSON.

mod lifted;
mod model;
mod reader;
mod value;
mod writer;

pub use lifted::LIFTED_KEYS;
pub(crate) use lifted::{OS, OS_NAME, OS_VERSION, lifted_key_index};
pub use model::{Event, EventKind, Project, Timestamp};
pub use value::{Number, Value};
pub use writer::write_event_json;
#[cfg(feature = "workload")]
pub(crate) use writer::{Line, write_line};

#[cfg(test)]
mod tests;
