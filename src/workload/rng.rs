//! A small seeded pseudo-random generator for the client and the workload generator.
//!
//! SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators",
//! OOPSLA 2014): one `u64` of state, a few multiplications a draw, and good enough statistics
//! for synthetic traffic. It is written here rather than taken from `rand` so that a seed
//! keeps producing the same stream whatever version of a dependency is resolved.

use crate::event::Timestamp;

/// A SplitMix64 generator.
#[derive(Clone, Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform number in `0..n` (0 when `n` is 0), by Lemire's multiply-shift, which avoids
    /// a division and whose bias is below 2^-32 for the small `n` used here.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A uniform number in `low..=high`.
    pub(crate) fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.below(high - low + 1)
    }

    /// A uniform index into a slice of length `len` (0 when `len` is 0).
    pub(crate) fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    /// True with probability `percent` / 100.
    pub(crate) fn percent(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// One element of a non-empty constant table.
    pub(crate) fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.index(items.len())]
    }

    /// A UUIDv7 string for time `now`, as posthog-js makes for anonymous ids and event uuids:
    /// the milliseconds up front, then random bits from this generator.
    pub(crate) fn uuid_v7(&mut self, now: Timestamp) -> Box<str> {
        let millis = u64::try_from(now.unix_micros().div_euclid(1000)).unwrap_or(0);
        let high = self.next_u64().to_le_bytes();
        let low = self.next_u64().to_le_bytes();
        let random = [
            high[0], high[1], high[2], high[3], high[4], high[5], high[6], high[7], low[0], low[1],
        ];
        let mut text = [0; uuid::fmt::Hyphenated::LENGTH];
        let text = uuid::Builder::from_unix_timestamp_millis(millis, &random)
            .into_uuid()
            .hyphenated()
            .encode_lower(&mut text);
        Box::from(&*text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        assert_ne!(Rng::new(7).next_u64(), Rng::new(8).next_u64());
    }

    #[test]
    fn range_stays_inside_its_bounds() {
        let mut rng = Rng::new(1);
        let mut seen = [false; 4];
        for _ in 0..1000 {
            let x = rng.range(3, 6);
            assert!((3..=6).contains(&x));
            seen[(x - 3) as usize] = true;
        }
        assert!(seen.iter().all(|s| *s));
    }

    #[test]
    fn uuid_v7_is_version_7_and_starts_with_the_time() {
        let mut rng = Rng::new(1);
        // 2024-01-01T00:00:00Z is 1_704_067_200_000 ms = 0x18c_c251_f400.
        let id = rng.uuid_v7(Timestamp::from_unix_micros(1_704_067_200_000_000));
        assert_eq!(id.len(), 36);
        assert!(id.starts_with("018cc251-f400-7"), "{id}");
        assert_ne!(
            id,
            rng.uuid_v7(Timestamp::from_unix_micros(1_704_067_200_000_000))
        );
    }
}
