//! Reader handles and the views they give.

use std::ops::Deref;
use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::published::Published;
use crate::engine::Engine;
use crate::error::SnapshotError;

/// A handle on the engine as last published by its [`EngineWriter`](crate::EngineWriter):
/// cheap to clone, `Send + Sync`, and never waiting for the writer.
///
/// Every query of [`Engine`] that takes `&self` works on a view: [`EngineReader::read`]
/// for a query, [`EngineReader::hold`] for work that takes long, such as a save.
#[derive(Clone)]
pub struct EngineReader {
    pub(super) shared: Arc<ArcSwap<Published>>,
}

impl EngineReader {
    /// The published state, for a query. Keep the view only as long as the query: the
    /// writer waits for the views of a state before it reuses that copy, one publish later.
    #[must_use]
    pub fn read(&self) -> ReadView {
        ReadView {
            state: self.shared.load_full(),
        }
    }

    /// The published state, for long work: the writer never waits for a held view. While
    /// one is held, the writer goes on applying and defers publishing, so readers keep
    /// seeing this state until the view is dropped and the writer publishes again.
    #[must_use]
    pub fn hold(&self) -> HeldView {
        loop {
            let state = self.shared.load_full();
            if state.pin() {
                return HeldView {
                    view: ReadView { state },
                };
            }
            // The writer is swapping this state out; the next load gives the new one.
            std::thread::yield_now();
        }
    }

    /// Saves the published state with its position (see [`Engine::save_to_path`]) while
    /// the writer goes on: restoring the file and resuming the input after
    /// [`ReadView::position`] loses and repeats nothing. Returns the position it stored.
    ///
    /// # Errors
    ///
    /// As [`Engine::save_to_path`].
    pub fn save_to_path(&self, path: impl AsRef<Path>) -> Result<Vec<u8>, SnapshotError> {
        let view = self.hold();
        view.save_to_path(path, view.position())?;
        Ok(view.position().to_vec())
    }
}

/// The engine as published, for a query: dereferences to [`Engine`].
pub struct ReadView {
    state: Arc<Published>,
}

impl ReadView {
    /// The position the writer gave for the last event in this state.
    #[must_use]
    pub fn position(&self) -> &[u8] {
        &self.state.position
    }

    /// How many publishes made this state: 0 for the engine the handles began with.
    #[must_use]
    pub fn sequence(&self) -> u64 {
        self.state.sequence
    }
}

impl Deref for ReadView {
    type Target = Engine;

    fn deref(&self) -> &Engine {
        &self.state.engine
    }
}

/// The engine as published, held for long work: dereferences to a [`ReadView`] (its
/// position and sequence) and through it to [`Engine`]. Publishing waits until it is
/// dropped (the writer goes on applying meanwhile).
pub struct HeldView {
    view: ReadView,
}

impl Deref for HeldView {
    type Target = ReadView;

    fn deref(&self) -> &ReadView {
        &self.view
    }
}

impl Drop for HeldView {
    fn drop(&mut self) {
        self.view.state.unpin();
    }
}
