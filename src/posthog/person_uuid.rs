//! The person uuid PostHog derives (docs/behaviour.md §8): a UUIDv5 of `"<team>:<distinct_id>"`
//! in PostHog's namespace, so that the same id in the same project always names the same
//! person, here and in PostHog.

use uuid::Uuid;

use crate::event::Project;

/// PostHog's namespace for person uuids (`person-uuid.ts`).
const PERSON_UUID_NAMESPACE: Uuid = Uuid::from_u128(0x9329_79b4_65c3_4424_8467_0b66_ec27_bc22);

/// The uuid PostHog derives for a person of `project` born on `distinct_id`. The name is
/// put together in one buffer: every new person needs one, and `format!` cost as much as
/// half the hash.
pub(crate) fn person_uuid(project: &Project, distinct_id: &str) -> Uuid {
    let mut name: Vec<u8> = Vec::with_capacity(21 + distinct_id.len());
    match project {
        Project::Default => name.push(b'0'),
        Project::Team(id) => name.extend_from_slice(id.to_string().as_bytes()),
        Project::Token(token) => name.extend_from_slice(token.as_bytes()),
    }
    name.push(b':');
    name.extend_from_slice(distinct_id.as_bytes());
    Uuid::new_v5(&PERSON_UUID_NAMESPACE, &name)
}
