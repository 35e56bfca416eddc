//! Request bodies in, as an SDK or an attacker sends them: whatever the bytes (gzip or not,
//! an event, an array, a batch envelope, anything else), capture's reader and `Replay`
//! never panic, read the same bytes the same way, and every event they give applies. The
//! check itself is `idgraph::testing::fuzz::capture_request`, shared with the regression
//! tests.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| idgraph::testing::fuzz::capture_request(data));
