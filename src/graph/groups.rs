//! Groups (companies and the like) of one project: at most five group types, each group a
//! shallow property map updated by `$group_set` (docs/behaviour.md §12).

use hashbrown::HashMap;

use crate::event::Timestamp;
use crate::event::Value;

/// PostHog's `MAX_GROUP_TYPES_PER_TEAM`.
pub const MAX_GROUP_TYPES: usize = 5;

/// One group's state.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Group {
    /// Sorted by key, unique.
    pub(crate) props: Vec<(Box<str>, Value)>,
    pub(crate) created_at: Timestamp,
    pub(crate) version: u64,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Groups {
    /// Group type names; the position is the group type index.
    types: Vec<Box<str>>,
    groups: HashMap<(u8, Box<str>), Group>,
}

impl Groups {
    /// Groups from a snapshot's parts; `None` when there are more than five types or a
    /// group names a type that does not exist.
    pub(crate) fn from_parts(
        types: Vec<Box<str>>,
        groups: HashMap<(u8, Box<str>), Group>,
    ) -> Option<Groups> {
        (types.len() <= MAX_GROUP_TYPES
            && groups
                .keys()
                .all(|(index, _)| usize::from(*index) < types.len()))
        .then_some(Groups { types, groups })
    }

    /// The group type names, by index.
    pub(crate) fn types(&self) -> &[Box<str>] {
        &self.types
    }

    /// Every group: its type name and index, its key, and its state, in no order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, u8, &str, &Group)> {
        self.groups
            .iter()
            .map(|((index, key), group)| (&*self.types[usize::from(*index)], *index, &**key, group))
    }

    /// How many groups there are.
    pub(crate) fn len(&self) -> usize {
        self.groups.len()
    }

    /// The index of a group type, allocating the next free one; `None` when all five are
    /// taken by other types.
    fn type_index(&mut self, name: &str) -> Option<u8> {
        let index = match self.types.iter().position(|t| &**t == name) {
            Some(i) => i,
            None if self.types.len() < MAX_GROUP_TYPES => {
                self.types.push(name.into());
                self.types.len() - 1
            }
            None => return None,
        };
        u8::try_from(index).ok()
    }

    /// Creates or updates a group with `$group_set` members. Returns whether the group was
    /// written; `false` when the project already has five other group types.
    pub(crate) fn upsert(
        &mut self,
        group_type: &str,
        key: &str,
        set: &[(Box<str>, Value)],
        at: Timestamp,
    ) -> bool {
        let Some(index) = self.type_index(group_type) else {
            return false;
        };
        let group = self
            .groups
            .entry((index, key.into()))
            .or_insert_with(|| Group {
                props: Vec::new(),
                created_at: at,
                version: 0,
            });
        let mut changed = group.version == 0;
        for (k, v) in set {
            match group.props.binary_search_by(|(gk, _)| gk.cmp(k)) {
                Ok(i) if group.props[i].1 == *v => {}
                Ok(i) => {
                    group.props[i].1 = v.clone();
                    changed = true;
                }
                Err(i) => {
                    group.props.insert(i, (k.clone(), v.clone()));
                    changed = true;
                }
            }
        }
        group.created_at = group.created_at.min(at);
        if changed {
            group.version = group.version.saturating_add(1);
        }
        changed
    }
}
