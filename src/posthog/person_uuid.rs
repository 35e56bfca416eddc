//! The person uuid PostHog derives (docs/behaviour.md §8): a UUIDv5 of `"<team>:<distinct_id>"`
//! in PostHog's namespace, so that the same id in the same project always names the same
//! person, here and in PostHog.

use uuid::Uuid;

use crate::event::Project;

/// PostHog's namespace for person uuids (`person-uuid.ts`).
const PERSON_UUID_NAMESPACE: Uuid = Uuid::from_u128(0x9329_79b4_65c3_4424_8467_0b66_ec27_bc22);

/// The uuid PostHog derives for a person of `project` born on `distinct_id`.
pub(crate) fn person_uuid(project: &Project, distinct_id: &str) -> Uuid {
    let name = format!("{}:{distinct_id}", uuid_scope(project));
    Uuid::new_v5(&PERSON_UUID_NAMESPACE, name.as_bytes())
}

/// The team part of the name: the team id, the token, or `0` for the default project.
fn uuid_scope(project: &Project) -> String {
    match project {
        Project::Default => "0".to_owned(),
        Project::Team(id) => id.to_string(),
        Project::Token(token) => token.to_string(),
    }
}
