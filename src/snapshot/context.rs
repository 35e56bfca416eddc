//! The decoder's context: what decoding may allocate ahead, what property rows may name,
//! and where the schedule hands decoded fields to a second thread.

use std::sync::mpsc::Sender;

use super::rows::RowRules;
use super::schedule::{Held, Job};

/// The decoder's context: what decoding may allocate before the bytes that fill it have
/// arrived, what property rows may name, and where to hand the fields that a second thread
/// can work on while the rest of the body decodes.
pub(super) struct DecodeContext {
    /// Bytes one column may reserve ahead: what the input holds when its size is known,
    /// [`STREAM_RESERVE`](super::wire::STREAM_RESERVE) otherwise.
    pub(super) reserve: usize,
    /// The format version of the body, for fields whose encoding differs by version.
    pub(super) version: u32,
    /// Learned from the fields before the rows, by the [schedule](super::schedule).
    pub(super) rows: RowRules,
    /// Where the jobs go; without it every field stays in the body.
    aside: Option<Aside>,
}

/// The jobs' way out, and the fields held until the last one a job needs is decoded.
struct Aside {
    jobs: Sender<Job>,
    held: Held,
}

impl DecodeContext {
    /// The context for decoding a body of the format version this build writes.
    #[cfg(test)]
    pub(super) fn new(reserve: usize) -> DecodeContext {
        DecodeContext::of_version(reserve, super::file::VERSION)
    }

    pub(super) fn of_version(reserve: usize, version: u32) -> DecodeContext {
        DecodeContext {
            reserve,
            version,
            rows: RowRules::default(),
            aside: None,
        }
    }

    /// The context for a load: the jobs go to `jobs`.
    pub(super) fn sending(self, jobs: Sender<Job>) -> DecodeContext {
        DecodeContext {
            aside: Some(Aside {
                jobs,
                held: Held::default(),
            }),
            ..self
        }
    }

    /// Whether jobs are sent.
    pub(super) fn sends(&self) -> bool {
        self.aside.is_some()
    }

    pub(super) fn send(&self, job: Job) {
        if let Some(aside) = &self.aside {
            // A receiver that is gone has stopped caring: the load failed elsewhere.
            let _ = aside.jobs.send(job);
        }
    }

    /// The fields held for jobs, when jobs are sent.
    pub(super) fn held(&mut self) -> Option<&mut Held> {
        self.aside.as_mut().map(|aside| &mut aside.held)
    }
}
