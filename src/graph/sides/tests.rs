use super::*;
use crate::graph::PropKey;

fn prop(key: u32, writer: u32, value: u32) -> Prop {
    Prop {
        key: PropKey::from_raw(key),
        writer: IdKey::from_raw(writer),
        value: ValueId::from_raw(value),
    }
}

/// A delta applied to its base gives back the list it was taken from, for lists that add,
/// drop, rewrite and re-attribute keys.
#[test]
fn a_diff_applied_to_its_base_is_the_list() {
    let base = [prop(1, 0, 1), prop(2, 0, 2), prop(4, 0, 4), prop(6, 1, 6)];
    let list = [
        prop(0, 2, 9),
        prop(2, 0, 2),
        prop(4, 1, 4),
        prop(5, 0, 5),
        prop(6, 1, 7),
    ];
    let changes = diff(&base, &list);
    assert_eq!(
        changes,
        [
            prop(0, 2, 9),
            removal(PropKey::from_raw(1)),
            prop(4, 1, 4),
            prop(5, 0, 5),
            prop(6, 1, 7)
        ]
    );
    assert_eq!(apply(&base, &changes), list);
    assert!(diff(&list, &list).is_empty());
    assert_eq!(apply(&list, &diff(&list, &[])), []);
}

/// A person gaining one key per merge is stored as one delta entry per merge, and a chain
/// of deltas gives way to a full side once it would outweigh the list.
#[test]
fn sides_are_deltas_until_the_chain_outweighs_the_list() {
    let mut sides = Sides::default();
    let mut list: Vec<Prop> = (0..4).map(|k| prop(k, 0, k)).collect();
    let mut latest = sides.record(None, &list);
    for k in 4..20 {
        list.push(prop(k, 0, k));
        latest = sides.record(latest, &list);
    }
    assert_eq!(sides.entries(), 4 + 16);
    sides.assert_exact();

    // One key rewritten each time: deltas of one entry on a list of one, so each chain of
    // two is cut by a full side.
    let mut other = sides.record(None, &[prop(0, 1, 0)]);
    for v in 1..7 {
        other = sides.record(other, &[prop(0, 1, v)]);
    }
    let full = sides.table.iter().filter(|s| s.base == NO_SIDE).count();
    assert_eq!(full, 2 + 3);
    sides.assert_exact();
}

/// Forgetting a writer takes its values out of every side's list, and a value of the key
/// in the base does not show through a delta that had replaced it.
#[test]
fn forgetting_a_writer_leaves_no_value_of_it_and_uncovers_none() {
    let mut sides = Sides::default();
    let first = sides.record(None, &[prop(1, 0, 1), prop(2, 5, 2)]);
    let second = sides.record(first, &[prop(1, 5, 3), prop(2, 5, 2), prop(3, 0, 4)]);
    sides.forget_writer(IdKey::from_raw(5));
    sides.assert_exact();
    assert_eq!(
        sides.materialise(second.unwrap()),
        [prop(3, 0, 4)],
        "key 1 was written by the forgotten id in the second side"
    );
    assert_eq!(sides.materialise(first.unwrap()), [prop(1, 0, 1)]);
}

/// Dropping the sides nothing reaches keeps the bases of the others, renumbered.
#[test]
fn the_sides_nothing_reaches_are_dropped_and_bases_kept() {
    let mut sides = Sides::default();
    let a = sides.record(None, &[prop(1, 0, 1), prop(2, 0, 2), prop(3, 0, 3)]);
    let _lost = sides.record(None, &[prop(9, 0, 9)]);
    let b = sides.record(
        a,
        &[prop(1, 0, 1), prop(2, 0, 2), prop(3, 0, 3), prop(4, 0, 4)],
    );
    let mut b = b.unwrap();
    let want = sides.materialise(b);
    let map = sides.renumbering([b].into_iter()).unwrap();
    sides.keep(&map);
    renumber(&map, &mut b);
    assert_eq!(sides.len(), 2);
    assert_eq!(sides.materialise(b), want);
    sides.assert_exact();
    assert!(sides.renumbering([b].into_iter()).is_none());
}
