//! Queries as NATS request/reply, answered by a partition's owner from its reader handle,
//! and the client side that routes them by project.
//!
//! `<prefix>.resolve.<partition>` takes `{"project": P, "distinct_id": "..."}`, where P is
//! a team id (a number), a token (a string) or absent (the default project), and answers
//! the person as `{"uuid", "distinct_ids", "is_identified", "properties"}` or `null`.
//! `<prefix>.dump.<partition>` answers `{"partition", "applied", "dump"}`: the partition's
//! [`Dump`] and the stream sequence of the last event in it.

use std::time::Duration;

use futures_util::StreamExt;
use idgraph::{Dump, EngineReader, PersonRecord, Project, Value};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, nats};
use crate::names::{Names, partition_of};
use crate::retry::{Backoff, Complaint, Patience, within};
use crate::setup::Deployment;

/// A person as `resolve` answers it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PersonReply {
    /// The person's uuid.
    pub uuid: String,
    /// Its distinct ids, sorted.
    pub distinct_ids: Vec<String>,
    /// Whether it is identified.
    pub is_identified: bool,
    /// Its properties (an object).
    pub properties: Value,
}

/// A partition's state as `dump` answers it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PartitionDump {
    /// The partition.
    pub partition: u32,
    /// The stream sequence of the last event applied in `dump`.
    pub applied: u64,
    /// Everything the partition's engine holds.
    pub dump: Dump,
}

#[derive(Serialize, Deserialize)]
struct ResolveRequest {
    #[serde(default)]
    project: serde_json::Value,
    distinct_id: String,
}

#[derive(Serialize, Deserialize)]
struct ErrorReply {
    error: String,
}

fn project_json(project: &Project) -> serde_json::Value {
    match project {
        Project::Default => serde_json::Value::Null,
        Project::Team(team) => serde_json::Value::from(*team),
        Project::Token(token) => serde_json::Value::from(&**token),
    }
}

fn project_of(json: &serde_json::Value) -> Option<Project> {
    match json {
        serde_json::Value::Null => Some(Project::Default),
        serde_json::Value::Number(n) => n.as_u64().map(Project::Team),
        serde_json::Value::String(token) => Some(Project::Token(token.as_str().into())),
        _ => None,
    }
}

/// The answer to one request, as JSON bytes.
fn answer(reader: &EngineReader, partition: u32, dump: bool, request: &[u8]) -> Vec<u8> {
    let view = reader.read();
    let reply = if dump {
        let applied = std::str::from_utf8(view.position())
            .ok()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        serde_json::to_vec(&PartitionDump {
            partition,
            applied,
            dump: view.dump(),
        })
    } else {
        let parsed = serde_json::from_slice::<ResolveRequest>(request)
            .ok()
            .and_then(|r| Some((project_of(&r.project)?, r.distinct_id)));
        match parsed {
            None => serde_json::to_vec(&ErrorReply {
                error: "expected {\"project\": number, string or null, \"distinct_id\": string}"
                    .into(),
            }),
            Some((project, distinct_id)) => {
                let person = view.resolve(&project, &distinct_id).map(|p| {
                    let record = PersonRecord::of(p);
                    PersonReply {
                        uuid: record.uuid,
                        distinct_ids: record.distinct_ids,
                        is_identified: record.is_identified,
                        properties: record.properties,
                    }
                });
                serde_json::to_vec(&person)
            }
        }
    };
    reply.unwrap_or_else(|_| b"{\"error\":\"could not encode the reply\"}".to_vec())
}

/// Answers a partition's queries until the task is aborted (when the partition stops).
/// Subscribing is retried until it succeeds (the client renews subscriptions itself
/// after a reconnection); `what` names the partition in the log.
pub(crate) async fn serve(
    client: async_nats::Client,
    names: Names,
    partition: u32,
    reader: EngineReader,
    what: String,
    patience: Patience,
) {
    let mut backoff = Backoff::new(Duration::from_secs(5));
    let mut complaint = Complaint::new(format!("{what}: subscribing to queries"));
    let (resolve, dump) = loop {
        let subscribed = async {
            let resolve = within(
                patience.request,
                "subscribing to resolve",
                client.subscribe(names.resolve(partition)),
            )
            .await?;
            let dump = within(
                patience.request,
                "subscribing to dump",
                client.subscribe(names.dump(partition)),
            )
            .await?;
            Ok::<_, Error>((resolve, dump))
        };
        match subscribed.await {
            Ok(subscriptions) => {
                complaint.recovered();
                break subscriptions;
            }
            Err(error) => {
                complaint.failed(&error);
                tokio::time::sleep(backoff.delay()).await;
            }
        }
    };
    let mut requests =
        futures_util::stream::select(resolve.map(|m| (false, m)), dump.map(|m| (true, m)));
    let max_payload = client.server_info().max_payload;
    while let Some((is_dump, message)) = requests.next().await {
        let Some(reply_to) = message.reply else {
            continue;
        };
        let mut reply = answer(&reader, partition, is_dump, &message.payload);
        if reply.len() > max_payload {
            reply = serde_json::to_vec(&ErrorReply {
                error: format!(
                    "the reply is {} bytes, more than the server's max_payload of {max_payload}",
                    reply.len()
                ),
            })
            .unwrap_or_default();
        }
        // A requester that went away is no reason to stop answering the others.
        let _ =
            tokio::time::timeout(patience.request, client.publish(reply_to, reply.into())).await;
    }
}

/// Sends queries to the partition that owns a project.
#[derive(Clone)]
pub struct Router {
    client: async_nats::Client,
    names: Names,
    partitions: u32,
}

impl Router {
    /// A router for the deployment's partitions.
    pub fn new(client: async_nats::Client, deployment: &Deployment) -> Router {
        Router {
            client,
            names: deployment.names.clone(),
            partitions: deployment.partitions,
        }
    }

    /// The partition of a project.
    pub fn partition(&self, project: &Project) -> u32 {
        partition_of(project, self.partitions)
    }

    /// The person of `distinct_id` in `project`, as its partition's owner sees it now.
    ///
    /// # Errors
    ///
    /// [`Error::Nats`] when no owner answers in time (none holds the partition yet, or
    /// it is being taken over); [`Error::Protocol`] for a reply that is not a person.
    pub async fn resolve(
        &self,
        project: &Project,
        distinct_id: &str,
    ) -> Result<Option<PersonReply>> {
        let subject = self.names.resolve(self.partition(project));
        let request = serde_json::to_vec(&ResolveRequest {
            project: project_json(project),
            distinct_id: distinct_id.to_owned(),
        })
        .unwrap_or_default();
        self.ask(subject, request).await
    }

    /// A partition's dump.
    ///
    /// # Errors
    ///
    /// As [`Router::resolve`].
    pub async fn dump(&self, partition: u32) -> Result<PartitionDump> {
        self.ask(self.names.dump(partition), Vec::new()).await
    }

    async fn ask<T: for<'de> Deserialize<'de>>(&self, subject: String, body: Vec<u8>) -> Result<T> {
        let reply = self
            .client
            .request(subject.clone(), body.into())
            .await
            .map_err(nats(format!("asking {subject}")))?;
        serde_json::from_slice(&reply.payload).map_err(|error| Error::Protocol {
            reason: serde_json::from_slice::<ErrorReply>(&reply.payload)
                .map_or_else(|_| error.to_string(), |e| e.error),
            subject,
        })
    }
}
