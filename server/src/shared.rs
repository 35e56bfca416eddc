//! STAND-IN for `idgraph::shared`, which is being added to the library on `main` with
//! exactly these signatures. Delete this file (and the `IntoShared` import in `main.rs`)
//! once `main` has it: nothing else in the server names anything but the API below.
//!
//! The stand-in is correct but not fast: `publish` clones the whole engine, and readers
//! take a lock for as long as it takes to clone an `Arc`. The real module makes publishing
//! cheap; the server's behaviour (read-your-writes, saves from the published state) is the
//! same with either.

use std::ops::Deref;
use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};

use idgraph::{Engine, EngineError, Event, Outcome, SnapshotError};

/// What readers see: an engine state the writer published, with the position of the last
/// event in it.
struct Published {
    engine: Engine,
    position: Vec<u8>,
}

type Slot = Arc<RwLock<Arc<Published>>>;

/// Splits an engine into its writer and a reader (`Engine::into_shared` in the library).
pub trait IntoShared {
    /// The writer, owning the engine, and a reader of what it has published (at first the
    /// engine as it is, at `position`).
    fn into_shared(self, position: Vec<u8>) -> (EngineWriter, EngineReader);
}

impl IntoShared for Engine {
    fn into_shared(self, position: Vec<u8>) -> (EngineWriter, EngineReader) {
        let published = Arc::new(RwLock::new(Arc::new(Published {
            engine: self.clone(),
            position: position.clone(),
        })));
        let reader = EngineReader {
            published: Arc::clone(&published),
        };
        let writer = EngineWriter {
            engine: self,
            position,
            published,
        };
        (writer, reader)
    }
}

/// The one handle that changes the engine.
pub struct EngineWriter {
    engine: Engine,
    position: Vec<u8>,
    published: Slot,
}

impl EngineWriter {
    /// Applies one event to the writer's own state; readers see it after
    /// [`EngineWriter::publish`].
    ///
    /// # Errors
    ///
    /// As `Engine::apply`.
    #[allow(
        clippy::needless_pass_by_value,
        reason = "the library's writer takes the event it keeps; the stand-in mirrors it"
    )]
    pub fn apply(&mut self, event: Event) -> Result<Outcome, EngineError> {
        self.engine.apply(&event)
    }

    /// Records the position of the last event applied, published with the state.
    pub fn set_position(&mut self, position: &[u8]) {
        position.clone_into(&mut self.position);
    }

    /// Makes everything applied so far visible to readers. The stand-in never defers, so
    /// it always returns `true`.
    pub fn publish(&mut self) -> bool {
        let next = Arc::new(Published {
            engine: self.engine.clone(),
            position: self.position.clone(),
        });
        *self
            .published
            .write()
            .unwrap_or_else(PoisonError::into_inner) = next;
        true
    }

    /// The writer's own, up-to-date state.
    #[allow(dead_code, reason = "the stand-in mirrors the library's whole API")]
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Another reader of what this writer publishes.
    #[allow(dead_code, reason = "the stand-in mirrors the library's whole API")]
    pub fn reader(&self) -> EngineReader {
        EngineReader {
            published: Arc::clone(&self.published),
        }
    }
}

/// A handle that reads the published state; cheap to clone, `Send + Sync`.
#[derive(Clone)]
pub struct EngineReader {
    published: Slot,
}

impl EngineReader {
    /// The state published last; it does not change while the view is held.
    pub fn read(&self) -> ReadView {
        ReadView(Arc::clone(
            &self
                .published
                .read()
                .unwrap_or_else(PoisonError::into_inner),
        ))
    }

    /// Saves the published state with its position, atomically, while the writer goes on.
    ///
    /// # Errors
    ///
    /// As `Engine::save_to_path`.
    pub fn save_to_path(&self, path: impl AsRef<Path>) -> Result<(), SnapshotError> {
        let view = self.read();
        view.engine().save_to_path(path, view.position())
    }
}

/// One published state.
pub struct ReadView(Arc<Published>);

impl ReadView {
    /// The position published with this state.
    pub fn position(&self) -> &[u8] {
        &self.0.position
    }

    fn engine(&self) -> &Engine {
        &self.0.engine
    }
}

impl Deref for ReadView {
    type Target = Engine;

    fn deref(&self) -> &Engine {
        &self.0.engine
    }
}
