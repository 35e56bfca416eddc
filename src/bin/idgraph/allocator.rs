//! The command line's allocator: jemalloc for small and medium blocks, the system's for
//! large ones.
//!
//! jemalloc serves the parse workers' many small blocks, which are built on one thread and
//! freed together once applied, far faster than glibc (BENCHMARKS.md, "Where the time of
//! `idgraph ingest` goes"). But the engine's big vectors (one entry per id, person or
//! property slot) grow by an eighth at a time to bound their spare capacity
//! (`graph::keys::reserve_gently`), and jemalloc copies a large block on every such growth,
//! where glibc moves its pages with `mremap` and copies nothing. So a block of
//! [`LARGE`] bytes or more lives in the system allocator, and a block that crosses that size
//! when reallocated is moved from one allocator to the other.
// A global allocator is `unsafe impl GlobalAlloc`; the library itself forbids unsafe code
// (lib.rs), and this binary opts in for this module only.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};

use tikv_jemallocator::Jemalloc;

/// The size from which a block is the system's: well past any per-event block, and small
/// enough that copying a vector below it on growth costs nothing next to the events that
/// grew it.
const LARGE: usize = 1 << 20;

/// jemalloc below [`LARGE`] bytes, the system's allocator from there on.
pub(crate) struct CommandAllocator;

/// Which allocator owns a block of `size` bytes. Every block of a given size belongs to
/// one, so `dealloc`, which is told the size, finds the owner the block was allocated by.
fn is_large(size: usize) -> bool {
    size >= LARGE
}

// SAFETY: every method hands the caller's layout, unchanged, to the one allocator that owns
// blocks of that size (`is_large`), or, for a realloc across `LARGE`, allocates in the new
// owner, copies the bytes both sizes hold, and frees the block in the old owner with the
// layout it was allocated with; both allocators uphold `GlobalAlloc`'s contract.
unsafe impl GlobalAlloc for CommandAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if is_large(layout.size()) {
            // SAFETY: the caller's contract for `alloc`, passed on.
            unsafe { System.alloc(layout) }
        } else {
            // SAFETY: as above.
            unsafe { Jemalloc.alloc(layout) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if is_large(layout.size()) {
            // SAFETY: the caller's contract for `alloc_zeroed`, passed on.
            unsafe { System.alloc_zeroed(layout) }
        } else {
            // SAFETY: as above.
            unsafe { Jemalloc.alloc_zeroed(layout) }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if is_large(layout.size()) {
            // SAFETY: `ptr` was allocated with `layout` by the owner of its size.
            unsafe { System.dealloc(ptr, layout) }
        } else {
            // SAFETY: as above.
            unsafe { Jemalloc.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        match (is_large(layout.size()), is_large(new_size)) {
            // SAFETY: `ptr` was allocated with `layout` by the system allocator, and the
            // caller's contract for `realloc` holds.
            (true, true) => unsafe { System.realloc(ptr, layout, new_size) },
            // SAFETY: as above, by jemalloc.
            (false, false) => unsafe { Jemalloc.realloc(ptr, layout, new_size) },
            (_, new_is_large) => {
                // SAFETY: the caller guarantees `new_size`, rounded up to `layout.align()`,
                // does not overflow `isize`, which is what a layout needs.
                let new_layout =
                    unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
                // SAFETY: `new_size` is not zero, as the caller guarantees.
                let new = unsafe {
                    if new_is_large {
                        System.alloc(new_layout)
                    } else {
                        Jemalloc.alloc(new_layout)
                    }
                };
                if !new.is_null() {
                    // SAFETY: both blocks hold at least the smaller size, and they are
                    // distinct blocks, so they do not overlap; the old block is freed by
                    // the allocator that allocated it, with its layout.
                    unsafe {
                        std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                        self.dealloc(ptr, layout);
                    }
                }
                new
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Allocates `size` bytes filled with a pattern, through the allocator itself.
    fn filled(size: usize) -> (*mut u8, Layout) {
        let layout = Layout::from_size_align(size, 16).unwrap();
        // SAFETY: `size` is not zero in these tests.
        let ptr = unsafe { CommandAllocator.alloc(layout) };
        assert!(!ptr.is_null());
        for i in 0..size {
            // SAFETY: `i` is within the block.
            unsafe { ptr.add(i).write(i as u8) };
        }
        (ptr, layout)
    }

    fn holds_pattern(ptr: *const u8, len: usize) -> bool {
        // SAFETY: the caller's block holds `len` initialized bytes.
        (0..len).all(|i| unsafe { ptr.add(i).read() } == i as u8)
    }

    #[test]
    fn a_block_keeps_its_bytes_when_it_grows_past_large_and_shrinks_back() {
        let (small, layout) = filled(LARGE / 2);
        // SAFETY: `small` was allocated with `layout` by this allocator.
        let large = unsafe { CommandAllocator.realloc(small, layout, 2 * LARGE) };
        assert!(!large.is_null());
        assert!(holds_pattern(large, LARGE / 2));
        let large_layout = Layout::from_size_align(2 * LARGE, 16).unwrap();
        // SAFETY: `large` is now a block of `large_layout`.
        let back = unsafe { CommandAllocator.realloc(large, large_layout, 1000) };
        assert!(!back.is_null());
        assert!(holds_pattern(back, 1000));
        assert_eq!(back as usize % 16, 0, "the alignment is kept");
        // SAFETY: `back` is a block of 1000 bytes, aligned to 16.
        unsafe { CommandAllocator.dealloc(back, Layout::from_size_align(1000, 16).unwrap()) };
    }

    #[test]
    fn blocks_on_one_side_of_large_grow_and_shrink_in_place_of_their_owner() {
        for (from, to) in [(64, 4096), (3 * LARGE, 5 * LARGE), (5 * LARGE, 3 * LARGE)] {
            let (ptr, layout) = filled(from);
            // SAFETY: `ptr` was allocated with `layout` by this allocator.
            let moved = unsafe { CommandAllocator.realloc(ptr, layout, to) };
            assert!(!moved.is_null());
            assert!(holds_pattern(moved, from.min(to)));
            // SAFETY: `moved` is a block of `to` bytes, aligned to 16.
            unsafe { CommandAllocator.dealloc(moved, Layout::from_size_align(to, 16).unwrap()) };
        }
    }

    #[test]
    fn zeroed_blocks_are_zero_on_both_sides_of_large() {
        for size in [100, 2 * LARGE] {
            let layout = Layout::from_size_align(size, 8).unwrap();
            // SAFETY: `size` is not zero.
            let ptr = unsafe { CommandAllocator.alloc_zeroed(layout) };
            assert!(!ptr.is_null());
            // SAFETY: the block holds `size` zeroed bytes.
            assert!((0..size).all(|i| unsafe { ptr.add(i).read() } == 0));
            // SAFETY: `ptr` was allocated with `layout` by this allocator.
            unsafe { CommandAllocator.dealloc(ptr, layout) };
        }
    }
}
