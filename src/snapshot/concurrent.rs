//! Two jobs at once, for the parts of a load that do not depend on each other.
//!
//! A load decodes the body, checks it, and rebuilds the hash tables (the id tables and the
//! value store), which need nothing decoded after their own columns. On a machine with a
//! second core the decoder hands those columns to a thread that rebuilds the tables, checks
//! the union-find and the persons and, for a body in memory, checksums it, while decoding
//! goes on here.

use std::sync::{Mutex, PoisonError};

#[cfg(test)]
thread_local! {
    /// For tests on this thread: `Some(true)` makes [`join`] start a thread whatever it is
    /// told, `Some(false)` makes it try and fail as when no thread can start, so that tests
    /// can compare the ways a load runs.
    pub(super) static SECOND_THREAD: std::cell::Cell<Option<bool>> =
        const { std::cell::Cell::new(None) };
}

/// A second thread for [`join`], unless tests asked for none.
fn spawn<'scope, T: Send + 'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    f: impl FnOnce() -> T + Send + 'scope,
) -> std::io::Result<std::thread::ScopedJoinHandle<'scope, T>> {
    #[cfg(test)]
    if SECOND_THREAD.get() == Some(false) {
        return Err(std::io::Error::other("no second thread in this test"));
    }
    std::thread::Builder::new()
        .name("idgraph-load".to_owned())
        .spawn_scoped(scope, f)
}

/// Runs `aside` on a second thread while `here` runs on this one, and returns both results;
/// when `worth_a_thread` is false, or no thread can be started (a process at its thread
/// limit, a target without threads), `aside` runs here after `here`: the results are the
/// same, only later. A panic in `aside` resumes on this thread.
pub(super) fn join<A, B>(
    worth_a_thread: bool,
    aside: impl FnOnce() -> A + Send,
    here: impl FnOnce() -> B,
) -> (A, B)
where
    A: Send,
{
    #[cfg(test)]
    let worth_a_thread = worth_a_thread || SECOND_THREAD.get().is_some();
    if !worth_a_thread {
        let b = here();
        return (aside(), b);
    }
    // The job sits where both threads can take it, so that if the thread does not start,
    // the job is still here to run.
    let job = Mutex::new(Some(aside));
    let take = || job.lock().unwrap_or_else(PoisonError::into_inner).take();
    std::thread::scope(|scope| {
        let thread = spawn(scope, || take().map(|aside| aside()));
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
        let (a, b) = join(true, || (0..1000u64).sum::<u64>(), || "here");
        assert_eq!((a, b), (499_500, "here"));
    }

    #[test]
    fn the_aside_job_may_borrow_and_move() {
        let borrowed = String::from("borrowed");
        let moved = String::from("moved");
        let (a, b) = join(true, || borrowed.len(), move || moved.len());
        assert_eq!((a, b), (8, 5));
    }

    #[test]
    fn without_a_second_thread_both_run_here_in_order() {
        super::SECOND_THREAD.set(Some(false));
        let order = std::sync::Mutex::new(Vec::new());
        let log = |step| order.lock().unwrap().push(step);
        let here = std::thread::current().id();
        let (a, b) = join(
            true,
            || {
                log("aside");
                std::thread::current().id()
            },
            || {
                log("here");
                std::thread::current().id()
            },
        );
        super::SECOND_THREAD.set(None);
        assert_eq!((a, b), (here, here));
        assert_eq!(*order.lock().unwrap(), ["here", "aside"]);
    }

    #[test]
    fn a_job_not_worth_a_thread_runs_here() {
        let here = std::thread::current().id();
        let (a, b) = join(false, || std::thread::current().id(), || "here");
        assert_eq!((a, b), (here, "here"));
    }

    #[test]
    #[should_panic(expected = "aside failed")]
    fn a_panic_aside_resumes_here() {
        join(true, || panic!("aside failed"), || ());
    }
}
