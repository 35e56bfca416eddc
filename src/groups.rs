//! Groups (companies and the like) of one project: at most five group types, each group a
//! shallow property map updated by `$group_set` (SEMANTICS.md section 12).

use hashbrown::HashMap;

use crate::event::Timestamp;
use crate::value::Value;

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
    pub(crate) types: Vec<Box<str>>,
    pub(crate) groups: HashMap<(u8, Box<str>), Group>,
}

impl Groups {
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
