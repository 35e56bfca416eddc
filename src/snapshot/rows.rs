//! Checking property rows while they decode.
//!
//! The property rows of persons and merge records are most of a snapshot (12 bytes each,
//! millions of them). A check in a pass of its own reads them all back from memory, one
//! branch per row; here each chunk of rows is checked from the bytes the decoder has just
//! read, with no branch on what the rows hold: the loop only gathers the highest key,
//! writer and value slot, and how often a key is not above the key before.
//!
//! What the rows may name comes from fields decoded before them ([`RowRules`], kept in
//! the decoder's context). Whether keys rise within each owner's run is settled later,
//! when the owners are known: keys may fall only where a run starts.

use crate::error::{InvalidSnapshot as Kind, SnapshotError};
use crate::graph::Prop;
use crate::graph::PropKey;

fn invalid(kind: Kind) -> SnapshotError {
    SnapshotError::invalid(kind)
}

/// Bytes per row: key, writer and value slot, each a little-endian `u32`.
pub(super) const ROW_SIZE: usize = 12;

/// What a property row may name, learned from the fields decoded before the rows.
#[derive(Debug, Default)]
pub(super) struct RowRules {
    /// Interned property keys.
    pub(super) keys: usize,
    /// Distinct ids of the project whose rows are decoded.
    pub(super) ids: usize,
    /// Value tags of the body: at least as many as the value store's slots, so that a
    /// corrupt free list cannot size `free_values` past the file.
    pub(super) value_tags: usize,
    /// Whether each value slot is on the store's free list, up to the highest listed.
    pub(super) free_values: Vec<bool>,
}

impl RowRules {
    /// Marks the free value slots. A slot past the body's values is left to the value
    /// store's own check, which refuses it.
    pub(super) fn learn_free_values(&mut self, free: &[u32]) {
        let highest = free
            .iter()
            .map(|&slot| slot as usize + 1)
            .max()
            .unwrap_or(0);
        let mut flags = vec![false; highest.min(self.value_tags)];
        for &slot in free {
            if let Some(flag) = flags.get_mut(slot as usize) {
                *flag = true;
            }
        }
        self.free_values = flags;
    }
}

/// What checking rows found, one chunk at a time.
#[derive(Debug, Default)]
pub(super) struct RowCheck {
    /// The highest key, writer and value slot, lane by lane over blocks of four rows.
    highest: [u32; 12],
    rows: usize,
    falls: usize,
    /// The key of the last row checked.
    last_key: Option<u32>,
    free_value: bool,
}

fn word(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

impl RowCheck {
    /// Checks the next rows, `bytes` being whole rows as the format encodes them.
    pub(super) fn bytes(&mut self, rules: &RowRules, bytes: &[u8]) {
        let (blocks, rest) = bytes.as_chunks::<{ 4 * ROW_SIZE }>();
        let (rest, _) = rest.as_chunks::<ROW_SIZE>();
        let mut highest = self.highest;
        let mut falls = 0;
        // -1 before the first row: no key falls below it.
        let mut last = self.last_key.map_or(-1, i64::from);
        for block in blocks {
            let mut words = [0u32; 12];
            for (j, w) in words.iter_mut().enumerate() {
                *w = word(block, 4 * j);
            }
            for (high, w) in highest.iter_mut().zip(words) {
                *high = (*high).max(w);
            }
            let keys = [words[0], words[3], words[6], words[9]].map(i64::from);
            falls += usize::from(keys[0] <= last)
                + usize::from(keys[1] <= keys[0])
                + usize::from(keys[2] <= keys[1])
                + usize::from(keys[3] <= keys[2]);
            last = keys[3];
        }
        for row in rest {
            for (high, j) in highest.iter_mut().zip(0..3) {
                *high = (*high).max(word(row, 4 * j));
            }
            let key = i64::from(word(row, 0));
            falls += usize::from(key <= last);
            last = key;
        }
        self.highest = highest;
        self.falls += falls;
        self.last_key = u32::try_from(last).ok();
        self.rows += blocks.len() * 4 + rest.len();
        if !rules.free_values.is_empty() {
            let (rows, _) = bytes.as_chunks::<ROW_SIZE>();
            self.free_value |= rows.iter().any(|row| {
                let value = word(row, 8) as usize;
                rules.free_values.get(value).copied().unwrap_or(false)
            });
        }
    }

    /// What the rows checked so far name that `rules` do not allow, once they are all in.
    pub(super) fn verdict(&self, rules: &RowRules) -> RowVerdict {
        let lane_max = |lane: usize| {
            (lane..12)
                .step_by(3)
                .map(|j| self.highest[j])
                .max()
                .unwrap_or(0)
        };
        let any = self.rows > 0;
        RowVerdict {
            bad_key: any && lane_max(0) as usize >= rules.keys,
            bad_writer: any && lane_max(1) as usize >= rules.ids,
            free_value: self.free_value,
            max_value: any.then(|| lane_max(2)),
            falls: self.falls,
        }
    }
}

/// The decoder's findings on a column of rows, for the checks that need the owners.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct RowVerdict {
    /// Some row names a key that is not interned.
    pub(super) bad_key: bool,
    /// Some row's writer is not a distinct id of the project.
    pub(super) bad_writer: bool,
    /// Some row names a free value slot.
    pub(super) free_value: bool,
    /// The highest value slot named, if there are rows: checked against the value store.
    pub(super) max_value: Option<u32>,
    /// Rows whose key is not above the key before (the first row falls below nothing).
    pub(super) falls: usize,
}

impl RowVerdict {
    /// The falls that start a run, given the runs in the order of the rows. Each run's
    /// keys strictly increase when these are all the falls.
    pub(super) fn falls_at_starts<'r>(runs: impl Iterator<Item = &'r [Prop]>) -> usize {
        let mut starts = FallsAtStarts::default();
        runs.for_each(|run| starts.see(run));
        starts.falls
    }
}

/// [`RowVerdict::falls_at_starts`] a run at a time, for a caller that walks the owners
/// for other checks too.
#[derive(Default)]
pub(super) struct FallsAtStarts {
    last: Option<PropKey>,
    pub(super) falls: usize,
}

impl FallsAtStarts {
    /// The next run, in the order of the rows.
    pub(super) fn see(&mut self, run: &[Prop]) {
        if let (Some(first), Some(end)) = (run.first(), run.last()) {
            self.falls += usize::from(self.last.is_some_and(|key| first.key <= key));
            self.last = Some(end.key);
        }
    }
}

/// Settles what the decoder's check of property rows left to their owners (see
/// [`super::rows`]), given the falls at the starts of the owners' runs. Returns the highest
/// value slot the rows name, which [`engine`] checks against the value store once it is
/// built.
pub(super) fn rows_fit_owners(
    verdict: RowVerdict,
    falls_at_starts: usize,
) -> Result<Option<u32>, SnapshotError> {
    if verdict.bad_key {
        return Err(invalid(Kind::PropertyKeyOutOfRange));
    }
    if verdict.bad_writer {
        return Err(invalid(Kind::PropertyWriterNotAnId));
    }
    if verdict.free_value {
        return Err(no_value());
    }
    if falls_at_starts != verdict.falls {
        return Err(invalid(Kind::PropertyKeysOutOfOrder));
    }
    Ok(verdict.max_value)
}

pub(super) fn no_value() -> SnapshotError {
    invalid(Kind::NoValueInSlot)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(rows: &[(u32, u32, u32)]) -> Vec<u8> {
        rows.iter()
            .flat_map(|&(k, w, v)| [k, w, v])
            .flat_map(u32::to_le_bytes)
            .collect()
    }

    fn rules() -> RowRules {
        RowRules {
            keys: 10,
            ids: 20,
            value_tags: 100,
            free_values: Vec::new(),
        }
    }

    fn verdict_in_pieces(rules: &RowRules, bytes: &[u8], piece_rows: usize) -> RowVerdict {
        let mut check = RowCheck::default();
        for piece in bytes.chunks(piece_rows * ROW_SIZE) {
            check.bytes(rules, piece);
        }
        check.verdict(rules)
    }

    #[test]
    fn the_verdict_does_not_depend_on_how_rows_are_chunked() {
        let rows: Vec<(u32, u32, u32)> = (0..37)
            .map(|i| ((i * 7) % 10, (i * 3) % 20, i * 2))
            .collect();
        let bytes = encode(&rows);
        let whole = verdict_in_pieces(&rules(), &bytes, rows.len());
        let falls = rows.windows(2).filter(|p| p[1].0 <= p[0].0).count();
        assert_eq!(whole.falls, falls);
        assert_eq!(whole.max_value, Some(72));
        assert!(!whole.bad_key && !whole.bad_writer && !whole.free_value);
        for piece in 1..9 {
            assert_eq!(verdict_in_pieces(&rules(), &bytes, piece), whole, "{piece}");
        }
    }

    #[test]
    fn keys_writers_and_free_values_out_of_bounds_are_found_in_any_lane() {
        for at in 0..6 {
            let mut rows = vec![(1, 1, 1); 6];
            rows[at] = (10, 1, 1);
            assert!(verdict_in_pieces(&rules(), &encode(&rows), 6).bad_key);
            rows[at] = (1, 20, 1);
            assert!(verdict_in_pieces(&rules(), &encode(&rows), 6).bad_writer);
            rows[at] = (1, 1, 5);
            let mut free = rules();
            free.learn_free_values(&[5, 500]);
            let verdict = verdict_in_pieces(&free, &encode(&rows), 6);
            assert!(verdict.free_value && verdict.max_value == Some(5));
        }
        let empty = verdict_in_pieces(&RowRules::default(), &[], 1);
        assert_eq!(empty, RowVerdict::default(), "no rows name nothing");
    }

    #[test]
    fn falls_inside_a_run_are_not_falls_at_starts() {
        let keys = [1, 2, 3, 1, 4, 2];
        let rows: Vec<Prop> = keys
            .iter()
            .map(|&k| Prop {
                key: crate::graph::PropKey::from_raw(k),
                writer: crate::graph::IdKey::from_raw(0),
                value: crate::graph::ValueId::from_raw(0),
            })
            .collect();
        let all = verdict_in_pieces(&rules(), &encode(&keys.map(|k| (k, 0, 0))), keys.len()).falls;
        assert_eq!(all, 2);
        let runs = |ends: &[usize]| {
            let mut start = 0;
            let runs: Vec<&[Prop]> = ends
                .iter()
                .map(|&end| {
                    let run = &rows[start..end];
                    start = end;
                    run
                })
                .collect();
            RowVerdict::falls_at_starts(runs.into_iter())
        };
        // Runs [1 2 3] [1 4] [2]: both falls start a run.
        assert_eq!(runs(&[3, 5, 6]), 2);
        // Runs [1 2 3 1] [4 2]: neither does, and an empty run changes nothing.
        assert_eq!(runs(&[4, 4, 6, 6]), 0);
    }
}
