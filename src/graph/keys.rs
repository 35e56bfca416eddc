//! Dense keys: every id, person slot, property key and stored value is a `u32` newtype minted
//! by this engine, and internal vectors are indexed only with them.

use crate::error::EngineError;

macro_rules! dense_key {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        // Plain old data (`bytemuck`), so that a snapshot streams columns of keys straight
        // into the engine's vectors.
        #[repr(transparent)]
        #[derive(
            Clone,
            Copy,
            Debug,
            PartialEq,
            Eq,
            PartialOrd,
            Ord,
            Hash,
            bytemuck::Pod,
            bytemuck::Zeroable,
        )]
        pub(crate) struct $name(u32);

        // Not every kind of key uses every accessor.
        #[allow(dead_code)]
        impl $name {
            /// What a key of this kind numbers, for capacity errors.
            pub(crate) const WHAT: &'static str = $what;

            /// The key for a position in a dense vector.
            ///
            /// # Errors
            ///
            /// [`EngineError::CapacityExceeded`] past `u32::MAX - 1` (`u32::MAX` is reserved
            /// as "none" in dense vectors).
            pub(crate) fn new(index: usize) -> Result<Self, EngineError> {
                u32::try_from(index)
                    .ok()
                    .filter(|&i| i < u32::MAX)
                    .map($name)
                    .ok_or(EngineError::CapacityExceeded {
                        what: $what,
                        limit: u64::from(u32::MAX - 1),
                    })
            }

            /// The position in a dense vector.
            pub(crate) fn index(self) -> usize {
                self.0 as usize
            }

            /// The raw number, for compact storage.
            pub(crate) fn raw(self) -> u32 {
                self.0
            }

            /// A key from its raw number, as read back from compact storage.
            pub(crate) const fn from_raw(raw: u32) -> Self {
                $name(raw)
            }
        }
    };
}

dense_key!(
    /// A distinct id of one project.
    IdKey,
    "distinct ids"
);
dense_key!(
    /// A person slot of one project.
    PersonKey,
    "persons"
);
dense_key!(
    /// A property key name, shared by all projects.
    PropKey,
    "property keys"
);
dense_key!(
    /// A side of a merge record of one project (`sides.rs`).
    SideKey,
    "merge record sides"
);
dense_key!(
    /// A stored property value, shared by all projects.
    ValueId,
    "distinct property values"
);

/// Makes room for one more element, growing by an eighth instead of doubling.
///
/// The vectors that grow with the graph (one entry per id or per person) would otherwise
/// hold up to twice their length: a quarter of the engine's heap, on average, is spare
/// capacity. Growing by an eighth bounds it to 12.5%, for about eight times the copying,
/// which is amortized O(1) all the same and small next to applying an event.
pub(crate) fn reserve_gently<T>(items: &mut Vec<T>) {
    reserve_room(items, 1);
}

/// Makes room for `n` more items, growing by an eighth (at least `n`) when there is not,
/// as [`reserve_gently`] does for one.
pub(crate) fn reserve_room<T>(items: &mut Vec<T>, n: usize) {
    if items.capacity() - items.len() < n {
        items.reserve_exact((items.len() / 8).max(64).max(n));
    }
}
