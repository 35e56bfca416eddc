//! Two jobs at once, for the parts of a load that do not depend on each other.
//!
//! A load decodes the body, checks it, and rebuilds the hash tables (the id tables and the
//! value store), which need nothing decoded after their own columns. On a machine with a
//! second core the decoder hands those columns to a thread that rebuilds the tables, checks
//! the union-find and the persons and, for a body in memory, checksums it, while decoding
//! goes on here.

use std::sync::{Mutex, PoisonError};

/// Runs `aside` on a second thread while `here` runs on this one, and returns both results.
///
/// When no thread can be started (a process at its thread limit, a target without
/// threads), `aside` runs here after `here`: the results are the same, only later. A panic
/// in `aside` resumes on this thread.
pub(super) fn join<A, B>(aside: impl FnOnce() -> A + Send, here: impl FnOnce() -> B) -> (A, B)
where
    A: Send,
{
    // The job sits where both threads can take it, so that if the thread does not start,
    // the job is still here to run.
    let job = Mutex::new(Some(aside));
    let take = || job.lock().unwrap_or_else(PoisonError::into_inner).take();
    std::thread::scope(|scope| {
        let thread = std::thread::Builder::new()
            .name("idgraph-load".to_owned())
            .spawn_scoped(scope, || take().map(|aside| aside()));
        let b = here();
        let ran = match thread {
            Ok(thread) => thread
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Err(_) => None,
        };
        // The job runs once: on the thread, or here when the thread did not start.
        let Some(a) = ran.or_else(|| take().map(|aside| aside())) else {
            unreachable!("the job is taken only to be run")
        };
        (a, b)
    })
}

#[cfg(test)]
mod tests {
    use super::join;

    #[test]
    fn both_results_come_back_in_order() {
        let (a, b) = join(|| (0..1000u64).sum::<u64>(), || "here");
        assert_eq!((a, b), (499_500, "here"));
    }

    #[test]
    fn the_aside_job_may_borrow_and_move() {
        let borrowed = String::from("borrowed");
        let moved = String::from("moved");
        let (a, b) = join(|| borrowed.len(), move || moved.len());
        assert_eq!((a, b), (8, 5));
    }

    #[test]
    #[should_panic(expected = "aside failed")]
    fn a_panic_aside_resumes_here() {
        join(|| panic!("aside failed"), || ());
    }
}
