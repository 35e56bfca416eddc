//! Snapshot bytes in: loading never panics, and gives either an error or an engine that
//! dumps, keeps working, and saves to a snapshot that loads back to the same state.
//!
//! The first input byte picks how the rest is read. Even: as a whole file, header and all,
//! which mostly tests the header checks. Odd: as a body, under a header written here with
//! the right length and checksum, so that mutations reach the decoder and the validation
//! of the graph instead of stopping at the checksum. The check itself is
//! `idgraph::testing::fuzz::snapshot_load`, shared with the regression tests.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| idgraph::testing::fuzz::snapshot_load(data));
