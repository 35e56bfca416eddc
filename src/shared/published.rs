//! The state readers see, and the pin that keeps a long reader from holding up the writer.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::engine::Engine;

/// Set in [`Published::pins`] once the writer has begun to take this state back: no new
/// pin may be taken on it.
const RETIRING: usize = 1;
/// One pin, counted above the retiring bit.
const PIN: usize = 2;

/// An engine state as published, with the position of its last event.
pub(crate) struct Published {
    pub(crate) engine: Engine,
    pub(crate) position: Vec<u8>,
    /// How many publishes came before this state (0 for the state the handles began with).
    pub(crate) sequence: u64,
    /// Long readers (saves) pin the state so that the writer, instead of waiting for them
    /// when it wants this copy back, defers publishing; the low bit says the writer won.
    pins: AtomicUsize,
}

impl Published {
    pub(crate) fn new(engine: Engine, position: Vec<u8>, sequence: u64) -> Published {
        Published {
            engine,
            position,
            sequence,
            pins: AtomicUsize::new(0),
        }
    }

    /// Takes a pin, unless the writer is already taking this state back.
    pub(crate) fn pin(&self) -> bool {
        self.pins
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |pins| {
                (pins & RETIRING == 0).then_some(pins + PIN)
            })
            .is_ok()
    }

    pub(crate) fn unpin(&self) {
        self.pins.fetch_sub(PIN, Ordering::AcqRel);
    }

    /// Marks the state as being taken back; fails while any pin is held.
    pub(crate) fn retire(&self) -> bool {
        self.pins
            .compare_exchange(0, RETIRING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// The state back in the writer's hands, with no pin and no mark.
    pub(crate) fn reset_pins(&mut self) {
        *self.pins.get_mut() = 0;
    }
}
