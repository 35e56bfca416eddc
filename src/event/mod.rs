//! Input and output of events: the event model, the JSON value model, reading and writing
//! events as JSON, gzip, and PostHog's rule for an event's time.

mod clock;
mod gzip;
mod lifted;
mod model;
mod plain_time;
mod reader;
mod scan;
mod text;
mod value;
mod writer;

pub use clock::Arrival;
pub use gzip::Input;
pub(crate) use gzip::{decompress, is_gzip};
pub use lifted::LIFTED_KEYS;
pub(crate) use lifted::{OS, OS_NAME, OS_VERSION, initial_key_index, lifted_key_index};
pub use model::{Event, EventKind, Project, Timestamp};
pub(crate) use reader::{Keep, Parts, ReadFailure, Reading, Request, assemble, read_object};
pub use text::Text;
pub use value::{Number, Value};
pub use writer::write_event_json;
#[cfg(feature = "workload")]
pub(crate) use writer::{Line, write_line};

#[cfg(test)]
mod tests;
